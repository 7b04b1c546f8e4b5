"""Laws of the total residual claim ``S_eps >= 0`` for the taxation solvers (spec §4, §10).

The solvers need the law only through *quadrature nodes between breakpoints*: ``law.nodes(breaks)``
returns points ``x > 0`` and weights ``w`` such that ``sum_k w_k f(x_k) = E[f(S) 1{S > 0}]`` exactly
for every ``f`` that is a polynomial of degree <= 15 between consecutive breakpoints (the taxation
rule is piecewise linear in ``s`` between its kinks for CARA and power disutilities). The atom at
zero (``P(S_eps = 0) = P(S <= K) > 0``) contributes nothing to any tax and is kept apart.

* :class:`AtomLaw`: a discrete law (equally weighted samples or weighted atoms); its nodes are its
  atoms, whatever the breakpoints. :meth:`AtomLaw.binned` gives the quantile-binned law used by the
  declarative program (each bin -> its conditional mean with its probability, so E[S] is kept).
* :class:`UniformAtomLaw`: ``p0 delta_0 + (1 - p0) Uniform[0, W]`` (the paper's two-region law,
  Assumption 2), integrated exactly by Gauss-Legendre between breakpoints.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ModelError

__all__ = ["AtomLaw", "ResidualLaw", "UniformAtomLaw"]

_GL8_X, _GL8_W = np.polynomial.legendre.leggauss(8)


class ResidualLaw:
    """Protocol: ``p_zero``, ``upper`` (top of the support), ``mean``, ``nodes(breaks)``, ``excess(t)``."""

    p_zero: float
    upper: float
    mean: float

    def nodes(self, breaks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def excess(self, t: Any) -> np.ndarray:
        """``E[(S - t)^+]`` for each ``t``."""
        raise NotImplementedError

    def truncated_mean(self, c: Any) -> np.ndarray:
        """``E[min(S, c)]`` for each ``c``."""
        return self.mean - self.excess(c)

    def describe(self) -> str:
        raise NotImplementedError


class AtomLaw(ResidualLaw):
    """A discrete law of ``S_eps``: ``values[k]`` with probability ``probs[k]`` (default equal)."""

    def __init__(self, values: Any, probs: Any = None, *, field: str = "S_eps"):
        x = np.asarray(values, float).ravel()
        if x.size == 0:
            raise ModelError(field, values, "at least one value")
        bad = ~np.isfinite(x)
        if bad.any():
            raise ModelError(f"{field}[{int(np.argmax(bad))}]", float(x[bad][0]), "a finite value")
        if (x < 0).any():
            k = int(np.argmax(x < 0))
            raise ModelError(f"{field}[{k}]", float(x[k]), "a residual claim >= 0")
        if probs is None:
            p = np.full(x.size, 1.0 / x.size)
        else:
            p = np.asarray(probs, float).ravel()
            if p.shape != x.shape or not np.all(np.isfinite(p)) or (p < 0).any():
                raise ModelError("probs", probs, f"{x.size} finite probabilities >= 0")
            if abs(p.sum() - 1.0) > 1e-9:
                raise ModelError("probs", f"sum {p.sum()!r}", "probabilities summing to 1")
        order = np.argsort(x, kind="stable")
        x, p = x[order], p[order]
        positive = (x > 0) & (p > 0)
        self.p_zero = float(p[~positive].sum())
        self.x = np.ascontiguousarray(x[positive])
        self.w = np.ascontiguousarray(p[positive])
        self.equal_weights = probs is None
        self.mean = float(np.dot(self.w, self.x))
        self.upper = float(self.x[-1]) if self.x.size else 0.0
        self._cum_w = np.concatenate([[0.0], np.cumsum(self.w, dtype=np.longdouble)])
        self._cum_wx = np.concatenate([[0.0], np.cumsum(self.w * self.x, dtype=np.longdouble)])

    @property
    def size(self) -> int:
        """Number of positive atoms."""
        return self.x.size

    def nodes(self, breaks=None):
        return self.x, self.w

    def excess(self, t):
        t = np.atleast_1d(np.asarray(t, float))
        k = np.searchsorted(self.x, t, side="right")
        tail_w = self._cum_w[-1] - self._cum_w[k]
        tail_wx = self._cum_wx[-1] - self._cum_wx[k]
        above = np.asarray(np.maximum(tail_wx - t * tail_w, 0.0), float)
        return above + np.where(t < 0, -t * self.p_zero, 0.0)

    def binned(self, bins: int) -> AtomLaw:
        """Quantile bins of the positive part: ``bins`` groups of (nearly) equal probability, each
        replaced by its conditional mean (E[S] is preserved); the atom at zero is kept."""
        if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
            raise ModelError("bins", bins, "a positive integer number of quantile bins")
        if self.size == 0:
            return AtomLaw([0.0], [1.0])
        total = self._cum_w[-1]
        before = np.asarray(self._cum_w[:-1] / total, float)  # mass strictly below each atom
        idx = np.minimum((before * bins).astype(int), bins - 1)
        pw = np.bincount(idx, weights=self.w, minlength=bins)
        pwx = np.bincount(idx, weights=self.w * self.x, minlength=bins)
        keep = pw > 0
        values = pwx[keep] / pw[keep]
        probs = pw[keep]
        if self.p_zero > 0:
            values, probs = np.concatenate([[0.0], values]), np.concatenate([[self.p_zero], probs])
        probs = probs / probs.sum()
        return AtomLaw(values, probs)

    def describe(self) -> str:
        kind = "equally weighted samples" if self.equal_weights else "weighted atoms"
        return f"{self.size + (self.p_zero > 0)} {kind} (P(S_eps = 0) = {self.p_zero:.6g})"


class UniformAtomLaw(ResidualLaw):
    """``S = 0`` with probability ``p0``, else uniform on ``[0, upper]`` (spec §10)."""

    def __init__(self, p0: float, upper: float):
        if not (np.isfinite(p0) and 0 <= p0 < 1):
            raise ModelError("p0", p0, "a probability of no loss in [0, 1)")
        if not (np.isfinite(upper) and upper > 0):
            raise ModelError("upper", upper, "a positive top of the support")
        self.p_zero = float(p0)
        self.upper = float(upper)
        self.mean = (1.0 - p0) * upper / 2.0

    def nodes(self, breaks):
        b = np.asarray(breaks, float)
        b = np.unique(np.clip(np.concatenate([[0.0, self.upper], b[np.isfinite(b)]]), 0.0, self.upper))
        lo, hi = b[:-1], b[1:]
        keep = hi > lo
        lo, hi = lo[keep], hi[keep]
        half = 0.5 * (hi - lo)
        x = (0.5 * (lo + hi))[:, None] + half[:, None] * _GL8_X[None, :]
        w = (half * (1.0 - self.p_zero) / self.upper)[:, None] * _GL8_W[None, :]
        return x.ravel(), w.ravel()

    def excess(self, t):
        t = np.atleast_1d(np.asarray(t, float))
        d = (1.0 - self.p_zero) / self.upper
        inside = d * np.clip(self.upper - t, 0.0, None) ** 2 / 2.0
        below = self.mean - t  # t < 0: the whole law lies above t
        return np.where(t >= 0, np.where(t <= self.upper, inside, 0.0), below)

    def binned(self, bins: int) -> AtomLaw:
        """Equal-probability bins of the uniform part at their conditional means (midpoints)."""
        if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
            raise ModelError("bins", bins, "a positive integer number of quantile bins")
        mids = (np.arange(bins) + 0.5) / bins * self.upper
        probs = np.full(bins, (1.0 - self.p_zero) / bins)
        if self.p_zero > 0:
            mids, probs = np.concatenate([[0.0], mids]), np.concatenate([[self.p_zero], probs])
        return AtomLaw(mids, probs / probs.sum())

    def describe(self) -> str:
        return f"{self.p_zero:g} delta_0 + {1 - self.p_zero:g} Uniform[0, {self.upper:g}]"
