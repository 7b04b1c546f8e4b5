"""Newton polish of the KKT system of max-min entropic risk sharing over the atom-level menu K.

The program ``max sum_i t_i`` s.t. ``t_i <= CE_{iv}(xi_i)`` for every vertex ``v`` of player ``i``'s
credal set (multipliers ``beta_iv >= 0``), ``sum_i xi_is = X_s`` (``psi_s``), ``xi_is <= 0`` and
``xi_is = 0`` where ``X_s = 0`` is not differentiable in ``xi`` (a minimum over vertices), so
riskopt's general polish does not apply and conic solvers often stop at ``optimal_inaccurate``.
Given the conic point, the active set is read off (vertex rows with a positive multiplier or no
slack, sign rows at zero) and Newton's method is run on the smooth equality system

    sum_v beta_iv Q^{iv}_s - psi_s = 0   (free xi_is),      sum_v beta_iv = 1,
    sum_i xi_is = X_s,                                       CE_iv(xi_i) - t_i = 0  (active v),

with ``Q^{iv}`` the Esscher tilt of vertex ``v`` at ``xi_i``. The result replaces the conic point only
if the residual falls and the active set is confirmed: ``beta >= 0``, inactive vertex rows slack,
free entries ``<= 0``, and the sign multipliers ``rho_is = sum_v beta_iv Q^{iv}_s - psi_s >= 0``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import logsumexp

__all__ = ["MAX_UNKNOWNS", "KKTPolish", "polish_maxmin"]

#: dense Newton systems up to this many unknowns
MAX_UNKNOWNS = 3000


@dataclass(frozen=True)
class KKTPolish:
    """Outcome: ``applied`` and why, the polished point, residuals before and after."""

    applied: bool
    reason: str
    xi: np.ndarray | None = None
    t: np.ndarray | None = None
    psi: np.ndarray | None = None
    beta: list[np.ndarray] | None = None
    residual_before: float | None = None
    residual_after: float | None = None
    iterations: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"applied": self.applied, "reason": self.reason, "iterations": self.iterations,
                "residual_before": self.residual_before, "residual_after": self.residual_after}


class _System:
    """The active-set KKT equations and their Jacobian."""

    def __init__(self, X: np.ndarray, laws: Sequence[np.ndarray], gammas: np.ndarray, free: np.ndarray,
                 active: list[np.ndarray]):
        self.X, self.gammas, self.free, self.active = X, gammas, free, active
        with np.errstate(divide="ignore"):
            self.logq = [np.log(q[a]) for q, a in zip(laws, active, strict=True)]
        self.n, self.S = free.shape
        self.rows = np.flatnonzero(X != 0)
        self.nf = int(free.sum())
        self.na = sum(int(a.size) for a in active)
        self.size = self.nf + self.n + self.rows.size + self.na

    def split(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]:
        nf, n, m = self.nf, self.n, self.rows.size
        xi = np.zeros((self.n, self.S))
        xi[self.free] = z[:nf]
        t = z[nf:nf + n]
        psi = np.zeros(self.S)
        psi[self.rows] = z[nf + n:nf + n + m]
        betas, pos = [], nf + n + m
        for a in self.active:
            betas.append(z[pos:pos + a.size])
            pos += a.size
        return xi, t, psi, betas

    def tilts(self, xi: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        out = []
        for i in range(self.n):
            z = self.logq[i] - self.gammas[i] * xi[i][None, :]
            lse = logsumexp(z, axis=1)
            out.append((np.exp(z - lse[:, None]), -lse / self.gammas[i]))
        return out

    def residual(self, z: np.ndarray) -> np.ndarray:
        xi, t, psi, betas = self.split(z)
        tilts = self.tilts(xi)
        station = np.zeros((self.n, self.S))
        for i, (Q, _) in enumerate(tilts):
            station[i] = betas[i] @ Q - psi
        parts = [station[self.free], np.array([1.0 - b.sum() for b in betas]),
                 xi[:, self.rows].sum(axis=0) - self.X[self.rows],
                 np.concatenate([ce - t[i] for i, (_, ce) in enumerate(tilts)])]
        return np.concatenate(parts)

    def jacobian(self, z: np.ndarray) -> np.ndarray:
        xi, _, _, betas = self.split(z)
        tilts = self.tilts(xi)
        nf, n, m = self.nf, self.n, self.rows.size
        J = np.zeros((self.size, self.size))
        var = -np.ones((self.n, self.S), int)
        var[self.free] = np.arange(nf)                     # unknown index of every free xi entry
        eq = var.copy()                                    # stationarity rows share that numbering
        row_of_state = -np.ones(self.S, int)
        row_of_state[self.rows] = np.arange(m)
        pos_beta = nf + n + m
        r_vertex = nf + n + m
        for i, (Q, _) in enumerate(tilts):
            g = self.gammas[i]
            fi = np.flatnonzero(self.free[i])
            # d(sum_v beta_v Q_v)/d xi = -g sum_v beta_v (diag Q_v - Q_v Q_v')
            H = np.zeros((self.S, self.S))
            for b, q in zip(betas[i], Q, strict=True):
                H -= g * b * (np.diag(q) - np.outer(q, q))
            J[np.ix_(eq[i, fi], var[i, fi])] = H[np.ix_(fi, fi)]
            for k, q in enumerate(Q):
                J[eq[i, fi], pos_beta + k] = q[fi]                       # d station / d beta
                J[nf + i, pos_beta + k] = -1.0                           # d (1 - sum beta) / d beta
                J[r_vertex + k, var[i, fi]] = q[fi]                      # d CE_v / d xi
                J[r_vertex + k, nf + i] = -1.0                           # d CE_v / d t
            keep = row_of_state[fi] >= 0
            J[eq[i, fi[keep]], nf + n + row_of_state[fi[keep]]] = -1.0   # d station / d psi
            J[nf + n + row_of_state[fi[keep]], var[i, fi[keep]]] = 1.0   # budget
            pos_beta += Q.shape[0]
            r_vertex += Q.shape[0]
        return J


def polish_maxmin(X: np.ndarray, laws: Sequence[np.ndarray], gammas: np.ndarray, xi: np.ndarray,
                  t: np.ndarray, psi: np.ndarray, beta: Sequence[np.ndarray], *, max_iter: int = 40
                  ) -> KKTPolish:
    """Polish a conic solution of the max-min program over K (module docstring)."""
    X = np.asarray(X, float)
    scale = max(1.0, float(np.abs(X).max()))
    free = (xi < -1e-7 * scale) & (X != 0)[None, :]
    active = []
    for i, (q, b) in enumerate(zip(laws, beta, strict=True)):
        ce = -logsumexp(np.log(q) - gammas[i] * xi[i][None, :], axis=1) / gammas[i]
        on = np.flatnonzero((np.asarray(b) > 1e-7) | (ce - t[i] < 1e-9 * scale))
        active.append(on if on.size else np.array([int(np.argmin(ce))]))
    system = _System(X, laws, np.asarray(gammas, float), free, active)
    if system.size > MAX_UNKNOWNS:
        return KKTPolish(False, f"{system.size} unknowns exceed the dense limit {MAX_UNKNOWNS}")
    z = np.concatenate([xi[free], t, psi[system.rows]] +
                       [np.asarray(b, float)[a] for b, a in zip(beta, active, strict=True)])
    r = system.residual(z)
    r0 = norm = float(np.abs(r).max())
    if r0 <= 1e-14 * scale:
        return KKTPolish(False, "the conic point already solves the KKT system to rounding",
                         residual_before=r0, residual_after=r0)
    it = 0
    while norm > 1e-14 * scale and it < max_iter:
        it += 1
        J = system.jacobian(z)
        try:
            d = np.linalg.solve(J, -r)
        except np.linalg.LinAlgError:
            d = np.linalg.lstsq(J, -r, rcond=None)[0]
        step, accepted = 1.0, False
        for _ in range(30):
            trial = z + step * d
            rt = system.residual(trial)
            nt = float(np.abs(rt).max())
            if np.isfinite(nt) and nt < norm:
                z, r, norm, accepted = trial, rt, nt, True
                break
            step *= 0.5
        if not accepted:
            break
    if not norm < r0:
        return KKTPolish(False, "the KKT residual did not fall (conic point kept)", residual_before=r0,
                         residual_after=norm, iterations=it)
    xi_p, t_p, psi_p, betas = system.split(z)
    tilts = system.tilts(xi_p)
    tol = 1e-9 * scale
    for i, q in enumerate(laws):
        ce_all = -logsumexp(np.log(q) - gammas[i] * xi_p[i][None, :], axis=1) / gammas[i]
        rho = betas[i] @ tilts[i][0] - psi_p
        if (np.any(betas[i] < -tol) or np.any(ce_all - t_p[i] < -tol)
                or np.any(xi_p[i][free[i]] > tol) or np.any(rho[~free[i] & (X != 0)] < -tol)):
            return KKTPolish(False, "the Newton point leaves the conic active set (conic point kept)",
                             residual_before=r0, residual_after=norm, iterations=it)
    full_beta = []
    for b, a, value in zip(beta, active, betas, strict=True):
        out = np.zeros(np.asarray(b).size)
        out[a] = value
        full_beta.append(out)
    return KKTPolish(True, "polished", xi_p, t_p, psi_p, full_beta, r0, norm, it)
