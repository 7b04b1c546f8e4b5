"""The pareto mechanism's input: agents, a scenario space, an allocation set and an objective.

:class:`ParetoSpec` is what :func:`riskopt.mechanisms.pareto.solve` takes and what a card with
``mechanism = "pareto"`` reads (``[[agents]]`` or ``[pool]``, ``[space]``, ``[allocation]``,
``[objective]``); every field below is documented on the generated card reference page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ...allocation import (
    AllocationSet,
    AnchoredComonotone,
    Budget,
    Comonotone,
    IndividualRationality,
    LimitedLiability,
    NoSabotage,
    Restriction,
    SignRestriction,
)
from ...budget import SHARING_ENTRY_BYTES, Footprint, cells
from ...cardschema import agents_option, space_option
from ...constraints import Constrained, ConstraintSpec, check_constraints, constraints_option
from ...errors import ModelError
from ...program import Agent
from ...space import Scenarios
from ...spec import Checked, option

__all__ = ["AllocationSpec", "ObjectiveSpec", "ParetoSpec", "RestrictionSpec"]

SETS: dict[str, type[AllocationSet]] = {"budget": Budget, "comonotone": Comonotone,
                                        "anchored_comonotone": AnchoredComonotone, "no_sabotage": NoSabotage}


@dataclass(frozen=True)
class RestrictionSpec(Checked):
    """One restriction on top of the allocation set."""

    kind: Literal["sign", "limited_liability", "individual_rationality"] = option(
        help="sign: xi_i X >= 0 and xi_i = 0 where X = 0; limited_liability: each loss in [0, cap_i]; "
             "individual_rationality: every agent at least as well off as with its endowment",
        allowed="sign | limited_liability | individual_rationality")
    caps: float | tuple[float, ...] | None = option(
        None, help="the liability caps of limited_liability: one for all agents or one per agent",
        allowed="finite caps >= 0", read=lambda v, path, ctx: _caps(v, path))

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.caps is not None and self.kind != "limited_liability":
            raise ModelError("caps", self.caps, f"no caps for kind = '{self.kind}' (only limited_liability "
                             "has caps)", detail="unknown field")

    def build(self) -> Restriction:
        if self.kind == "sign":
            return SignRestriction()
        if self.kind == "individual_rationality":
            return IndividualRationality()
        if self.caps is None:
            raise ModelError("caps", None, "caps for limited_liability", detail="missing")
        try:
            return LimitedLiability(self.caps)
        except ModelError as err:
            raise ModelError("caps", self.caps, err.allowed) from None


def _caps(value: Any, path: str) -> float | tuple[float, ...]:
    from ...spec import number_list

    if isinstance(value, list):
        return tuple(float(v) for v in number_list(value, path))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise ModelError(path, value, "a number or a list of numbers")


@dataclass(frozen=True)
class AllocationSpec(Checked):
    """The allowed allocations (``[allocation]``)."""

    set: Literal["budget", "comonotone", "anchored_comonotone", "no_sabotage"] = option(
        "anchored_comonotone", help="the allocation set: all splits of X (budget), comonotone ones, "
        "comonotone ones anchored at f_i(0) = 0 (Ogaku's set C), or indemnities with no-sabotage",
        allowed="budget | comonotone | anchored_comonotone | no_sabotage")
    restrictions: tuple[RestrictionSpec, ...] = option(
        (), help="restrictions on top of the set, each a table with a kind ([[allocation.restrictions]])")

    def build(self) -> tuple[AllocationSet, list[Restriction]]:
        restrictions = []
        for i, r in enumerate(self.restrictions):
            try:
                restrictions.append(r.build())
            except ModelError as err:
                raise err.with_prefix(f"restrictions[{i}]") from None
        return SETS[self.set](), restrictions


@dataclass(frozen=True)
class ObjectiveSpec(Checked):
    """What the program optimises (``[objective]``)."""

    kind: Literal["welfare", "total_risk"] = option(
        "welfare", help="maximise the weighted welfare of gains, or minimise the weighted total risk "
        "of losses", allowed="'welfare' or 'total_risk'")
    weights: tuple[float, ...] | None = option(
        None, help="welfare weights, one per agent (default: equal)", allowed="nonnegative weights, "
        "not all zero", check=lambda w: all(x >= 0 for x in w) and sum(w) > 0)


#: what a pareto constraint may read (the program's quantities; see riskopt.constraints)
QUANTITIES = {"allocation": "the agent's allocation xi_i(s) per state (gains for welfare, losses for "
                            "total_risk)"}


@dataclass(frozen=True)
class ParetoSpec(Constrained):
    """Pareto optimum / Borch-Wilson welfare of agents sharing ``X`` (the pareto mechanism)."""

    agents: tuple[Agent, ...] = agents_option()
    space: Scenarios = space_option()
    allocation: AllocationSpec = option(default_factory=AllocationSpec, help="the allowed allocations",
                                        shown_default="anchored_comonotone, no restrictions")
    objective: ObjectiveSpec = option(default_factory=ObjectiveSpec, help="what is optimised",
                                      shown_default="equal-weight welfare")
    constraints: tuple[ConstraintSpec, ...] = constraints_option(QUANTITIES)

    def __post_init__(self) -> None:
        super().__post_init__()
        n = len(self.agents)
        check_constraints(self.constraints, {"agent": [a.name for a in self.agents]}, QUANTITIES)
        for i, a in enumerate(self.agents):
            if a.endowment is not None and a.endowment.size != self.space.size:
                raise ModelError(f"agents[{i}].endowment", f"{a.endowment.size} values",
                                 f"one per state ({self.space.size})")
        w = self.objective.weights
        if w is not None and len(w) != n:
            raise ModelError("objective.weights", f"{len(w)} values", f"{n} values")
        loss = self.space["X"] if self.objective.kind == "total_risk" else -self.space["X"]
        for i, r in enumerate(self.allocation.restrictions):
            if r.kind == "limited_liability":
                try:
                    r.build().check(loss, n)  # type: ignore[attr-defined]
                except ModelError as err:
                    raise err.with_prefix(f"allocation.restrictions[{i}]") from None

    @property
    def weights(self) -> np.ndarray | None:
        w = self.objective.weights
        return None if w is None else np.asarray(w, float)

    def footprint(self) -> Footprint:
        """Estimated peak memory (:mod:`riskopt.budget`): the program's agents x states entries."""
        n, states = len(self.agents), self.space.size
        return cells(SHARING_ENTRY_BYTES, ("agents", "space"), agents=n, states=states)
