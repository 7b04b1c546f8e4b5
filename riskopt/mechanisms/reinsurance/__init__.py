"""Reinsurance markets with many insurers and many reinsurers: the ``reinsurance_market`` mechanism.

Andraos, Ghossoub, Zhu (2025): insurers with Choquet risk measures buy layers of their
losses from reinsurers with loadings and their own beliefs (or non-additive preferences), every
quantity an integral over layers ``z`` of the capacities of the upper sets ``{X_i > z}``.

``solve(ReinsuranceSpec(...), method=...)`` (a card with ``mechanism = "reinsurance_market"`` reads the
spec; see :mod:`.spec`):

* ``"fast"``: the pointwise route (:mod:`.fast`) -- the canonical SPNE (the Stackelberg equilibrium
  with one reinsurer), a second-price auction per layer cell on a grid with exact breakpoints, or the
  insurers' generous best responses to posted prices; both verified layer by layer
  (:mod:`.verification`);
* ``"program"``: the Pareto layer LP (:mod:`.program`, any LP backend): a Pareto optimum with its
  layer values (duals) and VCG (= SPNE) or dual premiums, reinsurer capacity limits with their
  scarcity prices; for best responses, the LP with generous selection on its optimal face;
* ``"auto"`` (the default) follows ``market.solve``: ``"spne"`` and ``"best_response"`` take the fast
  route (an SPNE run is checked against the Pareto LP when ``market.pareto_check``, and compared
  with the monopoly market of ``market.compare_with``), ``"pareto"`` the program (there is no
  pointwise route for a Pareto optimum with its premium rules and capacity limits). With user
  constraints (``spec.constraints``, ``[[constraints]]``) ``"auto"`` and ``"program"`` solve the
  constrained Pareto layer LP (dual premiums; its duals in ``result.constraints``) and ``"fast"``
  is refused.

:class:`Market` is the validated market (curves ``alpha_i``, ``tau_ij``; ``spne``,
``best_response``, ``monopoly``) and :func:`pareto` / :func:`best_response_lp` the LP routes on it;
every route returns a :class:`MarketOutcome`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ...cardschema import CardMechanism, Draws
from ...constraints import require_no_constraints
from ...errors import ModelError
from ...spec import Context, Node, read_spec
from .. import Mechanism, register_mechanism
from .layers import (
    ChainCurve,
    Combination,
    CurveBank,
    DistortedSurvival,
    LayerAllocation,
    LayerCurve,
    LayerTable,
    Lowest,
    chunk_rows,
    lowest_two,
    order_gap,
    tabulate,
)
from .market import Market
from .program import CAPACITY_WEIGHTS, FACE_TOL, LayerLP, best_response_lp, capacity_prices, pareto
from .result import GridInfo, MarketOutcome, MarketPrices, ParetoCheck, SolverInfo
from .spec import (
    CELLS,
    NODES,
    QUANTITIES,
    InsurerSpec,
    LawSpec,
    MarketOptions,
    ReinsuranceSpec,
    ReinsurerSpec,
)
from .verification import MarketVerification, verify_cells

__all__ = [
    "CAPACITY_WEIGHTS",
    "CARD",
    "CELLS",
    "FACE_TOL",
    "NODES",
    "QUANTITIES",
    "ChainCurve",
    "Combination",
    "CurveBank",
    "DistortedSurvival",
    "GridInfo",
    "InsurerSpec",
    "LawSpec",
    "LayerAllocation",
    "LayerCurve",
    "LayerLP",
    "LayerTable",
    "Lowest",
    "Market",
    "MarketOptions",
    "MarketOutcome",
    "MarketPrices",
    "MarketVerification",
    "ParetoCheck",
    "ReinsuranceSpec",
    "ReinsurerSpec",
    "SolverInfo",
    "best_response_lp",
    "capacity_prices",
    "chunk_rows",
    "lowest_two",
    "order_gap",
    "pareto",
    "posted_prices",
    "solve",
    "tabulate",
    "verify_cells",
]

SUMMARY = ("A reinsurance market with many insurers and many reinsurers (Andraos, Ghossoub, Zhu 2025): "
           "the SPNE, a "
           "second-price auction per layer; Stackelberg; best responses; Pareto optima by the layer LP, with "
           "layer values, VCG prices and reinsurer capacity limits.")


def posted_prices(market: Market, rule: str) -> list[list[LayerCurve]]:
    """The posted prices of ``market.prices``: every reinsurer at its own valuation ``tau_ij``
    (``"own"``), or every reinsurer at the insurer's monopoly price ``alpha_i`` (``"monopoly"``)."""
    if rule == "own":
        return [list(market.tau[i]) for i in range(market.n)]
    if rule == "monopoly":
        return [[market.alpha[i]] * market.m for i in range(market.n)]
    raise ModelError("prices", rule, "'own' or 'monopoly'")


def solve(spec: ReinsuranceSpec, *, method: str = "auto", backend: str = "cvxpy", solver: str | None = None,
          **options: Any) -> MarketOutcome:
    """Solve the market ``spec`` declares (``method``: ``"auto"``, ``"fast"`` or ``"program"``; see the
    module docstring). ``backend``, ``solver`` and ``options`` are the layer LP's."""
    if not isinstance(spec, ReinsuranceSpec):
        raise ModelError("spec", type(spec).__name__, "a ReinsuranceSpec")
    if method not in ("auto", "fast", "program"):
        raise ModelError("method", method, "one of ['auto', 'fast', 'program']")
    if method == "fast":
        require_no_constraints(spec.constraints, method, "the pointwise route has no rows for them; "
                               "the layer LP takes them")
    market = Market.of(spec)
    mk = spec.market
    route = method if method != "auto" else ("program" if mk.solve == "pareto" else "fast")
    lp: dict[str, Any] = {"backend": backend, "solver": solver, "cells": mk.cells, "nodes": mk.nodes,
                          **options}
    if spec.constraints:  # the constrained Pareto optimum (the spec refuses best responses and VCG)
        return pareto(market, premiums=mk.premiums, capacity_weight=mk.capacity_weight,
                      constraints=spec.constraints, **lp)
    if mk.solve == "pareto":
        if route == "fast":
            raise ModelError("method", method, "'program' or 'auto' for market.solve = 'pareto'",
                             detail="a Pareto optimum with its premium rule and capacity limits comes from "
                                    "the layer LP; the pointwise route is market.solve = 'spne'")
        return pareto(market, premiums=mk.premiums, capacity_weight=mk.capacity_weight, **lp)
    if mk.solve == "best_response":
        posted = posted_prices(market, mk.prices)
        if route == "program":
            return best_response_lp(market, posted, **lp)
        return market.best_response(posted, cells=mk.cells, nodes=mk.nodes)
    if route == "program":  # the SPNE's allocation and premiums through the LP's VCG identities
        outcome = pareto(market, premiums=mk.premiums, capacity_weight=mk.capacity_weight, **lp)
        comparison = None
        if mk.compare_with is not None:
            comparison = pareto(market.monopoly(mk.compare_with), premiums=mk.premiums,
                                capacity_weight=mk.capacity_weight, **lp)
        return dataclasses.replace(outcome, comparison=comparison)
    return _spne(market, spec, lp)


def _spne(market: Market, spec: ReinsuranceSpec, lp: dict[str, Any]) -> MarketOutcome:
    """The pointwise SPNE, the monopoly comparison (``compare_with``) and the Pareto LP check: the
    SPNE is Pareto optimal and its premiums are the VCG premiums of the LP."""
    mk = spec.market
    outcome = market.spne(cells=mk.cells, nodes=mk.nodes)
    comparison = None
    if mk.compare_with is not None:
        comparison = market.monopoly(mk.compare_with).spne(cells=mk.cells, nodes=mk.nodes)
    checks = dict(outcome.checks)
    check = None
    if mk.pareto_check:
        po = pareto(market, **lp)
        gap = outcome.aggregate_risk - po.aggregate_risk
        checks["Pareto LP V*"] = po.aggregate_risk
        checks["V(SPNE) - V*"] = gap
        checks["SPNE Pareto optimal"] = bool(abs(gap) <= 1e-7 * max(1.0, abs(po.aggregate_risk)))
        checks["VCG premiums - SPNE premiums (max)"] = float(np.max(np.abs(po.premium - outcome.premium)))
        assert po.solver is not None  # an LP run
        check = ParetoCheck(po.solver, po.layer_values, po.vcg_surplus)
    return dataclasses.replace(outcome, checks=checks, pareto_lp=check, comparison=comparison)


def _read(root: Node, draws: Draws) -> ReinsuranceSpec:
    """``[market]``, ``[[insurers]]``, ``[[reinsurers]]`` -> the spec, and the market built from it
    now, so that every check (a bound below a loss, a belief above it, ...) names its TOML path."""
    spec = read_spec(ReinsuranceSpec, root, Context(draws), finish=False)
    Market.of(spec)
    return spec


CARD = CardMechanism.of("reinsurance_market", ReinsuranceSpec, solve, SUMMARY, reader=_read)
MECHANISM = register_mechanism(Mechanism(
    "reinsurance_market", ReinsuranceSpec, solve, ("fast", "program"),
    "Reinsurance markets: SPNE, Stackelberg, best responses, the Pareto layer LP"))
