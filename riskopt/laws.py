"""Univariate laws on the real line: survival function, quantile function and atoms.

These feed the scenario constructors (quantile discretisation) and the layer representations of the
reinsurance market, where integrals of survival functions must be exact. A law exposes

* ``sf(x) = P(X > x)`` and ``cdf(x) = P(X <= x)``,
* ``ppf(u)``, the left-continuous quantile ``inf{x : F(x) >= u}``,
* ``atoms()``: the points carrying positive mass, with their masses,
* ``support()``: the interval ``[lo, hi]`` (``hi`` may be ``inf``),
* ``kinks()``: points where ``sf`` is not smooth (atoms, censoring points), for exact grids.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .checks import finite, integer, positive, real_array
from .errors import ModelError
from .probability import Law, validate_probabilities
from .space import Scenarios

__all__ = [
    "Censored",
    "Dirac",
    "Discrete",
    "Exponential",
    "FromScipy",
    "FromSurvival",
    "Law",
    "Mixture",
    "Uniform",
    "censored_exponential",
]


@dataclass(frozen=True)
class Exponential(Law):
    """Exponential law with the given rate: ``sf(x) = exp(-rate x)`` for ``x >= 0``."""

    rate: float

    def __post_init__(self) -> None:
        positive("rate", self.rate, "the rate of the exponential law")

    def sf(self, x: np.ndarray | float) -> np.ndarray:
        """``exp(-rate x)`` for ``x >= 0``, 1 below."""
        x = real_array("x", x)
        return np.where(x < 0, 1.0, np.exp(-self.rate * np.maximum(x, 0.0)))

    def ppf(self, u: np.ndarray | float) -> np.ndarray:
        """``-log(1 - u) / rate`` (``inf`` at ``u = 1``)."""
        with np.errstate(divide="ignore"):  # log1p(-1) = -inf: the top of the support, no warning
            out: np.ndarray = -np.log1p(-real_array("u", u)) / self.rate
        return out

    def support(self) -> tuple[float, float]:
        """``[0, inf)``."""
        return 0.0, np.inf

    def mean(self) -> float:
        """``1 / rate``."""
        return 1.0 / self.rate


@dataclass(frozen=True)
class Uniform(Law):
    """Uniform law on ``[lo, hi]``."""

    lo: float
    hi: float

    def __post_init__(self) -> None:
        lo = finite("lo", self.lo, f"a finite number below hi = {self.hi}")
        if not finite("hi", self.hi, f"a finite number > lo = {lo}") > lo:
            raise ModelError("hi", self.hi, f"a finite number > lo = {lo}")

    def sf(self, x: np.ndarray | float) -> np.ndarray:
        """``(hi - x) / (hi - lo)`` clipped to ``[0, 1]``."""
        return np.clip((self.hi - real_array("x", x)) / (self.hi - self.lo), 0.0, 1.0)

    def ppf(self, u: np.ndarray | float) -> np.ndarray:
        """``lo + u (hi - lo)``."""
        return self.lo + real_array("u", u) * (self.hi - self.lo)

    def support(self) -> tuple[float, float]:
        """``[lo, hi]``."""
        return self.lo, self.hi

    def kinks(self) -> np.ndarray:
        """The two ends, where ``sf`` bends."""
        return np.array([self.lo, self.hi])

    def mean(self) -> float:
        """``(lo + hi) / 2``."""
        return 0.5 * (self.lo + self.hi)


@dataclass(frozen=True)
class Dirac(Law):
    """Point mass at ``value``."""

    value: float

    def __post_init__(self) -> None:
        finite("value", self.value, "the point: a finite number")

    def sf(self, x: np.ndarray | float) -> np.ndarray:
        """1 below ``value``, 0 at and above."""
        return (real_array("x", x) < self.value).astype(float)

    def ppf(self, u: np.ndarray | float) -> np.ndarray:
        """``value`` for every ``u``."""
        return np.full(real_array("u", u).shape, self.value, dtype=float)

    def atoms(self) -> tuple[np.ndarray, np.ndarray]:
        """The single atom ``value`` with mass 1."""
        return np.array([self.value]), np.array([1.0])

    def support(self) -> tuple[float, float]:
        """``[value, value]``."""
        return self.value, self.value

    def mean(self) -> float:
        """``value``."""
        return float(self.value)


def Discrete(values: Any, probs: Any) -> Scenarios:  # noqa: N802 - the finite law keeps its name
    """A finite law: ``values`` with probabilities ``probs``, as the one finite type -- a
    :class:`~riskopt.space.Scenarios` whose states are the values in ascending order (``X``). It
    is a :class:`Law` (``sf``, ``ppf``, ``atoms``, ``support``, ``mean`` of ``X``)."""
    v = real_array("values", values).ravel()
    p = validate_probabilities(probs, field="probs")
    if v.shape != p.shape:
        raise ModelError("values", v, f"{p.size} values, one per probability")
    if not np.all(np.isfinite(v)):
        raise ModelError("values", v, "finite numbers")
    order = np.argsort(v, kind="stable")
    return Scenarios(p[order], {"X": v[order]})


@dataclass(frozen=True)
class Censored(Law):
    """``min(Y, cap)`` for a base law ``Y``: the mass ``P(Y >= cap)`` becomes an atom at ``cap``."""

    base: Law
    cap: float

    def __post_init__(self) -> None:
        lo, _ = self.base.support()
        if not finite("cap", self.cap, f"a finite number above the lower end {lo} of the law") > lo:
            raise ModelError("cap", self.cap, f"a finite number above the lower end {lo} of the law")

    def sf(self, x: np.ndarray | float) -> np.ndarray:
        """The base ``sf`` below ``cap``, 0 at and above."""
        x = real_array("x", x)
        return np.where(x >= self.cap, 0.0, self.base.sf(np.minimum(x, self.cap)))

    def ppf(self, u: np.ndarray | float) -> np.ndarray:
        """The base quantile capped at ``cap``."""
        out: np.ndarray = np.minimum(self.base.ppf(u), self.cap)
        return out

    def atoms(self) -> tuple[np.ndarray, np.ndarray]:
        """The base atoms below ``cap`` and the atom ``P(Y >= cap)`` at ``cap``."""
        v, m = self.base.atoms()
        keep = v < self.cap
        mass = float(self.base.sf(np.nextafter(self.cap, -np.inf)))
        return np.append(v[keep], self.cap), np.append(m[keep], mass)

    def support(self) -> tuple[float, float]:
        """``[lo, cap]`` with ``lo`` the lower end of the base law."""
        return self.base.support()[0], self.cap

    def kinks(self) -> np.ndarray:
        """The base kinks below ``cap``, and ``cap``."""
        k = self.base.kinks()
        return np.append(k[k < self.cap], self.cap)


def censored_exponential(rate: float, cap: float) -> Censored:
    """Exponential(rate) censored at ``cap``: ``P(X > z) = exp(-rate z)`` on ``[0, cap)``, 0 after.

    The censoring leaves an atom of mass ``exp(-rate cap)`` at ``cap``
    (Andraos, Ghossoub, Zhu 2025, Section 4).
    """
    return Censored(Exponential(rate), cap)


@dataclass(frozen=True)
class Mixture(Law):
    """Mixture ``sum_k w_k L_k`` of laws (e.g. ``p0 delta_0 + (1 - p0) Uniform[0, W]``)."""

    components: Sequence[Law]
    weights: np.ndarray

    def __post_init__(self) -> None:

        w = validate_probabilities(self.weights, field="weights")
        if w.size != len(self.components):
            raise ModelError("weights", w, f"{len(self.components)} weights, one per component")
        object.__setattr__(self, "weights", w)

    def sf(self, x: np.ndarray | float) -> np.ndarray:
        """``sum_k w_k sf_k(x)``."""
        out: np.ndarray = sum(w * np.asarray(c.sf(x), float)
                              for c, w in zip(self.components, self.weights, strict=True))
        return out

    def ppf(self, u: np.ndarray | float) -> np.ndarray:
        """By bisection on the mixed ``sf``, exact at the atoms."""
        lo, hi = self.support()
        u = real_array("u", u)
        q = _ppf_by_bisection(self.sf, u, lo, hi)
        for x, m in zip(*self.atoms(), strict=True):  # exact at atoms: u in (F(x-), F(x)] maps to x
            if m > 0:
                top = float(self.cdf(x))
                q = np.where((u > top - m) & (u <= top), x, q)
        return q

    def atoms(self) -> tuple[np.ndarray, np.ndarray]:
        """The atoms of every component, masses weighted and merged where they coincide."""
        vals: list[np.ndarray] = []
        masses: list[np.ndarray] = []
        for c, w in zip(self.components, self.weights, strict=True):
            v, m = c.atoms()
            vals.append(v)
            masses.append(w * m)
        v, m = np.concatenate(vals), np.concatenate(masses)
        uniq, inv = np.unique(v, return_inverse=True)
        return uniq, np.bincount(inv, weights=m, minlength=uniq.size)

    def support(self) -> tuple[float, float]:
        """The hull of the components' supports."""
        los, his = zip(*(c.support() for c in self.components), strict=True)
        return min(los), max(his)

    def kinks(self) -> np.ndarray:
        """The kinks of every component."""
        return np.unique(np.concatenate([c.kinks() for c in self.components]))

    def mean(self) -> float:
        """``sum_k w_k E[L_k]``."""
        return float(sum(w * c.mean() for c, w in zip(self.components, self.weights, strict=True)))


def _ppf_by_bisection(sf: Callable[[np.ndarray | float], np.ndarray], u: np.ndarray, lo: float, hi: float,
                      iters: int = 200) -> np.ndarray:
    """Left-continuous quantile ``inf{x : 1 - sf(x) >= u}`` by vectorised bisection on [lo, hi]."""
    if not np.isfinite(hi):
        hi = lo + 1.0
        while np.any(1.0 - sf(hi) < np.max(u)) and hi < 1e300:
            hi = lo + 2.0 * (hi - lo)
    a = np.full(u.shape, lo, float)
    b = np.full(u.shape, hi, float)
    for _ in range(iters):
        m = 0.5 * (a + b)
        ok = 1.0 - sf(m) >= u
        b = np.where(ok, m, b)
        a = np.where(ok, a, m)
        if np.all(b - a <= 1e-15 * np.maximum(1.0, np.abs(b))):
            break
    return np.where(u <= 0, lo, b)


@dataclass(frozen=True)
class FromSurvival(Law):
    """A law given by a survival function ``sf`` on ``[lo, hi]`` (``hi`` finite: an upper bound).

    ``sf`` must be nonincreasing, ``sf(x) = 1`` below ``lo`` and ``0`` at and above ``hi``; this is
    checked on a grid of ``check_points`` points. ``kinks`` lists points where ``sf`` jumps or bends.
    """

    survival: Callable[[np.ndarray], np.ndarray]
    lo: float
    hi: float
    kink_points: np.ndarray = field(default_factory=lambda: np.empty(0))
    check_points: int = 2001

    def __post_init__(self) -> None:
        lo = finite("lo", self.lo, "the lower end of the loss: a finite number")
        if not finite("hi", self.hi, f"a finite upper bound of the loss above lo = {lo}") > lo:
            raise ModelError("hi", self.hi, f"a finite upper bound of the loss above lo = {lo}")
        if integer("check_points", self.check_points, "an integer number of points >= 2") < 2:
            raise ModelError("check_points", self.check_points, "an integer number of points >= 2")
        kinks = real_array("kink_points", self.kink_points, "a list of finite points")
        if kinks.ndim > 1 or not np.all(np.isfinite(kinks)):
            raise ModelError("kink_points", self.kink_points, "a list of finite points")
        object.__setattr__(self, "kink_points", kinks.ravel())
        grid = np.linspace(self.lo, self.hi, self.check_points)
        s = np.asarray(self.survival(grid), float)
        if s.shape != grid.shape or not np.all(np.isfinite(s)):
            raise ModelError("survival", None, "a vectorised function returning finite values")
        if np.any(s < -1e-12) or np.any(s > 1 + 1e-12):
            raise ModelError("survival", float(s.min() if s.min() < 0 else s.max()), "values in [0, 1]")
        rise = np.diff(s)
        if np.any(rise > 1e-12):
            at = float(grid[1 + int(np.argmax(rise))])
            raise ModelError("survival", at, "a nonincreasing function (it increases near this point)")
        tail = float(self.survival(np.array([self.hi]))[0])
        if tail > 1e-12:
            raise ModelError("hi", self.hi, f"an upper bound of the loss (P(X > hi) = {tail:.3g} > 0)")

    def sf(self, x: np.ndarray | float) -> np.ndarray:
        """``survival`` on ``[lo, hi)``, 1 below ``lo`` and 0 from ``hi`` on."""
        x = real_array("x", x)
        inside = np.clip(x, self.lo, self.hi)
        return np.where(x < self.lo, 1.0, np.where(x >= self.hi, 0.0, self.survival(inside)))

    def ppf(self, u: np.ndarray | float) -> np.ndarray:
        """By bisection on ``sf`` over ``[lo, hi]``."""
        return _ppf_by_bisection(self.sf, real_array("u", u), self.lo, self.hi)

    def support(self) -> tuple[float, float]:
        """``[lo, hi]``."""
        return self.lo, self.hi

    def kinks(self) -> np.ndarray:
        """The given ``kink_points``."""
        return np.asarray(self.kink_points, float)


@dataclass(frozen=True)
class FromScipy(Law):
    """Wrap a frozen continuous ``scipy.stats`` distribution."""

    dist: Any  # a scipy.stats frozen distribution (scipy is untyped)

    def sf(self, x: np.ndarray | float) -> np.ndarray:
        """The distribution's ``sf``."""
        out: np.ndarray = self.dist.sf(x)
        return out

    def ppf(self, u: np.ndarray | float) -> np.ndarray:
        """The distribution's ``ppf``."""
        out: np.ndarray = self.dist.ppf(u)
        return out

    def support(self) -> tuple[float, float]:
        """The distribution's support."""
        lo, hi = self.dist.support()
        return float(lo), float(hi)

    def mean(self) -> float:
        """The distribution's mean."""
        return float(self.dist.mean())

