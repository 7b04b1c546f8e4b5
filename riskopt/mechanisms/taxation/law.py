"""Laws of the total residual claim ``S_eps >= 0`` for the taxation solvers.

A finite law of ``S_eps`` is a :class:`~riskopt.space.Scenarios` (the one finite law type: the law
of its ``X``); :func:`residual_law` builds one from values and probabilities (default: equally
weighted samples). The mechanism's computations are functions over a law:

* :func:`nodes`: quadrature nodes between breakpoints. The solvers need the law only through points
  ``x > 0`` and weights ``w`` such that ``sum_k w_k f(x_k) = E[f(S) 1{S > 0}]`` exactly for every
  ``f`` that is a polynomial of degree <= 15 between consecutive breakpoints (the taxation rule is
  piecewise linear in ``s`` between its kinks for CARA and power disutilities). The atom at zero
  (``P(S_eps = 0) = P(S <= K) > 0``) contributes nothing to any tax and is kept apart; a finite
  law's nodes are its positive atoms, whatever the breakpoints;
* :func:`excess` (``E[(S - t)^+]``), :func:`truncated_mean` (``E[min(S, c)]``), :func:`mean`,
  :func:`upper` (top of the support), :func:`p_zero`, :func:`describe`;
* :func:`binned`: the quantile-binned finite law used by the declarative program (each bin -> its
  conditional mean with its probability, so ``E[S]`` is kept).

:class:`UniformAtomLaw` is the continuous law ``p0 delta_0 + (1 - p0) Uniform[0, W]`` (the paper's
two-region law, Assumption 2), integrated exactly by Gauss-Legendre between breakpoints.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...checks import real, real_array
from ...errors import ModelError
from ...probability import Law, accurate_sum
from ...space import Scenarios

__all__ = ["ResidualLaw", "UniformAtomLaw", "binned", "describe", "excess", "mean", "nodes", "p_zero",
           "residual_law", "truncated_mean", "upper"]

_GL8_X, _GL8_W = np.polynomial.legendre.leggauss(8)
#: the sum of the probabilities a finite law of S_eps may be off by (they are renormalised)
PROBS_TOL = 1e-9


class UniformAtomLaw(Law):
    """``S = 0`` with probability ``p0``, else uniform on ``[0, upper]``."""

    def __init__(self, p0: float, upper: float):
        if not 0 <= real("p0", p0, "a probability of no loss in [0, 1)") < 1:
            raise ModelError("p0", p0, "a probability of no loss in [0, 1)")
        if not 0 < real("upper", upper, "a positive top of the support") < np.inf:
            raise ModelError("upper", upper, "a positive top of the support")
        self.p_zero = float(p0)
        self.upper = float(upper)
        self._mean = (1.0 - p0) * upper / 2.0

    # ----------------------------------------------------------------- the Law protocol
    def sf(self, x: np.ndarray | float) -> np.ndarray:
        x = real_array("x", x)
        inside = (1.0 - self.p_zero) * np.clip(1.0 - x / self.upper, 0.0, 1.0)
        return np.where(x < 0, 1.0, inside)

    def ppf(self, u: np.ndarray | float) -> np.ndarray:
        u = real_array("u", u)
        inside = (u - self.p_zero) / (1.0 - self.p_zero) * self.upper
        return np.where(u <= self.p_zero, 0.0, np.minimum(inside, self.upper))

    def atoms(self) -> tuple[np.ndarray, np.ndarray]:
        if self.p_zero > 0:
            return np.array([0.0]), np.array([self.p_zero])
        return np.empty(0), np.empty(0)

    def support(self) -> tuple[float, float]:
        return 0.0, self.upper

    def mean(self) -> float:
        return self._mean

    # ------------------------------------------------------------- what the solvers need
    def nodes(self, breaks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        b = np.asarray(breaks, float)
        b = np.unique(np.clip(np.concatenate([[0.0, self.upper], b[np.isfinite(b)]]), 0.0, self.upper))
        lo, hi = b[:-1], b[1:]
        keep = hi > lo
        lo, hi = lo[keep], hi[keep]
        half = 0.5 * (hi - lo)
        x = (0.5 * (lo + hi))[:, None] + half[:, None] * _GL8_X[None, :]
        w = (half * (1.0 - self.p_zero) / self.upper)[:, None] * _GL8_W[None, :]
        return x.ravel(), w.ravel()

    def excess(self, t: Any) -> np.ndarray:
        """``E[(S - t)^+]`` for each ``t``."""
        t = np.atleast_1d(real_array("t", t, "loss levels"))
        d = (1.0 - self.p_zero) / self.upper
        inside = d * np.clip(self.upper - t, 0.0, None) ** 2 / 2.0
        below = self._mean - t  # t < 0: the whole law lies above t
        return np.asarray(np.where(t >= 0, np.where(t <= self.upper, inside, 0.0), below), float)

    def binned(self, bins: int) -> Scenarios:
        """Equal-probability bins of the uniform part at their conditional means (midpoints)."""
        _check_bins(bins)
        mids = (np.arange(bins) + 0.5) / bins * self.upper
        probs = np.full(bins, (1.0 - self.p_zero) / bins)
        if self.p_zero > 0:
            mids, probs = np.concatenate([[0.0], mids]), np.concatenate([[self.p_zero], probs])
        return residual_law(mids, probs / probs.sum())

    def describe(self) -> str:
        return f"{self.p_zero:g} delta_0 + {1 - self.p_zero:g} Uniform[0, {self.upper:g}]"


#: a law of S_eps: finite (a Scenarios, the law of its X) or the continuous atom-plus-uniform law
ResidualLaw = Scenarios | UniformAtomLaw


# ------------------------------------------------------------------- finite laws of S_eps
def residual_law(values: Any, probs: Any = None, *, field: str = "S_eps") -> Scenarios:
    """The finite law of ``S_eps``: ``values[k] >= 0`` with probability ``probs[k]`` (default: equally
    weighted samples), as a :class:`~riskopt.space.Scenarios` whose ``X`` lists the atom at zero (if
    any) and then the positive values in ascending order (ties kept apart).

    The positive atoms keep their probabilities exactly as given (they are what the taxes are
    computed from). With ``probs``, one atom at zero carries the rest of the mass, so that
    probabilities summing to 1 within ``1e-9`` are accepted; equally weighted samples keep their zero
    samples as states. Either way the zero atom absorbs the rounding of the sum, so that no positive
    atom is rescaled by it.
    """
    x = real_array(field, values, "residual claims >= 0").ravel()
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
        p = real_array("probs", probs, f"{x.size} finite probabilities >= 0").ravel()
        if p.shape != x.shape or not np.all(np.isfinite(p)) or (p < 0).any():
            raise ModelError("probs", probs, f"{x.size} finite probabilities >= 0")
        if abs(p.sum() - 1.0) > PROBS_TOL:
            raise ModelError("probs", f"sum {p.sum()!r}", "probabilities summing to 1")
    order = np.argsort(x, kind="stable")
    x, p = x[order], p[order]
    positive = (x > 0) & (p > 0)
    xs, ws = x[positive], p[positive]
    if probs is None:  # equally weighted samples: the zero samples stay states of their own
        zeros = int(np.count_nonzero(~positive))
        xs, ws = np.concatenate([np.zeros(zeros), xs]), np.concatenate([p[~positive], ws])
    else:  # weighted atoms: one atom at zero carries the rest of the mass
        zeros = 1
        rest = 1.0 - accurate_sum(ws)
        if rest > 0:
            xs, ws = np.concatenate([[0.0], xs]), np.concatenate([[rest], ws])
        elif rest < 0:  # the positive atoms sum to more than 1 (within the tolerance): renormalise them
            zeros, ws = 0, ws / accurate_sum(ws)
        else:
            zeros = 0
    for _ in range(4 if zeros else 0):  # the zero atom absorbs the rounding: a correctly rounded total of 1
        total = accurate_sum(ws)
        if total == 1.0:
            break
        ws[0] = np.nextafter(ws[0], -np.inf if total > 1.0 else np.inf)
    return Scenarios(ws, {"X": xs})


@dataclass(frozen=True)
class _Atoms:
    """A finite law's positive atoms (ascending), their probabilities and prefix sums."""

    x: np.ndarray
    w: np.ndarray
    p_zero: float
    mean: float
    cum_w: np.ndarray
    cum_wx: np.ndarray
    equal_weights: bool


_ATOMS: weakref.WeakKeyDictionary[Scenarios, _Atoms] = weakref.WeakKeyDictionary()


def _atoms(law: Scenarios) -> _Atoms:
    """The positive atoms of a finite law (computed once per law: a Scenarios is immutable)."""
    cached = _ATOMS.get(law)
    if cached is not None:
        return cached
    v, p = law.atoms()
    negative = (v < 0) & (p > 0)
    if negative.any():
        k = int(np.argmax(negative))
        raise ModelError(f"S_eps[{k}]", float(v[k]), "a residual claim >= 0")
    positive = (v > 0) & (p > 0)
    x = np.ascontiguousarray(v[positive])
    w = np.ascontiguousarray(p[positive])
    zero = float(p[~positive].sum())
    held = p[p > 0]  # equally weighted samples: every state equally likely (but for the rounding that
    equal = bool(held.size) and float(held.max()) <= float(held.min()) * (1 + 1e-9)  # a zero state took)
    atoms = _Atoms(x, w, zero, float(np.dot(w, x)),
                   np.concatenate([[0.0], np.cumsum(w, dtype=np.longdouble)]),
                   np.concatenate([[0.0], np.cumsum(w * x, dtype=np.longdouble)]), equal)
    _ATOMS[law] = atoms
    return atoms


# ------------------------------------------------------------------ functions over a law
def nodes(law: ResidualLaw, breaks: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature nodes ``x > 0`` and weights of ``law`` between ``breaks`` (module docstring); a
    finite law's positive atoms and their probabilities."""
    if isinstance(law, UniformAtomLaw):
        return law.nodes(np.array([0.0, law.upper]) if breaks is None else breaks)
    a = _atoms(law)
    return a.x, a.w


def excess(law: ResidualLaw, t: Any) -> np.ndarray:
    """``E[(S - t)^+]`` for each ``t``."""
    if isinstance(law, UniformAtomLaw):
        return law.excess(t)
    t = np.atleast_1d(real_array("t", t, "loss levels"))
    a = _atoms(law)
    k = np.searchsorted(a.x, t, side="right")
    tail_w = a.cum_w[-1] - a.cum_w[k]
    tail_wx = a.cum_wx[-1] - a.cum_wx[k]
    above = np.asarray(np.maximum(tail_wx - t * tail_w, 0.0), float)
    return above + np.where(t < 0, -t * a.p_zero, 0.0)


def truncated_mean(law: ResidualLaw, c: Any) -> np.ndarray:
    """``E[min(S, c)]`` for each ``c``."""
    return mean(law) - excess(law, real_array("c", c, "capacities"))


def mean(law: ResidualLaw) -> float:
    """``E[S]`` (a finite law: summed over its positive atoms)."""
    return law.mean() if isinstance(law, UniformAtomLaw) else _atoms(law).mean


def upper(law: ResidualLaw) -> float:
    """The top of the support (0 for a law with no positive atom)."""
    if isinstance(law, UniformAtomLaw):
        return law.upper
    x = _atoms(law).x
    return float(x[-1]) if x.size else 0.0


def p_zero(law: ResidualLaw) -> float:
    """``P(S_eps = 0)``."""
    return law.p_zero if isinstance(law, UniformAtomLaw) else _atoms(law).p_zero


def size(law: Scenarios) -> int:
    """The number of positive atoms of a finite law."""
    return int(_atoms(law).x.size)


def describe(law: ResidualLaw) -> str:
    if isinstance(law, UniformAtomLaw):
        return law.describe()
    a = _atoms(law)
    kind = "equally weighted samples" if a.equal_weights else "weighted atoms"
    return f"{a.x.size + (a.p_zero > 0)} {kind} (P(S_eps = 0) = {a.p_zero:.6g})"


def binned(law: ResidualLaw, bins: int) -> Scenarios:
    """Quantile bins of the positive part: ``bins`` groups of (nearly) equal probability, each
    replaced by its conditional mean (E[S] is preserved); the atom at zero is kept."""
    if isinstance(law, UniformAtomLaw):
        return law.binned(bins)
    _check_bins(bins)
    a = _atoms(law)
    if a.x.size == 0:
        return residual_law([0.0], [1.0])
    total = a.cum_w[-1]
    before = np.asarray(a.cum_w[:-1] / total, float)  # mass strictly below each atom
    idx = np.minimum((before * bins).astype(int), bins - 1)
    pw = np.bincount(idx, weights=a.w, minlength=bins)
    pwx = np.bincount(idx, weights=a.w * a.x, minlength=bins)
    keep = pw > 0
    values = pwx[keep] / pw[keep]
    probs = pw[keep]
    if a.p_zero > 0:
        values, probs = np.concatenate([[0.0], values]), np.concatenate([[a.p_zero], probs])
    return residual_law(values, probs / probs.sum())


def _check_bins(bins: Any) -> None:
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ModelError("bins", bins, "a positive integer number of quantile bins")
