"""Distortion risk sharing (Ghossoub-Ren-Wang 2024): the ``distortion_sharing`` and
``distortion_portfolio`` mechanisms.

``solve(SharingSpec(...), method=...)`` computes the three inf-convolutions of the agents'
distortion risk measures at ``X`` (unconstrained, comonotone, counter-monotone) with the allocations
attaining them; ``solve(PortfolioSpec(...), method=...)`` the portfolio manager's optimal risky
proportion (Proposition 4, with the reconstructed wealth). Methods:

* ``"auto"`` (the default, what the cards run): as :func:`share` and :func:`manage` document;
* ``"fast"``: closed forms and specialised solvers only (the layer LP straight into highspy or in
  closed form, Theorem 3's representative ``h~`` and the jackpot of Lemma 3, Theorem 2(iii),
  Proposition 4), no modelling layer;
* ``"program"``: every value that has a program is solved on the backend (the layer LP, the sharing
  program of risk averters, the tail-probability program of risk seekers) and checked against the
  closed forms; the portfolio manager's problem as the inner programs and a convex QP in ``lambda``
  (:func:`~riskopt.mechanisms.distortion.portfolio.manager_program`). A ``SharingSpec`` with
  ``constraints`` needs it: ``"auto"`` then runs ``"program"``, ``"fast"`` refuses.

The mathematics of distortion functions that only this mechanism needs (inf- and sup-convolutions,
the representative ``h~``, pointwise minima and maxima, attitudes) is in
:mod:`~riskopt.mechanisms.distortion.convolution`.
"""

from __future__ import annotations

from typing import Any, overload

from ...cardschema import CardMechanism
from ...errors import ModelError
from .. import Mechanism, register_mechanism
from .comonotone import ComonotoneResult, comonotone_inf_convolution
from .convolution import (
    Attitude,
    Convolution,
    PointwiseMax,
    PointwiseMin,
    Representative,
    attitude,
    derivative,
    derivative_inverse,
    group_attitude,
    inf_convolution,
    is_concave,
    is_convex,
    is_dually_subadditive,
    is_subadditive,
    is_superadditive,
    minimum_is_agent,
    representative,
    sup_convolution,
)
from .fast import (
    DirectReport,
    Normalised,
    gain_distortion,
    lambda_curve,
    optimal_proportion,
    power_lottery,
    solve_layers_highs,
    var_jackpot,
)
from .jackpot import (
    Jackpot,
    jackpot_events,
    jackpot_from_pieces,
    jackpot_from_split,
    lemma3_jackpot,
    one_sided,
)
from .layers import AtomLayers, layers_of
from .portfolio import ManagerProgram, manage, manager_program, wealth
from .program import ComonotoneLayerLP, TailProgram, convex_form, layer_program, tail_program
from .result import (
    InfConvolutionMethods,
    InfConvolutions,
    LayerPrices,
    PortfolioResult,
    SharingResult,
    Theorem2,
)
from .sharing import share
from .spec import PortfolioOptions, PortfolioSpec, SharingOptions, SharingSpec, distortions_of

__all__ = [
    "CARDS", "AtomLayers", "Attitude", "ComonotoneLayerLP", "ComonotoneResult", "Convolution",
    "DirectReport", "InfConvolutionMethods", "InfConvolutions", "Jackpot", "LayerPrices", "ManagerProgram",
    "Normalised",
    "PointwiseMax", "PointwiseMin", "PortfolioOptions", "PortfolioResult", "PortfolioSpec", "Representative",
    "SharingOptions", "SharingResult", "SharingSpec", "TailProgram", "Theorem2", "attitude",
    "comonotone_inf_convolution", "convex_form", "derivative", "derivative_inverse", "distortions_of",
    "gain_distortion", "group_attitude", "inf_convolution", "is_concave", "is_convex",
    "is_dually_subadditive", "is_subadditive", "is_superadditive", "jackpot_events", "jackpot_from_pieces",
    "jackpot_from_split", "lambda_curve", "layer_program", "layers_of", "lemma3_jackpot", "manage",
    "manager_program",
    "minimum_is_agent", "one_sided", "optimal_proportion", "power_lottery", "representative", "share",
    "solve", "solve_layers_highs", "sup_convolution", "tail_program", "var_jackpot", "wealth",
]


@overload
def solve(spec: SharingSpec, *, method: str = "auto", backend: str = "cvxpy", solver: str | None = None,
          **options: Any) -> SharingResult: ...


@overload
def solve(spec: PortfolioSpec, *, method: str = "auto", backend: str = "cvxpy", solver: str | None = None,
          **options: Any) -> PortfolioResult: ...


def solve(spec: SharingSpec | PortfolioSpec, *, method: str = "auto", backend: str = "cvxpy",
          solver: str | None = None, **options: Any) -> SharingResult | PortfolioResult:
    """Solve a distortion spec: :func:`share` for a :class:`SharingSpec` (with its constraints),
    :func:`manage` for a :class:`PortfolioSpec` (``method``: ``"auto"``, ``"fast"`` or
    ``"program"``); ``options`` go to the backend."""
    if isinstance(spec, SharingSpec):
        s = spec.sharing
        return share(spec.space, spec.agents, method=method, randomisation=s.randomisation,
                     comonotone=s.comonotone, backend=backend, solver=solver, cross_check=s.cross_check,
                     constraints=spec.constraints, **options)
    if isinstance(spec, PortfolioSpec):
        p = spec.portfolio
        return manage(spec.payoff, spec.agents, endowment=p.endowment, cost=p.cost, grid=p.grid,
                      method=method, backend=backend, solver=solver, **options)
    raise ModelError("spec", type(spec).__name__, "a SharingSpec or a PortfolioSpec")


# ------------------------------------------------------------------------------- model cards
def _solve_card(spec: SharingSpec, *, method: str, backend: str, solver: str | None,
                **options: Any) -> SharingResult:
    """:func:`solve` naming the card's field (``sharing.randomisation``) in a refusal."""
    try:
        return solve(spec, method=method, backend=backend, solver=solver, **options)
    except ModelError as err:
        if err.field in ("randomisation", "comonotone"):
            raise err.with_prefix("sharing") from None
        raise


_SHARING = ("Distortion risk sharing (Ghossoub-Ren-Wang): the unconstrained, comonotone and "
            "counter-monotone inf-convolutions of the agents' distortion risk measures at X.")
_PORTFOLIO = ("The portfolio manager of Ghossoub-Ren-Wang, Section 6: the optimal risky proportion "
              "(Proposition 4) with the reconstructed wealth "
              "W = (1 - lambda) w + lambda w xi - kappa lambda^2.")
CARDS = (CardMechanism.of("distortion_sharing", SharingSpec, _solve_card, _SHARING),
         CardMechanism.of("distortion_portfolio", PortfolioSpec, solve, _PORTFOLIO))
SHARING = register_mechanism(Mechanism("distortion_sharing", SharingSpec, solve, ("fast", "program"),
                                       _SHARING))
PORTFOLIO = register_mechanism(Mechanism("distortion_portfolio", PortfolioSpec, solve, ("fast", "program"),
                                         _PORTFOLIO))
