"""Disutilities of taxation in log-marginal form, vectorised over regions.

Region ``i`` pays a tax ``t`` in ``[0, c_i]`` after a prior payment (its premium). A *family* holds
the ``n`` regions' disutilities ``v_i`` of the tax and exposes what the taxation rule needs:

* ``phi_i(t) = ln v_i'(t)`` (increasing) and the clipped inverse ``T_i(u; a_i) = clip(phi_i^{-1}(u -
  a_i), 0, c_i)`` (the KKT layer of the paper in log form, ``a_i = ln alpha_i``, ``u = ln Lambda``);
* ``dT_i/du = 1 / phi_i'(T_i)`` on the interior;
* ``Psi_i(t) = int_0^t phi_i`` (convex; the AFPO program minimises ``E[sum_i Psi_i(T_i)]``, §9);
* ``v_i(t)`` itself and the cvxpy forms of ``v_i`` and ``Psi_i``.

Arrays carry the region on their first axis (``t`` of shape ``(n,)`` or ``(n, m)``).

Weights ``alpha`` only mean something together with a declared normalisation of ``v_i``
(``family.convention``): the rule ``T`` is invariant to positive rescaling of ``v_i'``.

Families with a *linear-share* structure, ``T_i(u) = A_i + r_i psi(u)`` for one increasing ``psi``
common to all regions, are inverted exactly segment by segment (:mod:`.layers`):

* :class:`ExponentialFamily`, ``v_i'(t) = exp((t + h_i) / g_i)`` (CARA): ``psi(u) = u``, ``r_i = g_i``;
* :class:`PowerFamily`, ``v_i'(t) = kappa_i (B_i - t)^(-eta)`` with ONE exponent ``eta`` (power or
  CRRA utility with a shift): ``psi(u) = -exp((ref - u) / eta)``, ``r_i = exp((ln kappa_i + a_i -
  ref) / eta)``.

:class:`UtilityFamily` takes any registered utility function (``riskopt.measures.utility``) with
``v_i(t) = -u_i(c_i - t)``; :class:`StackedFamily` mixes families region by region. Their rules are
found by safeguarded Newton/bisection on ``u``.

*Payment disutilities* (:class:`ExponentialPayments`, :class:`PowerPayments`,
:class:`UtilityPayments`) say how a region values its total payment ``l`` (premium + tax, or its
own loss); :func:`taxation_family` gives the taxation family given what was already paid.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, cast

import cvxpy as cp
import numpy as np

from ...checks import positive, real_array
from ...errors import ModelError
from ...measures.utility import CARA, CRRA, UtilityFunction, utility_function

__all__ = ["ExponentialFamily", "ExponentialPayments", "PaymentDisutility", "PowerFamily",
           "PowerPayments", "RegionwisePayments", "StackedFamily", "TaxFamily", "UtilityFamily",
           "UtilityPayments", "payment_disutility", "regionwise", "taxation_family"]

_GL_X, _GL_W = np.polynomial.legendre.leggauss(16)


def _col(p: np.ndarray, like: Any) -> np.ndarray:
    """A per-region parameter shaped to broadcast against ``like`` (region axis first)."""
    nd = np.ndim(like)
    return p.reshape(p.shape + (1,) * max(nd - 1, 0))


def _region_array(name: str, value: Any, n: int, *, positive_only: bool = False) -> np.ndarray:
    given = real_array(name, value, f"a number, or one per region ({n})")
    if given.ndim > 1 or given.size not in (1, n):
        raise ModelError(name, value, f"a number, or one per region ({n})")
    arr = np.broadcast_to(given.ravel(), (n,)).astype(float)
    bad = ~np.isfinite(arr) | ((arr <= 0) if positive_only else np.zeros(n, bool))
    if bad.any():
        k = int(np.argmax(bad))
        raise ModelError(f"{name}[{k}]", float(arr[k]), "a finite number > 0" if positive_only
                         else "a finite number")
    return arr


class TaxFamily:
    """Base class: ``n`` regions with tax-bearing capacities ``caps``."""

    linear_share: ClassVar[bool] = False
    convention: str = ""

    def __init__(self, caps: Any):
        c = np.atleast_1d(real_array("caps", caps, "one capacity per region"))
        if c.ndim != 1 or c.size == 0:
            raise ModelError("caps", caps, "one capacity per region")
        bad = ~np.isfinite(c) | (c <= 0)
        if bad.any():
            k = int(np.argmax(bad))
            raise ModelError(f"caps[{k}]", float(c[k]), "a tax-bearing capacity w_i - pi_i > 0")
        self.caps = c

    @property
    def n(self) -> int:
        return self.caps.size

    # -- to implement -----------------------------------------------------------------
    def phi(self, t: np.ndarray) -> np.ndarray:
        """``ln v_i'(t)``."""
        raise NotImplementedError

    def taxes(self, u: Any, a: np.ndarray) -> np.ndarray:
        """``T_i(u) = clip(phi_i^{-1}(u - a_i), 0, c_i)`` for levels ``u`` (scalar or ``(m,)``)."""
        raise NotImplementedError

    def dtdu(self, t: np.ndarray) -> np.ndarray:
        """``dT_i/du = 1 / phi_i'(t)`` at interior taxes ``t``."""
        raise NotImplementedError

    def psi(self, t: np.ndarray) -> np.ndarray:
        """``Psi_i(t) = int_0^t phi_i(y) dy``."""
        raise NotImplementedError

    def value(self, t: np.ndarray) -> np.ndarray:
        """``v_i(t)`` in the family's convention."""
        raise NotImplementedError

    def cvx_value(self, T: cp.Expression) -> cp.Expression:
        """Convex cvxpy form of ``v_i(T[i, k])`` (shape of ``T``)."""
        raise NotImplementedError

    def cvx_psi(self, T: cp.Expression) -> cp.Expression:
        raise ModelError("disutility", type(self).__name__, "exponential (CARA) or power/CRRA "
                         "disutilities for the AFPO program", detail="Psi_i has no cvxpy form here")

    def subset(self, index: np.ndarray) -> TaxFamily:
        raise NotImplementedError

    # -- shared -----------------------------------------------------------------------
    def entry_levels(self, a: np.ndarray) -> np.ndarray:
        """``u0_i = a_i + phi_i(0) = ln lambda_i``: region i starts paying above this level."""
        return cast("np.ndarray", a + self.phi(np.zeros(self.n)))

    def cap_levels(self, a: np.ndarray) -> np.ndarray:
        """``u1_i = a_i + phi_i(c_i) = ln lambda_i^max``: region i pays its cap above this level."""
        return cast("np.ndarray", a + self.phi(self.caps.copy()))

    def slopes_at(self, t: np.ndarray) -> np.ndarray:
        """``dT_i/du`` at taxes ``t`` (0 where region i is not interior)."""
        c = _col(self.caps, t)
        inside = (t > 0) & (t < c)
        out = np.zeros_like(t)
        if inside.any():
            full = self.dtdu(np.where(inside, t, 0.5 * c))
            out[inside] = full[inside]
        return out


class LinearShareFamily(TaxFamily):
    """A family with ``T_i(u) = A_i + r_i psi(u)`` (clipped to ``[0, c_i]``) for one increasing
    ``psi`` common to all regions: the rule is linear in ``s`` between its kinks."""

    linear_share = True

    def shares(self, a: np.ndarray) -> tuple[np.ndarray, float]:
        """``r_i`` and the reference level ``ref`` of ``psi``."""
        raise NotImplementedError

    def intercepts(self, a: np.ndarray, ref: float) -> np.ndarray:
        """``A_i`` with unclipped ``T_i(u) = A_i + r_i psi(u)``."""
        raise NotImplementedError

    def psi_of_u(self, u: Any, ref: float) -> np.ndarray:
        raise NotImplementedError

    def u_of_psi(self, psi: Any, ref: float) -> np.ndarray:
        raise NotImplementedError

    def dpsi_du(self, psi: Any) -> np.ndarray:
        raise NotImplementedError

    def u_integral(self, psi0: Any, psi1: Any, R: Any, ref: float) -> np.ndarray:
        """``int U ds`` over a segment where ``psi`` runs from ``psi0`` to ``psi1`` and ``ds = R dpsi``."""
        raise NotImplementedError


# ------------------------------------------------------------------------------ families
class ExponentialFamily(LinearShareFamily):
    """``v_i(t) = g_i exp((t + h_i) / g_i) + shift_i`` (CARA, risk tolerance ``g_i``).

    ``phi_i(t) = (t + h_i)/g_i``, ``T_i(u) = clip(g_i (u - a_i) - h_i, 0, c_i)``,
    ``Psi_i(t) = (t^2/2 + h_i t)/g_i``. The paper's two-region section uses ``h = 0``; the storm
    study uses ``g = 1``, ``h_i = pi_i`` (``v(l) = e^l`` on total payments ``l = pi_i + t``).
    """

    def __init__(self, tolerance: Any, offset: Any, caps: Any, *, shift: Any = 0.0, convention: str = ""):
        super().__init__(caps)
        n = self.n
        self.g = _region_array("tolerance", tolerance, n, positive_only=True)
        self.h = _region_array("offset", offset, n)
        self.shift = _region_array("shift", shift, n)
        self.convention = convention or "v_i(t) = g_i exp((t + h_i)/g_i)"

    def phi(self, t: np.ndarray) -> np.ndarray:
        return cast("np.ndarray", (t + _col(self.h, t)) / _col(self.g, t))

    def taxes(self, u: Any, a: np.ndarray) -> np.ndarray:
        u = np.asarray(u, float)
        g, h, c, aa = (p.reshape((-1,) + (1,) * u.ndim) for p in (self.g, self.h, self.caps, a))
        return cast("np.ndarray", np.clip(g * (u - aa) - h, 0.0, c))

    def dtdu(self, t: np.ndarray) -> np.ndarray:
        return np.broadcast_to(_col(self.g, t), np.shape(t)).astype(float)

    def psi(self, t: np.ndarray) -> np.ndarray:
        return cast("np.ndarray", (0.5 * t * t + _col(self.h, t) * t) / _col(self.g, t))

    def value(self, t: np.ndarray) -> np.ndarray:
        g = _col(self.g, t)
        return cast("np.ndarray", g * np.exp((t + _col(self.h, t)) / g) + _col(self.shift, t))

    def cvx_value(self, T: Any) -> Any:
        g, h = self.g[:, None], self.h[:, None]
        return cp.multiply(g, cp.exp(cp.multiply(1.0 / g, T) + h / g))

    def cvx_psi(self, T: Any) -> Any:
        g, h = self.g[:, None], self.h[:, None]
        return cp.multiply(0.5 / g, cp.square(T)) + cp.multiply(h / g, T)

    def subset(self, index: np.ndarray) -> TaxFamily:
        return ExponentialFamily(self.g[index], self.h[index], self.caps[index], shift=self.shift[index],
                                 convention=self.convention)

    # linear-share structure: T_i = -g_i a_i - h_i + g_i psi, psi = u
    def shares(self, a: np.ndarray) -> tuple[np.ndarray, float]:
        return self.g, 0.0

    def intercepts(self, a: np.ndarray, ref: float) -> np.ndarray:
        """``A_i`` with unclipped ``T_i(u) = A_i + r_i psi(u)``."""
        return cast("np.ndarray", -self.g * a - self.h)

    def psi_of_u(self, u: Any, ref: float) -> np.ndarray:
        return np.asarray(u, float)

    def u_of_psi(self, psi: Any, ref: float) -> np.ndarray:
        return np.asarray(psi, float)

    def dpsi_du(self, psi: Any) -> np.ndarray:
        return np.ones_like(np.asarray(psi, float))

    def u_integral(self, psi0: Any, psi1: Any, R: Any, ref: float) -> np.ndarray:
        """``int U ds`` over a segment where ``psi`` runs from ``psi0`` to ``psi1`` and
        ``ds = R dpsi``."""
        return cast("np.ndarray", R * (psi1 - psi0) * 0.5 * (psi1 + psi0))


class PowerFamily(LinearShareFamily):
    """``v_i'(t) = kappa_i (B_i - t)^(-eta)`` with one exponent ``eta > 0`` and ``B_i > c_i``.

    ``v_i(t) = kappa_i int_0^t (B_i - y)^(-eta) dy`` (so ``v_i(0) = 0``). Power utility
    ``u(x) = (b + x)^p`` on final wealth gives ``eta = 1 - p``, ``kappa = p``, ``B_i = b_i + c_i``;
    CRRA with shift ``s`` gives ``kappa = 1``, ``B_i = c_i + s``.
    ``phi_i(t) = ln kappa_i - eta ln(B_i - t)``, ``T_i(u) = B_i - exp((ln kappa_i + a_i - u)/eta)``,
    ``Psi_i(t) = t ln kappa_i + eta [Z ln Z - Z - B ln B + B]``, ``Z = B_i - t``.
    """

    def __init__(self, eta: float, B: Any, log_kappa: Any, caps: Any, *, convention: str = ""):
        super().__init__(caps)
        self.eta = positive("eta", eta, "common curvature exponent")
        n = self.n
        self.B = _region_array("B", B, n, positive_only=True)
        self.log_kappa = _region_array("log_kappa", log_kappa, n)
        too_small = self.caps >= self.B
        if too_small.any():
            k = int(np.argmax(too_small))
            raise ModelError(f"shift[{k}]", float(self.B[k] - self.caps[k]), "a shift b > 0 (the marginal "
                             "disutility must stay finite up to the cap)")
        self.convention = convention or "v_i'(t) = kappa_i (B_i - t)^(-eta)"

    def phi(self, t: np.ndarray) -> np.ndarray:
        return cast("np.ndarray", _col(self.log_kappa, t) - self.eta * np.log(_col(self.B, t) - t))

    def taxes(self, u: Any, a: np.ndarray) -> np.ndarray:
        u = np.asarray(u, float)
        B, lk, c, aa = (p.reshape((-1,) + (1,) * u.ndim) for p in (self.B, self.log_kappa, self.caps, a))
        with np.errstate(over="ignore"):
            t = B - np.exp((lk + aa - u) / self.eta)
        return cast("np.ndarray", np.clip(t, 0.0, c))

    def dtdu(self, t: np.ndarray) -> np.ndarray:
        return cast("np.ndarray", (_col(self.B, t) - t) / self.eta)

    def psi(self, t: np.ndarray) -> np.ndarray:
        B = _col(self.B, t)
        Z = B - t
        out = t * _col(self.log_kappa, t) + self.eta * (Z * np.log(Z) - Z - B * np.log(B) + B)
        return cast("np.ndarray", out)

    def value(self, t: np.ndarray) -> np.ndarray:
        B = _col(self.B, t)
        k = np.exp(_col(self.log_kappa, t))
        e = self.eta
        if e == 1.0:
            return cast("np.ndarray", k * (np.log(B) - np.log(B - t)))
        return cast("np.ndarray", k * (B ** (1 - e) - (B - t) ** (1 - e)) / (1 - e))

    def cvx_value(self, T: Any) -> Any:
        B = self.B[:, None]
        k = np.exp(self.log_kappa)[:, None]
        e = self.eta
        if e == 1.0:
            return cp.multiply(k, np.log(B) - cp.log(B - T))
        # power cones (approx=False): cvxpy's default rational exponent is a different disutility
        if e < 1.0:
            return cp.multiply(k / (1 - e), B ** (1 - e) - cp.power(B - T, 1 - e, approx=False))
        return cp.multiply(k / (e - 1), cp.power(B - T, 1 - e, approx=False) - B ** (1 - e))

    def cvx_psi(self, T: Any) -> Any:
        B = self.B[:, None]
        Z = B - T
        const = self.eta * (B - B * np.log(B))
        return cp.multiply(self.log_kappa[:, None], T) + self.eta * (-cp.entr(Z) - Z) + const

    def subset(self, index: np.ndarray) -> TaxFamily:
        return PowerFamily(self.eta, self.B[index], self.log_kappa[index], self.caps[index],
                           convention=self.convention)

    # linear-share structure: T_i = B_i - r_i Z, Z = exp((ref - u)/eta), psi = -Z
    def shares(self, a: np.ndarray) -> tuple[np.ndarray, float]:
        x = self.log_kappa + a
        ref = float(np.max(x))
        return np.exp((x - ref) / self.eta), ref

    def intercepts(self, a: np.ndarray, ref: float) -> np.ndarray:
        return self.B.copy()

    def psi_of_u(self, u: Any, ref: float) -> np.ndarray:
        with np.errstate(over="ignore"):
            return -np.exp((ref - np.asarray(u, float)) / self.eta)

    def u_of_psi(self, psi: Any, ref: float) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return cast("np.ndarray", ref - self.eta * np.log(-np.asarray(psi, float)))

    def dpsi_du(self, psi: Any) -> np.ndarray:
        return -np.asarray(psi, float) / self.eta

    def u_integral(self, psi0: Any, psi1: Any, R: Any, ref: float) -> np.ndarray:
        Z0, Z1 = -np.asarray(psi0, float), -np.asarray(psi1, float)

        def antiderivative(z: np.ndarray) -> np.ndarray:
            return cast("np.ndarray", z * np.log(z) - z)

        out = R * (ref * (Z0 - Z1) + self.eta * (antiderivative(Z1) - antiderivative(Z0)))
        return cast("np.ndarray", out)


class UtilityFamily(TaxFamily):
    """``v_i(t) = -u_i(c_i - t)`` for any registered utility function ``u_i`` (one per region).

    ``phi_i(t) = ln u_i'(c_i - t)``, ``dT/du = -u_i'/u_i''`` (the risk tolerance at ``c_i - t``),
    ``Psi_i`` by 16-point Gauss-Legendre quadrature; the inverse by bisection on ``[0, c_i]``.
    """

    def __init__(self, utilities: Sequence[UtilityFunction], caps: Any, *, convention: str = ""):
        super().__init__(caps)
        us = list(utilities)
        if len(us) != self.n:
            raise ModelError("utilities", f"{len(us)} utilities", f"one per region ({self.n})")
        for i, u in enumerate(us):
            if not isinstance(u, UtilityFunction):
                raise ModelError(f"utilities[{i}]", u, "a riskopt utility function")
            if self.caps[i] <= u.lower and np.isfinite(u.lower):
                raise ModelError(f"utilities[{i}]", u.name, "a utility defined at the final wealth")
            if np.isfinite(u.lower) and u.lower >= 0:
                raise ModelError(f"utilities[{i}]", u.name, "a utility defined at zero final wealth "
                                 "(e.g. CRRA with a shift > 0)")
        self.utilities = us
        self.convention = convention or "v_i(t) = -u_i(c_i - t), v_i'(t) = u_i'(c_i - t)"

    def _each(self, fn: Callable[[UtilityFunction, float, np.ndarray], np.ndarray], t: Any) -> np.ndarray:
        t = np.asarray(t, float)
        out = np.empty(t.shape)
        for i, u in enumerate(self.utilities):
            out[i] = fn(u, self.caps[i], t[i])
        return out

    def phi(self, t: np.ndarray) -> np.ndarray:
        return self._each(lambda u, c, x: np.log(u.derivative(c - x)), t)

    def dtdu(self, t: np.ndarray) -> np.ndarray:
        return self._each(lambda u, c, x: -u.derivative(c - x) / u.second_derivative(c - x), t)

    def taxes(self, u: Any, a: np.ndarray) -> np.ndarray:
        """Safeguarded Newton in ``t`` on ``phi_i(t) = u - a_i`` (bisection when a step leaves the
        bracket), from the linear interpolation of ``phi`` between 0 and ``c_i``."""
        u = np.asarray(u, float)
        y = u[None, ...] - a.reshape((-1,) + (1,) * u.ndim)
        c = np.broadcast_to(self.caps.reshape((-1,) + (1,) * u.ndim), y.shape).astype(float)
        p0 = self.phi(np.zeros(y.shape))
        p1 = self.phi(c)
        below, above = y <= p0, y >= p1
        lo, hi = np.zeros(y.shape), c.copy()
        t = c * np.clip((y - p0) / np.where(p1 > p0, p1 - p0, 1.0), 0.0, 1.0)
        live = ~(below | above)
        for _ in range(100):
            f = self.phi(t) - y
            lo = np.where(f < 0, t, lo)
            hi = np.where(f > 0, t, hi)
            newton = t - f * self.dtdu(t)
            inside = (newton >= lo) & (newton <= hi)
            t_new = np.where(inside, newton, 0.5 * (lo + hi))
            step = np.abs(t_new - t)
            t = np.where(live, t_new, t)
            live &= (step > 1e-15 * (1.0 + c)) & (hi - lo > 1e-15 * (1.0 + c)) & (f != 0)
            if not live.any():
                break
        return np.where(below, 0.0, np.where(above, c, t))

    def psi(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, float)
        nodes = 0.5 * t[..., None] * (_GL_X + 1.0)
        vals = self.phi(nodes.reshape(t.shape[0], -1)).reshape(nodes.shape)
        return 0.5 * t * (vals @ _GL_W)

    def value(self, t: np.ndarray) -> np.ndarray:
        return self._each(lambda u, c, x: -u(c - x), t)

    def cvx_value(self, T: Any) -> Any:
        rows = [cp.reshape(-u.cvx(self.caps[i] - T[i, :]), (1, T.shape[1]), order="C")
                for i, u in enumerate(self.utilities)]
        return cp.vstack(rows)

    def subset(self, index: np.ndarray) -> TaxFamily:
        idx = np.arange(self.n)[index]
        return UtilityFamily([self.utilities[i] for i in idx], self.caps[idx], convention=self.convention)


class StackedFamily(TaxFamily):
    """Regions drawn from several families: ``members[k]`` holds the regions ``groups[k]``."""

    def __init__(self, members: Sequence[TaxFamily], groups: Sequence[np.ndarray]):
        n = sum(len(g) for g in groups)
        order = np.concatenate([np.asarray(g, int) for g in groups])
        if sorted(order.tolist()) != list(range(n)):
            raise ModelError("groups", groups, "a partition of the regions")
        caps = np.empty(n)
        for m, g in zip(members, groups, strict=True):
            caps[np.asarray(g, int)] = m.caps
        super().__init__(caps)
        self.members = list(members)
        self.groups = [np.asarray(g, int) for g in groups]
        self.convention = "; ".join(f"regions {g.tolist()}: {m.convention}"
                                    for m, g in zip(self.members, self.groups, strict=True))

    def _map(self, name: str, t: np.ndarray, *extra: Any) -> np.ndarray:
        t = np.asarray(t, float)
        out = np.empty(t.shape)
        for m, g in zip(self.members, self.groups, strict=True):
            out[g] = getattr(m, name)(t[g], *extra)
        return out

    def phi(self, t: np.ndarray) -> np.ndarray:
        return self._map("phi", t)

    def dtdu(self, t: np.ndarray) -> np.ndarray:
        return self._map("dtdu", t)

    def psi(self, t: np.ndarray) -> np.ndarray:
        return self._map("psi", t)

    def value(self, t: np.ndarray) -> np.ndarray:
        return self._map("value", t)

    def taxes(self, u: Any, a: np.ndarray) -> np.ndarray:
        u = np.asarray(u, float)
        out = np.empty((self.n, *u.shape))
        for m, g in zip(self.members, self.groups, strict=True):
            out[g] = m.taxes(u, a[g])
        return out

    def _cvx(self, name: str, T: Any) -> Any:
        order = np.concatenate(self.groups)
        parts = [getattr(m, name)(T[g, :]) for m, g in zip(self.members, self.groups, strict=True)]
        perm = np.zeros((self.n, self.n))
        perm[order, np.arange(self.n)] = 1.0  # stacked row j belongs to region order[j]
        return perm @ cp.vstack(parts)

    def cvx_value(self, T: Any) -> Any:
        return self._cvx("cvx_value", T)

    def cvx_psi(self, T: Any) -> Any:
        return self._cvx("cvx_psi", T)

    def subset(self, index: np.ndarray) -> TaxFamily:
        idx = np.arange(self.n)[index]
        members, groups = [], []
        for m, g in zip(self.members, self.groups, strict=True):
            keep = np.flatnonzero(np.isin(g, idx))
            if keep.size:
                members.append(m.subset(keep))
                groups.append(np.searchsorted(idx, g[keep]))
        return members[0] if len(members) == 1 else StackedFamily(members, groups)


# -------------------------------------------------------------------- payment disutilities
class PaymentDisutility:
    """How a region values a total payment ``l`` (premium + tax, or its own uninsured loss)."""

    name: ClassVar[str] = ""

    def value(self, pay: np.ndarray, wealth: np.ndarray, *, overwrite: bool = False) -> np.ndarray:
        """``v_i(pay[i, ...])`` (region ``i`` on row ``i``); ``overwrite=True`` may reuse ``pay``."""
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


class ExponentialPayments(PaymentDisutility):
    """``v(l) = g exp(l / g)`` (the paper's storm study: ``g = 1``, ``v(l) = e^l``)."""

    name = "exponential"

    def __init__(self, tolerance: float = 1.0):
        self.tolerance = positive("tolerance", tolerance, "risk tolerance g of v(l) = g exp(l/g)")

    def value(self, pay: Any, wealth: Any, *, overwrite: bool = False) -> np.ndarray:
        x = np.asarray(pay, float)
        g = self.tolerance
        if overwrite and isinstance(pay, np.ndarray) and pay.dtype == float and pay.flags.writeable:
            if g != 1.0:
                x /= g
            np.exp(x, out=x)
            if g != 1.0:
                x *= g
            return x
        return np.exp(x) if g == 1.0 else g * np.exp(x / g)

    def describe(self) -> str:
        return f"v(l) = {self.tolerance:g} exp(l/{self.tolerance:g})"


class PowerPayments(PaymentDisutility):
    """Power utility of final wealth ``u(x) = (b + x)^p``, ``0 < p < 1``, ``b > 0``:
    ``v(l) = -(b + w - l)^p``."""

    name = "power"

    def __init__(self, p: float, shift: float):
        p = positive("p", p, "power exponent in (0, 1)")
        if not p < 1:
            raise ModelError("p", p, "a power exponent in (0, 1)")
        self.p = p
        self.shift = positive("shift", shift, "shift b > 0 of u(x) = (b + x)^p")

    def value(self, pay: Any, wealth: Any, *, overwrite: bool = False) -> np.ndarray:
        out = -(self.shift + _col(np.asarray(wealth, float), pay) - np.asarray(pay, float)) ** self.p
        return cast("np.ndarray", out)

    def describe(self) -> str:
        return f"u(x) = ({self.shift:g} + x)^{self.p:g}, v(l) = -u(w - l)"


class UtilityPayments(PaymentDisutility):
    """``v(l) = -u(w - l)`` for a registered utility function (``"cara"``, ``"crra"``, ...)."""

    name = "utility"

    def __init__(self, utility: str | UtilityFunction, **params: Any):
        self.utility = utility_function(utility, **params)

    def value(self, pay: Any, wealth: Any, *, overwrite: bool = False) -> np.ndarray:
        z = _col(np.asarray(wealth, float), pay) - np.asarray(pay, float)
        return -self.utility(z)

    def describe(self) -> str:
        params = ", ".join(f"{k}={v:g}" for k, v in vars(self.utility).items() if k != "lower")
        return f"v(l) = -u(w - l), u = {self.utility.name}({params})"


class RegionwisePayments(PaymentDisutility):
    """Different payment disutilities per region (row ``i`` of a payment array uses ``members[i]``)."""

    name = "regionwise"

    def __init__(self, members: Sequence[PaymentDisutility]):
        self.members = list(members)

    def value(self, pay: Any, wealth: Any, *, overwrite: bool = False) -> np.ndarray:
        x = np.asarray(pay, float)
        w = np.asarray(wealth, float)
        out = np.empty(x.shape)
        for i, d in enumerate(self.members):
            out[i] = d.value(x[i : i + 1], w[i : i + 1])[0]
        return out

    def describe(self) -> str:
        kinds = dict.fromkeys(d.describe() for d in self.members)
        return "per region: " + "; ".join(kinds)


def regionwise(disutilities: Sequence[PaymentDisutility]) -> PaymentDisutility:
    """One payment disutility for all regions when they share it, else a per-region wrapper."""
    ds = list(disutilities)
    if all(d is ds[0] for d in ds) or all(type(d) is type(ds[0]) and vars(d) == vars(ds[0]) for d in ds):
        return ds[0]
    return RegionwisePayments(ds)


def payment_disutility(name: str, **params: Any) -> PaymentDisutility:
    """``"exponential"`` (``tolerance``), ``"power"`` (``p``, ``shift``) or a registered utility
    function name with its parameters (``"cara"`` with ``gamma``, ``"crra"`` with ``eta, shift``)."""
    if name == "exponential":
        return ExponentialPayments(**params)
    if name == "power":
        return PowerPayments(**params)
    return UtilityPayments(name, **params)


def taxation_family(disutilities: Sequence[PaymentDisutility], paid: Any, caps: Any) -> TaxFamily:
    """The taxation family of regions that already paid ``paid`` and can pay ``caps`` more.

    The tax ``t`` adds to the payment: ``v_i^tax(t) = v_i(paid_i + t)``, so ``phi_i(t) =
    ln v_i'(paid_i + t)``. Regions of one kind share one exact (linear-share) family where possible.
    """
    caps = np.atleast_1d(np.asarray(caps, float))
    paid = np.broadcast_to(np.asarray(paid, float), caps.shape)
    n = caps.size
    ds = list(disutilities)
    if len(ds) != n:
        raise ModelError("disutilities", f"{len(ds)} disutilities", f"one per region ({n})")
    kinds: dict[tuple[Any, ...], list[int]] = {}
    for i, d in enumerate(ds):
        kinds.setdefault(_kind(d), []).append(i)
    members, groups = [], []
    for key, idx in kinds.items():
        idx_a = np.asarray(idx, int)
        members.append(_family_of_kind(key, [ds[i] for i in idx], paid[idx_a], caps[idx_a]))
        groups.append(idx_a)
    if len(members) == 1:
        return members[0]
    return StackedFamily(members, groups)


def _kind(d: PaymentDisutility) -> tuple[Any, ...]:
    if isinstance(d, ExponentialPayments):
        return ("exp",)
    if isinstance(d, PowerPayments):
        return ("pow", 1.0 - d.p)
    if isinstance(d, UtilityPayments):
        if isinstance(d.utility, CARA):
            return ("exp-u",)
        if isinstance(d.utility, CRRA) and d.utility.shift > 0:
            return ("pow-u", d.utility.eta)
        return ("generic",)
    raise ModelError("disutility", d, "a payment disutility (exponential, power or a utility)")


def _family_of_kind(key: tuple[Any, ...], ds: list[PaymentDisutility], paid: np.ndarray,
                    caps: np.ndarray) -> TaxFamily:
    kind = key[0]
    utilities = [d.utility for d in ds if isinstance(d, UtilityPayments)]  # the kinds ending in -u
    if kind == "exp":
        g = np.array([d.tolerance for d in ds if isinstance(d, ExponentialPayments)])
        text = ("v_i(t) = g_i exp(t/g_i)" if not np.any(paid) else "v_i(t) = g_i exp((pi_i + t)/g_i) on the "
                "total payment pi_i + t (pi_i: the premium paid before the tax)")
        return ExponentialFamily(g, paid, caps, convention=text)
    if kind == "exp-u":  # v(t) = -u(c - t) = g exp((t - c)/g) - g
        g = np.array([1.0 / u.gamma for u in utilities if isinstance(u, CARA)])
        return ExponentialFamily(g, -caps, caps, shift=-g, convention="v_i(t) = -u_i(c_i - t), CARA: "
                                 "v_i'(t) = exp(-gamma_i (c_i - t))")
    if kind == "pow":
        b = np.array([d.shift for d in ds if isinstance(d, PowerPayments)])
        return PowerFamily(key[1], b + caps, np.log(1.0 - key[1]), caps,
                           convention="v_i(t) = (b_i + c_i)^p - (b_i + c_i - t)^p, v_i'(t) = p (b_i + c_i "
                           "- t)^(p-1) (power utility of final wealth)")
    if kind == "pow-u":
        s = np.array([u.shift for u in utilities if isinstance(u, CRRA)])
        return PowerFamily(key[1], caps + s, 0.0, caps, convention="v_i(t) = -u_i(c_i - t) + u_i(c_i), "
                           "CRRA: v_i'(t) = (c_i + shift_i - t)^(-eta)")
    return UtilityFamily(utilities, caps)
