"""Actuarially fair Pareto-optimal (AFPO) weights: Newton on a convex potential, and baselines.

AFPO = the KKT layers of the paper plus fairness ``E[T_i(S_eps)] = e_i`` (``e_i = E[eps_i]``).
With ``Psi_i = int phi_i`` and ``g(s; a) = min {sum_i Psi_i(T_i) + a_i T_i : sum T = s, 0 <= T <= c}``
the AFPO log-weights minimise the convex function

    F(a) = sum_i e_i a_i - E[g(S_eps; a)],   grad F = e - E[T(a)],   Hessian = -dE[T]/da (PSD),

invariant under ``a -> a + t 1``. :func:`solve_afpo` offers

* ``"newton"`` (default): Levenberg-Marquardt-regularised Newton with the exact Jacobian
  (:func:`~.layers.moments`), regulariser ``mu = scale min(1, |r|_inf / mean(e))^2``, steps
  capped at 10 in log-weight units, a full step accepted when it halves the residual, Armijo
  backtracking on ``F`` otherwise; stops at ``max_i |E[T_i] - e_i| / e_i < tol``;
* ``"fixed_point"``: the damped Jacobi iteration ``a <- a + 0.5 (E[T] - e) / diag(-J)``;
* ``"algorithm2"``: the paper's Algorithm 2 (histogram estimate of ``E[T]`` and nudging of the two
  most mis-charged weights), with the defects of the paper fixed: caps applied, the atom at zero
  left out of the histogram, ``alpha_h`` kept positive. Its residual is reported exactly.

:func:`check_targets` validates attainability first: ``sum e = E[S_eps]``,
``max S_eps <= sum c`` and, per region, ``E[(S - sum_{j != i} c_j)^+] <= e_i <= E[min(S, c_i)]``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
from scipy import linalg
from scipy.special import logsumexp
from threadpoolctl import ThreadpoolController

from ...checks import integer, nonnegative, real, real_array
from ...errors import ModelError
from .disutility import TaxFamily
from .law import ResidualLaw, excess, nodes, truncated_mean, upper
from .law import mean as law_mean
from .layers import Moments, TaxLayers, layers, moments

#: what an AFPO iteration returns: log-weights, (seconds, residual) history, converged, note
_Run = tuple[np.ndarray, list[tuple[float, float]], bool, str]

__all__ = ["DEFAULT_METHOD", "DEFAULT_TOL", "METHODS", "AfpoResult", "check_targets", "relative_residual",
           "solve_afpo"]

METHODS = ("newton", "fixed_point", "algorithm2")
#: the default AFPO method and relative fairness tolerance (solve_afpo, the studies and the cards)
DEFAULT_METHOD = "newton"
DEFAULT_TOL = 1e-11


@dataclass(frozen=True)
class AfpoResult:
    """AFPO weights and rule. ``a = ln alpha`` with ``sum alpha = 1`` (in ``family.convention``).

    ``history`` holds ``(seconds, relative residual)`` after every iteration; ``zero_target`` marks
    regions with ``e_i = 0``: they never pay, and their weight is only bounded below (the value
    reported puts their entry level at the top of the support).
    """

    family: TaxFamily
    law: ResidualLaw
    targets: np.ndarray
    a: np.ndarray
    rule: TaxLayers
    expected_tax: np.ndarray
    residual: float
    iterations: int
    converged: bool
    method: str
    seconds: float
    history: tuple[tuple[float, float], ...] = ()
    zero_target: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    note: str = ""
    tol: float = DEFAULT_TOL

    @property
    def alpha(self) -> np.ndarray:
        """Weights on the simplex (``alpha_i v_i'(T_i) = Lambda`` on the interior)."""
        return cast("np.ndarray", np.exp(self.a))

    @property
    def layer_start(self) -> np.ndarray:
        return self.rule.layer_start


def relative_residual(expected_tax: np.ndarray, targets: np.ndarray) -> float:
    """``max_i |E[T_i] - e_i| / e_i`` over regions with ``e_i > 0`` (absolute where ``e_i = 0``)."""
    e = np.asarray(targets, float)
    d = np.abs(np.asarray(expected_tax, float) - e)
    pos = e > 0
    rel = d[pos] / e[pos] if pos.any() else np.zeros(0)
    return float(max(rel.max(initial=0.0), d[~pos].max(initial=0.0)))


def _start(a0: Any, n: int) -> np.ndarray:
    """The starting weights ``a0`` of the iterations: finite, one per region."""
    a = real_array("a0", a0, f"{n} finite starting weights, one per region")
    if a.shape != (n,) or not np.all(np.isfinite(a)):
        raise ModelError("a0", a0, f"{n} finite starting weights, one per region")
    return a


def check_targets(family: TaxFamily, law: ResidualLaw, targets: Any,
                  names: Sequence[str] | None = None, *, rtol: float = 1e-9) -> np.ndarray:
    """Validate that an AFPO can exist for ``targets``; returns them as an array."""
    n = family.n
    names = list(names) if names is not None else [str(i) for i in range(n)]
    e = real_array("targets", targets, f"one expected residual claim per region ({n})")
    if e.shape != (n,):
        raise ModelError("targets", f"shape {e.shape}", f"one expected residual claim per region ({n})")
    for i in range(n):
        if not np.isfinite(e[i]) or e[i] < 0:
            raise ModelError(f"targets[{names[i]}]", float(e[i]), "a finite expected residual claim >= 0")
    total, mean = float(e.sum()), law_mean(law)
    tol = nonnegative("rtol", rtol, "a relative tolerance") * max(1.0, mean)
    if abs(total - mean) > tol:
        raise ModelError("targets", f"sum {total:.12g}", f"targets summing to E[S_eps] = {mean:.12g}",
                         detail="fairness is impossible: the taxes always add up to S_eps")
    cap_total = float(family.caps.sum())
    top = upper(law)
    if top > cap_total * (1 + 1e-12):
        raise ModelError("caps", f"sum {cap_total:.12g}", f"total capacity >= max S_eps = {top:.12g}",
                         detail="no feasible taxation rule: the regions cannot pay the largest claim")
    hi = truncated_mean(law, family.caps)
    lo = excess(law, cap_total - family.caps)
    for i in range(n):
        if e[i] > hi[i] + tol:
            raise ModelError(f"targets[{names[i]}]", float(e[i]),
                             f"at most E[min(S_eps, c_i)] = {hi[i]:.10g}",
                             detail=f"no AFPO exists: region {names[i]} can pay at most min(S_eps, its "
                             f"capacity {family.caps[i]:.6g}) in any state")
        if e[i] < lo[i] - tol:
            raise ModelError(f"targets[{names[i]}]", float(e[i]), f"at least E[(S_eps - sum of the other "
                             f"capacities)^+] = {lo[i]:.10g}",
                             detail=f"no AFPO exists: the other regions cannot pay enough without region "
                             f"{names[i]}, whose fair share is too small")
    return e


def solve_afpo(family: TaxFamily, law: ResidualLaw, targets: Any, *, method: str = DEFAULT_METHOD,
               tol: float = DEFAULT_TOL, max_iter: int | None = None, a0: Any = None,
               time_limit: float | None = None, names: Sequence[str] | None = None,
               validate: bool = True, **options: Any) -> AfpoResult:
    """AFPO weights for ``family`` under ``law`` with fairness targets (see the module docstring).

    Options: ``newton``: ``mu_scale`` (1e-3); ``fixed_point``: ``damping`` (0.5); ``algorithm2``:
    ``bins`` (100), ``step`` (gamma, 1.0), ``delta`` (1e-12), ``pairs`` (M, 1), ``seed`` (0).
    """
    if method not in METHODS:
        raise ModelError("method", method, f"one of {list(METHODS)}")
    if not 0 < real("tol", tol, "a positive tolerance") < np.inf:
        raise ModelError("tol", tol, "a positive tolerance")
    t0 = time.perf_counter()
    e = check_targets(family, law, targets, names) if validate else np.asarray(targets, float)
    zero = e <= 0
    keep = np.flatnonzero(~zero)
    n = family.n
    if keep.size == 0:
        raise ModelError("targets", "all zero", "at least one positive expected residual claim",
                         detail="there is nothing to tax (S_eps = 0 almost surely)")
    sub = family if keep.size == n else family.subset(keep)
    # default: every region enters at u = 0
    start = -sub.phi(np.zeros(sub.n)) if a0 is None else _start(a0, n)[keep]
    limits = {"newton": 100, "fixed_point": 5000, "algorithm2": 200_000}
    iters = limits[method] if max_iter is None else integer("max_iter", max_iter, "iterations >= 1")
    if iters < 1:
        raise ModelError("max_iter", max_iter, "iterations >= 1")
    if time_limit is not None and not real("solve_afpo.time_limit", time_limit, "seconds >= 0") >= 0:
        raise ModelError("solve_afpo.time_limit", time_limit, "seconds >= 0")
    runs: dict[str, Callable[..., _Run]] = {"newton": _newton, "fixed_point": _fixed_point,
                                            "algorithm2": _algorithm2}
    run = runs[method]
    with single_thread_blas():
        a_sub, hist, converged, note = run(sub, law, e[keep], start, tol, iters, time_limit, t0, **options)
    lay_sub = layers(sub, a_sub)
    a = np.empty(n)
    a[keep] = a_sub
    if zero.any():  # never pay: entry level at the top level of the others' rule
        top = float(lay_sub.log_lambda(np.array([upper(law)]))[0])
        a[zero] = top - family.phi(np.zeros(n))[zero]
    a = a - logsumexp(a)
    rule = layers(family, a)
    ET = moments(rule, law, jacobian=False).expected_tax
    res = relative_residual(ET, e)
    if not converged and method == "newton":
        _diverged(a, e, names, res)
    return AfpoResult(family, law, e, a, rule, ET, res, len(hist), converged, method,
                      time.perf_counter() - t0, tuple(hist), zero, note, tol)


@functools.cache
def _threadpools() -> ThreadpoolController:
    return ThreadpoolController()  # the library scan (~30 ms) once per process


def single_thread_blas() -> Any:
    """A context pinning BLAS/LAPACK to one thread. For speed: on a busy two-core machine a
    multi-threaded Cholesky of a 212 x 212 matrix took 0.3 s instead of 2 ms. For reproducibility:
    a multithreaded ``X @ p`` splits its sum by thread count, so block sums pinned this way are the
    same bits in every process (a dask worker and the main process)."""
    return _threadpools().limit(limits=1, user_api="blas")


def _diverged(a: np.ndarray, e: np.ndarray, names: Sequence[str] | None, res: float) -> None:
    """Weights running off to +-infinity mean the fairness equations have no finite solution."""
    spread = a - np.median(a)
    k = int(np.argmax(np.abs(spread)))
    if abs(spread[k]) > 200:
        name = names[k] if names is not None else str(k)
        direction = "its weight grows without bound: it should pay less than any rule allows" \
            if spread[k] > 0 else "its weight falls to 0: it should pay more than any rule allows"
        raise ModelError(f"targets[{name}]", float(e[k]), "fairness targets attainable jointly",
                         detail=f"no AFPO exists (residual {res:.2e}): {direction}")


def _newton(fam: TaxFamily, law: ResidualLaw, e: np.ndarray, a: np.ndarray, tol: float, max_iter: int,
            time_limit: float | None, t0: float, mu_scale: float = 1e-3) -> _Run:
    hist: list[tuple[float, float]] = []
    scale_e = float(np.mean(e))
    lay = layers(fam, a)
    mom = moments(lay, law, jacobian=True)
    r = e - mom.expected_tax
    res = relative_residual(mom.expected_tax, e)
    note = ""
    for _ in range(max_iter):
        if res < tol:
            return a, hist, True, note
        if time_limit is not None and time.perf_counter() - t0 > time_limit:
            return a, hist, False, "time limit reached"
        assert mom.jacobian is not None
        H = -mom.jacobian
        d_mean = float(np.mean(np.diag(H))) or 1.0
        mu = mu_scale * d_mean * min(1.0, float(np.max(np.abs(r))) / scale_e) ** 2
        mu = max(mu, 1e-14 * d_mean)
        step = None
        for _attempt in range(12):
            try:
                cf = linalg.cho_factor(H + mu * np.eye(H.shape[0]), check_finite=False)
                step = linalg.cho_solve(cf, -r, check_finite=False)
                break
            except linalg.LinAlgError:
                mu *= 10.0
        if step is None or not np.all(np.isfinite(step)):
            return a, hist, False, "singular Jacobian"
        big = float(np.max(np.abs(step)))
        if big > 10.0:
            step *= 10.0 / big
        accepted = _line_search(fam, law, e, a, r, step, lay, mom)
        if accepted is None:
            return a, hist, res < 1e3 * tol, "stalled at the rounding floor"
        a, lay, mom = accepted
        a = a - np.max(a)
        lay = layers(fam, a)
        r = e - mom.expected_tax
        res = relative_residual(mom.expected_tax, e)
        hist.append((time.perf_counter() - t0, res))
    return a, hist, res < tol, note or "iteration limit"


def _line_search(fam: TaxFamily, law: ResidualLaw, e: np.ndarray, a: np.ndarray, r: np.ndarray,
                 step: np.ndarray, lay: TaxLayers, mom: Moments
                 ) -> tuple[np.ndarray, TaxLayers, Moments] | None:
    """Full step if it halves the residual, else Armijo backtracking on F (None if nothing helps)."""
    norm0 = float(np.max(np.abs(r)))
    trial = a + step
    lay1 = layers(fam, trial)
    mom1 = moments(lay1, law, jacobian=True)
    r1 = e - mom1.expected_tax
    if float(np.max(np.abs(r1))) <= 0.5 * norm0:
        return trial, lay1, mom1
    f0 = float(e @ a) - _value(lay, law)
    slope = float(r @ step)
    best = (float(np.max(np.abs(r1))), trial, lay1, mom1)
    t = 1.0
    for _ in range(40):
        lay_t = lay1 if t == 1.0 else layers(fam, a + t * step)
        f1 = float(e @ (a + t * step)) - _value(lay_t, law)
        if f1 <= f0 + 1e-4 * t * slope:
            m_t = mom1 if t == 1.0 else moments(lay_t, law, jacobian=True)
            return a + t * step, lay_t, m_t
        t *= 0.5
    if best[0] < norm0:
        return best[1], best[2], best[3]
    return None


def _value(lay: TaxLayers, law: ResidualLaw) -> float:
    """``E[g(S; a)]`` of the rule (the potential's expectation term)."""
    value = moments(lay, law, jacobian=False, value=True).expected_value
    assert value is not None
    return value


def _fixed_point(fam: TaxFamily, law: ResidualLaw, e: np.ndarray, a: np.ndarray, tol: float, max_iter: int,
                 time_limit: float | None, t0: float, damping: float = 0.5) -> _Run:
    hist: list[tuple[float, float]] = []  # (time, residual) after each update
    for k in range(max_iter):
        mom = moments(layers(fam, a), law, jacobian=True)  # one evaluation per update
        res = relative_residual(mom.expected_tax, e)
        if k:
            hist.append((time.perf_counter() - t0, res))
        if res < tol:
            return a, hist, True, ""
        if time_limit is not None and time.perf_counter() - t0 > time_limit:
            return a, hist, False, "time limit reached"
        assert mom.jacobian is not None
        curv = -np.diag(mom.jacobian)
        curv = np.maximum(curv, 1e-3 * max(float(np.mean(curv)), 1e-300))
        a = a + damping * (mom.expected_tax - e) / curv
        a = a - np.max(a)
    return a, hist, False, "iteration limit"


def _algorithm2(fam: TaxFamily, law: ResidualLaw, e: np.ndarray, a_start: np.ndarray, tol: float,
                max_iter: int, time_limit: float | None, t0: float, bins: int = 100, step: float = 1.0,
                delta: float = 1e-12, pairs: int = 1, seed: int = 0) -> _Run:
    """The paper's Algorithm 2 on the weights alpha (simplex), with Algorithm 1's histogram."""
    rng = np.random.default_rng(seed)
    x, w = nodes(law)
    counts, edges = np.histogram(x, bins=bins, weights=w)  # positive part only: the atom at 0 pays 0
    mids = 0.5 * (edges[:-1] + edges[1:])
    alpha = rng.dirichlet(np.ones(fam.n))
    lay = layers(fam, np.log(alpha))
    hist: list[tuple[float, float]] = []
    note = "iteration limit"
    for _ in range(max_iter):
        alpha = alpha / alpha.sum()
        est = lay.taxes(mids) @ counts  # Algorithm 1: E[T_i] ~ sum_j T_i(Lambda(m_j)) n_j / N
        gap = e - est
        order = np.argsort(gap)
        low, high = order[:pairs], order[::-1][:pairs]
        amount = step * np.minimum(np.abs(gap[low]), np.abs(gap[high]))
        new = alpha.copy()
        new[low] += amount
        new[high] = np.maximum(new[high] - amount, 0.5 * new[high])  # keep alpha_h > 0
        moved = float(np.linalg.norm(new / new.sum() - alpha))
        alpha = new
        lay = layers(fam, np.log(alpha / alpha.sum()))  # the next iteration's rule as well
        exact = relative_residual(moments(lay, law, jacobian=False).expected_tax, e)
        hist.append((time.perf_counter() - t0, exact))
        if exact < tol:
            note = ""
            break
        if moved < delta:
            note = "weights stopped moving (||alpha_new - alpha|| < delta)"
            break
        if time_limit is not None and time.perf_counter() - t0 > time_limit:
            note = "time limit reached"
            break
    alpha = alpha / alpha.sum()
    return np.log(alpha), hist, bool(hist) and hist[-1][1] < tol, note
