"""Newton polish of a KKT point of a smooth sharing program: a polish that can only help.

Interior-point solvers stop at tolerances around 1e-8 measured in the norm of the whole problem.
Allocations in weakly curved directions (atoms of small probability) are then accurate only to
~1e-5 and the prices of rare states -- which are ~``P(state)`` -- can be off by a factor (8.98 at
the 500-farmer pool's 1e-13 atoms). Where the program is smooth with affine rows
(:class:`~riskopt.kkt.KKTSystem`), the solver's answer identifies the active set and the polish
solves

    grad Phi(z) = E' y,   E z + e = 0        (equalities and active inequality rows)

by Newton's method. The Newton system keeps the measures' structure: the Hessian is
``D + U diag(c) U'`` (diagonal plus one rank-one term per entropic agent), written as the sparse
augmented system

    [ D    U          E' ] [ dz ]   [ -(grad Phi - E'y) ]
    [ U'  -diag(1/c)  0  ] [ t  ] = [         0         ]
    [ E    0         -eps] [-dy ]   [   -(E z + e)      ]

equilibrated (Ruiz) and factored by sparse LU, so 500 agents on 100 atoms cost one 50k x 50k sparse
factorisation per step instead of 500 dense blocks. Progress is measured entry by entry,
``|r_j| / (|grad_j Phi| + (|E'| |y|)_j)``: relative to the size of the terms each equation balances,
never divided by a curvature (an expectation has none) and never overflowing.

**Acceptance.** The polished point replaces the solver's only if its complete certificate (primal,
dual, complementarity, stationarity; :meth:`~riskopt.kkt.KKTSystem.certificate`) is within the tight
tolerance and no worse than the solver's, and its entry-by-entry residual fell; otherwise the
solver's point stands and the report says why.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sps
import scipy.sparse.linalg as spla
from threadpoolctl import threadpool_limits

from .errors import ModelError
from .kkt import KKTSystem
from .status import DEFAULT_TOLERANCES, Tolerances


class Polishable(Protocol):
    """A program whose KKT system can be built (:meth:`riskopt.program.SharingProgram.kkt`)."""

    def kkt(self) -> KKTSystem | str: ...

__all__ = ["AUTO_MAX_VARIABLES", "PolishReport", "polish"]

#: largest program (scalar variables) polished automatically; larger programs need polish=True
AUTO_MAX_VARIABLES = 1_000_000
#: entry-by-entry relative residual at which Newton stops
TARGET = 1e-13
#: a certificate this small is rounding: "no worse than the solver's" forgives up to it
ROUNDING = 1e-12
#: a rank-one direction whose curvature cancels to this relative size is flat (pinned)
FLAT = 1e-9


@dataclass(frozen=True)
class PolishReport:
    """What the polish did: ``applied``, ``reason``, residuals before/after, iterations.

    ``residual_before``/``residual_after`` are the entry-by-entry relative KKT residuals (the worst
    equation, relative to the size of its terms); ``certificate_before``/``after`` the normwise
    certificates' largest residuals.
    """

    applied: bool
    reason: str
    iterations: int = 0
    residual_before: float | None = None
    residual_after: float | None = None
    certificate_before: float | None = None
    certificate_after: float | None = None
    active_inequalities: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def polish(program: Polishable, *, force: bool = False, max_iter: int = 30, max_seconds: float = 30.0,
           tolerances: Tolerances = DEFAULT_TOLERANCES) -> PolishReport:
    """Refine the solved program's primal-dual point in place (cvxpy values and duals).

    BLAS is held to one thread: the dense factorisations here are a few hundred unknowns, where
    threads only add start-up and contention (0.12 s instead of 1 ms per factorisation on a busy
    2-core machine).
    """
    with threadpool_limits(limits=1, user_api="blas"):
        return _polish(program, force, max_iter, max_seconds, tolerances)


def _polish(program: Polishable, force: bool, max_iter: int, max_seconds: float,
            tolerances: Tolerances) -> PolishReport:
    deadline = time.perf_counter() + max_seconds
    kkt = program.kkt()
    if isinstance(kkt, str):
        return PolishReport(False, kkt)
    if not force and kkt.nz > AUTO_MAX_VARIABLES:
        return PolishReport(False, f"{kkt.nz:,} variables exceed the automatic limit {AUTO_MAX_VARIABLES:,} "
                                   "(solve(polish=True) forces it)")
    z0, y0 = kkt.point()
    res0 = kkt.residuals(z0, y0)
    cert0 = kkt.certificate(z0, y0, tolerances)
    before = kkt.local(res0).worst()
    if not np.all(np.isfinite(z0)) or not np.all(np.isfinite(y0)):
        return PolishReport(False, "the solver's point is not finite", residual_before=before)
    ymax = max(float(np.max(np.abs(y0), initial=0.0)), 1e-300)
    # an interior-point pair (slack, multiplier) has one of the two ~0: the row is active when its
    # relative slack is the smaller (inactive rows keep multipliers ~1e-9, active ones slacks ~1e-10)
    slack = np.maximum(-res0.rows, 0.0) / kkt.data_scale(res0)
    # rows without a variable (a constant row, e.g. 0 >= 0) carry no information: never active
    empty = np.diff(kkt.M.indptr) == 0
    active = (kkt.eq | (slack <= np.maximum(y0, 0.0) / ymax)) & ~empty
    inequality = ~kkt.eq
    outcome = "Newton did not reduce the KKT residual (solver point kept)"
    found = None
    flat_moved = False
    for _ in range(5):
        if time.perf_counter() > deadline:
            outcome = f"time budget of {max_seconds:g} s exhausted (solver point kept)"
            break
        step = _newton(kkt, active, z0.copy(), np.where(active, y0, 0.0)[active], max_iter, deadline)
        if step is None:
            break
        z1, ya, iters = step
        y1 = np.zeros_like(y0)
        y1[active] = ya
        res1 = kkt.residuals(z1, y1)
        negative = inequality & active & (y1 < -1e-9 * ymax)
        violated = inequality & ~active & (res1.rows > 1e-12 * kkt.data_scale(res1))
        if negative.any():
            active &= ~negative
            outcome = "the active set did not settle (solver point kept)"
            continue
        if violated.any():
            repaired = _repair_flat(kkt, z1, y1, active)
            if repaired is not None:
                z1 = repaired
                res1 = kkt.residuals(z1, y1)
                violated = inequality & ~active & (res1.rows > 1e-12 * kkt.data_scale(res1))
                flat_moved = True
        if violated.any():
            active |= violated
            outcome = (f"the Newton point kept violating {int(violated.sum())} inactive rows "
                       "(solver point kept)")
            continue
        found = (z1, np.where(inequality, np.maximum(y1, 0.0), y1), iters)
        break
    if found is None:
        return PolishReport(False, outcome, residual_before=before, certificate_before=cert0.max_residual)
    z1, y1, iters = found
    cert1 = kkt.certificate(z1, y1, tolerances)
    after = kkt.local(kkt.residuals(z1, y1)).worst()
    def report(applied: bool, reason: str) -> PolishReport:
        return PolishReport(applied, reason, iters, before, after, cert0.max_residual, cert1.max_residual,
                            int((active & inequality).sum()) if applied else 0)

    if not cert1.passed:
        return report(False, "the polished certificate is beyond the tight tolerance (solver point kept)")
    if not cert1.max_residual <= max(cert0.max_residual, ROUNDING):
        return report(False, "the polished certificate is worse than the solver's (solver point kept)")
    if not after < before:
        return report(False, "the entry-by-entry residual did not fall (solver point kept)")
    kkt.write(z1, y1)
    reason = "polished"
    if flat_moved:
        reason += ("; near-null directions (e.g. constant shifts of shares whose anchor atom is rare) were "
                   "moved only to restore feasibility: the allocation is determined modulo them")
    return report(True, reason)


def _merit(kkt: KKTSystem, z: np.ndarray, ya: np.ndarray, active: np.ndarray) -> tuple[float, np.ndarray,
                                                                                        np.ndarray]:
    """Entry-by-entry relative residual of the active subsystem, and its two residual vectors."""
    y = np.zeros(kkt.m.size)
    y[active] = ya
    r = kkt.residuals(z, y)
    loc = kkt.local(r)
    on_active = np.where(active & ~kkt.eq, np.abs(r.rows) / kkt.data_scale(r), 0.0)
    worst = max(float(np.max(loc.stationarity, initial=0.0)),
                float(np.max(np.where(active, loc.primal, 0.0), initial=0.0)),
                float(np.max(on_active, initial=0.0)))
    if not np.isfinite(worst):
        worst = np.inf
    return worst, r.stationarity, r.rows[active]


def _trial_merit(kkt: KKTSystem, z: np.ndarray, ya: np.ndarray, active: np.ndarray,
                 residuals: tuple[np.ndarray, np.ndarray]) -> tuple[float, np.ndarray, np.ndarray]:
    """:func:`_merit` at a trial point, infinite where the point is not finite or leaves a measure's
    domain (a CRRA agent's wealth below its floor: the step is shortened, never an error)."""
    if not np.all(np.isfinite(z)):
        return np.inf, *residuals
    try:
        with np.errstate(all="ignore"):
            return _merit(kkt, z, ya, active)
    except ModelError:
        return np.inf, *residuals


def _newton(kkt: KKTSystem, active: np.ndarray, z: np.ndarray, ya: np.ndarray, max_iter: int,
            deadline: float) -> tuple[np.ndarray, np.ndarray, int] | None:
    """Newton with a backtracking line search on the entry-by-entry residual (active rows as
    equalities). ``None`` if not a single step improved it."""
    E = kkt.M[active]
    r, rd, rp = _merit(kkt, z, ya, active)
    start = r
    iters = 0
    while iters < max_iter and r > TARGET and time.perf_counter() < deadline:
        D, U, c = kkt.curvature(z)
        # Levenberg-Marquardt with the damping tied to the residual (Yamashita-Fukushima): near-null
        # directions (the shares' constants when the anchor atom is rare) move by ~residual/delta
        step = _solve(D, U, c, E, -rd, -rp, delta=min(1e-2, max(1e-10, r)))
        if step is None:
            break
        dz, dy = step
        t, improved = 1.0, False
        for _ in range(12):
            zt, yt = z + t * dz, ya + t * dy
            rt, rdt, rpt = _trial_merit(kkt, zt, yt, active, (rd, rp))
            if rt < r:
                z, ya, r, rd, rp, improved = zt, yt, rt, rdt, rpt, True
                break
            t *= 0.5
        iters += 1
        if not improved:
            break
    if not r < start:
        return None
    return z, ya, iters


def _solve(D: sps.csr_matrix, U: sps.csr_matrix, c: np.ndarray, E: sps.csr_matrix, rd: np.ndarray,
           rp: np.ndarray, delta: float = 1e-6) -> tuple[np.ndarray, np.ndarray] | None:
    """Solve the augmented Newton system of the module docstring for ``(dz, dy)``.

    Variables of strictly curved diagonal entries are eliminated first (``dz_c = D_c^-1 (...)``),
    leaving a small sparse system in the flat variables (linear agents), the rank-one terms and
    the active rows: for a pool of 500 entropic agents on 100 atoms, 600 unknowns. It is equilibrated
    (Ruiz: curvatures of rare atoms are ~1e-15 of the others) and factored by sparse LU.

    Levenberg-Marquardt: the curvature is taken as ``(1 + delta) D``. Curved directions then keep
    (nearly) their Newton step while the near-null direction of an entropic agent whose anchor atom
    is rare (a constant shift of its shares, which no price depends on) stays put; a singular system
    retries with a 100 times larger ``delta`` and a shift of the flat variables.
    """
    nz = D.shape[0]
    keep = c != 0
    U, c = sps.csc_matrix(U[:, keep]), c[keep]
    r = U.shape[1]
    d = D.diagonal()
    if (D - sps.diags(d)).count_nonzero():
        return _solve_augmented(D, U, c, E, rd, rp, delta)
    curved = d != 0
    Uc, Uf = U[curved], U[~curved]
    Ec, Ef = sps.csc_matrix(E[:, curved]), sps.csc_matrix(E[:, ~curved])
    P = sps.hstack([Uc, Ec.T], format="csc")  # couplings of the curved variables to (t, w)
    nf = int((~curved).sum())
    tt = -1.0 / c
    for damping in (delta, 100 * delta, 1e4 * delta):
        dc = d[curved] * (1.0 + damping)
        Pd = sps.diags(1.0 / dc) @ P
        S = -(P.T @ Pd)  # Schur complement of the curved block on (t, w)
        # rows that depend on others (a budget row at X = 0 next to xi_i(0) = 0 rows) make the w-block
        # singular: a relative shift of 1e-10 picks one split of their multipliers
        ww = np.abs(S.diagonal()[r:])
        reg = -1e-10 * np.where(ww > 0, ww, max(float(ww.max(initial=0.0)), 1.0))
        S = S + sps.block_diag([sps.diags(tt) if r else sps.csc_matrix((0, 0)), sps.diags(reg)],
                               format="csc")
        if nf:  # flat variables stay in the system, coupled to (t, w) by F (nf x (r + m))
            F = sps.hstack([Uf, Ef.T], format="csc")
            K = sps.bmat([[sps.diags(np.full(nf, -damping)), F], [F.T, S]], format="csc")
        else:
            K = sps.csc_matrix(S)
        rhs_tw = np.concatenate([np.zeros(r), rp]) - Pd.T @ rd[curved]
        rhs = np.concatenate([rd[~curved], rhs_tw]) if nf else rhs_tw
        x = _factor_solve(K, rhs)
        if x is None:
            continue
        tw = x[nf:]
        dz = np.empty(nz)
        dz[curved] = (rd[curved] - P @ tw) / dc
        dz[~curved] = x[:nf]
        out = (dz, -tw[r:])
        if all(np.all(np.isfinite(v)) for v in out):
            return out
    return None


def flat_directions(D: sps.csr_matrix, U: sps.csr_matrix, c: np.ndarray) -> sps.csc_matrix:
    """Near-null directions of the Hessian ``D + U diag(c) U'`` from its rank-one terms (columns).

    Along ``v = D^-1 u`` the curvature is ``q (1 + c q)`` with ``q = u'D^-1 u``: it vanishes when
    ``1/c + q = 0``. For an entropic agent ``q = -(1 - Q_out)/gamma``, ``Q_out`` the tilted mass of
    its states outside the variables (the anchor atom): the constant shift of its shares is flat up
    to ``Q_out``. Below :data:`FLAT` (relative) it cannot be resolved in double precision; the
    damped Newton leaves it nearly where the solver put it and :func:`_repair_flat` moves it only as
    feasibility requires (no price depends on it).
    """
    d = D.diagonal()
    keep = c != 0
    U, c = sps.csc_matrix(U[:, keep]), c[keep]
    curved = d != 0
    if not curved.any() or U.shape[1] == 0 or (D - sps.diags(d)).count_nonzero():
        return sps.csc_matrix((D.shape[0], 0))
    inside = np.asarray(abs(U[~curved]).sum(axis=0)).ravel() == 0
    Dinv = sps.diags(np.where(curved, 1.0 / np.where(curved, d, 1.0), 0.0))
    V = sps.csc_matrix(Dinv @ U)
    quad = np.asarray(U.multiply(V).sum(axis=0)).ravel()
    flat = inside & (np.abs(1.0 / c + quad) <= FLAT * np.abs(1.0 / c))
    return sps.csc_matrix(V[:, flat])


def _repair_flat(kkt: KKTSystem, z: np.ndarray, y: np.ndarray, active: np.ndarray) -> np.ndarray | None:
    """Move ``z`` along the flat directions (smallest L1 move) so that every row is feasible again,
    keeping equality rows and rows with a positive multiplier exact. ``None`` if no such move exists
    (the violation is not a flat direction's doing)."""
    from scipy.optimize import linprog

    D, U, c = kkt.curvature(z)
    V = flat_directions(D, U, c)
    k = V.shape[1]
    if k == 0:
        return None
    res = kkt.residuals(z, y)
    MV = sps.csr_matrix(kkt.M @ V)
    touched = np.diff(MV.indptr) > 0
    scale = kkt.data_scale(res)
    tight = kkt.eq | (active & (y > 0))
    bad = ~touched & ~kkt.eq & (res.rows > 1e-12 * scale)
    if bad.any():
        return None
    rows_eq = np.flatnonzero(touched & tight)
    rows_in = np.flatnonzero(touched & ~tight)
    A = sps.hstack([MV, -MV], format="csr")
    norms = np.sqrt(np.asarray(V.multiply(V).sum(axis=0)).ravel())
    out = linprog(np.r_[norms, norms], A_ub=A[rows_in] if rows_in.size else None,
                  b_ub=-res.rows[rows_in] if rows_in.size else None,
                  A_eq=A[rows_eq] if rows_eq.size else None,
                  b_eq=np.zeros(rows_eq.size) if rows_eq.size else None,
                  bounds=(0, None), method="highs")
    if out.status != 0:
        return None
    s = out.x[:k] - out.x[k:]
    moved: np.ndarray = z + V @ s
    return moved


def _solve_augmented(D: sps.csr_matrix, U: sps.csc_matrix, c: np.ndarray, E: sps.csr_matrix,
                     rd: np.ndarray, rp: np.ndarray, delta: float) -> tuple[np.ndarray, np.ndarray] | None:
    """The whole augmented system by sparse LU (a curvature that is not diagonal in ``z``)."""
    nz, r, m = D.shape[0], U.shape[1], E.shape[0]
    for damping in (delta, 100 * delta, 1e4 * delta):
        Dd = D + damping * sps.diags(-np.abs(D.diagonal()) - (D.diagonal() == 0))
        blocks = [[Dd, U, E.T], [U.T, sps.diags(-1.0 / c), None], [E, None, -1e-14 * sps.identity(m)]] if r \
            else [[Dd, E.T], [E, -1e-14 * sps.identity(m)]]
        K = sps.bmat(blocks, format="csc")
        x = _factor_solve(K, np.concatenate([rd, np.zeros(r), rp]))
        if x is not None:
            return x[:nz], -x[nz + r:]
    return None


def _factor_solve(K: sps.spmatrix, rhs: np.ndarray) -> np.ndarray | None:
    """Equilibrate symmetrically, then sparse LU (dense below 2,000 unknowns); ``None`` if singular."""
    s = _ruiz(sps.csc_matrix(K))
    Ks = sps.csc_matrix(sps.diags(s) @ K @ sps.diags(s))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", spla.MatrixRankWarning)
            if Ks.shape[0] <= 2000:
                lu, piv = sla.lu_factor(Ks.toarray(), check_finite=False)
                pivots = np.abs(np.diag(lu))
                if pivots.min(initial=1.0) <= 1e-14 * pivots.max(initial=0.0):
                    return None
                sol = sla.lu_solve((lu, piv), s * rhs, check_finite=False)
            else:
                sol = spla.splu(Ks).solve(s * rhs)
    except (RuntimeError, spla.MatrixRankWarning, ValueError, np.linalg.LinAlgError):
        return None
    x = s * sol
    return x if np.all(np.isfinite(x)) else None


def _ruiz(K: sps.csc_matrix, rounds: int = 12) -> np.ndarray:
    """Symmetric equilibration ``s`` so that ``diag(s) K diag(s)`` has rows of inf-norm ~1."""
    s = np.ones(K.shape[0])
    A = sps.csr_matrix(abs(K))
    for _ in range(rounds):
        row = np.asarray((sps.diags(s) @ A @ sps.diags(s)).max(axis=1).todense(), float).ravel()
        row = np.where(row > 0, row, 1.0)
        s = s / np.sqrt(row)
        if np.max(np.abs(row - 1.0)) < 1e-3:
            break
    return s
