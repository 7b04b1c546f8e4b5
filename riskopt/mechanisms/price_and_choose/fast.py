"""Welfare optimum over the anchored comonotone menu C: closed forms and a Newton method in log prices.

This is the mechanism's ``"fast"`` route (:func:`solve_comonotone`); :func:`welfare_optimum` certifies a
point computed elsewhere (the conic program of ``"program"``) by the same KKT certificate.

Players ``i = 1..n`` with entropic utilities ``U_i(f) = -(1/gamma_i) log sum_k pi^i_k exp(-gamma_i F_ik)``
under single laws ``pi^i`` on the atoms ``x_0 = 0 > x_1 > ... > x_K`` of X (the common prior, a
heterogeneous prior, or the worst-case vertex of a credal set on C). The program is

    maximise sum_i U_i(F_i)  s.t.  sum_i F_ik = x_k,  F_i0 = 0,  F_ik <= F_i,k-1.

**Structure of the optimum.** With state prices ``nu`` (``sum nu = 1``), player ``i``'s best monotone
response is constant on blocks of atoms (the binding monotonicity rows) with
``exp(-gamma_i phi_ib) proportional to nu(b) / pi^i(b)``: an isotonic regression of the likelihood ratio
``nu_k / pi^i_k`` (pool adjacent violators, in log space). So

    F_ik = (1/gamma_i) [ (LSE pi^i - LSE nu)(block of k) - (LSE pi^i - LSE nu)(block of 0) ],

and the optimum is the root in ``l = log nu`` of the K budget equations ``sum_i F_ik(l) = x_k``: a
smooth dual (the relative-entropy problem in the K + 1 state prices), piecewise smooth where blocks
change. It is solved by a semismooth Newton method on ``l`` (blocks recomputed at every iterate,
backtracking on the budget residual), started at the tilted geometric mean

    l_k = sum_i (lam/gamma_i) log pi^i_k - lam x_k  (normalised),   lam = (sum_i 1/gamma_i)^-1,

which *is* the optimum when no monotonicity row binds (one check, zero iterations): the proportional
rule ``F_i = (lam/gamma_i) X`` with the Esscher prices under a common prior. Everything is in log
space, so atoms of probability 1e-26 (the anchor of a 500-farmer pool) keep relative accuracy.

**Scale.** Entropic utilities satisfy ``U_gamma(c X) = c U_{c gamma}(X)``: the solver works on the unit
problem ``x / c``, ``gamma c`` (``c`` the power of two nearest to the largest loss, so the scaling is
exact in binary) and maps allocations, utilities and welfare back by ``c``; shares, prices and
multipliers are scale-free. And the allocation is a difference of logs divided by ``gamma``, which
cancels catastrophically when ``gamma x`` is small (a nearly risk-neutral pool: ``gamma L = 1e-20``
gave shares of 1e283). So the variables are log *densities* ``eta = log(nu / P)`` and the players'
log likelihood ratios ``delta_i = log(pi^i / P)`` against the reference law P (exactly 0 under a
common prior), never ``log nu`` and ``log pi`` themselves, and every ``log E_P[exp(y)]`` is taken
around the mean, ``E_P y + log1p(E_P expm1(y - E_P y))`` (:func:`log_mean_exp`): relative accuracy
of ``y``'s variation, however small.

The result carries its own KKT certificate recomputed from the allocation (budget, monotonicity,
stationarity ``Q^i_k = nu_k + rho_ik - rho_i,k+1`` with the monotonicity multipliers ``rho >= 0``),
the identifiability of each gap and the estimated state-price mass of pruned atoms.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg as sla  # type: ignore[import-untyped, unused-ignore]
from scipy.special import logsumexp  # type: ignore[import-untyped, unused-ignore]

from ...errors import ModelError, SolveError
from ...solution import Solution
from ...status import Status

__all__ = ["Identifiability", "UserRows", "WelfareOptimum", "geometric_mean_closed_form", "identifiability",
           "lam_and_shares", "log_mean_exp", "loss_scale", "solve_comonotone", "tilted_tail_mass",
           "welfare_optimum"]

#: a gap whose second-order cost of moving shares is below this is not identified
IDENTIFIABLE_CURVATURE = 1e-8
#: dense Newton systems up to this many atoms; sparse beyond
DENSE_ATOMS = 1500
#: largest change of a log price in one Newton iteration (a trust region: far from the optimum the
#: dual is flat in the log prices of tiny atoms and undamped steps overshoot)
STEP_CAP = 2.0
#: spread ``max y - E y`` beyond which :func:`log_mean_exp` shifts by the maximum (exp overflow)
MEAN_SHIFT_SPREAD = 700.0


def log_mean_exp(y: np.ndarray, logw: np.ndarray, axis: int = -1) -> np.ndarray:
    """``log sum_k w_k exp(y_k)`` for log weights ``logw`` summing to 1 along ``axis``
    (``-inf``: weight 0), accurate relative to the *variation* of ``y``.

    Around the mean ``m = E_w y``: ``m + log1p(E_w expm1(y - m))`` (the sum ``E_w exp(y - m) >= 1`` by
    Jensen, so log1p never cancels, and a nearly constant ``y`` keeps its tiny differences: the plain
    ``logsumexp(logw + y)`` returns ``log 1 = 0`` up to rounding there, however small ``y``). Where
    ``max y - m`` exceeds MEAN_SHIFT_SPREAD (exp would overflow) the usual max-shifted form, accurate
    relative to its result, which is then large.
    """
    y = np.asarray(y, float)
    logw = np.asarray(logw, float)
    y, logw = np.broadcast_arrays(y, logw)
    w = np.exp(logw)
    live = w > 0
    yz = np.where(live, y, 0.0)
    m = np.sum(w * yz, axis=axis, keepdims=True)
    top = np.max(np.where(live, y, -np.inf), axis=axis, keepdims=True)
    safe = (top - m) <= MEAN_SHIFT_SPREAD
    with np.errstate(over="ignore", invalid="ignore"):
        t = np.sum(np.where(live, w * np.expm1(np.where(safe, yz - m, 0.0)), 0.0), axis=axis, keepdims=True)
        out = m + np.log1p(t)
    if not np.all(safe):
        out = np.where(safe, out, logsumexp(np.where(live, logw + y, -np.inf), axis=axis, keepdims=True))
    return np.asarray(np.squeeze(out, axis=axis))


def loss_scale(x: np.ndarray) -> float:
    """The power of two nearest to the largest ``|x|`` (1 when ``x = 0``): dividing by it is exact."""
    top = float(np.max(np.abs(x), initial=0.0))
    if not (np.isfinite(top) and top > 0):
        return 1.0
    return float(2.0 ** np.round(np.log2(top)))


@dataclass(frozen=True)
class Identifiability:
    """Second-order cost of moving gap ``k``'s share between the two least-curved players:
    ``g_k^2 (a_i + a_j)`` with ``a_i = gamma_i Q^i(N >= k) Q^i(N < k)``. Gaps below ``threshold``
    cannot be pinned down in double precision by a solver that does not work in log space (their
    shares, and allocations modulo constants, are then arbitrary; W*, prices and payoffs are not)."""

    curvature: np.ndarray
    threshold: float
    unidentified: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "unidentified_gaps": self.unidentified.tolist(),
                "count": int(self.unidentified.size), "gaps": int(self.curvature.size),
                "min_curvature": float(self.curvature.min()) if self.curvature.size else None}


@dataclass(frozen=True)
class WelfareOptimum:
    """The welfare optimum over C on the kept atoms (arrays over atoms ``k = 0..K``, X = 0 first).

    ``F[i, k] = f_i(x_k)``; ``shares[i, k-1] = (F[i, k-1] - F[i, k]) / g_k`` (marginal shares, each
    column in the simplex); ``prices = nu`` (sum 1; atom 0 by cash invariance); ``density = nu / P``;
    ``tilts[i] = Q^i`` (player ``i``'s Esscher tilt of his law); ``multipliers[i, k]`` is the
    multiplier of the row ``F_ik <= F_i,k-1`` (0 where slack); ``pooled`` lists the binding blocks as
    ``(player, first atom, last atom)``.
    """

    x: np.ndarray
    probs: np.ndarray
    laws: np.ndarray
    gammas: np.ndarray
    F: np.ndarray
    log_prices: np.ndarray
    utilities: np.ndarray
    welfare: float
    tilts: np.ndarray
    multipliers: np.ndarray
    pooled: tuple[tuple[int, int, int], ...]
    iterations: int
    method: str
    seconds: float
    certificate: dict[str, float]
    identifiability: Identifiability
    #: the scale ``c`` the problem was solved at (``x / c``, ``gamma c``; see the module docstring)
    scale: float = 1.0
    #: the conic program's solution when the optimum came from it (method ``"program"``)
    solution: Solution | None = field(default=None, repr=False)

    @property
    def n(self) -> int:
        return int(self.F.shape[0])

    @property
    def residual(self) -> float:
        """The KKT certificate relative to the problem's own units: budget, monotonicity and
        complementarity over the largest loss, stationarity and dual feasibility as they are
        (probabilities); ``inf`` for a non-finite allocation or utility."""
        if not (np.all(np.isfinite(self.F)) and np.all(np.isfinite(self.utilities))):
            return float("inf")
        xs = float(np.abs(self.x).max(initial=0.0)) or 1.0
        c = self.certificate
        return float(max(c["budget"] / xs, c["monotonicity"] / xs, c["complementarity"] / xs,
                         c["stationarity"], c["dual"], c.get("feasibility", 0.0) / xs))

    @property
    def prices(self) -> np.ndarray:
        return np.asarray(np.exp(self.log_prices))

    @property
    def density(self) -> np.ndarray:
        """State-price density ``nu_k / P_k`` (in log space: finite for any positive P_k)."""
        return np.asarray(np.exp(self.log_prices - np.log(self.probs)))

    @property
    def gaps(self) -> np.ndarray:
        return -np.diff(self.x)

    @property
    def shares(self) -> np.ndarray:
        return np.asarray(-np.diff(self.F, axis=1) / self.gaps[None, :])

    @property
    def average_shares(self) -> np.ndarray:
        """``E_nu[f_i(X)] / E_nu[X]``: the marginal shares averaged with weights ``g_k nu(N >= k)``
        (the proportional rule's ``w_i`` when the rule is proportional)."""
        return np.asarray((self.F @ self.prices) / float(self.x @ self.prices))


@dataclass(frozen=True)
class UserRows:
    """User constraints in the KKT certificate (:mod:`riskopt.constraints`). Each row
    ``a^T F <= b`` (``>=``, ``==``) with dual ``y = dW*/d b`` enters stationarity as
    ``Q^i_k = nu_k + rho_ik - rho_i,k+1 + sum_rows y a_ik``: ``gradient`` is that sum (n x atoms);
    ``wrong_sign`` the largest dual of the wrong sign (``<=``: ``y >= 0``, ``>=``: ``y <= 0``),
    ``violation`` the largest infeasibility and ``complementarity`` the largest ``|y slack|`` (in
    the problem's units)."""

    gradient: np.ndarray
    wrong_sign: float
    violation: float
    complementarity: float


# ------------------------------------------------------------------------- closed forms
def lam_and_shares(gammas: np.ndarray) -> tuple[float, np.ndarray]:
    inv = 1.0 / gammas
    lam = 1.0 / inv.sum()
    return lam, lam * inv


def geometric_mean_closed_form(x: np.ndarray, laws: np.ndarray, gammas: np.ndarray,
                               ref: np.ndarray | None = None) -> dict[str, Any]:
    """Optimum over all X-measurable allocations with single laws:
    ``Q_k ∝ exp(-lam x_k) prod_i (pi^i_k)^(lam/gamma_i)``, ``F_ik = (1/gamma_i)[log(pi^i_k/pi^i_0) -
    log(Q_k/Q_0)]``, ``W = -(1/lam) log sum_k exp(-lam x_k) prod_i (pi^i_k)^(lam/gamma_i)``. It is the
    optimum over C iff every ``F_i`` is nonincreasing (``monotone``); otherwise an upper bound.
    With a common law it is the proportional rule ``F_i = (lam/gamma_i) X`` and the Esscher tilt.

    Written against the reference law ``ref`` (default: the first player's): with ``delta_i =
    log(pi^i / ref)`` and ``g = sum_i (lam/gamma_i) delta_i - lam x``, ``log Q = log ref + g - LME(g)``
    and ``F_ik = [(delta_ik - delta_i0) - (g_k - g_0)] / gamma_i``: the log of the reference law
    cancels exactly, so ``F = (lam/gamma) x`` to the last bit under a common law at any scale.
    """
    lam, w = lam_and_shares(gammas)
    laws = np.asarray(laws, float)
    x = np.asarray(x, float)
    with np.errstate(divide="ignore"):
        logpi = np.log(laws)
        rho = np.log(laws[0] if ref is None else np.asarray(ref, float))
    rho = rho - logsumexp(rho)
    delta = np.where(np.isfinite(logpi) & np.isfinite(rho), logpi - rho, -np.inf)
    if np.all(laws == laws[0]) and (ref is None or np.array_equal(laws[0], ref)):
        delta = np.zeros_like(logpi)                                  # a common law: exactly 0
    g = w @ delta - lam * x
    lse = float(log_mean_exp(g, rho))
    ell = rho + g - lse
    F = ((delta - delta[:, :1]) - (g - g[0])[None, :]) / gammas[:, None]
    step = np.diff(F, axis=1)
    scale = np.abs(F).max(initial=0.0)
    scale = scale if scale > 0 else 1.0
    return {"log_prices": ell, "log_density": g - lse, "F": F, "welfare": float(-lse / lam), "lam": lam,
            "shares": w, "monotone": bool(np.all(step <= 1e-13 * scale))}


# ------------------------------------------------------------------------- the Newton method
def _block_value(eta: np.ndarray, delta: np.ndarray, rho: np.ndarray, s: int, e: int) -> float:
    """``LME_b(eta) - LME_b(delta)`` over the atoms ``s..e-1``, the reference law renormalised on them
    (= ``LSE(log nu_b) - LSE(log pi_b)``, without the cancellation of two large logs)."""
    lw = rho[s:e] - logsumexp(rho[s:e])
    return float(log_mean_exp(eta[s:e], lw) - log_mean_exp(delta[s:e], lw))


def _pava_starts(eta: np.ndarray, delta: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """Block starts of the isotonic (nondecreasing) regression of ``r = eta - delta`` (= ``log nu -
    log pi``) with block value :func:`_block_value` (pool adjacent violators)."""
    starts: list[int] = []
    vals: list[float] = []
    for k in range(eta.size):
        s, v = k, float(eta[k] - delta[k])
        while starts and vals[-1] > v:
            s = starts.pop()
            vals.pop()
            v = _block_value(eta, delta, rho, s, k + 1)
        starts.append(s)
        vals.append(v)
    return np.asarray(starts, dtype=int)


class _Blocks:
    """Each player's blocks at log densities ``eta`` (only players with a binding row are stored)."""

    def __init__(self, eta: np.ndarray, delta: np.ndarray, rho: np.ndarray):
        r = eta[None, :] - delta
        S = eta.size
        self.starts: dict[int, np.ndarray] = {}
        for i in np.flatnonzero((np.diff(r, axis=1) < 0).any(axis=1)):
            st = _pava_starts(eta, delta[i], rho)
            if st.size < S:
                self.starts[int(i)] = st
        self.eta, self.delta, self.rho = eta, delta, rho
        self.ell = rho + eta

    def ratios(self) -> np.ndarray:
        """``v_ik = log nu - log pi^i`` over the block of atom k (``eta_k - delta_ik`` unpooled)."""
        v = self.eta[None, :] - self.delta
        S = self.eta.size
        for i, st in self.starts.items():
            ends = np.append(st[1:], S)
            vals = [_block_value(self.eta, self.delta[i], self.rho, a, b)
                    for a, b in zip(st, ends, strict=True)]
            v[i] = np.repeat(vals, ends - st)
        return np.asarray(v)


def _curvature(blocks: _Blocks, gammas: np.ndarray) -> np.ndarray:
    """``H[k, j] = d(dual gradient_k)/d ell_j = sum_i (1/gamma_i) 1{j in block_i(k)} nu_j / nu(block)``:
    the Hessian of the dual in nu times ``diag(nu)`` (diagonal ``1/lam`` where nothing is pooled)."""
    n, S = blocks.delta.shape
    inv = 1.0 / gammas
    single = np.ones((n, S), bool)
    H = np.zeros((S, S))
    for i, st in blocks.starts.items():
        lens = np.diff(np.append(st, S))
        for s0, length in zip(st, lens, strict=True):
            if length > 1:
                sl = slice(s0, s0 + length)
                single[i, sl] = False
                seg = blocks.ell[sl]
                H[sl, sl] += inv[i] * np.exp(seg - logsumexp(seg))[None, :]
    H[np.diag_indices(S)] += inv @ single
    return H


class _State:
    """Log densities ``eta = log(nu / P)`` (renormalised: ``E_P exp(eta) = 1``), the blocks and
    allocation they induce, the budget residual and the dual objective ``D = nu.x + sum_i
    (1/gamma_i) KL_blocks(nu | pi^i)`` (convex in nu; its minimum over the simplex is W*, its
    gradient the negative budget residual)."""

    def __init__(self, eta: np.ndarray, delta: np.ndarray, rho: np.ndarray, gammas: np.ndarray,
                 x: np.ndarray):
        self.eta = eta - log_mean_exp(eta, rho)
        self.ell = rho + self.eta
        self.nu = np.exp(self.ell)
        self.blocks = _Blocks(self.eta, delta, rho)
        v = self.blocks.ratios()
        self.v = v
        self.F = -(v - v[:, :1]) / gammas[:, None]
        self.resid = self.F[:, 1:].sum(axis=0) - x[1:]
        self.norm = float(np.abs(self.resid).max(initial=0.0))
        self.dual_gradient = x + (1.0 / gammas) @ v
        self.dual = float(self.nu @ self.dual_gradient)

    def slope(self, d: np.ndarray) -> float:
        """Directional derivative of D along ``ell + t d`` (``sum nu d = 0``)."""
        return float((self.nu * d) @ self.dual_gradient)


def solve_comonotone(x: np.ndarray, laws: np.ndarray, gammas: np.ndarray,
                     probs: np.ndarray | None = None, *, start: np.ndarray | None = None,
                     max_iter: int = 200) -> WelfareOptimum:
    """Welfare optimum over C for entropic players with single laws ``laws[i]`` on atoms ``x``.

    ``x`` is decreasing from ``x_0 = 0``; ``laws`` are positive on every atom; ``probs`` is the
    reference law for the density (default: the first player's law); ``start`` warm-starts the log
    prices (e.g. a conic solver's duals). Raises :class:`SolveError` if Newton stalls.

    Solved at unit scale (``x / c``, ``gamma c``; module docstring) in log densities against
    ``probs``; the result is mapped back to ``x``'s units.
    """
    t0 = time.perf_counter()
    x = np.asarray(x, float)
    laws = np.asarray(laws, float)
    gammas = np.asarray(gammas, float)
    S = laws.shape[1]
    if x.shape != (S,) or x[0] != 0 or np.any(np.diff(x) >= 0):
        raise ModelError("x", x, "atoms decreasing from x_0 = 0, one per column of the laws")
    if np.any(~(laws > 0)) or not np.all(np.isfinite(laws)):
        raise ModelError("laws", "a law with a zero or non-finite mass", "positive masses on every "
                         "kept atom (the log-price Newton works with log pi)")
    probs = laws[0] if probs is None else np.asarray(probs, float)
    c = loss_scale(x)
    xs, gs = x / c, gammas * c
    rho = np.log(probs) - logsumexp(np.log(probs))
    logpi = np.log(laws) - logsumexp(np.log(laws), axis=1, keepdims=True)
    delta = np.where(laws == probs[None, :], 0.0, logpi - rho)           # exactly 0 under P itself
    if start is None:
        eta = geometric_mean_closed_form(xs, laws, gs, ref=probs)["log_density"]
    else:
        eta = np.asarray(start, float) - logsumexp(start) - rho
    method = "closed form"
    state = _State(eta, delta, rho, gs, xs)
    # rounding scale of sum_i F_ik: each F_ik is a difference of log ratios of size |eta| + |delta|
    mag = (np.abs(state.eta)[None, :] + np.abs(delta)) / gs[:, None]
    scale = float(np.abs(xs).max() + (mag + mag[:, :1]).sum(axis=0).max())
    tol = 8 * np.finfo(float).eps * scale
    it = 0
    damping = 1e-3
    xmax = max(1.0, float(np.abs(xs).max()))
    while state.norm > tol and it < max_iter:
        it += 1
        method = "log-price Newton"
        # damped Newton on the dual in the entropy (Fisher) metric: (H + delta I) d - mu 1 = -grad D,
        # nu.d = 0; delta -> 0 as the residual vanishes (quadratic convergence), and delta > 0 keeps
        # the step defined where every player pools a gap (the dual is flat there)
        H = _curvature(state.blocks, gs)
        shift = damping * min(1.0, state.norm) * float(H.diagonal().max())
        K = np.zeros((S + 1, S + 1))
        K[:S, :S] = H + shift * np.eye(S)
        K[:S, S] = -1.0
        K[S, :S] = state.nu
        rhs = -np.append(state.dual_gradient, 0.0)
        try:
            d = (sla.solve(K, rhs, check_finite=False) if S <= DENSE_ATOMS else _sparse_solve(K, rhs))[:S]
        except (np.linalg.LinAlgError, ValueError):
            d = np.linalg.lstsq(K, rhs, rcond=None)[0][:S]
        big = float(np.abs(d).max(initial=0.0))
        if big > STEP_CAP:  # trust region in log prices: at most STEP_CAP nats per iteration
            d = d * (STEP_CAP / big)
        slope = state.slope(d)
        rounding = 1e-13 * (1.0 + abs(state.dual))
        if not (np.isfinite(slope) and slope < rounding):  # not a descent direction: projected gradient
            grad = state.nu * state.dual_gradient
            d = -(grad - state.nu * grad.sum())
            slope = state.slope(d)
        t, accepted = 1.0, False
        for _ in range(60):
            trial = _State(state.eta + t * d, delta, rho, gs, xs)
            flat = abs(trial.dual - state.dual) <= rounding
            if (trial.dual <= state.dual + 1e-4 * t * slope and trial.norm < np.inf) or (
                    flat and trial.norm < state.norm):
                accepted = True
                break
            t *= 0.5
        if not accepted:
            if damping >= 1e6:
                break
            damping *= 100.0
            continue
        if state.norm <= 1e-12 * xmax and trial.norm >= state.norm:
            break  # at rounding level: no further progress possible
        state = trial
        damping = max(damping / 10.0, 1e-6) if t == 1.0 else min(damping * 10.0, 1e6)
    if state.norm > max(tol, 1e-9 * xmax):
        raise SolveError(Status.NOT_CONVERGED, backend="riskopt", solver="log-price Newton",
                         hint=f"budget residual {state.norm * c:.3g} after {it} iterations; use the conic "
                              "path")
    return _finish(x, c, probs, laws, logpi, gammas, state, it, method, time.perf_counter() - t0)


def _sparse_solve(A: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    import scipy.sparse as sps  # type: ignore[import-untyped, unused-ignore]
    import scipy.sparse.linalg as spla  # type: ignore[import-untyped, unused-ignore]

    return np.asarray(spla.spsolve(sps.csc_matrix(A), rhs))


def _finish(x: np.ndarray, c: float, probs: np.ndarray, laws: np.ndarray, logpi: np.ndarray,
            gammas: np.ndarray, state: _State, iterations: int, method: str,
            seconds: float) -> WelfareOptimum:
    """The optimum at unit scale (``x / c``, ``gamma c``: the state's units) with its certificate,
    mapped back to ``x``'s units (allocations, utilities, welfare and the certificate's budget,
    monotonicity and complementarity times ``c``; prices, tilts and multipliers are scale-free)."""
    n, S = laws.shape
    blocks, F, ell = state.blocks, state.F, state.ell
    lse, tilts = _tilts(F, logpi, gammas * c)
    nu = np.exp(ell)
    rho = np.zeros((n, S))
    pooled = []
    for i, st in blocks.starts.items():
        ends = np.append(st[1:], S)
        for a, b in zip(st, ends, strict=True):
            if b - a > 1:
                pooled.append((i, int(a), int(b - 1)))
                excess = tilts[i, a:b] - nu[a:b]
                tail = np.cumsum(excess[::-1])[::-1]  # rho_ik = sum_{j >= k in block} (Q_j - nu_j)
                rho[i, a + 1:b] = tail[1:]
    return _certified(x, c, probs, laws, gammas, F, ell, lse, tilts, rho, tuple(sorted(pooled)), iterations,
                      method, seconds)


def _tilts(F: np.ndarray, logpi: np.ndarray, gs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``log E_pi exp(-gamma F)`` (relative accuracy) and the Esscher tilts ``Q^i``, at unit scale."""
    lse = log_mean_exp(-gs[:, None] * F, logpi, axis=1)
    tilts = np.exp(logpi - gs[:, None] * F - lse[:, None])
    tilts /= tilts.sum(axis=1, keepdims=True)
    return lse, tilts


def _certified(x: np.ndarray, c: float, probs: np.ndarray, laws: np.ndarray, gammas: np.ndarray,
               F: np.ndarray, ell: np.ndarray, lse: np.ndarray, tilts: np.ndarray, rho: np.ndarray,
               pooled: tuple[tuple[int, int, int], ...], iterations: int, method: str, seconds: float,
               solution: Solution | None = None, user: UserRows | None = None) -> WelfareOptimum:
    """A point ``F`` (unit scale), its log prices ``ell`` and monotonicity multipliers ``rho`` with
    the KKT certificate recomputed from them (rows k = 1..K) and the gaps' identifiability; ``user``
    adds the user constraints' terms (:class:`UserRows`)."""
    n = F.shape[0]
    gs = gammas * c
    utilities = -lse / gs
    nu = np.exp(ell)
    xs = x / c
    budget = float(np.abs(F[:, 1:].sum(axis=0) - xs[1:]).max(initial=0.0))
    monotone = float(np.max(np.diff(F, axis=1), initial=0.0))
    rho_next = np.concatenate([rho[:, 2:], np.zeros((n, 1))], axis=1)
    station = tilts[:, 1:] - nu[None, 1:] - rho[:, 1:] + rho_next
    comp = np.abs(rho[:, 1:] * np.diff(F, axis=1))
    cert = {"budget": budget * c, "monotonicity": max(monotone, 0.0) * c,
            "stationarity": float(np.abs(station).max(initial=0.0)),
            "dual": float(max(-rho.min(initial=0.0), 0.0)) + 0.0,
            "complementarity": float(comp.max(initial=0.0)) * c}
    if user is not None:
        station = station - user.gradient[:, 1:]
        cert.update(stationarity=float(np.abs(station).max(initial=0.0)),
                    dual=max(cert["dual"], user.wrong_sign),
                    complementarity=max(cert["complementarity"], user.complementarity),
                    feasibility=user.violation)
    # in units of the largest gap (a farmer's loss): the paper's 1e-8 threshold is for L = 1
    unit = float(np.max(-np.diff(x), initial=0.0)) or 1.0
    ident = identifiability(x / unit, tilts, gammas * unit)
    return WelfareOptimum(x, probs, laws, gammas, F * c, ell, utilities * c, float(utilities.sum()) * c,
                          tilts, rho, pooled, iterations, method, seconds, cert, ident, c, solution)


def welfare_optimum(x: np.ndarray, laws: np.ndarray, gammas: np.ndarray, probs: np.ndarray, F: np.ndarray,
                    prices: np.ndarray, multipliers: np.ndarray, *, method: str, iterations: int,
                    seconds: float, solution: Solution | None = None,
                    user: UserRows | None = None) -> WelfareOptimum:
    """An allocation ``F`` over C computed elsewhere (a conic program), with its state prices and
    monotonicity multipliers (``multipliers[i, k]`` of the row ``F_ik <= F_i,k-1``), certified like
    the Newton optimum: utilities and tilts at ``F``, the KKT certificate, the identifiability.
    Prices at or below 0 (a conic solver's, at tiny atoms) have log price ``-inf``. ``user``: the
    user constraints' stationarity terms, sign, slack and complementarity (:class:`UserRows`)."""
    x = np.asarray(x, float)
    laws = np.asarray(laws, float)
    gammas = np.asarray(gammas, float)
    c = loss_scale(x)
    logpi = np.log(laws) - logsumexp(np.log(laws), axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        ell = np.log(np.maximum(np.asarray(prices, float), 0.0))
    Fu = np.asarray(F, float) / c
    lse, tilts = _tilts(Fu, logpi, gammas * c)
    rho = np.asarray(multipliers, float)
    scale = float(np.max(rho, initial=0.0))
    pooled = []
    for i in range(rho.shape[0]):
        binding = np.flatnonzero(rho[i] > 1e-9 * max(scale, 1.0))
        for run in np.split(binding, np.flatnonzero(np.diff(binding) > 1) + 1):
            if run.size:
                pooled.append((i, int(run[0]) - 1, int(run[-1])))
    return _certified(x, c, np.asarray(probs, float), laws, gammas, Fu, ell, lse, tilts, rho, tuple(pooled),
                      iterations, method, seconds, solution, user)


def identifiability(x: np.ndarray, tilts: np.ndarray, gammas: np.ndarray,
                    threshold: float = IDENTIFIABLE_CURVATURE) -> Identifiability:
    """Per-gap curvature ``g_k^2 (a_i + a_j)`` of the two least-curved players (see the class)."""
    gaps = -np.diff(x)
    upper = np.cumsum(tilts[:, ::-1], axis=1)[:, ::-1][:, 1:]   # Q^i(N >= k), k = 1..K
    lower = np.cumsum(tilts, axis=1)[:, :-1]                     # Q^i(N < k)
    a = gammas[:, None] * upper * lower
    two = np.sort(a, axis=0)[:2].sum(axis=0) if a.shape[0] > 1 else a[0]
    curv = gaps ** 2 * two
    return Identifiability(curv, threshold, np.flatnonzero(curv < threshold) + 1)


def tilted_tail_mass(opt: WelfareOptimum, kept_steps: np.ndarray, lattice_laws: np.ndarray,
                     full_steps: np.ndarray, unit: float) -> float:
    """Estimated state-price mass of the pruned atoms (relative to the kept atoms' total of 1).

    Beyond the last kept atom K the unpooled optimality condition is continued:
    ``log nu_j = log nu_K + G_j - G_K`` with ``G_j = sum_i (lam/gamma_i) log pi^i_j - lam x_j``, using
    each player's evaluation law on the lattice (``lattice_laws``, lattice points ``0..``).
    """
    last = int(kept_steps[-1])
    beyond = full_steps[(full_steps > last) & (full_steps < lattice_laws.shape[1])]
    if beyond.size == 0:
        return 0.0
    lam, w = lam_and_shares(opt.gammas)
    cols = np.append(last, beyond)
    sub = lattice_laws[:, cols]
    with np.errstate(divide="ignore"):
        G = w @ np.log(sub) + lam * unit * cols
    G = np.where(np.all(sub > 0, axis=0), G, -np.inf)
    logs = opt.log_prices[-1] + (G[1:] - G[0])
    return float(np.exp(logsumexp(logs))) if np.isfinite(logs).any() else 0.0
