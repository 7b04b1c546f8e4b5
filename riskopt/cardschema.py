"""Reading model cards: typed fields with TOML paths, random specs, and the shared sections.

Every mechanism's card reader builds on these: :class:`Node` reads a table field by field (type
checked, unknown keys refused, errors named by their TOML path such as
``agents[2].measure.gamma``); :class:`Draws` resolves random specs (``{uniform = [lo, hi]}``,
``{normal = [mean, sd]}``) from ``numpy.random.default_rng(model.seed)`` in a fixed order (agent
parameters first, then the space); and the shared sections are read by :func:`build_space`,
:func:`build_agents`, :func:`build_measure` and :func:`read_solver`.
"""

from __future__ import annotations

import inspect
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import measures as measures_lib
from .backends.options import check_options
from .climada_impact import card_reference_rows as climada_rows
from .climada_impact import card_table as climada_table
from .errors import ModelError
from .laws import Exponential as ExpLaw
from .laws import Law, Uniform, censored_exponential
from .losstables import LossTable, card_reference_rows, card_space, card_table
from .program import Agent
from .space import Scenarios
from .spec import Context, Node, Row, number_list, option, read_spec

__all__ = ["LOSS_TABLE_KINDS", "MAX_AGENTS", "MAX_STATES", "CardMechanism", "Draws", "Node", "SolverChoice",
           "build_agents", "build_measure", "build_space", "loss_table_rows", "missing_extras", "number_list",
           "read_loss_table", "read_solver"]

#: hard limits that keep a card from asking for more than a machine can give (fuzzing, typos)
MAX_AGENTS = 20_000
MAX_STATES = 5_000_000
#: hits x lattice points of the Poisson-binomial recursion with a tick (about 2 s of work)
MAX_LATTICE_WORK = 1_000_000_000


class Draws:
    """Random specs drawn from one generator in a fixed order (agents first, then the space);
    ``folder`` is the card's folder (where its data files' relative paths start), if it has one."""

    def __init__(self, seed: int | None, folder: Path | None = None):
        self.rng = np.random.default_rng(seed)
        self.seed = seed
        self.folder = folder

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
        a, b = number_list(spec.take(kinds[0], list), spec.at(kinds[0]), 2)
        spec.finish()
        if kinds[0] == "uniform":
            if not a <= b:
                raise ModelError(spec.at("uniform"), [a, b], "lo <= hi")
        elif b < 0:
            raise ModelError(spec.at("normal"), [a, b], "a standard deviation >= 0")
        with np.errstate(over="ignore", invalid="ignore"):
            try:
                drawn = (self.rng.uniform(a, b, count) if kinds[0] == "uniform"
                         else self.rng.normal(a, b, count))
            except OverflowError:  # numpy: "high - low range exceeds valid bounds"
                drawn = np.array([np.inf])
        if not np.all(np.isfinite(drawn)):
            raise ModelError(spec.at(kinds[0]), [float(a), float(b)],
                             "a range whose draws are finite numbers")
        return drawn.tolist()


# ------------------------------------------------------------------------------ parts
def build_measure(node: Node, draws: Draws, index: int | None = None,
                  count: int | None = None) -> measures_lib.Measure:
    """``{name = "entropic", gamma = 1.0}``; with ``index`` a random/list parameter is per agent."""
    registry = measures_lib.registry()
    name = node.take("name", str, allowed=f"a measure name: one of {sorted(registry)}")
    if name not in registry:
        raise ModelError(node.at("name"), name, f"a measure name: one of {sorted(registry)}")
    signature = inspect.signature(registry[name].__init__).parameters
    params = {}
    for key, value in node.data.items():
        if key == "name":
            continue
        node.used.add(key)
        if key not in _TABLE_PARAMS:
            if index is None and isinstance(value, Mapping) and "n" not in value:
                value = draws.resolve(value, node.at(key), 1)[0]  # one agent: one draw
            else:
                value = draws.resolve(value, node.at(key), count)
        if index is not None and isinstance(value, list) and key not in _LIST_PARAMS:
            if len(value) != count:
                raise ModelError(node.at(key), f"{len(value)} values", f"one per agent ({count})")
            value = value[index]
        # float() reads True as 1 and "0.1" as 0.1: refuse both where the parameter is not declared so
        declared = str(getattr(signature.get(key), "annotation", ""))
        if isinstance(value, bool) and "bool" not in declared:
            raise ModelError(node.at(key), value, "a number (not true/false)")
        if isinstance(value, str) and "str" not in declared and "Any" not in declared:
            raise ModelError(node.at(key), value, "a number (not a string)")
        params[key] = value
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.values()):
        known = [k for k in signature if k != "self"]
        for key in params:
            if key not in known:
                raise ModelError(node.at(key), params[key], f"a parameter of '{name}': one of {known}")
    for pname, param in signature.items():
        required = param.default is inspect.Parameter.empty and param.kind in (
            inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        if pname != "self" and required and pname not in params:
            raise ModelError(node.at(pname), None, f"a value for the parameter '{pname}' of '{name}'",
                             detail="missing")
    try:
        return measures_lib.create(name, **params)
    except ModelError as err:
        raise err.with_prefix(node.path) from None
    except (TypeError, ValueError, ArithmeticError) as err:
        raise ModelError(node.path, params, f"valid parameters for '{name}'", detail=str(err)) from None


#: measure parameters that are lists by nature (not one value per agent)
_LIST_PARAMS = {"law", "priors", "t", "h", "capacity", "weights", "components"}
#: measure parameters that are tables by nature (a nested measure), never random specs
_TABLE_PARAMS = {"base"}


def build_agents(card: Node, draws: Draws, n_states: int | None) -> list[Agent]:
    has_agents, has_pool = "agents" in card.data, "pool" in card.data
    if has_agents == has_pool:
        raise ModelError("agents", None, "exactly one of [[agents]] or [pool]")
    agents: list[Agent] = []
    names: set[str] = set()
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
            e = None if endow is None else number_list(endow, node.at("endowment"), n_states)
            if name in names:
                raise ModelError(node.at("name"), name, "distinct agent names")
            names.add(name)
            agents.append(_agent(name, measure, e, node.path))
        return agents
    pool = card.child("pool")
    count = pool.take("count", int, allowed=f"a number of agents in [1, {MAX_AGENTS}]")
    if not 1 <= count <= MAX_AGENTS:
        raise ModelError(pool.at("count"), count, f"a number of agents in [1, {MAX_AGENTS}]")
    pattern = pool.take("name", str, default="agent {i}")
    _check_pattern(pattern, pool.at("name"))
    mnode = Node(pool.take("measure", dict, allowed="a measure table"), pool.at("measure"))
    resolved = {k: v if k in _TABLE_PARAMS else draws.resolve(v, mnode.at(k), count)
                for k, v in mnode.data.items() if k != "name"}
    pool.finish()
    for i in range(count):
        node = Node({"name": mnode.data.get("name"), **resolved}, mnode.path)
        name = pattern.format(i=i + 1)
        if name in names:
            raise ModelError(pool.at("name"), pattern, "a name pattern using {i} (distinct agent names)")
        names.add(name)
        agents.append(_agent(name, build_measure(node, draws, i, count), None, "pool"))
    return agents


def _check_pattern(pattern: str, path: str) -> None:
    """A name pattern whose only field is ``{i}`` (optionally with a short format spec)."""
    allowed = "a name pattern using {i} (such as 'farmer {i}' or 'farmer {i:03d}')"
    try:
        fields = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(pattern) if f is not None]
        for f, spec, conv in fields:
            # a width such as {i:>99999999999} would build enormous names
            if f != "i" or conv is not None or not re.fullmatch(r"[^{}]{0,8}", spec or "") \
                    or re.search(r"\d{3,}", spec or ""):
                raise ValueError(f)
        pattern.format(i=1)
    except (KeyError, IndexError, ValueError, TypeError, AttributeError):
        raise ModelError(path, pattern, allowed) from None


def _agent(name: str, measure: measures_lib.Measure, endowment: np.ndarray | None, path: str) -> Agent:
    try:
        return Agent(name, measure, endowment)
    except ModelError as err:  # err.field is "agent.name" or "agents['a'].endowment": keep the last part
        raise ModelError(f"{path}.{err.field.rsplit('.', 1)[-1]}", err.value, err.allowed,
                         detail=err.detail) from None


_LAWS: dict[str, Callable[..., Law]] = {
    "censored_exponential": censored_exponential,
    "exponential": ExpLaw,
    "uniform": Uniform,
}


#: the kinds of modelled-loss tables a card reads (riskopt.losstables; "climada": riskopt.climada_impact)
LOSS_TABLE_KINDS = ("year_loss_table", "event_loss_table", "climada")


#: the kinds of data section that need an optional extra (``pip install 'riskopt[extra]'``), by module
KIND_EXTRAS = {"climada": ("climada", "climada")}


def missing_extras(data: Mapping[str, Any]) -> list[str]:
    """The extras a parsed card needs (its ``[space]`` or ``[losses]`` kind) that are not installed."""
    import importlib.util

    kinds = {section.get("kind") for section in (data.get("space"), data.get("losses"))
             if isinstance(section, Mapping)}
    return sorted({extra for kind, (extra, module) in KIND_EXTRAS.items()
                   if kind in kinds and importlib.util.find_spec(module) is None})


def _loss_table(kind: str, node: Node, seed: int | None, folder: Path | None) -> LossTable:
    if kind == "climada":
        return climada_table(node, seed, MAX_STATES)  # imports CLIMADA (only now)
    return card_table(kind, node, seed, folder, MAX_STATES)


def build_space(node: Node, draws: Draws, folder: Path | None = None) -> Scenarios:
    """The ``[space]`` table; ``folder`` (default: the draws') is where relative data paths start."""
    kinds = ("bernoulli_hits", "common_shock_hits", "bernoulli_atoms", "discrete", "samples", "law",
             *LOSS_TABLE_KINDS)
    kind = node.take("kind", str, allowed=f"one of {list(kinds)}")
    try:
        if kind == "climada":
            space = _loss_table(kind, node, draws.seed, None).scenarios
        elif kind in LOSS_TABLE_KINDS:
            space = card_space(kind, node, draws.seed, folder or draws.folder, MAX_STATES)
        else:
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


def read_loss_table(node: Node, ctx: Context) -> LossTable:
    """A ``[losses]``-like table of kind ``"year_loss_table"``, ``"event_loss_table"`` or ``"climada"``
    (the fields of the ``[space]`` kinds of the same names) as a
    :class:`~riskopt.losstables.LossTable`; the seed of a simulated table defaults to the card's
    ``[model] seed``, paths start in the card's folder."""
    kind = node.take("kind", str, allowed=f"one of {list(LOSS_TABLE_KINDS)}")
    if kind not in LOSS_TABLE_KINDS:
        raise ModelError(node.at("kind"), kind, f"one of {list(LOSS_TABLE_KINDS)}")
    try:
        table = _loss_table(kind, node, getattr(ctx.draws, "seed", None), ctx.folder)
    except ModelError as err:
        raise err if err.field.startswith(node.path) else err.with_prefix(node.path) from None
    node.finish()
    return table


def loss_table_rows(prefix: str, key: str = "losses") -> list[Row]:
    """Reference rows of a loss-table section (:func:`read_loss_table`) at ``prefix + key``."""
    path = prefix + key
    return [Row(f"{path}.kind", " or ".join(f'"{k}"' for k in LOSS_TABLE_KINDS), "required", "", "",
                "a year loss table read, or an event loss table simulated to years (docs/losstables.md)"),
            *card_reference_rows(path), *climada_rows(path)]


def _probabilities(node: Node, key: str, draws: Draws) -> Any:
    value = draws.resolve(node.take(key, (list, dict), allowed="a list of hit probabilities"),
                          node.at(key), None)
    arr = number_list(value, node.at(key))
    if arr.size > MAX_AGENTS:
        raise ModelError(node.at(key), f"{arr.size} probabilities", f"at most {MAX_AGENTS}")
    return arr


def _space_of_kind(kind: str, node: Node, draws: Draws, kinds: tuple[str, ...]) -> Scenarios:
    if kind == "bernoulli_hits":
        p = _probabilities(node, "p", draws)
        loss = node.take("loss", (float, list), default=1.0)
        tick = node.take("tick", float, default=None)
        loss = number_list(loss, node.at("loss"), p.size) if isinstance(loss, list) else loss
        if tick is not None and np.isfinite(tick) and tick > 0:  # the lattice has sum(loss)/tick points
            with np.errstate(over="ignore"):
                points = float(np.sum(np.abs(np.broadcast_to(loss, p.shape)))) / tick
            if not points <= MAX_STATES:
                raise ModelError(node.at("tick"), tick, f"a tick giving at most {MAX_STATES} lattice "
                                 "points (sum of the losses / tick)", detail=f"{points:.3g} points")
            if p.size * points > MAX_LATTICE_WORK:
                raise ModelError(node.at("tick"), tick, f"a coarser tick: hits x lattice points at most "
                                 f"{MAX_LATTICE_WORK:.0e}", detail=f"{p.size} hits x {points:.3g} points")
        return Scenarios.bernoulli_hits(p, loss if isinstance(loss, float) else loss.tolist(), tick=tick)
    if kind == "common_shock_hits":
        ps = _probabilities(node, "p_storm", draws)
        pc = _probabilities(node, "p_calm", draws)
        return Scenarios.common_shock_hits(ps, pc, node.take("storm_prob", float),
                                           node.take("loss", float, default=1.0))
    if kind == "bernoulli_atoms":
        p = _probabilities(node, "p", draws)
        return Scenarios.bernoulli_atoms(p, node.take("loss", float, default=1.0))
    if kind == "discrete":
        values = number_list(node.take("values", list), node.at("values"))
        probs = number_list(node.take("probs", list), node.at("probs"))
        return Scenarios.discrete(values, probs, normalise=node.take("normalise", bool, default=False))
    if kind == "samples":
        values = number_list(node.take("values", list), node.at("values"))
        if values.size == 0:
            raise ModelError(node.at("values"), [], "at least one sample")
        return Scenarios.equally_weighted(values)
    if kind == "law":
        law_node = Node(node.take("law", dict), node.at("law"))
        lname = law_node.take("name", str, allowed=f"one of {sorted(_LAWS)}")
        if lname not in _LAWS:
            raise ModelError(law_node.at("name"), lname, f"one of {sorted(_LAWS)}")
        params = {k: v for k, v in law_node.data.items() if k != "name"}
        law_node.used.update(params)
        for k in list(params):
            params[k] = law_node.take(k, float, allowed="a number")
        try:
            law = _LAWS[lname](**params)
        except ModelError as err:
            raise err.with_prefix(law_node.path) from None
        except TypeError as err:
            raise ModelError(law_node.path, params, f"the parameters of '{lname}'", detail=str(err)) from None
        n = node.take("n", int, allowed=f"a number of bins in [1, {MAX_STATES}]")
        if not 1 <= n <= MAX_STATES:
            raise ModelError(node.at("n"), n, f"a number of bins in [1, {MAX_STATES}]")
        return Scenarios.from_law(law, n, method=node.take("method", str, default="midpoint"))
    raise ModelError(node.at("kind"), kind, f"one of {list(kinds)}")


# ------------------------------------------------------------------ spec fields and their docs
def agents_option() -> Any:
    """The ``agents`` field of a spec: ``[[agents]]`` (one table each) or ``[pool]`` (a count and one
    measure whose parameters may be random specs or one value per agent)."""
    return option(help="the agents: [[agents]] tables, or a [pool] of count agents", whole=True,
                  read=lambda node, path, ctx: tuple(build_agents(node, ctx.draws, None)),
                  rows=agents_rows)


def space_option(key: str = "space") -> Any:
    """A spec field holding a :class:`~riskopt.space.Scenarios` read from a ``[space]``-like table."""
    return option(help="the scenario space: states, their probabilities and the aggregate X", key=key,
                  read=lambda value, path, ctx: build_space(Node(value, path), ctx.draws, ctx.folder),
                  rows=lambda prefix: space_rows(prefix + key))


def agents_rows(prefix: str) -> list[Row]:
    """Reference rows of ``[[agents]]`` and ``[pool]``."""
    p = prefix
    return [
        Row(f"{p}agents[]", "array of tables", "one of agents/pool", "", "", "one table per agent"),
        Row(f"{p}agents[].name", "string", '"agent {k}"', "distinct names", "", "the agent's name"),
        Row(f"{p}agents[].measure", "table", "required", "a measure table {name = ..., ...}", "",
            "the agent's preference (see the measures below)"),
        Row(f"{p}agents[].endowment", "list of numbers", "none", "one value per state", "",
            "what the agent owns (for individual rationality)"),
        Row(f"{p}pool", "table", "one of agents/pool", "", "", "count agents sharing one measure"),
        Row(f"{p}pool.count", "integer", "required", f"1 to {MAX_AGENTS}", "", "the number of agents"),
        Row(f"{p}pool.name", "string", '"agent {i}"', "a pattern using {i}", "", "agent names"),
        Row(f"{p}pool.measure", "table", "required", "a measure table; a parameter may be a random "
            "spec {uniform = [lo, hi]} or {normal = [mean, sd]}, or a list with one value per agent", "",
            "the agents' preference"),
        *measure_rows(f"{p}<agent>.measure"),
    ]


def measure_rows(prefix: str) -> list[Row]:
    """Reference rows of every registered measure (name and constructor parameters)."""
    rows = []
    for name, cls in sorted(measures_lib.registry().items()):
        if cls.name != name:  # an alias: documented under its main name
            continue
        doc = (inspect.getdoc(cls) or "").split("\n")[0]
        rows.append(Row(f'{prefix} = {{name = "{name}"}}', "measure", "", "", "", doc))
        for pname, param in inspect.signature(cls.__init__).parameters.items():
            if pname in ("self", "params") or param.kind is inspect.Parameter.VAR_KEYWORD:
                continue
            default = "required" if param.default is inspect.Parameter.empty else repr(param.default)
            rows.append(Row(f"{prefix}.{pname}", _annotation(param.annotation), default, "", "",
                            f"a parameter of {name}"))
    return rows


def space_rows(path: str) -> list[Row]:
    """Reference rows of a ``[space]`` table: its kinds, their fields and the laws."""
    kinds = {
        "bernoulli_hits": [("p", "list of numbers or a random spec", "required", "hit probabilities"),
                           ("loss", "number or list", "1.0", "the loss of a hit (one, or one per agent)"),
                           ("tick", "number", "none", "a lattice step for unequal losses")],
        "common_shock_hits": [("p_storm", "list of numbers", "required", "hit probabilities in a storm"),
                              ("p_calm", "list of numbers", "required", "hit probabilities when calm"),
                              ("storm_prob", "number", "required", "the probability of a storm"),
                              ("loss", "number", "1.0", "the loss of a hit")],
        "bernoulli_atoms": [("p", "list of numbers", "required", "hit probabilities (the atom space)"),
                            ("loss", "number", "1.0", "the loss of a hit")],
        "discrete": [("values", "list of numbers", "required", "the values of X"),
                     ("probs", "list of numbers", "required", "their probabilities"),
                     ("normalise", "true/false", "false", "rescale probabilities that do not sum to 1")],
        "samples": [("values", "list of numbers", "required", "equally likely values of X")],
        "law": [("law", "table", "required", "a law {name = ..., parameters}"),
                ("n", "integer", "required", f"the number of bins (1 to {MAX_STATES})"),
                ("method", "string", '"midpoint"', "how each bin's value is chosen")],
    }
    kind_names = [*kinds, *LOSS_TABLE_KINDS]
    rows = [Row(f"{path}.kind", "one of " + ", ".join(f'"{k}"' for k in kind_names), "required", "", "",
                "how the states are built (year/event loss tables: docs/losstables.md)"),
            Row(f"{path}.prune", "number", "none", "in [0, 1)", "", "drop atoms of smaller probability "
                "(the dropped mass is recorded)")]
    for kind, fields in kinds.items():
        rows += [Row(f"{path}.{key} (kind = \"{kind}\")", typ, default, "", "", help_)
                 for key, typ, default, help_ in fields]
    rows += [*card_reference_rows(path), *climada_rows(path)]
    for lname, fn in sorted(_LAWS.items()):
        params = [p for p in inspect.signature(fn).parameters if p != "self"]
        rows.append(Row(f'{path}.law = {{name = "{lname}"}}', "law", "", ", ".join(params), "",
                        (inspect.getdoc(fn) or "").split("\n")[0]))
    return rows


def _annotation(annotation: Any) -> str:
    text = str(annotation)
    return "" if text == "<class 'inspect._empty'>" or text == "_empty" else text.replace("'", "")


@dataclass(frozen=True)
class CardMechanism:
    """How a mechanism joins the card format: ``name`` (the ``[model] mechanism`` value), a reader
    ``reader(root: Node, draws: Draws) -> spec`` that validates the mechanism's own sections, a
    runner ``runner(spec, backend, solver, options) -> result`` (a :class:`~riskopt.result.Result`)
    and the ``spec`` dataclass whose field metadata documents the card (the generated reference).
    The specs a reader returns have ``footprint() -> riskopt.budget.Footprint``, the run's estimated
    peak memory, checked before the run (:func:`riskopt.cards.run_card`). A mechanism package
    exposes one as ``CARD`` (or several as ``CARDS``)."""

    name: str
    reader: Callable[[Node, Draws], Any]
    runner: Callable[..., Any]
    spec: type[Any] | None = None
    summary: str = ""

    @classmethod
    def of(cls, name: str, spec: type[Any], solve: Callable[..., Any], summary: str = "", *,
           reader: Callable[[Node, Draws], Any] | None = None) -> CardMechanism:
        """The usual adapter: read ``spec`` with :func:`~riskopt.spec.read_spec` (the ``[model]`` and
        ``[solver]`` sections are left to the caller) and run ``solve(spec, method="auto", backend=...,
        solver=..., **options)``; ``reader`` replaces the default reader."""

        def read(root: Node, draws: Draws) -> Any:
            return read_spec(spec, root, Context(draws), finish=False)

        def run(value: Any, backend: str, solver: str | None, options: dict[str, Any]) -> Any:
            return solve(value, method="auto", backend=backend, solver=solver, **options)

        return cls(name, reader or read, run, spec, summary)


@dataclass(frozen=True)
class SolverChoice:
    """The ``[solver]`` section: backend, solver (``None``: the backend's default) and options."""

    backend: str = "cvxpy"
    solver: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def resolve(self, backend: str | None, solver: str | None) -> tuple[str, str | None, dict[str, Any]]:
        """Apply command-line overrides: another backend drops the card's solver and options."""
        same = backend is None or backend == self.backend
        return (backend or self.backend, solver or (self.solver if same else None),
                dict(self.options) if same else {})


def model_rows() -> list[Row]:
    """Reference rows of ``[model]`` (every card has it)."""
    return [Row("model.name", "string", "the file name", "", "", "the model's name"),
            Row("model.mechanism", "string", '"pareto"', "a registered mechanism", "",
                "which mechanism reads the other sections"),
            Row("model.description", "string", '""', "", "", "free text"),
            Row("model.seed", "integer", "none", "an integer >= 0", "",
                "the seed of every random draw (random specs, scenario generators, menus)"),
            Row("model.units", "string", '""', "a printable label of at most 40 characters", "",
                "the unit of the card's amounts (e.g. 'USD bn'), printed with the result")]


def solver_rows() -> list[Row]:
    """Reference rows of ``[solver]`` (every card may have it)."""
    return [Row("solver.backend", "string", '"cvxpy"', "cvxpy | highs | pyomo", "", "the backend"),
            Row("solver.solver", "string", "the backend's default", "a solver the backend offers "
                "(riskopt list)", "", "the solver"),
            Row("solver.options", "table", "{}", "options the solver accepts", "",
                "solver options (e.g. Clarabel's tol_gap_abs), recorded in the result")]


def read_solver(root: Node) -> SolverChoice:
    """``[solver]``: an installed backend and a solver it offers (checked now, named by path)."""
    node = root.child("solver", default=None) or Node({}, "solver")
    backend = node.take("backend", str, default="cvxpy")
    solver = node.take("solver", str, default=None)
    options = node.take("options", dict, default={})
    node.finish()
    _check_solver(backend, solver, node)
    check_options(options, node.at("options"))
    return SolverChoice(backend, solver, dict(options))


def _check_solver(backend: str, solver: str | None, node: Node) -> None:
    """An installed backend, and a solver it offers."""
    from .backends import backend as get_backend

    try:
        chosen = get_backend(backend)
    except ModelError as err:
        raise ModelError(node.at("backend"), backend, err.allowed, detail=err.detail) from None
    if solver is not None:
        try:
            chosen.check_solver(solver)
        except ModelError as err:
            raise ModelError(node.at("solver"), solver, err.allowed, detail=err.detail) from None
