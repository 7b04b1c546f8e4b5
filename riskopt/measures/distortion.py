"""Distortion risk measures ``rho_h(L) = int L d(h o P)`` (Choquet integrals), ES and VaR.

Distortion functions ``h : [0, 1] -> R`` with ``h(0) = 0`` are small registered classes (power, dual
power, Wang, exponential, proportional hazard, ES, VaR, piecewise linear, mixtures, custom
callables). A *distortion* proper is nondecreasing with ``h(1) = 1``; ``rho_h`` is then a monetary
risk measure, convex iff ``h`` is concave. The dual is ``h~(t) = h(1) - h(1 - t)``.

On a finite space (states sorted by decreasing loss, ``S_k`` the cumulated probability of the ``k``
largest losses) the value is exact:

    rho_h(L) = sum_k L_(k) [h(S_k) - h(S_{k-1})].

**Levels.** The increments of VaR and ES (:meth:`DistortionFunction.increments`) place the level
``alpha`` among the ``S_k`` exactly (:func:`~riskopt.space.search_cumulated`), forgiving only the
rounding of the inputs: the boundary ``P(L > z)`` nearest to ``alpha``, above it by at most
``LEVEL_RTOL alpha = 1.8e-15 alpha`` and strictly nearer than the boundary below, counts as equal to
``alpha`` (states of probability 0.1 and the level 0.3). An atom of 1e-300 next to the level is seen;
ES splits an atom that straddles the level exactly, ``(alpha - S_m) / alpha``.

**Linear on monotone allocations.** If ``f`` is nondecreasing, the order of ``f(X)`` is that of ``X``,
so ``rho_h(f(X)) = sum_k f(x_k) [h(P(X >= x_k)) - h(P(X > x_k))]``: linear in ``f`` for *any* h
(VaR included). This is what makes comonotone sharing an LP in increments on the sorted atoms.

**LP form for concave h.** A concave piecewise-linear ``h`` with slopes ``s_0 > ... > s_J`` between
knots ``a_1 < ... < a_J`` (and a jump ``j0 = h(0+)``) is a mixture of ES:

    rho_h(L) = j0 max L + s_J E[L] + sum_j (s_{j-1} - s_j) a_j ES_{a_j}(L),

each ES written as the Rockafellar-Uryasev LP ``min_t t + E[(L - t)^+] / a`` with the state
probabilities as weights (exact for weighted scenarios). A smooth concave ``h`` is exact in this form
when every state probability is a multiple of ``1/D``: only ``h(k/D)`` is ever evaluated, so its
interpolant at those points is used (size ``D x S``). Otherwise use an explicit piecewise-linear
approximation (:meth:`DistortionFunction.interpolate`), whose sup error bounds the value error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any, ClassVar

import cvxpy as cp
import numpy as np
from scipy import special

from ..checks import in_unit_open, positive, real_array
from ..errors import ModelError
from ..space import LEVEL_RTOL, Scenarios, cumulated, search_cumulated
from .base import Form, Measure, construct, probabilities, register, state_values

__all__ = [
    "ES",
    "Distortion",
    "DistortionFunction",
    "VaR",
    "check_distortion",
    "choquet_sorted",
    "cumulated",
    "distortion_function",
]

_FUNCTIONS: dict[str, type[DistortionFunction]] = {}
#: largest D x S for the exact lattice LP of a smooth concave distortion
LATTICE_BUDGET = 2_000_000
# check grid: fine near 0 (where distortions bend most) and near 1, but no closer to 1 than 1e-8
# so that secant slopes stay accurate in double precision
_GRID = np.unique(np.concatenate([np.linspace(0.0, 1.0, 4001), np.geomspace(1e-12, 1e-3, 40),
                                  1 - np.geomspace(1e-8, 1e-3, 20)]))
#: a float threshold below 1 for the pointwise VaR distortion (a cumulated probability of 1 is above it)
_BELOW_ONE = float(np.nextafter(1.0, 0.0))


def _slope_noise(h: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Rounding error bound of the differences of consecutive secant slopes of ``h`` on ``t``.

    Near ``t = 0`` the grid spacing is 1e-12, so a distortion with ``h(0+) > 0`` (or any ``h`` far
    from 0 there) has secant slopes carrying rounding errors of order ``eps |h| / dt ~ 1e-4``.
    """
    err = 8 * np.finfo(float).eps * (np.abs(h[:-1]) + np.abs(h[1:])) / np.diff(t)
    return np.asarray(err[:-1] + err[1:], float)


def _register_function(*names: str) -> Callable[[type[DistortionFunction]], type[DistortionFunction]]:
    def deco(cls: type[DistortionFunction]) -> type[DistortionFunction]:
        for n in names:
            _FUNCTIONS[n] = cls
        cls.name = names[0]
        return cls

    return deco


class DistortionFunction:
    """``h : [0, 1] -> R`` with ``h(0) = 0``; subclasses implement ``__call__`` (vectorised)."""

    name: ClassVar[str] = "h"

    def __call__(self, t: np.ndarray | float) -> np.ndarray:
        raise NotImplementedError

    def increments(self, p: np.ndarray, values: np.ndarray | None = None) -> np.ndarray:
        """``h(S_{k+1}) - h(S_k)`` for the cumulated probabilities ``S = cumulated(p)`` of ``p`` in its
        order: the weight of state ``k`` in a Choquet sum. ``values`` (in the same order) tell which
        ``S_k`` separate distinct values, for the level rule of :func:`~riskopt.space.search_cumulated`
        (VaR, ES); the default differences ``h`` at the accurate float :func:`cumulated`."""
        return np.diff(np.asarray(self(cumulated(p)), float))

    # -------------------------------------------------------------- properties
    def knots(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(t, h(t))`` at the breakpoints of a piecewise-linear ``h`` (``t`` from 0 to 1,
        right limit at 0 when ``h`` jumps there), or ``None`` when ``h`` is not piecewise linear."""
        return None

    def is_concave(self, tol: float = 1e-7) -> bool:
        """Concavity on [0, 1] (the jump at 0 allowed); numerical check of secant slopes on a fine
        grid, relative tolerance ``tol``."""
        t = _GRID[1:]
        h = np.asarray(self(t), float)
        slopes = np.diff(h) / np.diff(t)
        return bool(np.all(np.diff(slopes) <= tol * (1 + np.abs(slopes[:-1])) + _slope_noise(h, t)))

    def is_convex(self, tol: float = 1e-7) -> bool:
        t = _GRID
        h = np.asarray(self(t), float)
        if abs(float(h[1]) - float(self(0.0))) > 1e-9 and h[1] > 0:  # a jump at 0 breaks convexity
            return False
        slopes = np.diff(h) / np.diff(t)
        return bool(np.all(np.diff(slopes) >= -tol * (1 + np.abs(slopes[:-1])) - _slope_noise(h, t)))

    def jump_at_zero(self) -> float:
        """``h(0+) - h(0)``: the weight on the worst state (essential supremum). Read from the
        knots of a piecewise-linear ``h``; the library's smooth families are continuous at 0."""
        kn = self.knots()
        if kn is not None and kn[0].size > 1 and kn[0][1] == 0:
            return float(kn[1][1])
        return 0.0

    def dual(self) -> DistortionFunction:
        """``h~(t) = h(1) - h(1 - t)``."""
        return Dual(self)

    def interpolate(self, knots: int | Sequence[float]) -> PiecewiseLinear:
        """Piecewise-linear interpolant at ``knots`` points of [0, 1] (an explicit approximation).

        Its ``sup_error`` attribute bounds ``|h - h_K|`` on [0, 1]; then
        ``|rho_h(L) - rho_{h_K}(L)| <= sup_error * (max L - min L)``. The bound is taken on a fine grid
        and between grid points ``a < b`` from monotonicity (``h`` and ``h_K`` nondecreasing):
        ``|h - h_K| <= max(h(b) - h_K(a), h_K(b) - h(a))`` there, so no maximum is missed.
        """
        t = np.linspace(0, 1, knots) if isinstance(knots, (int, np.integer)) else np.asarray(knots, float)
        t = np.unique(np.clip(t, 0, 1))
        if t[0] != 0 or t[-1] != 1:
            t = np.unique(np.concatenate([[0.0, 1.0], t]))
        pl = PiecewiseLinear(t, self(t))
        grid = np.unique(np.concatenate([_GRID, np.linspace(0.0, 1.0, 2**16 + 1), t]))
        hv, pv = np.asarray(self(grid), float), np.asarray(pl(grid), float)
        between = np.maximum(hv[1:] - pv[:-1], pv[1:] - hv[:-1])
        pl.sup_error = float(max(np.max(np.abs(pv - hv)), np.max(between)))
        return pl

    def describe(self) -> str:
        params = ", ".join(f"{k}={v:g}" for k, v in vars(self).items()
                           if isinstance(v, (int, float)) and not k.startswith("_"))
        return f"{self.name}({params})"

    def __repr__(self) -> str:
        return self.describe()


def check_distortion(h: DistortionFunction, *, normalised: bool = True,
                     field: str = "distortion") -> DistortionFunction:
    """Check ``h(0) = 0``, ``h`` nondecreasing and (``normalised``) ``h(1) = 1``; names the defect."""
    vals = np.asarray(h(_GRID), float)
    if vals.shape != _GRID.shape or not np.all(np.isfinite(vals)):
        raise ModelError(field, h.describe(), "a function returning finite values on [0, 1]")
    h0 = float(h(0.0))
    if abs(h0) > 1e-12:
        raise ModelError(field, h.describe(), "a distortion with h(0) = 0", detail=f"h(0) = {h0:g}")
    if normalised and abs(float(h(1.0)) - 1) > 1e-9:
        raise ModelError(field, h.describe(), "a distortion with h(1) = 1",
                         detail=f"h(1) = {float(h(1.0)):g}")
    drops = np.diff(vals)
    if np.any(drops < -1e-12):
        k = int(np.argmin(drops))
        raise ModelError(field, h.describe(), "a nondecreasing distortion",
                         detail=f"h decreases near t = {_GRID[k]:.4g}")
    return h


def distortion_function(spec: str | DistortionFunction, **params: Any) -> DistortionFunction:
    """Build a registered distortion function by name with parameters (validated)."""
    if isinstance(spec, DistortionFunction):
        return spec
    try:
        cls = _FUNCTIONS[spec]
    except (KeyError, TypeError):  # TypeError: an unhashable spec such as a list
        raise ModelError("h", spec, f"one of {sorted(_FUNCTIONS)}") from None
    try:
        return cls(**params)
    except TypeError as exc:
        raise ModelError("h", params, f"the parameters of '{spec}'", detail=str(exc)) from None


# ------------------------------------------------------------------ library
@_register_function("power")
class Power(DistortionFunction):
    """``h(t) = t^a``: concave (risk averse) for ``a < 1``, convex (risk seeking) for ``a > 1``."""

    def __init__(self, a: float):
        self.a = positive("a", a, "exponent")

    def __call__(self, t: np.ndarray | float) -> np.ndarray:
        return np.asarray(np.power(np.asarray(t, float), self.a), float)


@_register_function("proportional_hazard", "ph")
class ProportionalHazard(Power):
    """Wang's proportional hazard transform ``h(t) = t^(1/r)`` with ``r >= 1`` (concave)."""

    def __init__(self, r: float):
        self.r = positive("r", r, "PH index")
        if self.r < 1:
            raise ModelError("r", r, "a PH index r >= 1")
        self.a = 1.0 / self.r

    def describe(self) -> str:
        return f"ph(r={self.r:g})"


@_register_function("dual_power")
class DualPower(DistortionFunction):
    """``h(t) = 1 - (1 - t)^b``: concave for ``b > 1``."""

    def __init__(self, b: float):
        self.b = positive("b", b, "exponent")

    def __call__(self, t: np.ndarray | float) -> np.ndarray:
        with np.errstate(divide="ignore"):  # log1p(-1) = -inf gives h(1) = 1
            return np.asarray(-np.expm1(self.b * np.log1p(-np.minimum(np.asarray(t, float), 1.0))), float)


@_register_function("wang")
class Wang(DistortionFunction):
    """Wang transform ``h(t) = Phi(Phi^-1(t) + lam)``: concave for ``lam >= 0``."""

    def __init__(self, lam: float):
        from ..checks import finite

        self.lam = finite("lam", lam, "a finite shift")

    def __call__(self, t: np.ndarray | float) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.asarray(special.ndtr(special.ndtri(np.asarray(t, float)) + self.lam), float)


@_register_function("exponential")
class ExponentialDistortion(DistortionFunction):
    """``h(t) = (e^{b t} - 1) / (e^b - 1)``, ``b != 0``: convex (risk seeking) for ``b > 0``, concave
    for ``b < 0``. Its slope at 0 is ``b / (e^b - 1) > 0``, so in an inf-convolution with powers
    ``t^a`` (slope 0 at 0) it takes nothing from small totals: a corner solution."""

    def __init__(self, b: float):
        from ..checks import finite

        self.b = finite("b", b, "a nonzero finite curvature")
        if self.b == 0 or abs(self.b) > 700:
            raise ModelError("b", b, "a curvature with 0 < |b| <= 700 (b = 0 is the identity)")

    def __call__(self, t: np.ndarray | float) -> np.ndarray:
        return np.asarray(special.expm1(self.b * np.asarray(t, float)) / special.expm1(self.b), float)


@_register_function("es", "cvar", "expected_shortfall")
class ESDistortion(DistortionFunction):
    """``h(t) = min(t / alpha, 1)``: ES at tail probability ``alpha``."""

    def __init__(self, level: float):
        self.level = in_unit_open("level", level, "a tail probability in (0, 1)")

    def __call__(self, t: np.ndarray | float) -> np.ndarray:
        with np.errstate(over="ignore"):  # a subnormal level: t / level = inf, clipped to 1
            return np.minimum(np.asarray(t, float) / self.level, 1.0)

    def knots(self) -> tuple[np.ndarray, np.ndarray] | None:
        return np.array([0.0, self.level, 1.0]), np.array([0.0, 1.0, 1.0])

    def increments(self, p: np.ndarray, values: np.ndarray | None = None) -> np.ndarray:
        """``p_k / alpha`` for the states entirely inside the level, ``(alpha - S_m) / alpha`` (exact,
        rounded once) for the state ``m`` in which the cumulated probability passes ``alpha``: an atom
        that straddles the level is split exactly."""
        p = np.asarray(p, float)
        m, frac, total = search_cumulated(p, self.level, "right", values=values)
        k = int(m[0])
        w = np.zeros(p.size)
        w[:k] = p[:k] / self.level / total  # p_k <= alpha total here: no overflow for a tiny level
        w[k] = frac[0]
        return w

    def is_concave(self, tol: float = 1e-7) -> bool:
        return True


@_register_function("var", "value_at_risk")
class VaRDistortion(DistortionFunction):
    """``h(t) = 1{t > alpha}``: VaR at tail probability ``alpha`` (not concave)."""

    def __init__(self, level: float):
        self.level = in_unit_open("level", level, "a tail probability in (0, 1)")

    def __call__(self, t: np.ndarray | float) -> np.ndarray:
        """Pointwise, a ``t`` above the level by at most ``LEVEL_RTOL * level`` (the rounding of a
        cumulated probability) is not above it. Choquet sums use :meth:`increments`, which compares
        exactly and sees atoms too small to move a float ``t`` (1e-300 next to the level)."""
        threshold = min(self.level * (1.0 + LEVEL_RTOL), max(self.level, _BELOW_ONE))
        return (np.asarray(t, float) > threshold).astype(float)

    def increments(self, p: np.ndarray, values: np.ndarray | None = None) -> np.ndarray:
        """1 on the state ``m`` with ``S_m <= alpha < S_{m+1}`` (exact, rounding of the inputs forgiven
        by :func:`~riskopt.space.search_cumulated`), 0 elsewhere."""
        m, _, _ = search_cumulated(p, self.level, "right", values=values)
        w = np.zeros(np.size(p))
        w[int(m[0])] = 1.0
        return w

    def is_concave(self, tol: float = 1e-7) -> bool:
        return False


@_register_function("piecewise_linear")
class PiecewiseLinear(DistortionFunction):
    """Linear interpolation of points ``(t_k, h_k)``, ``t`` from 0 to 1 (a jump at 0 is allowed by
    repeating ``t = 0``: ``t = [0, 0, ...]``, ``h = [0, j0, ...]``)."""

    def __init__(self, t: Sequence[float] | np.ndarray, h: Sequence[float] | np.ndarray):
        t = real_array("t", t, "a list of points from 0 to 1")
        h = real_array("h", h, "a list of values, one per point t")
        if t.ndim != 1 or t.shape != h.shape or t.size < 2:
            raise ModelError("t", t, "matching lists t and h of at least two points")
        if t[0] != 0 or t[-1] != 1 or np.any(np.diff(t) < 0) or np.any(np.diff(t[1:]) == 0):
            raise ModelError("t", t, "increasing points from 0 to 1 (0 may repeat for a jump)")
        if h[0] != 0:
            raise ModelError("h", h, "h(0) = 0")
        self.t, self.h = t, h
        self.sup_error = 0.0

    def __call__(self, t: np.ndarray | float) -> np.ndarray:
        t = np.asarray(t, float)
        jump = self.t.size > 1 and self.t[1] == 0
        if jump:
            out = np.interp(t, self.t[1:], self.h[1:])
            return np.asarray(np.where(t <= 0, 0.0, out), float)
        return np.asarray(np.interp(t, self.t, self.h), float)

    def knots(self) -> tuple[np.ndarray, np.ndarray] | None:
        return self.t.copy(), self.h.copy()

    def describe(self) -> str:
        return f"piecewise_linear({self.t.size} points)"


def _component(spec: Any, k: int) -> DistortionFunction:
    """A mixture component given as ``{name = "es", level = 0.1}`` (or ``spec`` for ``name``)."""
    if not isinstance(spec, dict):
        raise ModelError(f"components[{k}]", spec, "a distortion table {name = ..., parameters}")
    params = dict(spec)
    name = params.pop("name", params.pop("spec", None))
    if not isinstance(name, str):
        raise ModelError(f"components[{k}].name", name, "a distortion function name")
    return distortion_function(name, **params)


@_register_function("mixture")
class MixtureDistortion(DistortionFunction):
    """``h = sum_k w_k h_k`` with weights ``w_k >= 0`` (e.g. mixtures of ES)."""

    def __init__(self, components: Sequence[DistortionFunction | dict[str, Any]], weights: Sequence[float]):
        comps = [c if isinstance(c, DistortionFunction) else _component(c, k)
                 for k, c in enumerate(components)]
        w = real_array("weights", weights, f"{len(comps)} nonnegative weights")
        if w.shape != (len(comps),) or np.any(~np.isfinite(w)) or np.any(w < 0):
            raise ModelError("weights", weights, f"{len(comps)} nonnegative weights")
        self.components, self.weights = comps, w

    def __call__(self, t: np.ndarray | float) -> np.ndarray:
        return np.asarray(sum(w * np.asarray(c(t), float)
                              for c, w in zip(self.components, self.weights, strict=True)), float)

    def increments(self, p: np.ndarray, values: np.ndarray | None = None) -> np.ndarray:
        return np.asarray(sum(w * c.increments(p, values)
                              for c, w in zip(self.components, self.weights, strict=True)), float)

    def jump_at_zero(self) -> float:
        return float(sum(w * c.jump_at_zero() for c, w in zip(self.components, self.weights, strict=True)))

    def knots(self) -> tuple[np.ndarray, np.ndarray] | None:
        parts = [c.knots() for c in self.components]
        present = [p for p in parts if p is not None]
        if len(present) < len(parts):
            return None
        t = np.unique(np.concatenate([p[0] for p in present]))
        jump = self.jump_at_zero()
        t_out = np.concatenate([[0.0, 0.0], t[1:]]) if jump > 0 else t
        h = np.asarray(self(t_out), float)
        h[0] = 0.0
        if jump > 0:  # the repeated knot at 0 carries the right limit h(0+), not h(0) = 0
            h[1] = jump
        return t_out, h

    def is_concave(self, tol: float = 1e-7) -> bool:
        if all(c.is_concave(tol) for c in self.components):
            return True
        return super().is_concave(tol)

    def describe(self) -> str:
        pairs = zip(self.components, self.weights, strict=True)
        inner = " + ".join(f"{w:g}*{c.describe()}" for c, w in pairs)
        return f"mixture({inner})"


class Dual(DistortionFunction):
    """``h~(t) = h(1) - h(1 - t)``."""

    name = "dual"

    def __init__(self, base: DistortionFunction):
        self.base = base

    def __call__(self, t: np.ndarray | float) -> np.ndarray:
        return float(self.base(1.0)) - np.asarray(self.base(1.0 - np.asarray(t, float)), float)

    def increments(self, p: np.ndarray, values: np.ndarray | None = None) -> np.ndarray:
        """``h~(S_{k+1}) - h~(S_k) = h(1 - S_k) - h(1 - S_{k+1})``: the increments of ``h`` on the
        reversed order (no ``1 - t`` cancellation; exact for VaR and ES)."""
        rev = None if values is None else np.asarray(values)[::-1]
        return np.asarray(self.base.increments(np.asarray(p, float)[::-1], rev), float)[::-1]

    def dual(self) -> DistortionFunction:
        return self.base

    def is_concave(self, tol: float = 1e-7) -> bool:
        """``h~`` is concave exactly when ``h`` is convex (a direct numerical check suffers
        cancellation near t = 0)."""
        return self.base.is_convex(tol)

    def is_convex(self, tol: float = 1e-7) -> bool:
        return self.base.is_concave(tol)

    def describe(self) -> str:
        return f"dual({self.base.describe()})"


class Custom(DistortionFunction):
    """A user's vectorised callable (Python API only; model cards name library functions)."""

    name = "custom"

    def __init__(self, fn: Callable[[np.ndarray], np.ndarray], label: str = "custom"):
        self.fn, self.label = fn, label

    def __call__(self, t: np.ndarray | float) -> np.ndarray:
        return np.asarray(self.fn(np.asarray(t, float)), float)

    def describe(self) -> str:
        return self.label


# ----------------------------------------------------------------- measures
def choquet_sorted(x: np.ndarray, p: np.ndarray, h: Callable[[np.ndarray], np.ndarray]) -> float:
    """``sum_k x_(k) [h(S_k) - h(S_{k-1})]`` with states sorted by decreasing ``x`` (the increments of a
    :class:`DistortionFunction`, exact at the level of VaR and ES)."""
    x, p = np.asarray(x, float), np.asarray(p, float)
    order = np.argsort(-x, kind="stable")
    return float(x[order] @ _increments(h, p[order], x[order]))


def _increments(h: Callable[[np.ndarray], np.ndarray], p: np.ndarray, values: np.ndarray | None = None
                ) -> np.ndarray:
    if isinstance(h, DistortionFunction):
        return np.asarray(h.increments(p, values), float)
    return np.diff(np.asarray(h(cumulated(p)), float))


@register("distortion")
class Distortion(Measure):
    """Distortion risk measure ``rho_h`` of a loss for a distortion function ``h``."""

    orientation = "risk"
    comonotone_additive = True

    def __init__(self, h: str | DistortionFunction = "es", normalised: bool = True, **params: Any):
        if not isinstance(h, (str, DistortionFunction)) and "t" in params:
            # points of a piecewise-linear h: Distortion(t=[...], h=[...]) (the name 'h' is taken
            # by the distortion itself, so "piecewise_linear" with its own h could not be passed)
            params = {**params, "h": h}
            h = "piecewise_linear"
        self.h = check_distortion(distortion_function(h, **params), normalised=normalised, field="h")
        self.monetary = abs(float(self.h(1.0)) - 1) < 1e-12
        self.convex = self.h.is_concave()

    @classmethod
    def from_params(cls, **params: Any) -> Distortion:
        return cls(**params)

    def value(self, x: Any, space: Scenarios | np.ndarray) -> float:
        p = probabilities(space)
        return choquet_sorted(state_values(x, p.size), p, self.h)

    def monotone_weights(self, probs: np.ndarray, increasing: bool = True) -> np.ndarray:
        p = np.asarray(probs, float)
        if increasing:  # f(x_k) is among the top values when k is large: h(P(X >= x_k)) - h(P(X > x_k))
            return self.h.increments(p[::-1])[::-1]
        return self.h.increments(p)  # h(P(X <= x_k)) - h(P(X < x_k))

    def gradient(self, x: Any, space: Scenarios | np.ndarray) -> np.ndarray:
        """The distorted probabilities in the order of ``x`` (a subgradient for concave h)."""
        p = probabilities(space)
        xv = state_values(x, p.size)
        order = np.argsort(-xv, kind="stable")
        g = np.empty_like(xv)
        g[order] = self.h.increments(p[order], xv[order])
        return g

    def lp_knots(self, p: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, float]:
        """``(j0, a, c, s_last)``: jump at 0, ES levels ``a_j``, ES weights ``c_j (>= 0)`` and the
        final slope, so that ``rho_h = j0 max + s_last E + sum_j c_j ES_{a_j}`` exactly on ``p``."""
        kn = self.h.knots()
        if kn is None:
            kn = _lattice_knots(self.h, p)
        t, hv = kn
        j0 = 0.0
        if t.size > 1 and t[1] == 0:
            j0, t, hv = float(hv[1]), t[1:], hv[1:]
        slopes = np.diff(hv) / np.diff(t)
        if np.any(np.diff(slopes) > 1e-9 * (1 + np.abs(slopes[:-1]))):
            raise ModelError("h", self.h.describe(), "a concave distortion for the LP form")
        a = t[1:-1]
        c = (slopes[:-1] - slopes[1:]) * a
        keep = c > 1e-15
        return j0, a[keep], c[keep], float(slopes[-1])

    def single_form(self, x: cp.Expression, space: Scenarios | np.ndarray) -> Form:
        p = probabilities(space)
        j0, a, c, s_last = self.lp_knots(p)
        expr = s_last * (p @ x)
        if j0 > 0:
            expr = expr + j0 * cp.max(x[np.flatnonzero(p > 0)])
        if a.size:
            t = cp.Variable(a.size)
            excess = cp.pos(cp.reshape(x, (1, x.size), order="C") - cp.reshape(t, (a.size, 1), order="C"))
            expr = expr + c @ t + (c / a) @ (excess @ p)
        return Form(cp.reshape(expr, (1,), order="F"))

    def describe(self) -> str:
        return f"distortion({self.h.describe()})"


def _lattice_knots(h: DistortionFunction, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Knots ``k/D`` when every probability is a multiple of ``1/D`` (then exact), else refuse."""
    D = _common_denominator(p)
    if D is None or D * p.size > LATTICE_BUDGET:
        raise ModelError("h", h.describe(), "a piecewise-linear distortion (h.interpolate(knots)), "
                         "or state probabilities on a lattice 1/D with D * states <= "
                         f"{LATTICE_BUDGET:,}",
                         detail="the exact LP of a smooth concave distortion needs h at every "
                                "cumulated probability the states can produce")
    t = np.arange(D + 1) / D
    return t, np.asarray(h(t), float)


def _common_denominator(p: np.ndarray, max_den: int = 10**6) -> int | None:
    pos = p[p > 0]
    dens = set()
    for v in np.unique(pos):
        f = Fraction(float(v)).limit_denominator(max_den)
        if abs(float(f) - v) > 1e-13:
            return None
        dens.add(f.denominator)
    d = 1
    for den in dens:
        d = d * den // np.gcd(d, den)
        if d > max_den:
            return None
    return int(d)


@register("es", "cvar", "expected_shortfall")
class ES(Distortion):
    """Expected shortfall at tail probability ``level``: the mean of the worst ``level`` fraction."""

    def __init__(self, level: float):
        h = ESDistortion(level)
        super().__init__(h)
        self.level = h.level

    @classmethod
    def from_params(cls, **params: Any) -> ES:
        return construct(cls, params)

    def describe(self) -> str:
        return f"es(level={self.level:g})"


@register("var", "value_at_risk")
class VaR(Distortion):
    """Value at risk at tail probability ``level``: ``inf{x : P(L > x) <= level}``. Not convex: value
    only, or linear on comonotone allocations."""

    def __init__(self, level: float):
        h = VaRDistortion(level)
        super().__init__(h)
        self.level = h.level

    @classmethod
    def from_params(cls, **params: Any) -> VaR:
        return construct(cls, params)

    def describe(self) -> str:
        return f"var(level={self.level:g})"
