"""Inf- and sup-convolutions of distortion functions, and the representative riskmetric of Theorem 3.

For distortion functions ``h_1, ..., h_n`` on [0, 1] (Ghossoub-Ren-Wang 2024,
Section 5):

    (□ h_i)(t) = inf{ sum_i h_i(t_i) : t_i in [0, 1], sum_i t_i = t },
    (⊞ h_i)(t) = sup{ sum_i h_i(t_i) : t_i in [0, 1], sum_i t_i = t }.

**Convex case (multiplier search).** For convex ``h_i`` the inf-convolution is a separable convex
resource allocation; its KKT conditions say ``t_i`` maximises ``mu s - h_i(s)`` over ``[0, 1]``
for one multiplier ``mu``: ``h_i'(t_i) = mu`` where ``0 < t_i < 1``, ``h_i'(0+) >= mu`` at a
corner ``t_i = 0`` (a kink or a positive slope at 0, e.g. exponential distortions), and
``sum_i t_i(mu) = t``. ``t_i(mu)`` is read from the inverse of the derivative (closed form for
powers ``t^a``: ``(mu / a)^(1 / (a - 1))``; exact from the knots of a piecewise-linear ``h``;
bisection on the derivative otherwise), and ``mu`` is found by bisection on the nondecreasing
``sum_i t_i(mu)``. Ties on linear pieces are split in proportion, so each split ``f_i(t)`` is
nondecreasing in ``t`` (Lemma 2). The sup-convolution of concave functions is the same problem for
``-h_i``.

**Concave case (corner solutions).** ``sum_i h_i(t_i)`` is concave on the simplex, so its minimum
is at a vertex: the inf-convolution of concave ``h_i`` is the pointwise minimum ``min_i h_i`` (and
the sup-convolution of convex ``h_i`` the pointwise maximum).

**Representative riskmetric (Theorem 3).** For convex ``h_i`` and a one-signed aggregate ``X``:

* ``X >= 0``: ``h~ = □ h_i``;
* ``X <= 0``: ``h~(t) = G(1) - G(1 - t)`` with ``G = ⊞ h~_i`` the sup-convolution of the duals.

``h~`` is increasing with ``h~(0) = 0`` but **not normalised**: ``h~(1) <= 1`` for ``X >= 0`` and
``h~(1) = G(1) >= 1`` for ``X <= 0``, so ``rho_{h~}`` is a monotone distortion riskmetric without
translation invariance (``rho(X + c) = rho(X) + c h~(1)``). Its value on a finite space is the
signed Choquet sum of :func:`~riskopt.measures.distortion.choquet_sorted`.

Also here: derivatives and derivative inverses of the library's distortion functions (the
exponential distortion ``(e^{bt} - 1) / (e^b - 1)`` included: it lives with the other distortion
functions in :mod:`riskopt.measures.distortion`, registered as ``"exponential"``), the pointwise
minimum and maximum, risk attitudes and (dual) subadditivity checks used by Theorem 2.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from scipy import special

from ...checks import integer, nonnegative, real_array
from ...errors import ModelError
from ...measures.distortion import (
    DistortionFunction,
    Dual,
    DualPower,
    ExponentialDistortion,
    MixtureDistortion,
    Power,
    Wang,
    check_distortion,
)

__all__ = [
    "Attitude",
    "Convolution",
    "PointwiseMax",
    "PointwiseMin",
    "Representative",
    "attitude",
    "derivative",
    "derivative_inverse",
    "group_attitude",
    "inf_convolution",
    "is_concave",
    "is_convex",
    "is_dually_subadditive",
    "is_subadditive",
    "is_superadditive",
    "minimum_is_agent",
    "representative",
    "sup_convolution",
]

Attitude = Literal["risk_averse", "risk_seeking", "neutral", "general"]
Side = Literal["nonnegative", "nonpositive"]
#: a level set ``[lo, hi]`` of points of [0, 1] (one pair of arrays)
Interval = tuple[np.ndarray, np.ndarray]

#: step of the central differences used for a user's callable (no derivative known)
_FD_STEP = 1e-6
#: bisection steps on s in [0, 1] (2^-60 < 1e-18)
_S_STEPS = 60


# --------------------------------------------------------------------------- derivatives
def derivative(h: DistortionFunction, t: np.ndarray | float) -> np.ndarray:
    """``h'(t)`` (right derivative at the kinks of a piecewise-linear ``h``; central differences for
    a user's callable)."""
    t = real_array("t", t, "levels in [0, 1]")
    known = _known_derivative(h, t)
    if known is not None:
        return np.asarray(known, float)
    if h.knots() is not None:
        return _knot_slopes(h, t)
    return _central_difference(h, t)


def _central_difference(h: DistortionFunction, t: np.ndarray) -> np.ndarray:
    lo = np.clip(t - _FD_STEP, 0.0, 1.0)
    hi = np.clip(t + _FD_STEP, 0.0, 1.0)
    return np.asarray((np.asarray(h(hi), float) - np.asarray(h(lo), float)) / (hi - lo), float)


def _knot_slopes(h: DistortionFunction, t: np.ndarray) -> np.ndarray:
    kt, kh = _knots_without_jump(h)
    slopes = np.diff(kh) / np.diff(kt)
    seg = np.clip(np.searchsorted(kt, t, side="right") - 1, 0, slopes.size - 1)
    return slopes[seg]


def _knots_without_jump(h: DistortionFunction) -> tuple[np.ndarray, np.ndarray]:
    knots = h.knots()
    assert knots is not None  # callers check h.knots() first
    kt, kh = knots
    if kt.size > 1 and kt[1] == 0:  # the jump at 0 is not a slope
        kt, kh = kt[1:], kh[1:]
    return kt, kh


def _power_derivative(h: Power, t: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.asarray(h.a * np.power(t, h.a - 1.0), float)


def _dual_power_derivative(h: DualPower, t: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return h.b * np.power(1.0 - t, h.b - 1.0)


def _exponential_derivative(h: ExponentialDistortion, t: np.ndarray) -> np.ndarray:
    return np.asarray(h.b * np.exp(h.b * t) / special.expm1(h.b), float)


def _wang_derivative(h: Wang, t: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        z = special.ndtri(t)
        return np.asarray(np.exp(-h.lam * z - 0.5 * h.lam**2), float)


def _dual_derivative(h: Dual, t: np.ndarray) -> np.ndarray:
    return derivative(h.base, 1.0 - t)


def _mixture_derivative(h: MixtureDistortion, t: np.ndarray) -> np.ndarray:
    out = np.zeros(np.shape(t))
    for c, w in zip(h.components, h.weights, strict=True):
        out = out + w * derivative(c, t)
    return out


def _known_derivative(h: DistortionFunction, t: np.ndarray) -> np.ndarray | None:
    """The closed-form derivative of the library's smooth families (None for the others)."""
    if isinstance(h, Power):
        return _power_derivative(h, t)
    if isinstance(h, DualPower):
        return _dual_power_derivative(h, t)
    if isinstance(h, ExponentialDistortion):
        return _exponential_derivative(h, t)
    if isinstance(h, Wang):
        return _wang_derivative(h, t)
    if isinstance(h, Dual):
        return _dual_derivative(h, t)
    if isinstance(h, MixtureDistortion):
        return _mixture_derivative(h, t)
    return None


# ------------------------------------------------------------------- derivative inverses
def derivative_inverse(h: DistortionFunction, mu: np.ndarray | float,
                       convex: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``[lo, hi]``: the points ``s`` of [0, 1] where the derivative of ``h`` crosses ``mu``.

    For convex ``h`` this is ``argmin_s h(s) - mu s`` over [0, 1]; for concave ``h`` it is
    ``argmax_s h(s) - mu s``. The interval is a point unless ``h`` has a linear piece of slope ``mu``.
    Closed forms for powers, dual powers and exponential distortions; exact from the knots of
    piecewise-linear ``h``; bisection on the derivative otherwise.
    """
    mu = np.asarray(mu, float)
    if convex is None:
        convex = is_convex(h)
    known = _known_inverse(h, mu, convex)
    if known is not None:
        return known
    if h.knots() is not None:
        return _knot_inverse(h, mu, convex)
    return _bisection_inverse(h, mu, convex)


def _clip_point(s: np.ndarray) -> Interval:
    s = np.clip(np.nan_to_num(s, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
    return s, s


def _power_inverse(h: Power, mu: np.ndarray, convex: bool) -> Interval:
    a = h.a
    if a == 1.0:
        return _linear_inverse(mu, 1.0, convex)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        s = np.power(np.maximum(mu, 0.0) / a, 1.0 / (a - 1.0))
    if a > 1:  # derivative increasing from 0 to a
        return _clip_point(np.where(mu <= 0, 0.0, s))
    return _clip_point(np.where(mu <= 0, 1.0, s))  # derivative decreasing from inf to a


def _dual_power_inverse(h: DualPower, mu: np.ndarray, convex: bool) -> Interval:
    b = h.b
    if b == 1.0:
        return _linear_inverse(mu, 1.0, convex)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        u = np.power(np.maximum(mu, 0.0) / b, 1.0 / (b - 1.0))
    if b < 1:  # convex: derivative b (1 - s)^(b - 1) increasing from b to inf
        return _clip_point(np.where(mu <= 0, 0.0, 1.0 - u))
    return _clip_point(np.where(mu <= 0, 1.0, 1.0 - u))  # concave: decreasing from b to 0


def _exponential_inverse(h: ExponentialDistortion, mu: np.ndarray, convex: bool) -> Interval:
    b = h.b
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.log(np.maximum(mu, 0.0) * special.expm1(b) / b) / b
    if b > 0:
        return _clip_point(np.where(mu <= 0, 0.0, s))
    return _clip_point(np.where(mu <= 0, 1.0, s))


def _dual_inverse(h: Dual, mu: np.ndarray, convex: bool) -> Interval:
    # h~(s) = h(1) - h(1 - s): h~'(s) = h'(1 - s); h~ convex iff h concave
    lo, hi = derivative_inverse(h.base, mu, convex=not convex)
    return 1.0 - hi, 1.0 - lo


def _linear_inverse(mu: np.ndarray, slope: float, convex: bool) -> Interval:
    """``h(s) = slope s``: ``argmin (slope - mu) s`` (convex reading) is 1 above the slope and 0
    below; ``argmax`` (concave reading) the reverse; all of [0, 1] at ``mu = slope``."""
    above = mu > slope if convex else mu < slope
    at_most = mu >= slope if convex else mu <= slope
    return np.where(above, 1.0, 0.0), np.where(at_most, 1.0, 0.0)


def _known_inverse(h: DistortionFunction, mu: np.ndarray, convex: bool) -> Interval | None:
    """Closed-form level sets of the library's smooth families (None for the others)."""
    if isinstance(h, Power):
        return _power_inverse(h, mu, convex)
    if isinstance(h, DualPower):
        return _dual_power_inverse(h, mu, convex)
    if isinstance(h, ExponentialDistortion):
        return _exponential_inverse(h, mu, convex)
    if isinstance(h, Dual):
        return _dual_inverse(h, mu, convex)
    return None


def _knot_inverse(h: DistortionFunction, mu: np.ndarray, convex: bool) -> Interval:
    """Exact level set of a piecewise-linear ``h``: the knots between the slopes below and above mu."""
    kt, kh = _knots_without_jump(h)
    slopes = np.diff(kh) / np.diff(kt)
    if convex:  # slopes nondecreasing: s moves right while the slope is below mu
        lo = kt[np.searchsorted(slopes, mu, side="left")]
        hi = kt[np.searchsorted(slopes, mu, side="right")]
        return lo, hi
    rev = slopes[::-1]  # concave: slopes nonincreasing; s moves right while the slope is above mu
    lo = kt[slopes.size - np.searchsorted(rev, mu, side="right")]
    hi = kt[slopes.size - np.searchsorted(rev, mu, side="left")]
    return lo, hi


def _bisection_inverse(h: DistortionFunction, mu: np.ndarray, convex: bool) -> Interval:
    """Level set by bisection on a monotone derivative (exact or by central differences)."""
    sign = 1.0 if convex else -1.0  # make the derivative nondecreasing

    def first_point(strict: bool) -> np.ndarray:
        lo = np.zeros(mu.shape)
        hi = np.ones(mu.shape)
        for _ in range(_S_STEPS):
            mid = 0.5 * (lo + hi)
            d = sign * derivative(h, mid)
            below = d < sign * mu if strict else d <= sign * mu
            lo = np.where(below, mid, lo)
            hi = np.where(below, hi, mid)
        return 0.5 * (lo + hi)

    a, b = first_point(True), first_point(False)
    return np.minimum(a, b), np.maximum(a, b)


# --------------------------------------------------------------------------- shape checks
def is_concave(h: DistortionFunction) -> bool:
    """Concavity of ``h``; a dual ``h~`` is concave iff its base is convex (checked on the base:
    ``h(1) - h(1 - t)`` loses ~1e-16 absolute to cancellation, which the secant test on a 1e-12 grid
    near 0 reads as curvature)."""
    return is_convex(h.base) if isinstance(h, Dual) else h.is_concave()


def is_convex(h: DistortionFunction) -> bool:
    """Convexity of ``h`` (a dual through its base, see :func:`is_concave`)."""
    return is_concave(h.base) if isinstance(h, Dual) else h.is_convex()


def attitude(h: DistortionFunction) -> Attitude:
    """``"risk_averse"`` (concave), ``"risk_seeking"`` (convex), ``"neutral"`` (both: the identity)
    or ``"general"`` (neither, e.g. VaR)."""
    concave, convex = is_concave(h), is_convex(h)
    if concave and convex:
        return "neutral"
    if concave:
        return "risk_averse"
    return "risk_seeking" if convex else "general"


def group_attitude(hs: Sequence[DistortionFunction], field: str = "agents") -> Attitude:
    """The common attitude of a group; mixing risk-averse and risk-seeking agents is refused.

    ``"neutral"`` when every ``h_i`` is the identity; ``"general"`` when some ``h_i`` is neither
    concave nor convex (VaR, mixtures) and none pulls the other way.
    """
    kinds = [attitude(h) for h in hs]
    if "risk_averse" in kinds and "risk_seeking" in kinds:
        a, s = kinds.index("risk_averse"), kinds.index("risk_seeking")
        raise ModelError(field, [h.describe() for h in hs],
                         "agents of one attitude: all risk averse (concave h) or all risk seeking "
                         "(convex h)",
                         detail=f"agent {a} is risk averse and agent {s} risk seeking; the mixed "
                                "case is out of the scope of Ghossoub-Ren-Wang (the paper treats "
                                "each attitude separately)")
    present = set(kinds) - {"neutral"}
    if "general" in present:
        return "general"
    if present:
        return present.pop()
    return "neutral"


def _pair_grid(points: int, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """The pairs ``(s, t)``, ``s + t <= 1``, of a grid of ``points`` per axis (``tol`` checked too)."""
    if integer("points", points, "an integer number of grid points >= 2") < 2:
        raise ModelError("points", points, "an integer number of grid points >= 2")
    nonnegative("tol", tol, "the tolerance of the check")
    g = np.linspace(0.0, 1.0, points)
    s, t = np.meshgrid(g, g, indexing="ij")
    keep = s + t <= 1.0 + 1e-15
    return s[keep], np.minimum(t[keep], 1.0 - s[keep])


def is_subadditive(h: DistortionFunction, points: int = 201, tol: float = 1e-10) -> bool:
    """``h(s + t) <= h(s) + h(t)`` for ``s + t <= 1`` (on a grid of ``points`` per axis)."""
    s, t = _pair_grid(points, tol)
    return bool(np.all(h(s + t) <= h(s) + h(t) + tol))


def is_superadditive(h: DistortionFunction, points: int = 201, tol: float = 1e-10) -> bool:
    """``h(s + t) >= h(s) + h(t)`` for ``s + t <= 1`` (on a grid)."""
    s, t = _pair_grid(points, tol)
    return bool(np.all(h(s + t) >= h(s) + h(t) - tol))


def is_dually_subadditive(h: DistortionFunction, points: int = 201, tol: float = 1e-10) -> bool:
    """``h`` subadditive and its dual ``h~(t) = h(1) - h(1 - t)`` superadditive (Theorem 2).

    Every concave ``h`` with ``h(0) = 0`` qualifies; VaR's ``1{t > alpha}`` does not.
    """
    return is_subadditive(h, points, tol) and is_superadditive(h.dual(), points, tol)


# ------------------------------------------------------------------ pointwise min and max
class PointwiseMin(DistortionFunction):
    """``(min_i h_i)(t)``: the comonotone inf-convolution's distortion (Embrechts-Liu-Wang)."""

    name = "min"

    def __init__(self, hs: Sequence[DistortionFunction]):
        self.hs = list(hs)

    def __call__(self, t: np.ndarray | float) -> np.ndarray:
        return np.asarray(np.minimum.reduce([np.asarray(h(t), float) for h in self.hs]), float)

    def argmin(self, t: np.ndarray | float) -> np.ndarray:
        """The agent whose ``h_i(t)`` is smallest (the first on ties)."""
        return np.asarray(np.argmin(np.vstack([np.asarray(h(np.atleast_1d(t)), float) for h in self.hs]),
                                    axis=0))

    def describe(self) -> str:
        return "min(" + ", ".join(h.describe() for h in self.hs) + ")"


class PointwiseMax(PointwiseMin):
    """``(max_i h_i)(t)`` (e.g. ``h^RA = max_i h~_i`` of Proposition 4)."""

    name = "max"

    def __call__(self, t: np.ndarray | float) -> np.ndarray:
        return np.asarray(np.maximum.reduce([np.asarray(h(t), float) for h in self.hs]), float)

    def describe(self) -> str:
        return "max(" + ", ".join(h.describe() for h in self.hs) + ")"


def minimum_is_agent(hs: Sequence[DistortionFunction], tol: float = 1e-12) -> int | None:
    """``k`` with ``h_k = min_i h_i`` on [0, 1] (Theorem 2(ii), Corollary 1), else ``None``."""
    grid = np.unique(np.concatenate([np.linspace(0, 1, 4001), np.geomspace(1e-9, 1e-3, 30)]))
    vals = np.vstack([np.asarray(h(grid), float) for h in hs])
    low = vals.min(axis=0)
    for k in range(len(hs)):
        if np.all(vals[k] <= low + tol):
            return k
    return None


# ------------------------------------------------------------------------- convolutions
class Convolution(DistortionFunction):
    """``□ h_i`` (``kind="inf"``) or ``⊞ h_i`` (``kind="sup"``) as a distortion function of ``t``.

    ``method`` is ``"multiplier"`` (inf of convex / sup of concave ``h_i``: KKT with one multiplier)
    or ``"corner"`` (inf of concave / sup of convex: a vertex, i.e. the pointwise min / max).
    :meth:`split` returns the optimal ``t_i``; :meth:`multiplier` the KKT multiplier ``mu(t)``.
    """

    name = "convolution"

    def __init__(self, hs: Sequence[DistortionFunction], kind: Literal["inf", "sup"],
                 field: str = "h"):
        hs = list(hs)
        if not hs:
            raise ModelError(field, hs, "at least one distortion function")
        if kind not in ("inf", "sup"):
            raise ModelError("kind", kind, "'inf' or 'sup'")
        for i, h in enumerate(hs):
            if not isinstance(h, DistortionFunction):
                raise ModelError(f"{field}[{i}]", h, "a distortion function")
            check_distortion(h, normalised=False, field=f"{field}[{i}]")
        convex = [is_convex(h) for h in hs]
        concave = [is_concave(h) for h in hs]
        wanted_convex = kind == "inf"
        if all(convex if wanted_convex else concave):
            self.method = "multiplier"
        elif all(concave if wanted_convex else convex):
            self.method = "corner"
        else:
            bad = next(i for i in range(len(hs)) if not (convex if wanted_convex else concave)[i])
            raise ModelError(f"{field}[{bad}]", hs[bad].describe(),
                             f"distortions that are all {'convex' if wanted_convex else 'concave'} "
                             f"(multiplier search) or all {'concave' if wanted_convex else 'convex'} "
                             "(corner solution)",
                             detail=f"the {kind}-convolution of mixed shapes is a non-convex problem "
                                    "outside the paper's scope")
        self.hs, self.kind = hs, kind

    # ------------------------------------------------------------------ evaluation
    def __call__(self, t: np.ndarray | float) -> np.ndarray:
        t = np.asarray(t, float)
        split = self.split(t.ravel())
        vals = sum(np.asarray(h(split[i]), float) for i, h in enumerate(self.hs))
        return np.asarray(vals, float).reshape(t.shape)

    def split(self, t: np.ndarray | float) -> np.ndarray:
        """Optimal ``t_i`` for each total ``t`` (shape ``(n, len(t))``; rows sum to ``t``)."""
        t = self._totals(t)
        if self.method == "corner":
            vals = np.vstack([np.asarray(h(t), float) for h in self.hs])
            k = np.argmin(vals, axis=0) if self.kind == "inf" else np.argmax(vals, axis=0)
            out = np.zeros((len(self.hs), t.size))
            out[k, np.arange(t.size)] = t
            return out
        return self._allocate(t)[0]

    def multiplier(self, t: np.ndarray | float) -> np.ndarray:
        """KKT multiplier ``mu(t)`` (common slope ``h_i'(t_i)`` of the agents with ``0 < t_i < 1``)."""
        if self.method != "multiplier":
            raise ModelError("method", self.method, "a multiplier-search convolution")
        return self._allocate(self._totals(t))[1]

    def _totals(self, t: np.ndarray | float) -> np.ndarray:
        t = np.atleast_1d(np.asarray(t, float)).ravel()
        if np.any(~np.isfinite(t)) or np.any(t < -1e-12) or np.any(t > 1 + 1e-12):
            raise ModelError("t", t, "totals in [0, 1]")
        return np.asarray(np.clip(t, 0.0, 1.0), float)

    def _inverse(self, i: int, mu: np.ndarray) -> np.ndarray:
        """Upper end of ``argmin_s g_i(s) - mu s`` with ``g_i = h_i`` (inf) or ``-h_i`` (sup)."""
        h = self.hs[i]
        if self.kind == "inf":
            return derivative_inverse(h, mu, convex=True)[1]
        # -h_i convex: argmin of -h(s) - mu s = argmax of h(s) + mu s = level set of h at -mu;
        # its upper end as a function of mu is the upper end of h's level set at -mu
        return derivative_inverse(h, -mu, convex=False)[1]

    def _sum(self, mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        parts = np.vstack([self._inverse(i, mu) for i in range(len(self.hs))])
        return parts, parts.sum(axis=0)

    def _allocate(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Multiplier search: bisection on ``mu`` for ``sum_i s_i(mu) = t``, ties split pro rata."""
        n = len(self.hs)
        a = np.full(t.size, -1.0)
        b = np.full(t.size, 1.0)
        for _ in range(1100):  # bracket: S(a) < t <= S(b) (up to |mu| ~ 1e300)
            _, sa = self._sum(a)
            grow = (sa >= t) & (t > 0) & (np.abs(a) < 1e300)
            if not grow.any():
                break
            a = np.where(grow, 2 * a, a)
        for _ in range(1100):
            _, sb = self._sum(b)
            grow = (sb < t) & (np.abs(b) < 1e300)
            if not grow.any():
                break
            b = np.where(grow, 2 * b, b)
        for _ in range(400):
            wide = (b - a) > 1e-3 * np.maximum(1.0, np.maximum(np.abs(a), np.abs(b)))
            mid = np.where(wide, np.sinh(0.5 * (np.arcsinh(a) + np.arcsinh(b))), 0.5 * (a + b))
            mid = np.clip(mid, a, b)
            moving = (mid > a) & (mid < b)
            if not moving.any():
                break
            _, sm = self._sum(mid)
            up = (sm < t) & moving
            down = ~up & moving
            a = np.where(up, mid, a)
            b = np.where(down, mid, b)
        pa, sa = self._sum(a)
        pb, sb = self._sum(b)
        gap = sb - sa
        lam = np.where(gap > 0, (t - sa) / np.where(gap > 0, gap, 1.0), 1.0)
        split = pa + np.clip(lam, 0.0, 1.0) * (pb - pa)
        split = np.where(t[None, :] <= 0, 0.0, split)
        split = np.where(t[None, :] >= n, 1.0, split)
        return split, b if self.kind == "inf" else -b

    def describe(self) -> str:
        op = "□" if self.kind == "inf" else "⊞"
        return f"{op}(" + ", ".join(h.describe() for h in self.hs) + ")"


def inf_convolution(hs: Sequence[DistortionFunction], field: str = "h") -> Convolution:
    """``□ h_i``: multiplier search for convex ``h_i``, the pointwise minimum for concave ones."""
    return Convolution(hs, "inf", field)


def sup_convolution(hs: Sequence[DistortionFunction], field: str = "h") -> Convolution:
    """``⊞ h_i``: multiplier search for concave ``h_i``, the pointwise maximum for convex ones."""
    return Convolution(hs, "sup", field)


# ------------------------------------------------------------------ representative of Thm 3
class Representative(DistortionFunction):
    """The representative riskmetric ``h~`` of Theorem 3 for convex ``h_i`` (NOT normalised).

    * ``side="nonnegative"`` (``X >= 0``): ``h~ = □ h_i``;
    * ``side="nonpositive"`` (``X <= 0``): ``h~(t) = G(1) - G(1 - t)``, ``G = ⊞ h~_i``.

    :meth:`split` gives the jackpot split of Lemma 3 at a tail level ``t = P(|X| > x)``: the
    probabilities ``f_i(t) = P(A_i ∩ {|X| > x})``, nondecreasing in ``t`` and summing to ``t``.
    """

    name = "representative"

    def __init__(self, hs: Sequence[DistortionFunction], side: Side, field: str = "h"):
        if side not in ("nonnegative", "nonpositive"):
            raise ModelError("side", side, "'nonnegative' (X >= 0) or 'nonpositive' (X <= 0)")
        hs = list(hs)
        for i, h in enumerate(hs):
            if not isinstance(h, DistortionFunction):
                raise ModelError(f"{field}[{i}]", h, "a distortion function")
            check_distortion(h, normalised=True, field=f"{field}[{i}]")
            if not is_convex(h):
                raise ModelError(f"{field}[{i}]", h.describe(), "a convex (risk-seeking) distortion",
                                 detail="Theorem 3 is stated for convex h_i")
        self.hs, self.side = hs, side
        if side == "nonnegative":
            self.inner = inf_convolution(hs, field)
        else:
            self.inner = sup_convolution([h.dual() for h in hs], field)
        self._top = float(self.inner(1.0)) if side == "nonpositive" else 0.0

    def __call__(self, t: np.ndarray | float) -> np.ndarray:
        t = np.asarray(t, float)
        if self.side == "nonnegative":
            return self.inner(t)
        return self._top - self.inner(1.0 - t)

    def G(self, t: np.ndarray | float) -> np.ndarray:  # noqa: N802 - the paper's name
        """The sup-convolution of the duals ``G = ⊞ h~_i`` (case ``X <= 0``)."""
        if self.side != "nonpositive":
            raise ModelError("side", self.side, "'nonpositive' for G")
        return self.inner(t)

    def split(self, t: np.ndarray | float) -> np.ndarray:
        """Jackpot split ``f_i(t)`` (case X >= 0: minimisers of sum h_i; X <= 0: maximisers of
        sum h~_i), shape ``(n, len(t))``."""
        return self.inner.split(t)

    def describe(self) -> str:
        return f"h~[{self.side}](" + ", ".join(h.describe() for h in self.hs) + ")"


def representative(hs: Sequence[DistortionFunction], side: Side, field: str = "h") -> Representative:
    """``h~`` of Theorem 3 for convex ``h_i`` and ``X >= 0`` (``"nonnegative"``) or ``X <= 0``."""
    return Representative(hs, side, field)
