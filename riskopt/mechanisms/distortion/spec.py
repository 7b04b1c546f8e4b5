"""The distortion mechanisms' inputs: what :func:`riskopt.mechanisms.distortion.solve` takes and what
their cards read.

* :class:`SharingSpec` (``mechanism = "distortion_sharing"``): ``[[agents]]`` or ``[pool]`` with
  distortion risk measures, ``[space]`` (the aggregate loss ``X``) and ``[sharing]``;
* :class:`PortfolioSpec` (``mechanism = "distortion_portfolio"``): ``[[agents]]`` or ``[pool]``,
  ``[payoff]`` (a space section whose ``X`` is the risky payoff ``xi``) and ``[portfolio]``.

Every field below is documented on the generated card reference page. Random parameters are drawn
in the order of the fields: the agents first, then the space.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ...budget import Footprint, cells
from ...cardschema import agents_option, space_option
from ...constraints import Constrained, ConstraintSpec, check_constraints, constraints_option
from ...errors import ModelError
from ...measures.distortion import Distortion, DistortionFunction, check_distortion
from ...program import Agent
from ...space import Scenarios
from ...spec import Checked, option
from .convolution import group_attitude
from .fast import feasible_payoff, gain_distortion
from .jackpot import one_sided
from .program import QUANTITIES

__all__ = ["COMONOTONE_ROUTES", "PortfolioOptions", "PortfolioSpec", "SharingOptions", "SharingSpec",
           "distortions_of"]

#: how the comonotone layer LP is solved
COMONOTONE_ROUTES = ("program", "direct", "closed_form")
#: the largest brute-force grid a card may ask for
MAX_GRID = 100_000


def distortions_of(agents: Sequence[Agent], field: str = "agents") -> list[DistortionFunction]:
    """The normalised distortion functions of the agents' measures (a ModelError names the agent)."""
    agents = list(agents)
    if len(agents) < 2:
        raise ModelError(field, [a.name for a in agents], "at least two agents")
    names = [a.name for a in agents]
    if len(set(names)) != len(names):
        raise ModelError(f"{field}.name", next(n for n in names if names.count(n) > 1), "distinct names")
    hs = []
    for i, a in enumerate(agents):
        m = a.measure
        if not isinstance(m, Distortion):
            raise ModelError(f"{field}[{i}].measure", m.describe(),
                             "a distortion risk measure (distortion, es, var)")
        hs.append(check_distortion(m.h, normalised=True, field=f"{field}[{i}].measure.h"))
    return hs


def _positive_finite(value: float) -> bool:
    return bool(np.isfinite(value) and value > 0)


# ------------------------------------------------------------------------------ distortion_sharing
@dataclass(frozen=True)
class SharingOptions(Checked):
    """How the three inf-convolutions are computed (``[sharing]``)."""

    randomisation: bool = option(
        True, help="atoms of X may be split (an independent uniform exists, X in X_U); false: a jackpot "
        "whose pieces the states cannot form is refused")
    comonotone: Literal["program", "direct", "closed_form"] | None = option(
        None, help="how the comonotone layer LP is solved: as a program on the card's backend, as "
        "matrices straight into highspy, or in closed form (every layer on its cheapest agent); "
        "methods fast and program keep it only where it is theirs (fast: direct or closed_form)",
        allowed="'program', 'direct' or 'closed_form'",
        shown_default='"program" (method auto or program), "direct" (method fast)')
    cross_check: bool = option(
        True, help="method auto, risk-seeking agents: also solve the tail-probability program and check "
        "the closed form against it (method program always solves it, method fast never)")


#: peak bytes per agent x atom entry of the distortion layer LP and its checks: measured 2.6 KB for
#: risk-averse groups, 4.7 KB for risk seekers (the jackpot and its cross-check)
LAYER_ENTRY_BYTES = 6e3
#: peak bytes per agent x atom of the portfolio manager (closed forms on arrays): measured 32 B at
#: 200 agents x 100,000 atoms
PORTFOLIO_ENTRY_BYTES = 64.0
#: bytes per point of the portfolio manager's lambda grid (a few floats; 100,000 points: no change seen)
GRID_POINT_BYTES = 256.0


@dataclass(frozen=True)
class SharingSpec(Constrained):
    """Distortion risk sharing: the three inf-convolutions of the agents' distortion risk measures at
    the aggregate loss ``X`` of the space (the ``distortion_sharing`` mechanism).

    ``constraints`` (``[[constraints]]``, what = ``allocation``, ``expected_allocation`` or
    ``share_of_aggregate``; who = ``agent``/``agents``) bind each agent's loss ``X_i(s)`` per state
    of the space, or its expectation ``E_P[X_i]`` (``law = "own"`` is ``P``: a distortion agent has
    no law of its own). Risk-seeking agents: the loss per state is the jackpot's averaged over the
    lottery, ``E[X_i | X = X(s)]``; constraints on expected losses are exact over all allocations.
    """

    agents: tuple[Agent, ...] = agents_option()
    space: Scenarios = space_option()
    sharing: SharingOptions = option(default_factory=SharingOptions, help="how the values are computed",
                                     shown_default="randomisation, the method's layer LP, cross-check")
    constraints: tuple[ConstraintSpec, ...] = constraints_option(QUANTITIES)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_constraints(self.constraints, {"agent": [a.name for a in self.agents]}, QUANTITIES)
        hs = distortions_of(self.agents)
        if group_attitude(hs, "agents") == "risk_seeking":
            one_sided(self.space.X, "space")  # Proposition 2

    def footprint(self) -> Footprint:
        """Estimated peak memory (:mod:`riskopt.budget`): the layer LP's agents x atoms entries."""
        return cells(LAYER_ENTRY_BYTES, ("agents", "space"), agents=len(self.agents), atoms=self.space.size)


# ---------------------------------------------------------------------------- distortion_portfolio
@dataclass(frozen=True, kw_only=True)
class PortfolioOptions(Checked):
    """The group's investment problem (``[portfolio]``)."""

    endowment: float = option(1.0, help="the group's endowment w", allowed="the group's endowment w > 0",
                              check=_positive_finite)
    cost: float = option(help="kappa in the convex cost c(lambda) = kappa lambda^2 of investing lambda",
                         allowed="kappa > 0 in the cost c(lambda) = kappa lambda^2", check=_positive_finite)
    grid: int = option(201, help="points of the brute-force grid of lambda in [0, 1]",
                       allowed=f"an integer number of grid points in [3, {MAX_GRID}]",
                       check=lambda g: 3 <= g <= MAX_GRID)


@dataclass(frozen=True)
class PortfolioSpec(Constrained):
    """The portfolio manager of Ghossoub-Ren-Wang, Section 6, with the reconstructed wealth
    ``W_lambda = (1 - lambda) w + lambda w xi - kappa lambda^2`` (the ``distortion_portfolio``
    mechanism)."""

    agents: tuple[Agent, ...] = agents_option()
    payoff: Scenarios = space_option("payoff")
    portfolio: PortfolioOptions = option(help="the endowment, the cost of investing and the grid",
                                         allowed="a [portfolio] table with at least cost")
    constraints: tuple[ConstraintSpec, ...] = option(
        (), help="none: the portfolio manager takes no user constraints (its program is a QP in the "
        "proportion lambda over the group's optimal sharing; constrain the sharing on distortion_sharing)",
        allowed="no [[constraints]] tables")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.constraints:
            raise ModelError("constraints[0]", self.constraints[0].name, "no constraints",
                             detail="the portfolio manager takes no user constraints")
        xi = self.payoff.X
        if np.any(xi < 0):
            raise ModelError("payoff.values", float(np.min(xi)), "a nonnegative risky payoff xi >= 0")
        try:
            feasible_payoff(self.payoff, self.portfolio.endowment, self.portfolio.cost, "X")
        except ModelError as err:
            raise ModelError("portfolio.cost", self.portfolio.cost, err.allowed, detail=err.detail) from None
        gain_distortion(distortions_of(self.agents), "agents")

    def footprint(self) -> Footprint:
        """Estimated peak memory (:mod:`riskopt.budget`): the group's closed-form sharing (agents x
        atoms arrays) and the brute-force grid of lambda."""
        return (cells(PORTFOLIO_ENTRY_BYTES, ("agents", "payoff"), agents=len(self.agents),
                      atoms=self.payoff.size)
                + cells(GRID_POINT_BYTES, ("portfolio.grid",), grid=self.portfolio.grid))
