"""Model cards: a TOML file that says *what* (never code) -> validated objects -> a mechanism run.

Sections (see ``docs/model_cards.md`` for every field, default and allowed value):

``[model]`` ``name``, ``mechanism`` (``"pareto"``), ``description``, ``seed`` (random specs);
``[space]`` the scenario space: ``kind`` = ``bernoulli_hits`` | ``common_shock_hits`` |
``bernoulli_atoms`` | ``discrete`` | ``samples`` | ``law``, its parameters, optional ``prune``;
``[[agents]]`` (``name``, ``measure = {name = ..., params}``, optional ``endowment``) or ``[pool]``
(``count``, ``name`` pattern with ``{i}``, ``measure`` whose parameters may be random specs);
``[allocation]`` ``set`` and ``restrictions``; ``[objective]`` ``kind`` and ``weights``;
``[solver]`` ``backend``, ``solver``, ``options``.

A *random spec* ``{uniform = [lo, hi]}`` (or ``{normal = [mean, sd]}``) draws one value per agent
(or ``n`` values) from ``numpy.random.default_rng(model.seed)``; draws happen in a fixed order:
agent parameters first, then space parameters.

Every error is a :class:`~riskopt.errors.ModelError` whose field is the TOML path, e.g.
``agents[2].measure.gamma = -1: expected risk aversion: a finite number > 0``.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import measures as measures_lib
from .allocation import (
    AllocationSet,
    AnchoredComonotone,
    Budget,
    Comonotone,
    IndividualRationality,
    LimitedLiability,
    Restriction,
    SignRestriction,
)
from .errors import ModelError
from .laws import Exponential as ExpLaw
from .laws import Law, Uniform, censored_exponential
from .program import Agent
from .space import Scenarios

__all__ = ["Card", "bundled_card", "load_card", "parse_card", "run_card"]

#: hard limits that keep a card from asking for more than a machine can give (fuzzing, typos)
MAX_AGENTS = 20_000
MAX_STATES = 5_000_000
REQUIRED = object()


# --------------------------------------------------------------------- reading helpers
class Node:
    """A table of the card with its path; ``take`` reads a field and checks its type."""

    def __init__(self, data: Any, path: str):
        if not isinstance(data, Mapping):
            raise ModelError(path or "card", _kind(data), "a table")
        self.data = dict(data)
        self.path = path
        self.used: set[str] = set()

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def take(self, key: str, kinds: tuple[type, ...] | type, default: Any = REQUIRED,
             allowed: str = "") -> Any:
        self.used.add(key)
        if key not in self.data:
            if default is REQUIRED:
                raise ModelError(self.at(key), None, allowed or f"a value ({_names(kinds)})",
                                 detail="missing")
            return default
        value = self.data[key]
        kinds_t = kinds if isinstance(kinds, tuple) else (kinds,)
        if float in kinds_t and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and bool not in kinds_t:
            raise ModelError(self.at(key), value, allowed or _names(kinds))
        if not isinstance(value, kinds_t):
            raise ModelError(self.at(key), value, allowed or _names(kinds))
        return value

    def child(self, key: str, default: Any = REQUIRED) -> Node | None:
        value = self.take(key, (dict,), default=default, allowed="a table")
        return None if value is None else Node(value, self.at(key))

    def finish(self) -> None:
        """Refuse keys nobody read (typos such as ``gama``)."""
        unknown = [k for k in self.data if k not in self.used]
        if unknown:
            raise ModelError(self.at(unknown[0]), self.data[unknown[0]],
                             f"one of the known fields {sorted(self.used)}", detail="unknown field")


def _kind(value: Any) -> str:
    return f"a {type(value).__name__}"


def _names(kinds: tuple[type, ...] | type) -> str:
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    words = {int: "an integer", float: "a number", str: "a string", bool: "true/false",
             list: "a list", dict: "a table"}
    return " or ".join(words.get(k, k.__name__) for k in kinds)


def _number_list(value: Any, path: str, n: int | None = None) -> np.ndarray:
    if not isinstance(value, list) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise ModelError(path, value, "a list of numbers")
    arr = np.asarray(value, float)
    if not np.all(np.isfinite(arr)):
        raise ModelError(path, value, "finite numbers")
    if n is not None and arr.size != n:
        raise ModelError(path, f"{arr.size} values", f"{n} values")
    return arr


class Draws:
    """Random specs drawn from one generator in a fixed order (agents first, then the space)."""

    def __init__(self, seed: int | None):
        self.rng = np.random.default_rng(seed)
        self.seed = seed

    def resolve(self, value: Any, path: str, n: int | None) -> Any:
        """Numbers and lists pass through; ``{uniform = [lo, hi]}`` / ``{normal = [m, s]}`` draw."""
        if not isinstance(value, Mapping):
            return value
        spec = Node(value, path)
        count = spec.take("n", int, default=n, allowed="a positive integer count")
        if count is None or count < 1 or count > MAX_STATES:
            raise ModelError(spec.at("n"), count, f"a count in [1, {MAX_STATES}]")
        kinds = [k for k in ("uniform", "normal") if k in spec.data]
        if len(kinds) != 1:
            raise ModelError(path, dict(value), "a random spec {uniform = [lo, hi]} or {normal = [mean, sd]}")
        a, b = _number_list(spec.take(kinds[0], list), spec.at(kinds[0]), 2)
        spec.finish()
        if kinds[0] == "uniform":
            if not a <= b:
                raise ModelError(spec.at("uniform"), [a, b], "lo <= hi")
            return self.rng.uniform(a, b, count).tolist()
        if b < 0:
            raise ModelError(spec.at("normal"), [a, b], "a standard deviation >= 0")
        return self.rng.normal(a, b, count).tolist()


# ------------------------------------------------------------------------------ parts
def build_measure(node: Node, draws: Draws, index: int | None = None,
                  count: int | None = None) -> measures_lib.Measure:
    """``{name = "entropic", gamma = 1.0}``; with ``index`` a random/list parameter is per agent."""
    name = node.take("name", str, allowed=f"a measure name: one of {sorted(measures_lib.registry())}")
    params = {}
    for key, value in node.data.items():
        if key == "name":
            continue
        node.used.add(key)
        value = draws.resolve(value, node.at(key), count)
        if index is not None and isinstance(value, list) and key not in _LIST_PARAMS:
            if len(value) != count:
                raise ModelError(node.at(key), f"{len(value)} values", f"one per agent ({count})")
            value = value[index]
        params[key] = value
    try:
        return measures_lib.create(name, **params)
    except ModelError as err:
        raise err.with_prefix(node.path) from None
    except (TypeError, ValueError) as err:
        raise ModelError(node.path, params, f"valid parameters for '{name}'", detail=str(err)) from None


#: measure parameters that are lists by nature (not one value per agent)
_LIST_PARAMS = {"law", "priors", "t", "h", "capacity", "weights", "components"}


def build_agents(card: Node, draws: Draws, n_states: int | None) -> list[Agent]:
    has_agents, has_pool = "agents" in card.data, "pool" in card.data
    if has_agents == has_pool:
        raise ModelError("agents", None, "exactly one of [[agents]] or [pool]")
    agents: list[Agent] = []
    if has_agents:
        items = card.take("agents", list, allowed="a list of agent tables ([[agents]])")
        if not 1 <= len(items) <= MAX_AGENTS:
            raise ModelError("agents", f"{len(items)} agents", f"between 1 and {MAX_AGENTS} agents")
        for i, raw in enumerate(items):
            node = Node(raw, f"agents[{i}]")
            name = node.take("name", str, default=f"agent {i + 1}")
            measure = build_measure(Node(node.take("measure", dict, allowed="a measure table"),
                                         node.at("measure")), draws)
            endow = node.take("endowment", list, default=None)
            node.finish()
            e = None if endow is None else _number_list(endow, node.at("endowment"), n_states)
            agents.append(_agent(name, measure, e, node.path))
        return agents
    pool = card.child("pool")
    count = pool.take("count", int, allowed=f"a number of agents in [1, {MAX_AGENTS}]")
    if not 1 <= count <= MAX_AGENTS:
        raise ModelError(pool.at("count"), count, f"a number of agents in [1, {MAX_AGENTS}]")
    pattern = pool.take("name", str, default="agent {i}")
    mnode = Node(pool.take("measure", dict, allowed="a measure table"), pool.at("measure"))
    resolved = {k: draws.resolve(v, mnode.at(k), count) for k, v in mnode.data.items() if k != "name"}
    pool.finish()
    for i in range(count):
        node = Node({"name": mnode.data.get("name"), **resolved}, mnode.path)
        try:
            name = pattern.format(i=i + 1)
        except (KeyError, IndexError, ValueError):
            raise ModelError(pool.at("name"), pattern, "a name pattern using {i}") from None
        agents.append(_agent(name, build_measure(node, draws, i, count), None, f"agents[{i}]"))
    return agents


def _agent(name: str, measure: measures_lib.Measure, endowment: np.ndarray | None, path: str) -> Agent:
    try:
        return Agent(name, measure, endowment)
    except ModelError as err:
        raise ModelError(path, err.value, err.allowed, detail=err.detail) from None


_LAWS: dict[str, Callable[..., Law]] = {
    "censored_exponential": censored_exponential,
    "exponential": ExpLaw,
    "uniform": Uniform,
}


def build_space(node: Node, draws: Draws) -> Scenarios:
    kinds = ("bernoulli_hits", "common_shock_hits", "bernoulli_atoms", "discrete", "samples", "law")
    kind = node.take("kind", str, allowed=f"one of {list(kinds)}")
    try:
        space = _space_of_kind(kind, node, draws, kinds)
    except ModelError as err:
        raise err if err.field.startswith(node.path) else err.with_prefix(node.path) from None
    prune = node.take("prune", float, default=None, allowed="a pruning tolerance in [0, 1)")
    node.finish()
    if space.size > MAX_STATES:
        raise ModelError(node.path, f"{space.size} states", f"at most {MAX_STATES} states")
    if prune is not None:
        try:
            space = space.prune(prune)
        except ModelError as err:
            raise ModelError(node.at("prune"), prune, err.allowed) from None
    return space


def _probabilities(node: Node, key: str, draws: Draws) -> Any:
    value = draws.resolve(node.take(key, (list, dict), allowed="a list of hit probabilities"),
                          node.at(key), None)
    arr = _number_list(value, node.at(key))
    if arr.size > MAX_AGENTS:
        raise ModelError(node.at(key), f"{arr.size} probabilities", f"at most {MAX_AGENTS}")
    return arr


def _space_of_kind(kind: str, node: Node, draws: Draws, kinds: tuple[str, ...]) -> Scenarios:
    if kind == "bernoulli_hits":
        p = _probabilities(node, "p", draws)
        loss = node.take("loss", (float, list), default=1.0)
        tick = node.take("tick", float, default=None)
        loss = _number_list(loss, node.at("loss"), p.size) if isinstance(loss, list) else loss
        return Scenarios.bernoulli_hits(p, loss, tick=tick)
    if kind == "common_shock_hits":
        ps = _probabilities(node, "p_storm", draws)
        pc = _probabilities(node, "p_calm", draws)
        return Scenarios.common_shock_hits(ps, pc, node.take("storm_prob", float),
                                           node.take("loss", float, default=1.0))
    if kind == "bernoulli_atoms":
        p = _probabilities(node, "p", draws)
        return Scenarios.bernoulli_atoms(p, node.take("loss", float, default=1.0))
    if kind == "discrete":
        values = _number_list(node.take("values", list), node.at("values"))
        probs = _number_list(node.take("probs", list), node.at("probs"))
        return Scenarios.discrete(values, probs, normalise=node.take("normalise", bool, default=False))
    if kind == "samples":
        values = _number_list(node.take("values", list), node.at("values"))
        return Scenarios.equally_weighted(values)
    if kind == "law":
        law_node = Node(node.take("law", dict), node.at("law"))
        lname = law_node.take("name", str, allowed=f"one of {sorted(_LAWS)}")
        if lname not in _LAWS:
            raise ModelError(law_node.at("name"), lname, f"one of {sorted(_LAWS)}")
        params = {k: v for k, v in law_node.data.items() if k != "name"}
        law_node.used.update(params)
        try:
            law = _LAWS[lname](**params)
        except TypeError as err:
            raise ModelError(law_node.path, params, f"the parameters of '{lname}'", detail=str(err)) from None
        n = node.take("n", int, allowed=f"a number of bins in [1, {MAX_STATES}]")
        if not 1 <= n <= MAX_STATES:
            raise ModelError(node.at("n"), n, f"a number of bins in [1, {MAX_STATES}]")
        return Scenarios.from_law(law, n, method=node.take("method", str, default="midpoint"))
    raise ModelError(node.at("kind"), kind, f"one of {list(kinds)}")


_SETS: dict[str, Callable[[], AllocationSet]] = {
    "budget": Budget,
    "comonotone": Comonotone,
    "anchored_comonotone": AnchoredComonotone,
}


def build_allocation(node: Node | None) -> tuple[AllocationSet, list[Restriction]]:
    if node is None:
        return AnchoredComonotone(), []
    name = node.take("set", str, default="anchored_comonotone", allowed=f"one of {sorted(_SETS)}")
    if name not in _SETS:
        raise ModelError(node.at("set"), name, f"one of {sorted(_SETS)}")
    restrictions: list[Restriction] = []
    for i, raw in enumerate(node.take("restrictions", list, default=[])):
        r = Node(raw, node.at(f"restrictions[{i}]"))
        kind = r.take("kind", str, allowed="sign | limited_liability | individual_rationality")
        if kind == "sign":
            restrictions.append(SignRestriction())
        elif kind == "individual_rationality":
            restrictions.append(IndividualRationality())
        elif kind == "limited_liability":
            caps = r.take("caps", (list, float))
            caps = _number_list(caps, r.at("caps")) if isinstance(caps, list) else caps
            try:
                restrictions.append(LimitedLiability(caps))
            except ModelError as err:
                raise err.with_prefix(r.path) from None
        else:
            raise ModelError(r.at("kind"), kind, "sign | limited_liability | individual_rationality")
        r.finish()
    node.finish()
    return _SETS[name](), restrictions


@dataclass
class Card:
    """A parsed, validated model card."""

    name: str
    mechanism: str
    description: str
    seed: int | None
    space: Scenarios
    agents: list[Agent]
    allocation: AllocationSet
    restrictions: list[Restriction]
    objective: str
    weights: np.ndarray | None
    backend: str
    solver: str | None
    options: dict[str, Any] = field(default_factory=dict)
    source: str = ""


def parse_card(data: Mapping[str, Any], source: str = "") -> Card:
    """Validate a card given as a mapping (a parsed TOML document)."""
    card = Node(data, "")
    model = card.child("model")
    name = model.take("name", str, default=Path(source).stem or "model")
    mechanism = model.take("mechanism", str, default="pareto")
    if mechanism not in MECHANISMS:
        raise ModelError(model.at("mechanism"), mechanism, f"one of {sorted(MECHANISMS)}")
    description = model.take("description", str, default="")
    seed = model.take("seed", int, default=None, allowed="an integer seed")
    model.finish()
    draws = Draws(seed)
    space_node = card.child("space")
    agents = build_agents(card, draws, None)
    space = build_space(space_node, draws)
    for i, a in enumerate(agents):
        if a.endowment is not None and a.endowment.size != space.size:
            raise ModelError(f"agents[{i}].endowment", f"{a.endowment.size} values",
                             f"one per state ({space.size})")
    allocation, restrictions = build_allocation(card.child("allocation", default=None))
    obj = card.child("objective", default=None) or Node({}, "objective")
    kind = obj.take("kind", str, default="welfare", allowed="'welfare' or 'total_risk'")
    if kind not in ("welfare", "total_risk"):
        raise ModelError(obj.at("kind"), kind, "'welfare' or 'total_risk'")
    weights = obj.take("weights", list, default=None)
    weights = None if weights is None else _number_list(weights, obj.at("weights"), len(agents))
    obj.finish()
    solver_node = card.child("solver", default=None) or Node({}, "solver")
    backend = solver_node.take("backend", str, default="cvxpy")
    solver = solver_node.take("solver", str, default=None)
    options = solver_node.take("options", dict, default={})
    solver_node.finish()
    card.finish()
    return Card(name, mechanism, description, seed, space, agents, allocation, restrictions, kind,
                weights, backend, solver, dict(options), source)


def load_card(path: str | Path) -> Card:
    """Read and validate a TOML model card (a path, or the name of a bundled card)."""
    p = Path(path)
    if not p.exists():
        bundled = bundled_card(str(path))
        if bundled is None:
            raise ModelError("card", str(path), "an existing TOML file or a bundled card name",
                             detail="file not found")
        p = bundled
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ModelError("card", str(path), "a readable UTF-8 TOML file", detail=str(err)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ModelError("card", str(path), "valid TOML", detail=str(err)) from None
    except RecursionError:
        raise ModelError("card", str(path), "a TOML document of reasonable nesting depth") from None
    return parse_card(data, source=str(p))


def bundled_card(name: str) -> Path | None:
    """Path of a card shipped with riskopt (``hurricane_pool`` or ``hurricane_pool.toml``)."""
    from importlib import resources

    stem = name[:-5] if name.endswith(".toml") else name
    if "/" in stem or "\\" in stem:
        return None
    try:
        candidate = resources.files("riskopt.models") / f"{stem}.toml"
    except ModuleNotFoundError:  # pragma: no cover - models not installed
        return None
    return Path(str(candidate)) if candidate.is_file() else None


# -------------------------------------------------------------------------- running
def run_pareto(card: Card, backend: str | None, solver: str | None):
    from .mechanisms.pareto import welfare
    from .program import SharingProgram

    if card.objective == "welfare":
        prog = welfare(card.space, card.agents, allocation=card.allocation, weights=card.weights,
                       restrictions=card.restrictions)
    else:
        prog = SharingProgram(card.space, card.agents, allocation=card.allocation,
                              objective="total_risk", weights=card.weights,
                              restrictions=card.restrictions)
    same_backend = backend is None or backend == card.backend
    solution = prog.solve(backend=backend or card.backend,
                          solver=solver or (card.solver if same_backend else None),
                          **(card.options if same_backend else {}))
    from .mechanisms.pareto import closed_form_check

    check = closed_form_check(prog, solution)
    if check is not None:
        solution = dataclasses.replace(solution, extra={**solution.extra, "closed_form": check})
    return prog, solution


MECHANISMS: dict[str, Callable[..., Any]] = {"pareto": run_pareto}


def run_card(card: Card, *, backend: str | None = None, solver: str | None = None):
    """Run the card's mechanism; returns ``(program, solution)``."""
    return MECHANISMS[card.mechanism](card, backend, solver)
