"""Newton polish of a KKT point of a smooth sharing program.

Interior-point solvers stop at tolerances around 1e-8, and allocations in weakly curved directions
(atoms of small probability, seed 000 §2.6) are then only accurate to ~1e-5, duals at rare atoms
likewise. Where the objective is a sum of twice-differentiable measures and every constraint is
affine, the solver's answer identifies the active set; the polish then solves

    grad Phi(z) = E' y,   E z + e = 0        (equalities and active inequality rows of the program)

by Newton's method with Levenberg-Marquardt damping (flat directions of the objective, such as the
unpinned constants of a large pool, get no spurious steps). ``Phi`` is the welfare (or minus the
total risk), ``z`` stacks the program's variables and ``y`` are the multipliers in cvxpy's
convention. The result replaces the solver's only if the KKT residual falls, every inactive row
stays feasible and every active inequality keeps a nonnegative multiplier; otherwise the solver's
point stands and the report says why.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sps
import scipy.sparse.linalg as spla
from cvxpy.constraints import Equality, Inequality, Zero

if TYPE_CHECKING:
    from .program import SharingProgram

__all__ = ["PolishReport", "polish"]

#: largest Hessian (nonzeros) polished automatically; larger programs need polish=True
AUTO_MAX_HESSIAN_NNZ = 2_000_000
TARGET = 1e-13


@dataclass(frozen=True)
class PolishReport:
    """What the polish did: ``applied``, ``reason``, residuals before/after, iterations."""

    applied: bool
    reason: str
    iterations: int = 0
    residual_before: float | None = None
    residual_after: float | None = None
    active_inequalities: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class _Rows:
    M: sps.csr_matrix  # rows x nz
    m: np.ndarray      # constant so that g = M z + m
    y: np.ndarray      # solver duals (cvxpy convention)
    eq: np.ndarray     # True for equality rows
    slots: list[tuple[Any, int, int]]  # (constraint, start, stop) to write duals back


def _vec(x: Any) -> np.ndarray:
    return np.ravel(np.asarray(x, float), order="F")


def _layout(program: SharingProgram) -> tuple[list[Any], dict[int, int], int]:
    variables = list(program.problem.variables())
    offsets, pos = {}, 0
    for v in variables:
        offsets[v.id] = pos
        pos += v.size
    return variables, offsets, pos


def _affine_map(expr: Any, offsets: dict[int, int], nz: int,
                z: np.ndarray) -> tuple[sps.csr_matrix, np.ndarray]:
    """``vec(expr) = M z + m`` for an affine expression, from cvxpy's gradients."""
    blocks = []
    for var, g in expr.grad.items():
        G = sps.csr_matrix(g).T.tocoo()  # expr.size x var.size
        blocks.append(sps.csr_matrix((G.data, (G.row, G.col + offsets[var.id])), shape=(expr.size, nz)))
    M = sum(blocks[1:], blocks[0]) if blocks else sps.csr_matrix((expr.size, nz))
    return M, _vec(expr.value) - M @ z


def _rows(program: SharingProgram, offsets: dict[int, int], nz: int, z: np.ndarray) -> _Rows | str:
    Ms, ms, ys, eqs, slots = [], [], [], [], []
    start = 0
    for group in program.groups.values():
        for c in group.constraints:
            if not isinstance(c, (Equality, Zero, Inequality)) or not c.expr.is_affine():
                return f"constraint group '{group.name}' is not affine"
            if c.dual_value is None:
                return f"no dual for constraint group '{group.name}'"
            M, m = _affine_map(c.expr, offsets, nz, z)
            Ms.append(M)
            ms.append(m)
            ys.append(_vec(c.dual_value))
            eqs.append(np.full(m.size, isinstance(c, (Equality, Zero))))
            slots.append((c, start, start + m.size))
            start += m.size
    return _Rows(sps.vstack(Ms).tocsr(), np.concatenate(ms), np.concatenate(ys), np.concatenate(eqs), slots)


def _agent_blocks(T: sps.csr_matrix, n: int, S: int) -> np.ndarray | None:
    """Agent owning each variable when every variable feeds one agent's allocation only (then the
    objective's Hessian is block-diagonal by agent), else ``None``."""
    C = T.tocoo()
    if C.nnz == 0:
        return None
    owner = np.full(T.shape[1], -1)
    agent_of_row = C.row % n  # xi is vectorised column-major: row i + n s belongs to agent i
    owner[C.col] = agent_of_row
    conflict = np.zeros(T.shape[1], bool)
    np.logical_or.at(conflict, C.col, owner[C.col] != agent_of_row)
    if conflict.any() or (owner < 0).any():
        return None
    return owner


def _derivatives(program: SharingProgram, T: sps.csr_matrix, t0: np.ndarray, z: np.ndarray,
               with_hessian: bool) -> tuple[np.ndarray, sps.csr_matrix | None]:
    """The gradient in z and the Hessian in z of ``Phi`` (welfare, or minus total risk)."""
    n, S = program.block.xi.shape
    xi = (T @ z + t0).reshape((n, S), order="F")
    w = np.asarray(program.weights.value, float)
    sign = 1.0 if program.sense == "max" else -1.0
    grad_xi = np.zeros((n, S))
    hess_blocks = []
    for i, agent in enumerate(program.agents):
        m = agent.measure
        # value in the program's orientation; derivatives through U(xi) = -rho(-xi) when needed
        flip = (m.orientation == "utility") != (program.orientation == "utility")
        arg = -xi[i] if flip else xi[i]
        g = m.gradient(arg, program.space)
        grad_xi[i] = sign * w[i] * g
        if with_hessian:
            h = m.hessian(arg, program.space)
            hess_blocks.append(sign * w[i] * (-h if flip else h))
    grad_z = T.T @ _vec(grad_xi)
    if not with_hessian:
        return grad_z, None
    # xi is vectorised column-major: entry (i, s) sits at i + n s
    rows, cols, data = [], [], []
    idx = np.arange(S) * n
    for i, h in enumerate(hess_blocks):
        r, c = np.nonzero(h)
        rows.append(i + idx[r])
        cols.append(i + idx[c])
        data.append(h[r, c])
    H_xi = sps.csr_matrix((np.concatenate(data), (np.concatenate(rows), np.concatenate(cols))),
                          shape=(n * S, n * S))
    return grad_z, (T.T @ H_xi @ T).tocsr()


def polish(program: SharingProgram, *, force: bool = False, max_iter: int = 12,
           max_seconds: float = 30.0) -> PolishReport:
    """Refine the solved program's primal-dual point in place (cvxpy values and duals).

    Gives up (keeping the solver's point) after ``max_seconds``; the report says so.
    """
    deadline = time.perf_counter() + max_seconds
    measures = [a.measure for a in program.agents]
    if not all(m.differentiable for m in measures):
        return PolishReport(False, "not every measure is twice differentiable")
    S = program.block.xi.shape[1]
    hess_nnz = sum(m.hessian_nnz(S) for m in measures)
    if not force and hess_nnz > AUTO_MAX_HESSIAN_NNZ:
        return PolishReport(False, f"Hessian with ~{hess_nnz:,} nonzeros exceeds the automatic limit "
                                   f"{AUTO_MAX_HESSIAN_NNZ:,} (solve(polish=True) forces it)")
    variables, offsets, nz = _layout(program)
    if any(v.value is None for v in variables):
        return PolishReport(False, "no primal values")
    z = np.concatenate([_vec(v.value) for v in variables])
    rows = _rows(program, offsets, nz, z)
    if isinstance(rows, str):
        return PolishReport(False, rows)
    T, t0 = _affine_map(program.block.xi, offsets, nz, z)
    blocks = _agent_blocks(T, len(program.agents), program.block.xi.shape[1])
    g_all = rows.M @ z + rows.m
    scale_y = max(1.0, float(np.max(np.abs(rows.y), initial=0.0)))
    active = rows.eq | (rows.y > 1e-7 * scale_y) | (g_all > -1e-9 * (1 + np.abs(rows.m)))
    y0 = np.where(active, rows.y, 0.0)
    tol_feas = 1e-9 * (1 + np.abs(rows.m))
    inequality = ~rows.eq
    outcome = "Newton did not reduce the KKT residual (solver point kept)"
    best = None
    for _ in range(4):
        if time.perf_counter() > deadline:
            outcome = f"time budget of {max_seconds:g} s exhausted (solver point kept)"
            break
        # active-set loop: release rows whose multiplier turns negative, add rows the Newton point
        # violates (in flat directions, e.g. free cash constants, they bind with multiplier ~0)
        result = _newton(program, T, t0, rows, active, z.copy(), y0[active], max_iter, blocks, deadline)
        if result is None:
            break
        z_new, y_act, iters, r0, r1 = result
        negative = inequality[active] & (y_act < -1e-9 * scale_y)
        violated = inequality & ~active & (rows.M @ z_new + rows.m > tol_feas)
        if negative.any():
            active[np.flatnonzero(active)[negative]] = False
            outcome = "active set did not settle (solver point kept)"
            continue
        if violated.any():
            active |= violated
            outcome = (f"the Newton point kept violating {int(violated.sum())} inactive rows "
                       "(solver point kept)")
            continue
        best = (z_new, y_act, iters, r0, r1)
        break
    if best is None:
        return PolishReport(False, outcome)
    z_new, y_act, iters, r0, r1 = best
    if not r1 < r0:
        return PolishReport(False, "the KKT residual did not fall (solver point kept)", iters, r0, r1)
    y = np.zeros_like(rows.y)
    y[active] = y_act
    pos = 0
    for v in variables:
        v.value = z_new[pos:pos + v.size].reshape(v.shape, order="F")
        pos += v.size
    for c, a, b in rows.slots:
        c.save_dual_value(y[a:b].reshape(c.shape, order="F") if c.shape else y[a])
    return PolishReport(True, "polished", iters, r0, r1, int((active & ~rows.eq).sum()))


def _newton(program: SharingProgram, T: sps.csr_matrix, t0: np.ndarray, rows: _Rows, active: np.ndarray,
            z: np.ndarray, y: np.ndarray, max_iter: int, blocks: np.ndarray | None, deadline: float):
    """Jacobi-scaled, Levenberg-Marquardt-damped Newton on the equality-constrained KKT system.

    Curvatures differ by orders of magnitude (an atom of probability 1e-15 has curvature ~1e-15),
    so the system is scaled symmetrically by ``1/sqrt(|H_jj|)`` and the residual is measured in the
    units of ``z``: ``|r_j| / |H_jj|``, the size of the Newton correction still to be made. That
    is what makes rare atoms' allocations and prices accurate in relative terms.
    """
    E = rows.M[active]
    e = rows.m[active]
    nz = z.size

    def gradient_parts(z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        g, _ = _derivatives(program, T, t0, z, False)
        return g - E.T @ y, E @ z + e

    def size(rd: np.ndarray, rp: np.ndarray, hdiag: np.ndarray) -> float:
        return max(float(np.max(np.abs(rd) / hdiag, initial=0.0)),
                   float(np.max(np.abs(rp), initial=0.0)))

    _, H = _derivatives(program, T, t0, z, True)
    hdiag = _curvature(H)
    rd, rp = gradient_parts(z, y)
    r0 = r = size(rd, rp, hdiag)
    iters = 0
    while iters < max_iter and r > TARGET and time.perf_counter() < deadline:
        iters += 1
        S = sps.diags(1.0 / np.sqrt(hdiag))
        ES = (E @ S).tocsr()
        row = np.maximum(abs(ES).max(axis=1).toarray().ravel(), 1e-300) if E.shape[0] else np.ones(0)
        R = sps.diags(1.0 / row)
        A = (S @ H @ S).tocsc()
        B = (R @ ES).tocsc()
        rhs = -np.concatenate([S @ rd, R @ rp])
        # the scaled Hessian has unit diagonal: a damping of 1e-9 leaves curved directions at full
        # Newton speed and keeps flat ones (cash-constant shifts of a large pool) from drifting
        delta = 1e-9
        improved = False
        while delta <= 1e2 and not improved:
            sol = _solve_kkt(A, B, rhs, delta, blocks)
            if sol is None:
                delta *= 100
                continue
            dz, dy = S @ sol[:nz], R @ sol[nz:]
            t = 1.0
            for _ in range(8):
                rd_t, rp_t = gradient_parts(z + t * dz, y + t * dy)
                r_t = size(rd_t, rp_t, hdiag)
                if r_t < r:
                    z, y, rd, rp, r = z + t * dz, y + t * dy, rd_t, rp_t, r_t
                    improved = True
                    break
                t *= 0.5
            if not improved:
                delta *= 100
        if not improved:
            break
        _, H = _derivatives(program, T, t0, z, True)
        hdiag = _curvature(H)
        r = size(rd, rp, hdiag)
    if not r < r0:
        return None
    return z, y, iters, r0, r


def _solve_kkt(A: sps.csr_matrix, B: sps.csr_matrix, rhs: np.ndarray, delta: float,
               blocks: np.ndarray | None) -> np.ndarray | None:
    """Solve ``[[A - delta I, -B'], [B, -eps I]] [u; v] = rhs``.

    With ``blocks`` (one block label per variable, A block-diagonal by label, e.g. one block per
    agent) each block is eliminated by a batched Cholesky factorisation of ``delta I - A`` and the
    small dense Schur system in ``v`` is solved; otherwise a sparse LU of the whole matrix.
    """
    nz, m = A.shape[0], B.shape[0]
    eps = 1e-14
    if blocks is None:
        K = sps.bmat([[A - delta * sps.identity(nz), -B.T], [B, -eps * sps.identity(m)]], format="csc")
        try:
            sol = spla.spsolve(K, rhs)
        except (RuntimeError, ValueError):
            return None
        return sol if np.all(np.isfinite(sol)) else None
    order = np.argsort(blocks, kind="stable")
    counts = np.bincount(blocks)
    size = int(counts[0])
    if not np.all(counts == size):
        return _solve_kkt(A, B, rhs, delta, None)
    nb = counts.size
    Ap = A[order][:, order].toarray() if nz <= 4000 else None
    if Ap is None:
        Asub = A[order][:, order].tocsr()
        P = np.stack([Asub[b * size:(b + 1) * size, b * size:(b + 1) * size].toarray() for b in range(nb)])
    else:
        P = np.stack([Ap[b * size:(b + 1) * size, b * size:(b + 1) * size] for b in range(nb)])
    # the system's (1,1) block is A - delta I (negative definite): factor its negative
    N = delta * np.eye(size)[None] - P
    try:
        Lc = np.linalg.cholesky(N)
    except np.linalg.LinAlgError:
        return None
    Linv = np.linalg.inv(Lc)  # batched; N^{-1} = Linv' Linv
    ru = rhs[:nz][order].reshape(nb, size)
    rv = rhs[nz:]
    Bp = B[:, order].toarray().reshape(m, nb, size).transpose(1, 2, 0) if m else np.zeros((nb, size, 0))

    def n_inv(x: np.ndarray) -> np.ndarray:  # N^{-1} x for stacked right-hand sides (nb, size, k)
        return np.transpose(Linv, (0, 2, 1)) @ (Linv @ x)

    # (A - dI) u - B'v = ru  ->  u = -N^{-1} (ru + B'v);  B u - eps v = rv
    # -> (B N^{-1} B' + eps I) v = -rv - B N^{-1} ru
    NiB = n_inv(Bp)                                    # (nb, size, m)
    Nir = n_inv(ru[:, :, None])[:, :, 0]               # (nb, size)
    C = np.einsum("bsm,bsk->mk", Bp, NiB) + eps * np.eye(m)
    rhs_v = -rv - np.einsum("bsm,bs->m", Bp, Nir)
    try:
        v = np.linalg.solve(C, rhs_v) if m else np.zeros(0)
    except np.linalg.LinAlgError:
        return None
    u_blocks = -(Nir + np.einsum("bsm,m->bs", NiB, v))
    u = np.empty(nz)
    u[order] = u_blocks.ravel()
    sol = np.concatenate([u, v])
    return sol if np.all(np.isfinite(sol)) else None


def _curvature(H: sps.csr_matrix) -> np.ndarray:
    """``|H_jj|`` floored far below the largest curvature (keeps zero-curvature variables finite)."""
    d = np.abs(H.diagonal())
    return np.maximum(d, 1e-30 * max(float(d.max(initial=0.0)), 1e-300) + 1e-300)
