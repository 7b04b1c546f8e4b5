"""The equilibrium mechanism's input: a scenario space and agents, each with a preference and an
endowment.

:class:`EquilibriumSpec` is what :func:`riskopt.mechanisms.equilibrium.solve` takes and what a card
with ``mechanism = "equilibrium"`` reads (``[space]``, then ``[[agents]]`` each with an
``endowment``: a list with one value per state, or the name of a variable of the space such as
``"X"`` or ``"-X"``). The aggregate is the sum of the endowments, ``W = sum_i e_i``.

Which preferences (the agents' ``measure``) the mechanism takes, by kind (:func:`kind_of`):

* ``"cara"``: the entropic certainty equivalent, or expected CARA utility (the two rank gains
  alike, so they have the same equilibria); under any prior with full support;
* ``"crra"``: expected CRRA (power or log) utility with ``wealth + endowment + shift > 0``;
* ``"monetary"``: other cash-invariant concave preferences (expectation, concave distortion risk
  measures such as ES, max-min over a credal set of a monetary base).

Expected CRRA utility is not mixed with the non-smooth monetary kind (their welfare program has no
finite weights that balance every budget at once in this solver).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ...budget import Footprint, cells, require
from ...cardschema import agents_rows, build_agents, space_option
from ...constraints import Constrained, ConstraintSpec, constraints_option
from ...errors import ModelError
from ...measures import Entropic, ExpectedUtility, Measure
from ...measures.utility import CARA, CRRA
from ...program import Agent
from ...space import Scenarios
from ...spec import Context, Node, Row, option

__all__ = ["EquilibriumSpec", "Kind", "kind_of"]

Kind = Literal["cara", "crra", "monetary"]
#: peak bytes per agent x state entry with a monetary agent (the welfare program): measured 1.9 KB
#: at 150-200 agents x 1,000-2,000 states
PROGRAM_ENTRY_BYTES = 3e3
#: bytes per agent x state of the endowments while they are read (Python floats in lists): measured 46
ENDOWMENT_ENTRY_BYTES = 64.0
#: the same with CARA and CRRA agents only (first-order conditions on arrays): measured 165-175 B at
#: 400 x 12,500 and 500 x 20,000
FOC_ENTRY_BYTES = 300.0


def kind_of(measure: Measure) -> Kind | None:
    """The preference kind of a measure (module docstring), or None if the mechanism refuses it."""
    if isinstance(measure, Entropic):
        return "cara"
    if isinstance(measure, ExpectedUtility):
        if isinstance(measure.u, CARA):
            return "cara"
        if isinstance(measure.u, CRRA):
            return "crra"
        return None
    if measure.monetary and measure.convex:
        return "monetary"
    return None


def _read_agents(node: Node, path: str, ctx: Context) -> tuple[Agent, ...]:
    """``[[agents]]`` with an endowment each: a list over the states or a variable of the space
    (``"X"``, or ``"-X"`` for its negative). The space is read first (``ctx.values["space"]``)."""
    space: Scenarios = ctx.values["space"]
    if "pool" in node.data:
        node.used.add("pool")
        raise ModelError(node.at("pool"), None, "[[agents]] tables, each with its own endowment (a "
                         "[pool] has no endowments)")
    items = node.take("agents", list, allowed="a list of agent tables ([[agents]]), each with an endowment")
    # the endowments become agents x states numbers before the spec exists: check the least the run
    # needs first (a 1 KB card of 20,000 agents on a law of 5,000,000 bins would ask for terabytes)
    require(cells(ENDOWMENT_ENTRY_BYTES + FOC_ENTRY_BYTES, ("agents", "space"), agents=len(items),
                  states=space.size), what="the agents' endowments")
    resolved = []
    for i, raw in enumerate(items):
        if not isinstance(raw, Mapping):
            resolved.append(raw)
            continue
        item = dict(raw)
        where = f"agents[{i}].endowment"
        if "endowment" not in item:
            raise ModelError(where, None, "the agent's endowment: a list with one value per state "
                             f"({space.size}) or the name of a variable of the space ({_names(space)})",
                             detail="missing")
        e = item["endowment"]
        if isinstance(e, str):
            name = e[1:].strip() if e.startswith("-") else e.strip()
            if name not in space:
                raise ModelError(where, e, f"a list of numbers or the name of a variable of the space "
                                 f"({_names(space)}), optionally with a leading '-'")
            values = np.asarray(space[name], float)
            if values.ndim != 1:
                raise ModelError(where, e, "a variable with one value per state")
            item["endowment"] = (-values if e.startswith("-") else values).tolist()
        resolved.append(item)
    return tuple(build_agents(Node({"agents": resolved}, node.path), ctx.draws, space.size))


def _names(space: Scenarios) -> str:
    return ", ".join(repr(n) for n in space.names) or "none"


def _agent_rows(prefix: str) -> list[Row]:
    rows = [r for r in agents_rows(prefix) if "pool" not in r.path]
    return [Row(r.path, "list of numbers or string", "required", "one value per state, or the name of "
                "a variable of the space ('X', or '-X' for its negative)", "",
                "what the agent owns: its random wealth (gain) in every state")
            if r.path.endswith("agents[].endowment") else r for r in rows]


def _check_crra_wealth(a: Agent, where: str) -> None:
    """``wealth + endowment + shift > 0`` in every state (power and log utility are defined there)."""
    m = a.measure
    assert isinstance(m, ExpectedUtility) and isinstance(m.u, CRRA) and a.endowment is not None
    total = m.wealth + a.endowment + m.u.shift
    if np.all(total > 0):
        return
    s = int(np.argmin(total))
    at_wealth = m.wealth <= 0 and m.u.shift == 0
    raise ModelError(f"{where}.measure.wealth" if at_wealth else f"{where}.endowment",
                     float(m.wealth) if at_wealth else float(a.endowment[s]),
                     "positive CRRA wealth: wealth + endowment + shift > 0 in every state (power and "
                     "log utilities are not defined at non-positive wealth)",
                     detail=f"wealth + endowment + shift = {float(total[s]):.6g} in state {s}")


@dataclass(frozen=True)
class EquilibriumSpec(Constrained):
    """Competitive equilibrium of a risk exchange: agents trade their endowments at state prices."""

    space: Scenarios = space_option()
    agents: tuple[Agent, ...] = option(
        help="the agents: [[agents]] tables, each with a measure and an endowment (read after the "
             "space, whose variables an endowment may name)", whole=True, read=_read_agents,
        rows=_agent_rows)
    max_iterations: int = option(100, help="the most Newton steps on the Negishi weights",
                                 allowed="an integer in [1, 10000]", check=lambda v: 1 <= v <= 10_000)
    constraints: tuple[ConstraintSpec, ...] = constraints_option()

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.space, Scenarios):
            raise ModelError("space", self.space, "a riskopt.Scenarios")
        if len(self.agents) < 1:
            raise ModelError("agents", [], "at least one agent")
        if self.constraints:
            raise ModelError("constraints", [c.name for c in self.constraints],
                             "no constraints: a competitive equilibrium is defined by each agent's "
                             "budget and market clearing alone; extra constraints on allocations would "
                             "change what each agent may buy at the prices, which this mechanism does "
                             "not define (use the pareto mechanism for constrained optima)")
        p = self.space.p
        if np.any(p <= 0):
            raise ModelError("space", f"{int(np.sum(p <= 0))} states of probability 0",
                             "states of positive probability (a state nobody can see has no price; "
                             "prune it: [space] prune = 0)")
        names = [a.name for a in self.agents]
        if len(set(names)) != len(names):
            raise ModelError("agents.name", next(n for n in names if names.count(n) > 1), "distinct names")
        kinds = []
        for i, a in enumerate(self.agents):
            where = f"agents[{i}]"
            if a.endowment is None:
                raise ModelError(f"{where}.endowment", None, f"the agent's endowment: one value per "
                                 f"state ({self.space.size})", detail="missing")
            if a.endowment.size != self.space.size:
                raise ModelError(f"{where}.endowment", f"{a.endowment.size} values",
                                 f"one per state ({self.space.size})")
            kind = kind_of(a.measure)
            if kind is None:
                raise ModelError(f"{where}.measure", a.measure.describe(),
                                 "a concave preference with an equilibrium theory here: entropic, "
                                 "expected_utility with cara or crra, or a cash-invariant concave one "
                                 "(expectation, es, a concave normalised distortion, maxmin of a "
                                 "monetary base)")
            law = getattr(a.measure, "law", None)
            if kind != "monetary" and law is not None and np.any(np.asarray(law, float) <= 0):
                raise ModelError(f"{where}.measure.law", "a law with states of probability 0",
                                 "a prior with full support (an agent blind to a state would sell "
                                 "unlimited claims on it)")
            if kind == "crra":
                _check_crra_wealth(a, where)
            kinds.append(kind)
        if "crra" in kinds and "monetary" in kinds:
            i = kinds.index("monetary")
            raise ModelError(f"agents[{i}].measure", self.agents[i].measure.describe(),
                             "CRRA agents trade only with smooth agents here (expected utility or "
                             "entropic): the Negishi weights of a non-smooth cash-invariant agent are "
                             "not determined by its first-order conditions")

    @property
    def endowments(self) -> np.ndarray:
        """The endowments as an ``(n, S)`` array (gains, one row per agent)."""
        return np.vstack([np.asarray(a.endowment, float) for a in self.agents])

    @property
    def aggregate(self) -> np.ndarray:
        """``W = sum_i e_i`` per state."""
        return np.asarray(self.endowments.sum(axis=0), float)

    @property
    def kinds(self) -> tuple[Kind, ...]:
        return tuple(k for a in self.agents if (k := kind_of(a.measure)) is not None)

    def footprint(self) -> Footprint:
        """Estimated peak memory (:mod:`riskopt.budget`): the agents x states entries of the
        Negishi welfare program (a monetary agent) or of the first-order conditions' arrays (CARA
        and CRRA agents only)."""
        per_entry = PROGRAM_ENTRY_BYTES if "monetary" in self.kinds else FOC_ENTRY_BYTES
        return cells(per_entry, ("agents", "space"), agents=len(self.agents), states=self.space.size)
