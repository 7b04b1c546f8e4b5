"""Probability vectors, cumulated probabilities and the law protocol: the bottom of riskopt.

Everything that compares a cumulated probability with a level or checks that masses sum to one
lives here, below every other module of riskopt (it imports only the errors and the type checks): a
probability vector accepted within 1e-12 of summing to 1 is renormalised once by its correctly rounded
sum (:func:`validate_probabilities`); :func:`cumulated` sums compensated (about one rounding per partial
sum, whatever the number of states); :func:`search_cumulated` places a level (VaR, ES, a quantile)
among them exactly, in rational arithmetic on the float inputs, forgiving only their rounding
(:data:`LEVEL_RTOL`): ``0.1 + 0.1 + 0.1`` meets the level 0.3, an atom of 1e-300 next to it is seen.

:class:`Law` is what a univariate law offers (``sf``, ``cdf``, ``ppf``, ``atoms``, ``support``,
``kinks``, ``mean``). The continuous laws live in :mod:`riskopt.laws`; the one finite law is a
:class:`~riskopt.space.Scenarios` (its ``X``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np

from .checks import real_array
from .errors import ModelError, RiskoptWarning

__all__ = ["LEVEL_RTOL", "PROB_TOL", "Law", "accurate_sum", "cumulated", "group_sums", "integrate_sf",
           "search_cumulated", "validate_probabilities"]

PROB_TOL = 1e-12


def validate_probabilities(probs: Any, *, field: str = "probs", normalise: bool = False) -> np.ndarray:
    """Return ``probs`` as a float array after checking it is a probability vector.

    Entries must be finite and >= 0 and sum to 1 within 1e-12; such a vector is divided once by its
    correctly rounded sum (:func:`accurate_sum`), so that every consumer sees probabilities summing to 1 to
    rounding (an entropic value would otherwise be off by ``log(sum q) / gamma``). Zeros stay zero and
    tiny entries (1e-300) are kept. With ``normalise=True`` a vector with a positive finite sum is
    rescaled instead, with a :class:`RiskoptWarning` saying by how much.
    """
    p = real_array(field, probs, "a list of numbers").ravel()
    if not isinstance(probs, (list, tuple)):  # an array may be the caller's: p is renormalised in place
        p = p.copy()
    if p.size == 0:
        raise ModelError(field, probs, "at least one probability")
    bad = ~np.isfinite(p)
    if bad.any():
        raise ModelError(f"{field}[{int(np.argmax(bad))}]", float(p[bad][0]), "a finite probability")
    if (p < 0).any():
        k = int(np.argmax(p < 0))
        raise ModelError(f"{field}[{k}]", float(p[k]), "a probability >= 0")
    total = accurate_sum(p)
    if abs(total - 1.0) > PROB_TOL:
        if normalise and 0 < total < math.inf:
            warnings.warn(f"{field}: probabilities summed to {total!r}; normalised to 1",
                          RiskoptWarning, stacklevel=3)
            return p / total
        raise ModelError(field, f"sum {total!r}", "probabilities summing to 1 within 1e-12 "
                         "(or pass normalise=True)")
    if total != 1.0:  # within the tolerance: renormalised silently
        p /= total
    return p


# ------------------------------------------------------------------ exact and accurate sums
#: a cumulated probability above a level by at most ``LEVEL_RTOL * level`` may be equal to it in the
#: arithmetic the inputs were meant in: ``0.1 + 0.1 + 0.1`` exceeds ``0.3`` by one ulp, because neither
#: 0.1 nor 0.3 is exact. Each probability and the level carry a few roundings (``w / T``, then the
#: renormalisation of :func:`validate_probabilities`): ~2.5 eps relative; 8 eps leaves a margin and is
#: still 2.2e-16 at the level 0.125, below an atom of 1e-15.
LEVEL_RTOL = 8 * float(np.finfo(float).eps)
_SCALE = 1074  # every double is an integer multiple of 2**-1074


def _fixed(x: float) -> int:
    """``x * 2**1074`` as an exact integer."""
    num, den = float(x).as_integer_ratio()
    return num * ((1 << _SCALE) // den)


def _fixed_parts(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``v = M * 2**(shift - 1074)`` with integers ``|M| < 2**53`` (``shift >= -52``)."""
    m, e = np.frexp(np.asarray(v, float))
    return np.ldexp(m, 53).astype(np.int64), e.astype(np.int64) + (_SCALE - 53)


#: entries summed at once by :func:`_fixed_sum` (exactness needs fewer than 2**26)
_CHUNK = 1 << 20


def _fixed_sum(v: np.ndarray) -> int:
    """``sum(v) * 2**1074`` exactly, vectorised: the 53-bit mantissas are summed by exponent in two
    26-bit halves (float64 sums of fewer than 2**26 such halves are exact), then shifted in Python."""
    v = np.asarray(v, float).ravel()
    total = 0
    for start in range(0, v.size, _CHUNK):  # chunks bound the work arrays (5e6 states: 50 MB, not 250)
        M, shift = _fixed_parts(v[start:start + _CHUNK])
        idx = shift + 52
        size = int(idx.max()) + 1 if idx.size else 0
        hi = np.bincount(idx, weights=(M >> 26).astype(float), minlength=size)
        lo = np.bincount(idx, weights=(M & ((1 << 26) - 1)).astype(float), minlength=size)
        for k in np.flatnonzero((hi != 0) | (lo != 0)).tolist():
            g = (int(hi[k]) << 26) + int(lo[k])
            s = k - 52
            total += g << s if s >= 0 else g >> -s  # exact: subnormal mantissas end in -s zero bits
    return total


def _compensated_cumsum(v: np.ndarray) -> np.ndarray:
    """Prefix sums of ``v`` to about one rounding each: ``cumsum`` plus the cumulated rounding errors
    of its additions, each recovered exactly by Knuth's TwoSum (error ``O(u + k^2 u^2)`` relative for
    nonnegative ``v``, against ``k u`` for a plain ``cumsum``)."""
    c = np.cumsum(v)  # np.add.accumulate adds sequentially: c_k = fl(c_{k-1} + v_k)
    if c.size < 2:
        return c
    a, b, s = c[:-1], v[1:], c[1:]
    bb = s - a
    err = (a - (s - bb)) + (b - bb)
    out = c.copy()
    out[1:] += np.cumsum(err)
    return out


def accurate_sum(v: Any) -> float:
    """``sum(v)`` correctly rounded (``inf`` when it overflows): ``math.fsum`` for short vectors, the
    exact integer sum of :func:`_fixed_sum` rounded once for long ones (2.5x faster at 1e6 entries)."""
    v = np.asarray(v, float).ravel()
    try:
        if v.size <= 2048:
            return math.fsum(v)
        return _fixed_sum(v) / (1 << _SCALE)  # int / int: correctly rounded
    except OverflowError:
        return math.inf


def group_sums(index: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """``out[g] = sum(values[index == g])`` to about one rounding (nonnegative ``values``).

    ``np.bincount`` adds sequentially (``(k - 1) u`` relative for ``k`` terms). Here each value is split
    exactly into a high part on the grid ``ulp(sigma_g)``, with ``sigma_g >= 2 k_g max_g`` a power of
    two, whose partial sums are exact, and a remainder below ``ulp(sigma_g) / 2`` (Rump's extraction);
    the remainders' sum has error ``O(k^3 u^2)`` relative.
    """
    index = np.asarray(index, np.intp)
    values = np.asarray(values, float)
    top = np.zeros(size)
    np.maximum.at(top, index, np.abs(values))
    count = np.bincount(index, minlength=size)
    sigma = np.ldexp(1.0, np.frexp(top * count)[1] + 1)[index]
    high = (sigma + values) - sigma
    low = values - high
    return np.bincount(index, weights=high, minlength=size) + np.bincount(index, weights=low, minlength=size)


def cumulated(p: np.ndarray) -> np.ndarray:
    """``S_0 = 0, S_1 = p_0, ..., S_n = 1``: the cumulated probabilities of ``p`` in its order,
    normalised by the total.

    Compensated partial sums (about one rounding each, whatever the number of states), taken
    forwards below 1/2 and as one minus the remaining mass above, so that ``S_k`` is exactly 1 once only
    zero-probability states remain (``h(1 - eps)`` is ``1 - sqrt(eps)`` for a dual power ``b = 1/2``).
    """
    return _cumulated_total(p)[0]


def _cumulated_total(p: np.ndarray) -> tuple[np.ndarray, float]:
    """:func:`cumulated` and the (compensated) total it divides by."""
    p = np.asarray(p, float)
    fwd = _compensated_cumsum(p)
    total = float(fwd[-1]) if fwd.size else 1.0
    bwd = _compensated_cumsum(p[::-1])[::-1]
    forward = np.concatenate([[0.0], fwd]) / total
    backward = 1.0 - np.concatenate([bwd, [0.0]]) / total
    cum = np.where(forward <= 0.5, forward, backward)
    return np.clip(np.maximum.accumulate(cum, out=cum), 0.0, 1.0, out=cum), total


def _boundaries(values: np.ndarray | None, n: int) -> np.ndarray:
    """``breaks[k]``: ``S_k`` separates distinct ``values`` (sorted; all ``True`` without values)."""
    if values is None:
        return np.ones(n + 1, bool)
    v = np.asarray(values)
    return np.concatenate([[True], v[1:] != v[:-1], [True]])


def search_cumulated(p: Any, levels: Any, side: str = "right", *,
                     values: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """The state in which the cumulated probabilities ``S = cumulated(p)`` pass each level ``a``.

    Returns ``(m, frac, total)``: ``m`` (``0 <= m < n``) with ``S_m <= a < S_{m+1}`` (``side="right"``,
    as VaR) or ``S_m < a <= S_{m+1}`` (``side="left"``, as a quantile); ``frac = (a - S_m) / a`` in
    [0, 1], the part of the level that state ``m`` fills (ES splits an atom by it); the total of ``p``,
    correctly rounded. ``S_k`` is the exact partial sum of the given floats over that total (capped at
    1): a vector whose float sum is 1 is taken as written, as :func:`validate_probabilities` leaves it.

    The comparisons are exact (rational arithmetic on the float inputs: an atom of 1e-300 next to the
    level is seen); only the rounding of the inputs is forgiven. Among the *boundaries* ``S_k`` between
    distinct ``values`` (in the order of ``p``; every ``S_k`` without values, so that the rule is
    law-invariant), the one nearest to ``a``, if strictly nearer than the boundary on the other side,
    inside (0, 1) and within ``LEVEL_RTOL * a`` of ``a``, counts as equal to ``a``: ``0.1 + 0.1 + 0.1``
    meets the level 0.3. Exact arithmetic runs only when the accurate float cumulation cannot decide.
    """
    if side not in ("right", "left"):
        raise ValueError(f"side must be 'right' or 'left', not {side!r}")
    p = np.asarray(p, float).ravel()
    a = np.atleast_1d(np.asarray(levels, float)).astype(float)
    n = p.size
    S, total = _cumulated_total(p)
    m = np.clip(np.searchsorted(S, a, side="right" if side == "right" else "left") - 1, 0, n - 1)
    eps = float(np.finfo(float).eps)
    # |S~_k - S_k| <= (3 eps + n^2 eps^2) max(S_k, a) near a for the compensated cumulation (one
    # rounding per partial sum, the total and the division); 20x that, and an absolute floor for
    # subnormal levels
    err = (64 * eps + 4 * n * n * eps * eps) * np.maximum(a, S[m + 1]) + 2.0**-1060
    margin = err + LEVEL_RTOL * a
    sure = (a - S[m] > margin) & (S[m + 1] - a > margin)
    frac = np.clip((a - S[m]) / np.where(a > 0, a, 1.0), 0.0, 1.0)
    # levels outside (0, 1) ((0, 1] for quantiles) leave nothing to decide
    inside = (a > 0) & ((a < 1) if side == "right" else (a <= 1))
    if not (sure | ~inside).all():
        exact = _ExactCumulation(p, S, _boundaries(values, n))
        for i in np.flatnonzero(~sure & inside).tolist():
            m[i], frac[i] = exact.search(float(a[i]), side, float(margin[i]))
        if exact.normaliser is not None:
            total = exact.normaliser / (1 << _SCALE)
    return m, frac, total


class _ExactCumulation:
    """Exact cumulated sums of ``p`` (integers in units of 2**-1074) near a level."""

    def __init__(self, p: np.ndarray, S: np.ndarray, breaks: np.ndarray):
        self.p, self.S, self.breaks = p, S, breaks
        # the probabilities as given, over their correctly rounded total N (what validate_probabilities
        # divides by): S_k = C_k / N, capped at 1, and S_n = 1. Found with the first window.
        self.normaliser: int | None = None
        rtol = Fraction(LEVEL_RTOL)
        self._rnum, self._rden = rtol.numerator, rtol.denominator

    def search(self, a: float, side: str, width: float) -> tuple[int, float]:
        n, S = self.p.size, self.S
        # the window [lo, hi] holds every S_k that the float cumulation cannot place with certainty
        lo = max(int(np.searchsorted(S, a - width, side="left")) - 1, 0)
        hi = min(int(np.searchsorted(S, a + width, side="right")), n)
        C = [_fixed_sum(self.p[:lo])]
        M, shift = _fixed_parts(self.p[lo:hi])
        for mm, s in zip(M.tolist(), shift.tolist(), strict=True):
            C.append(C[-1] + (mm << s if s >= 0 else mm >> -s))
        if self.normaliser is None:  # exact total = prefix + window + rest, rounded once
            self.normaliser = _fixed((C[-1] + _fixed_sum(self.p[hi:])) / (1 << _SCALE))
        A, T = _fixed(a), self.normaliser
        C = [min(c, T) for c in C]
        if hi == n:
            C[-1] = T
        scale = 1 << _SCALE
        D = [c * scale - A * T for c in C]   # sign of S_k - a, in units of 1 / (T 2**1074)
        lim = self._rnum * A * T               # |S_k - a| <= LEVEL_RTOL a  <=>  |D_k| rden <= lim
        ks = range(len(C))
        brk = self.breaks[lo:hi + 1]
        if side == "right":
            m0 = max(k for k in ks if D[k] <= 0)
            up = [k for k in ks if k > m0 and brk[k]]
            down = [k for k in ks if k <= m0 and brk[k]]
            m = m0
            if up:
                b = up[0]
                if (C[b] < T and D[b] * self._rden <= lim
                        and (not down or D[b] < -D[down[-1]])):
                    m = max(k for k in ks if C[k] == C[b])
        else:
            m0 = max(k for k in ks if D[k] < 0)
            down = [k for k in ks if k <= m0 and brk[k]]
            up = [k for k in ks if k > m0 and brk[k]]
            m = m0
            if down:
                b = down[-1]
                if (C[b] > 0 and -D[b] * self._rden <= lim
                        and (not up or -D[b] < D[up[0]])):
                    m = min(k for k in ks if C[k] == C[b]) - 1
        frac = min(max(-D[m], 0) / (A * T), 1.0)
        return min(lo + m, n - 1), frac


# ------------------------------------------------------------------------------ laws
class Law:
    """Base class: subclasses implement ``sf``, ``ppf``, ``atoms`` and ``support``."""

    def sf(self, x: np.ndarray | float) -> np.ndarray:
        raise NotImplementedError

    def cdf(self, x: np.ndarray | float) -> np.ndarray:
        return 1.0 - self.sf(x)

    def ppf(self, u: np.ndarray | float) -> np.ndarray:
        raise NotImplementedError

    def atoms(self) -> tuple[np.ndarray, np.ndarray]:
        return np.empty(0), np.empty(0)

    def support(self) -> tuple[float, float]:
        raise NotImplementedError

    def kinks(self) -> np.ndarray:
        return self.atoms()[0]

    def mean(self) -> float:
        """E[X] = lo + integral of sf over the support (finite support) or by quadrature."""
        lo, hi = self.support()
        if np.isfinite(hi):
            return float(lo + integrate_sf(self.sf, lo, hi, self.kinks()))
        # E[X] = int_0^1 ppf(u) du (substitution keeps the tail integrable)
        val, _ = _quad_u(self.ppf)
        return float(val)


def integrate_sf(f: Callable[[np.ndarray], np.ndarray], a: float, b: float, breaks: np.ndarray,
                 nodes: int = 64) -> float:
    """Gauss-Legendre integral of ``f`` on [a, b], split at ``breaks`` (kinks of ``f``)."""
    pts = np.unique(np.concatenate([[a, b], np.asarray(breaks, float)]))
    pts = pts[(pts >= a) & (pts <= b)]
    x, w = np.polynomial.legendre.leggauss(nodes)
    lo, hi = pts[:-1], pts[1:]
    mid, half = (lo + hi) / 2, (hi - lo) / 2
    xs = mid[:, None] + half[:, None] * x[None, :]
    return float(np.sum(half[:, None] * w[None, :] * f(xs)))


def _quad_u(ppf: Callable[[float], Any]) -> tuple[float, float]:
    from scipy import integrate

    value, error = integrate.quad(lambda u: float(ppf(u)), 0.0, 1.0, limit=200)
    return float(value), float(error)
