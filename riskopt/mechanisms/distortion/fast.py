"""The distortion mechanisms' fast path (``method="fast"``): closed forms and specialised solvers.

* :func:`solve_layers_highs`: the comonotone layer LP (:mod:`~riskopt.mechanisms.distortion.layers`)
  passed as matrices straight to highspy, no modelling layer. At ``n = 20, S = 100,000`` (2 million
  variables) cvxpy's canonicalisation alone takes ~4 s and its standard form carries the 2 million
  sign constraints as rows, so the direct path is the one that scales (see
  ``benchmarks/bench_distortion_sharing.py``);
* :func:`power_lottery`: Proposition 3's lottery for sharing a constant among power distortions;
* :func:`var_jackpot`: Example 1's counter-monotone allocation of VaR agents;
* :func:`optimal_proportion`: Proposition 4's optimal risky proportion of the portfolio manager,
  ``lambda* = clip(w (rho_g(xi) - 1) / (2 kappa), 0, 1)`` with the gain distortion ``g`` of
  :func:`gain_distortion` (``h^RA = max_i h~_i`` or ``h_RS = G / G(1)``, ``G = ⊞ h~_i``).

The jackpot of Lemma 3 (:func:`~riskopt.mechanisms.distortion.jackpot.lemma3_jackpot`) and the
representative ``h~`` (:mod:`~riskopt.mechanisms.distortion.convolution`) are the closed form of
risk-seeking agents.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import brentq

from ...checks import positive, real_array
from ...duals import value_derivative
from ...errors import ModelError, SolveError
from ...measures.distortion import DistortionFunction, Power, check_distortion, choquet_sorted
from ...space import Scenarios
from ...status import Status, from_highs
from .convolution import Attitude, PointwiseMax, group_attitude, sup_convolution
from .jackpot import Jackpot, jackpot_from_split
from .layers import AtomLayers

__all__ = ["DirectReport", "Normalised", "feasible_payoff", "gain_distortion", "lambda_curve",
           "optimal_proportion", "power_lottery", "solve_layers_highs", "var_jackpot"]


# ------------------------------------------------------------------ the layer LP, direct to highspy
@dataclass(frozen=True)
class DirectReport:
    """What the direct highspy solve did (matrices -> HiGHS, no modelling layer)."""

    status: Status
    objective: float
    L: np.ndarray
    prices: np.ndarray
    compile_s: float
    solve_s: float
    iterations: int
    options: dict[str, Any] = field(default_factory=dict)


def solve_layers_highs(layers: AtomLayers, form: str = "dual", **options: Any) -> DirectReport:
    """Solve the layer LP by passing matrices straight to highspy (no modelling layer).

    ``form="primal"``: the LP as stated (``n K`` columns with bounds ``L >= 0``, one budget row per
    layer). ``form="dual"`` (default): its dual ``max sum_k width_k y_k`` s.t. ``y_k <= W_ik``
    (``K`` free columns, ``n K`` singleton rows); the allocation is read from the row multipliers
    (``L_ik = -row dual``, which sum to the widths by stationarity) and the layer prices are the
    columns. Both give the same optimum; HiGHS's presolve empties either, but the dual keeps the
    tiny widths out of the feasibility tolerance: at S = 100,000 its value agrees with the closed
    form to ~1e-14 against ~1e-9 for the primal. ``options`` are HiGHS options (checked by name).
    """
    import highspy

    from ...backends.base import HIGHS_OPTIONS
    from ...backends.highs_backend import set_options
    from ...backends.quiet import new_highs, quiet_stdout

    if form not in ("primal", "dual"):
        raise ModelError("form", form, "'primal' or 'dual'")
    t0 = time.perf_counter()
    n, K = layers.W.shape
    inf = highspy.kHighsInf
    h = new_highs()
    opts = {**HIGHS_OPTIONS, **options}
    set_options(h, opts)
    lp = highspy.HighsLp()
    costs = np.ascontiguousarray(layers.W.T).ravel()  # entry k n + i: agent i on layer k
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.value_ = np.ones(n * K)
    if form == "primal":  # column k n + i in the budget row k
        lp.num_col_, lp.num_row_ = n * K, K
        lp.col_cost_ = costs
        lp.col_lower_ = np.zeros(n * K)
        lp.col_upper_ = np.full(n * K, inf)
        lp.row_lower_ = lp.row_upper_ = layers.width
        lp.a_matrix_.start_ = np.arange(0, n * K + 1, dtype=np.int32)
        lp.a_matrix_.index_ = np.repeat(np.arange(K, dtype=np.int32), n)
    else:  # column k (the price y_k) in the rows k n .. k n + n - 1 (y_k <= W_ik)
        lp.num_col_, lp.num_row_ = K, n * K
        lp.col_cost_ = -layers.width
        lp.col_lower_ = np.full(K, -inf)
        lp.col_upper_ = np.full(K, inf)
        lp.row_lower_ = np.full(n * K, -inf)
        lp.row_upper_ = costs
        lp.a_matrix_.start_ = np.arange(0, n * K + 1, n, dtype=np.int32)
        lp.a_matrix_.index_ = np.arange(n * K, dtype=np.int32)
    h.passModel(lp)
    t1 = time.perf_counter()
    with quiet_stdout():
        h.run()
    solve_s = time.perf_counter() - t1
    status = from_highs(h.getModelStatus().name)
    if not status.ok:
        raise SolveError(status, backend="highs-direct", solver="HIGHS",
                         hint="the layer LP is always feasible and bounded: report this")
    sol = h.getSolution()
    info = h.getInfo()
    iters = int(info.simplex_iteration_count + info.ipm_iteration_count)
    if form == "primal":
        L = np.asarray(sol.col_value, float).reshape(K, n).T
        # HiGHS reports a row dual as d f*/d (row bound); riskopt.duals reads duals in cvxpy's
        # convention, its negative (as riskopt.backends.highs_backend converts them): the layer
        # price d f*/d width_k then comes from the one sign rule
        prices = value_derivative("min", -np.asarray(sol.row_dual, float))
        value = float(info.objective_function_value)
    else:
        L = -np.asarray(sol.row_dual, float).reshape(K, n).T
        prices = np.asarray(sol.col_value, float)
        value = -float(info.objective_function_value)
    return DirectReport(status, value, L, prices, t1 - t0, solve_s, iters, opts)


# ------------------------------------------------------------------------ Proposition 3
def power_lottery(exponents: Sequence[float], field: str = "exponents") -> tuple[np.ndarray, float]:
    """Proposition 3(i): ``p_i* = (mu*/a_i)^{1/(a_i - 1)}`` with ``mu*`` the root of
    ``sum_i (mu/a_i)^{1/(a_i - 1)} = 1`` (Brent's method on ``log mu``); returns ``(p*, mu*)``.

    The value of sharing a constant ``c`` is ``c sum_i (p_i*)^{a_i}``.
    """
    a = real_array(field, exponents, "at least two power exponents a_i > 1 (convex t^a)")
    if a.ndim != 1 or a.size < 2 or np.any(~np.isfinite(a)) or np.any(a <= 1):
        raise ModelError(field, exponents, "at least two power exponents a_i > 1 (convex t^a)")

    def excess(log_mu: float) -> float:
        return float(np.sum(np.exp((log_mu - np.log(a)) / (a - 1.0)))) - 1.0

    lo, hi = -1.0, 1.0
    while excess(lo) > 0:
        lo *= 2
    while excess(hi) < 0:
        hi *= 2
    log_mu = brentq(excess, lo, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=500)
    p = np.exp((log_mu - np.log(a)) / (a - 1.0))
    return p / p.sum(), float(np.exp(log_mu))


# ---------------------------------------------------------------------------- Example 1
def var_jackpot(space: Scenarios, levels: Sequence[float], *, randomisation: bool = True,
                aggregate: str = "X", field: str = "randomisation") -> Jackpot:
    """Example 1: a counter-monotone allocation with ``sum_i VaR_{alpha_i}(X_i) = VaR_{sum alpha}(X)``.

    With ``m = ess inf X`` and ``Y = X - m >= 0``: agents ``1..n-1`` take ``Y`` on disjoint events of
    probabilities ``alpha_i`` inside the top ``sum alpha`` tail of ``Y`` (their VaR is 0); agent ``n``
    takes ``Y`` on the rest plus the constant ``m``, and its VaR is ``m + VaR_{sum alpha}(Y)``.
    The split is ``f_i(s) = min(max(s - c_{i-1}, 0), alpha_i)`` (``c`` the cumulated levels).
    """
    a = real_array("levels", levels, "VaR levels alpha_i > 0 with sum alpha_i < 1 (Example 1)")
    if a.ndim != 1 or a.size < 2 or np.any(~np.isfinite(a)) or np.any(a <= 0) or a.sum() >= 1:
        raise ModelError("levels", levels, "VaR levels alpha_i > 0 with sum alpha_i < 1 (Example 1)")
    c = np.concatenate([[0.0], np.cumsum(a)])
    x = space[aggregate]
    m = float(np.min(x))

    def split(s: np.ndarray) -> np.ndarray:
        f = np.clip(s[None, :] - c[:-2, None], 0.0, a[:-1, None])
        return np.vstack([f, s[None, :] - f.sum(axis=0)])

    consts = np.zeros(a.size)
    consts[-1] = m
    return jackpot_from_split(space, split, a.size, shift=m, constants=consts,
                              randomisation=randomisation, aggregate=aggregate, field=field)


# ---------------------------------------------------------------------------- Proposition 4
class Normalised(DistortionFunction):
    """``g(t) = G(t) / G(1)``: a distortion built from an unnormalised one (``h_RS`` of Prop. 4)."""

    name = "normalised"

    def __init__(self, base: DistortionFunction):
        self.base = base
        self.scale = float(base(1.0))
        if not self.scale > 0:
            raise ModelError("base", base.describe(), "a function with G(1) > 0")

    def __call__(self, t: np.ndarray | float) -> np.ndarray:
        return np.asarray(self.base(t), float) / self.scale

    def describe(self) -> str:
        return f"{self.base.describe()} / {self.scale:.6g}"


def gain_distortion(hs: Sequence[DistortionFunction],
                    field: str = "agents") -> tuple[DistortionFunction, Attitude, float]:
    """Proposition 4's ``g`` with the group's attitude and the scale ``G(1)`` (1 if risk averse).

    Risk averse: ``h^RA = max_i h~_i``; risk seeking: ``h_RS = G / G(1)``, ``G = ⊞ h~_i``.
    """
    attitude = group_attitude(hs, field)
    duals = [h.dual() for h in hs]
    if attitude == "risk_averse":
        return PointwiseMax(duals), attitude, 1.0
    if attitude == "risk_seeking":
        G = sup_convolution(duals, field)
        g = Normalised(G)
        return g, attitude, g.scale
    if attitude == "neutral":
        return Power(1.0), attitude, 1.0
    raise ModelError(field, [h.describe() for h in hs], "distortions that are all concave or all convex "
                     "(Proposition 4)", detail="the portfolio result needs one attitude in the group")


def feasible_payoff(payoff: Scenarios, w: float, kappa: float, aggregate: str = "X",
                    prefix: str = "") -> np.ndarray:
    """The payoff ``xi >= 0``, checked: feasibility (the paper's ``W_lambda >= 0`` for every
    ``lambda`` in [0, 1]) holds iff ``kappa <= w min(xi)`` (``W`` is concave in ``lambda`` in every
    state, so its minimum over [0, 1] is at an end point)."""
    xi = payoff[aggregate]
    if np.any(xi < 0):
        raise ModelError(f"{prefix}payoff", float(np.min(xi)), "a nonnegative risky payoff xi >= 0")
    if kappa > w * float(np.min(xi)) + 1e-15:
        raise ModelError(f"{prefix}cost", kappa,
                         f"a cost with c(1) = kappa <= w min(xi) = {w * np.min(xi):g}",
                         detail="the terminal wealth W_lambda = (1 - lambda) w + lambda w xi - kappa "
                                "lambda^2 must stay >= 0 for every lambda in [0, 1] (the paper's "
                                "feasibility assumption)")
    return xi


def optimal_proportion(payoff: Scenarios, hs: Sequence[DistortionFunction], endowment: float, cost: float,
                       aggregate: str = "X") -> tuple[float, float, DistortionFunction, Attitude, float]:
    """Closed form of Proposition 4: ``(lambda*, rho_g(xi), g, attitude, G(1))``."""
    w = positive("endowment", endowment, "the group's endowment w")
    kappa = positive("cost", cost, "the quadratic cost kappa in c(lambda) = kappa lambda^2")
    xi = feasible_payoff(payoff, w, kappa, aggregate)
    g, attitude, scale = gain_distortion(hs)
    rho = choquet_sorted(xi, payoff.p, g)
    lam = float(np.clip(w * (rho - 1.0) / (2.0 * kappa), 0.0, 1.0))
    return lam, rho, g, attitude, scale


def lambda_curve(payoff: Scenarios, family: Callable[[float], Sequence[DistortionFunction]],
                 thetas: Sequence[float], endowment: float, cost: float) -> np.ndarray:
    """``lambda*(theta)`` for a one-parameter family of groups (Examples 6 and 7), closed form."""
    out = []
    for theta in thetas:
        hs = [check_distortion(h, field=f"family({theta:g})") for h in family(theta)]
        out.append(optimal_proportion(payoff, hs, endowment, cost)[0])
    return np.asarray(out)
