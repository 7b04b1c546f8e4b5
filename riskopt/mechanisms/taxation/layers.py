"""The Pareto-optimal taxation rule for given weights: KKT layers, ``s(u)``, ``Lambda(s)``, moments.

For log-weights ``a_i = ln alpha_i`` and a level ``u = ln Lambda``, region ``i`` pays
``T_i(u) = clip(phi_i^{-1}(u - a_i), 0, c_i)``: nothing below its entry level
``u0_i = a_i + phi_i(0)``, its cap above ``u1_i = a_i + phi_i(c_i)``. The total
``s(u) = sum_i T_i(u)`` is continuous and nondecreasing with at most ``2n`` kinks; ``Lambda(s)`` is
its generalised inverse and ``T_i(s) = T_i(Lambda(s))``.

:func:`layers` sorts the ``2n`` kinks and evaluates ``s`` there. Between two kinks the set ``A`` of
interior regions is fixed; for linear-share families (exponential, power with one exponent) every
``T_i`` is then *linear in s* with slope ``r_i / R_A`` (``R_A = sum_A r_j``), so the rule is exact
for any ``s``, ``s`` grows by ``R_A`` times the step of ``psi`` between kinks (O(n) work), and the
moments of the rule under a law of ``S_eps`` need only the mass ``P_j`` and first moment
``D_j = E[(S - s_j) 1_j]`` of each segment (:func:`moments`, O(N) for N atoms plus O(n) prefix sums):

* ``E[T_i] = sum_j [T_i(s_j) P_j + (r_i / R_j) D_j 1{i in A_j}]``;
* ``dE[T]/da = sum_j m_j [r_A r_A' / R_j - diag(r_A)]`` (``m_j = E[dpsi/du 1_j]``): the exact
  Jacobian, symmetric negative semidefinite with ``1`` in its kernel;
* ``E[g(S; a)]`` with ``g(s) = int_0^s U(sigma) dsigma`` the optimal value of the per-scenario
  problem ``min sum_i Psi_i(T_i) + a_i T_i`` (the convex potential ``F`` of the paper).

Other families invert ``s(u)`` by safeguarded Newton/bisection inside each segment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import numpy as np

from .disutility import LinearShareFamily, TaxFamily
from .law import ResidualLaw, nodes

__all__ = ["Moments", "TaxLayers", "layers", "moments"]


@dataclass(frozen=True)
class _Linear:
    """A linear-share rule: shares ``r``, active share sums ``R``, ``psi`` at the kinks, intercepts ``A``."""

    family: LinearShareFamily
    r: np.ndarray
    R: np.ndarray
    psi: np.ndarray
    A: np.ndarray


@dataclass(frozen=True)
class TaxLayers:
    """The rule for log-weights ``a``: kinks ``u`` (sorted) and ``s = s(u)`` there.

    ``entry_rank[i]`` / ``cap_rank[i]`` locate region i's entry and cap among the kinks; segment ``j``
    runs from kink ``j`` to kink ``j + 1`` and region ``i`` is interior on it iff
    ``entry_rank[i] <= j < cap_rank[i]``. For linear-share families ``r`` (shares), ``A``
    (intercepts: unclipped ``T_i = A_i + r_i psi(u)``), ``psi`` at the kinks and ``R`` (sum of the
    active shares per segment) describe the rule completely; :attr:`T` (the ``n x 2n`` table of taxes
    at the kinks) is only formed on request.
    """

    family: TaxFamily
    a: np.ndarray
    u: np.ndarray
    s: np.ndarray
    entry: np.ndarray
    cap: np.ndarray
    entry_rank: np.ndarray
    cap_rank: np.ndarray
    r: np.ndarray | None = None
    ref: float = 0.0
    R: np.ndarray | None = None
    psi: np.ndarray | None = field(default=None, repr=False)
    A: np.ndarray | None = field(default=None, repr=False)
    kink_taxes: np.ndarray | None = field(default=None, repr=False)

    @property
    def T(self) -> np.ndarray:  # noqa: N802 - the paper's notation
        """Taxes of every region at every kink, ``(n, 2n)``."""
        if self.kink_taxes is not None:
            return self.kink_taxes
        return _kink_table(self.family, self.a, self.u, self.entry_rank, self.cap_rank)

    @property
    def n(self) -> int:
        return self.a.size

    @property
    def linear(self) -> _Linear | None:
        """The linear-share description of the rule (``None`` for other families)."""
        fam = self.family
        if (self.r is None or self.R is None or self.psi is None or self.A is None
                or not isinstance(fam, LinearShareFamily)):
            return None
        return _Linear(fam, self.r, self.R, self.psi, self.A)

    @property
    def layer_start(self) -> np.ndarray:
        """``C_i = s(u0_i)``: the residual-claim level at which region i starts paying."""
        return cast("np.ndarray", self.s[self.entry_rank])

    @property
    def cap_start(self) -> np.ndarray:
        """The residual-claim level at which region i reaches its cap."""
        return cast("np.ndarray", self.s[self.cap_rank])

    @property
    def entry_lambda(self) -> np.ndarray:
        """``lambda_i = alpha_i v_i'(0)`` in the family's convention (alpha unnormalised)."""
        return cast("np.ndarray", np.exp(self.entry))

    def active(self) -> np.ndarray:
        """``(n, 2n - 1)`` mask: region i interior on segment j."""
        j = np.arange(self.u.size - 1)
        return (j[None, :] >= self.entry_rank[:, None]) & (j[None, :] < self.cap_rank[:, None])

    def segment_of(self, x: np.ndarray) -> np.ndarray:
        """Segment index of each ``x`` (``s_j < x <= s_{j+1}``); -1 at or below 0, ``2n - 1`` above."""
        j = np.searchsorted(self.s, x, side="left") - 1
        return np.minimum(j, self.s.size - 1)

    def log_lambda(self, x: np.ndarray) -> np.ndarray:
        """``u = ln Lambda(s)`` (the smallest level reaching ``s``; ``Lambda(0) = min_i lambda_i``)."""
        x = np.asarray(x, float)
        j = self.segment_of(x)
        out = np.empty(x.shape)
        low, top = j < 0, j >= self.s.size - 1
        out[low] = self.u[0]
        out[top] = self.u[-1]
        mid = ~(low | top)
        if mid.any():
            jm = j[mid]
            lin = self.linear
            if lin is not None:
                R = lin.R[jm]
                psi = lin.psi[jm] + np.where(R > 0, (x[mid] - self.s[jm]) / np.where(R > 0, R, 1.0), 0.0)
                out[mid] = lin.family.u_of_psi(psi, self.ref)
            else:
                out[mid] = _invert(self, x[mid], jm)
        return out

    def lam(self, x: np.ndarray) -> np.ndarray:
        """``Lambda(s)`` in the family's convention (weights ``exp(a)``)."""
        return cast("np.ndarray", np.exp(self.log_lambda(x)))

    def taxes(self, x: np.ndarray) -> np.ndarray:
        """``T_i(s)`` for every region (rows) and every ``s`` in ``x`` (columns)."""
        x = np.atleast_1d(np.asarray(x, float))
        lin = self.linear
        if lin is None:
            out = self.family.taxes(self.log_lambda(x), self.a)
            out[:, x <= 0] = 0.0
            return out
        # unclipped T_i(u) = A_i + r_i psi(u) with psi(s) linear on each segment, then the caps
        j = self.segment_of(x)
        nseg = self.s.size - 1
        jc = np.clip(j, 0, nseg - 1)
        R = lin.R[jc]
        psi = lin.psi[jc] + np.where(R > 0, (x - self.s[jc]) / np.where(R > 0, R, 1.0), 0.0)
        A = lin.family.intercepts(self.a, self.ref)
        out = np.multiply.outer(lin.r, psi)
        out += A[:, None]
        np.clip(out, 0.0, self.family.caps[:, None], out=out)
        out[:, j < 0] = 0.0
        out[:, j >= nseg] = self.family.caps[:, None]
        return cast("np.ndarray", out)

    def curve(self, points: int = 400) -> dict[str, np.ndarray]:
        """The parametric curves of the paper's Figure 5: ``lambda -> s(lambda)`` and every
        ``T_i(lambda)`` on a grid of levels around the kinks, plus the kinks themselves."""
        lo, hi = self.u[0], self.u[-1]
        pad = 0.1 * max(hi - lo, 1e-3)
        grid = np.unique(np.concatenate([np.linspace(lo - pad, hi + pad, points), self.u]))
        T = self.family.taxes(grid, self.a)
        return {"log_lambda": grid, "lambda": np.exp(grid), "s": T.sum(axis=0), "T": T,
                "kink_log_lambda": self.u, "kink_s": self.s}


def _kink_table(family: TaxFamily, a: np.ndarray, u: np.ndarray, e: np.ndarray, f: np.ndarray) -> np.ndarray:
    T = family.taxes(u, a)
    idx = np.arange(family.n)
    T[idx, e] = 0.0  # exact at a region's own kinks (rounding in phi^{-1}(phi(0)))
    T[idx, f] = family.caps
    return T


def layers(family: TaxFamily, a: np.ndarray) -> TaxLayers:
    """Sort the ``2n`` entry/cap levels and evaluate ``s`` there.

    Linear-share families: ``s`` grows by ``R_j (psi_{j+1} - psi_j)`` on segment ``j`` (O(n), summed
    in extended precision); other families evaluate every ``T_i`` at every kink.
    """
    a = np.asarray(a, float)
    n = family.n
    u0 = family.entry_levels(a)
    u1 = family.cap_levels(a)
    kinks = np.concatenate([u0, u1])
    order = np.argsort(kinks, kind="stable")
    u = kinks[order]
    rank = np.empty(2 * n, int)
    rank[order] = np.arange(2 * n)
    e, f = rank[:n], rank[n:]
    if not isinstance(family, LinearShareFamily):
        T = _kink_table(family, a, u, e, f)
        s = np.maximum.accumulate(T.sum(axis=0))
        s[0] = 0.0
        return TaxLayers(family, a, u, s, u0, u1, e, f, kink_taxes=T)
    r, ref = family.shares(a)
    diff = np.zeros(2 * n, dtype=np.longdouble)
    np.add.at(diff, e, r)
    np.add.at(diff, f, -r)
    count = np.zeros(2 * n, int)
    np.add.at(count, e, 1)
    np.add.at(count, f, -1)
    R = np.asarray(np.cumsum(diff)[:-1], float)
    R[np.cumsum(count)[:-1] <= 0] = 0.0
    R = np.maximum(R, 0.0)
    psi = family.psi_of_u(u, ref)
    steps = np.where(R > 0, R * np.diff(psi), 0.0)
    s = np.concatenate([[0.0], np.asarray(np.cumsum(steps, dtype=np.longdouble), float)])
    s = np.maximum.accumulate(s)
    A = family.intercepts(a, ref)
    return TaxLayers(family, a, u, s, u0, u1, e, f, r, ref, R, psi, A)


def _invert(lay: TaxLayers, x: np.ndarray, j: np.ndarray) -> np.ndarray:
    """``u`` with ``s(u) = x`` inside segment ``j`` (safeguarded Newton, then bisection)."""
    fam, a = lay.family, lay.a
    lo, hi = lay.u[j].copy(), lay.u[j + 1].copy()
    slo, shi = lay.s[j], lay.s[j + 1]
    width = np.where(shi > slo, shi - slo, 1.0)
    u = lo + (hi - lo) * np.clip((x - slo) / width, 0.0, 1.0)
    live = np.ones(x.shape, bool)
    for _ in range(100):
        T = fam.taxes(u, a)
        g = T.sum(axis=0) - x
        lo = np.where(g < 0, u, lo)
        hi = np.where(g > 0, u, hi)
        slope = fam.slopes_at(T).sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = u - g / slope
        ok = np.isfinite(newton) & (newton >= lo) & (newton <= hi)
        u_new = np.where(ok, newton, 0.5 * (lo + hi))
        scale = np.maximum(1.0, np.abs(u))
        live &= (np.abs(g) > 1e-15 * (1.0 + x)) & (hi - lo > 1e-15 * scale)
        moved = np.abs(u_new - u) > 0
        u = np.where(live, u_new, u)
        live &= moved
        if not live.any():
            break
    return cast("np.ndarray", u)


@dataclass(frozen=True)
class Moments:
    """``E[T]`` (n), the Jacobian ``dE[T]/da`` (n x n, optional) and ``E[g(S; a)]`` (optional)."""

    expected_tax: np.ndarray
    jacobian: np.ndarray | None = None
    expected_value: float | None = None


def moments(lay: TaxLayers, law: ResidualLaw, *, jacobian: bool = True, value: bool = False) -> Moments:
    """Exact moments of the rule ``lay`` under ``law`` (see the module docstring)."""
    lin = lay.linear
    if lin is None:
        return _generic_moments(lay, law, jacobian=jacobian, value=value)
    fam = lin.family
    n = lay.n
    nseg = lay.s.size - 1
    x, w = nodes(law, lay.s)
    j = lay.segment_of(x)
    top = j >= nseg
    jj = np.clip(j, 0, nseg - 1)
    P = np.bincount(jj[~top], weights=w[~top], minlength=nseg)
    D = np.bincount(jj[~top], weights=(w * (x - lay.s[jj]))[~top], minlength=nseg)
    p_top = float(w[top].sum())
    R = lin.R
    pos = R > 0
    DR = np.where(pos, D / np.where(pos, R, 1.0), 0.0)
    # E[T_i] = c_i P(capped) + sum over i's interior segments of (A_i + r_i psi_j) P_j + r_i D_j / R_j,
    # with prefix sums over segments in extended precision (A_i and r_i psi_j may nearly cancel)
    e, f = lay.entry_rank, lay.cap_rank
    cP = np.concatenate([[0.0], np.cumsum(P, dtype=np.longdouble)])
    cPpsi = np.concatenate([[0.0], np.cumsum(P * lin.psi[:nseg], dtype=np.longdouble)])
    cDR = np.concatenate([[0.0], np.cumsum(DR, dtype=np.longdouble)])
    inside = (lin.A * (cP[f] - cP[e]) + lin.r * (cPpsi[f] - cPpsi[e]) + lin.r * (cDR[f] - cDR[e]))
    ET = np.asarray(inside + fam.caps * (cP[-1] - cP[f]), float) + fam.caps * p_top
    J = None
    if jacobian:
        with np.errstate(divide="ignore", invalid="ignore"):
            mean_psi = lin.psi[:nseg] + np.where(P > 0, DR / np.where(P > 0, P, 1.0), 0.0)
        m = np.where(P > 0, fam.dpsi_du(mean_psi) * P, 0.0)
        MR = np.where(pos, m / np.where(pos, R, 1.0), 0.0)
        cum_mr = np.asarray(np.concatenate([[0.0], np.cumsum(MR, dtype=np.longdouble)]), float)
        cum_m = np.concatenate([[0.0], np.cumsum(m, dtype=np.longdouble)])
        both = cum_mr[np.minimum.outer(f, f)]
        both -= cum_mr[np.maximum.outer(e, e)]
        np.maximum(both, 0.0, out=both)
        both *= lin.r[:, None]
        both *= lin.r[None, :]
        J = both
        J[np.diag_indices(n)] -= lin.r * np.asarray(cum_m[f] - cum_m[e], float)
    G = None
    if value:
        seg_int = np.where(pos, fam.u_integral(lin.psi[:-1], lin.psi[1:], R, lay.ref), 0.0)
        Gk = np.concatenate([[0.0], np.cumsum(seg_int)])
        psi_x = lin.psi[jj] + np.where(pos[jj], (x - lay.s[jj]) / np.where(pos[jj], R[jj], 1.0), 0.0)
        part = np.where(pos[jj], fam.u_integral(lin.psi[jj], psi_x, R[jj], lay.ref), 0.0)
        g = np.where(top, Gk[-1], Gk[jj] + part)
        G = float(w @ g)
    return Moments(ET, J, G)


def _generic_moments(lay: TaxLayers, law: ResidualLaw, *, jacobian: bool, value: bool) -> Moments:
    fam = lay.family
    x, w = nodes(law, lay.s)
    u = lay.log_lambda(x)
    T = fam.taxes(u, lay.a)
    ET = T @ w
    J = None
    if jacobian:
        q = fam.slopes_at(T)
        Q = q.sum(axis=0)
        scale = np.where(Q > 0, w / np.where(Q > 0, Q, 1.0), 0.0)
        J = (q * scale) @ q.T
        J[np.diag_indices(lay.n)] -= q @ w
    G = None
    if value:
        G = float(w @ (fam.psi(T) + lay.a[:, None] * T).sum(axis=0))
    return Moments(ET, J, G)
