"""Direct highspy path for LPs and convex QPs: no modelling layer between the matrices and HiGHS.

HiGHS row duals ``y`` satisfy ``c + Px - A'y = reduced costs`` (``y = d objective / d row bound``),
so cvxpy's conic dual is ``z = -y``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import cvxpy as cp
import numpy as np
import scipy.sparse as sps

from ..errors import ModelError
from ..status import Status, from_highs, from_solver
from .base import SolveReport, register_backend
from .quiet import new_highs, quiet_stdout
from .standard_form import HighsFedBackend, StandardForm, unpack


@register_backend
class HighsBackend(HighsFedBackend):
    name = "highs"
    requires = "highspy"

    def solve_form(self, problem: cp.Problem, sf: StandardForm, solver: str,
                   opts: dict[str, Any]) -> SolveReport:
        import highspy

        t0 = time.perf_counter()
        h = new_highs()
        set_options(h, opts)
        bounds = single_entry_rows(sf)
        b = bounds.b
        is_eq = np.arange(b.size) < sf.n_eq
        try:
            pass_lp(h, sf.c, bounds.A, np.where(is_eq, b, -np.inf), b, bounds.lower, bounds.upper)
            if sf.P is not None:
                low = sps.csc_matrix(sps.tril(sf.P))
                h.passHessian(sf.n_vars, low.nnz, highspy.HessianFormat.kTriangular,
                              low.indptr, low.indices, low.data)
            with quiet_stdout():
                h.run()
            status = h.getModelStatus()
            if status == highspy.HighsModelStatus.kUnboundedOrInfeasible:
                h.setOptionValue("presolve", "off")  # presolve cannot tell which: ask the solver proper
                with quiet_stdout():
                    h.run()
                status = h.getModelStatus()
        except Exception as exc:  # a crash inside highspy is a failed solve, said so (never raised)
            return SolveReport(self.name, solver, Status.SOLVER_ERROR, f"{type(exc).__name__}: {exc}",
                               compile_s=sf.compile_s, solve_s=time.perf_counter() - t0, options=opts)
        solve_s = time.perf_counter() - t0
        clarabel_status = _STATUS.get(status.name, "NumericalError")
        x = z = None
        if clarabel_status == "Solved":
            sol = h.getSolution()
            x = np.asarray(sol.col_value, float)
            z = bounds.duals(np.asarray(sol.row_dual, float), np.asarray(sol.col_dual, float))
        info = h.getInfo()
        iters = int(info.simplex_iteration_count + info.ipm_iteration_count + info.qp_iteration_count)
        if x is None and clarabel_status not in ("PrimalInfeasible", "DualInfeasible"):
            # a limit reached before any point, or a failure (kSolveError, kUnknown on extreme data):
            # cvxpy unpacks a limit only with a point and raises SolverError on a failure, so nothing
            # is handed back (a status without a point: nothing reads the cvxpy values) and the status
            # is HiGHS's own
            return SolveReport(self.name, solver, from_highs(status.name), status.name,
                               compile_s=sf.compile_s, solve_s=solve_s, iterations=iters, options=opts)
        unpack(problem, sf, clarabel_status, x, z, iters, solve_s)
        return SolveReport(self.name, solver, from_solver(problem.status, raw=status.name), status.name,
                           compile_s=sf.compile_s, solve_s=solve_s, iterations=iters, options=opts,
                           objective=problem.value)


def pass_lp(h: Any, c: np.ndarray, A: sps.csc_matrix, row_lower: np.ndarray, row_upper: np.ndarray,
            col_lower: np.ndarray, col_upper: np.ndarray) -> None:
    """Pass ``min c'x, row_lower <= A x <= row_upper, col_lower <= x <= col_upper`` to a ``Highs``
    (infinite bounds as HiGHS's infinity, ``A`` column-wise)."""
    import highspy

    inf = highspy.kHighsInf
    A = sps.csc_matrix(A)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = int(c.size), int(A.shape[0])
    lp.col_cost_ = c
    lp.col_lower_ = np.where(np.isfinite(col_lower), col_lower, -inf)
    lp.col_upper_ = np.where(np.isfinite(col_upper), col_upper, inf)
    lp.row_lower_ = np.where(np.isfinite(row_lower), row_lower, -inf)
    lp.row_upper_ = np.where(np.isfinite(row_upper), row_upper, inf)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = A.indptr
    lp.a_matrix_.index_ = A.indices
    lp.a_matrix_.value_ = A.data
    h.passModel(lp)


@dataclass
class _Bounds:
    """The standard form with single-entry inequality rows moved into column bounds.

    cvxpy writes ``y >= 0`` as one row per entry (2 million rows for the reinsurance layer LP);
    HiGHS handles bounds far better than rows. A row ``a x_j <= b`` becomes ``x_j >= b/a`` (a < 0) or
    ``x_j <= b/a`` (a > 0) when column ``j`` has no other bound on that side. Its conic dual comes
    back from the column's reduced cost ``r_j`` (``c + A'z = r`` on the kept rows):
    ``z = max(-r_j / a, 0)``.
    """

    A: sps.csc_matrix
    b: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    keep: np.ndarray          # original row indices kept as rows
    moved: np.ndarray         # original row indices moved into bounds
    moved_col: np.ndarray
    moved_coef: np.ndarray
    n_rows: int

    def duals(self, row_dual: np.ndarray, col_dual: np.ndarray) -> np.ndarray:
        z = np.zeros(self.n_rows)
        z[self.keep] = -row_dual
        z[self.moved] = np.maximum(-col_dual[self.moved_col] / self.moved_coef, 0.0)
        return z


def single_entry_rows(sf: Any, protect: np.ndarray | None = None) -> _Bounds:
    """Move single-entry inequality rows into column bounds (see :class:`_Bounds`); ``protect``ed
    rows stay rows (e.g. rows whose own duals are read, as :mod:`riskopt.degeneracy` does)."""
    A = sf.A.tocsr()
    counts = np.diff(A.indptr)
    ineq = np.arange(sf.n_eq, sf.n_rows)
    single = ineq[counts[ineq] == 1]
    if protect is not None:
        single = single[~protect[single]]
    col = A.indices[A.indptr[single]]
    coef = A.data[A.indptr[single]]
    lower, upper = sf.lower.copy(), sf.upper.copy()
    moved_rows, moved_cols, moved_coefs = [], [], []
    for sign, bound in ((-1, lower), (1, upper)):
        pick = np.flatnonzero(np.sign(coef) == sign)
        cols, first = np.unique(col[pick], return_index=True)  # one row per column and side
        free = ~np.isfinite(bound[cols])
        rows = single[pick[first]][free]
        cols, a = cols[free], coef[pick[first]][free]
        bound[cols] = sf.b[rows] / a
        moved_rows.append(rows)
        moved_cols.append(cols)
        moved_coefs.append(a)
    moved = np.concatenate(moved_rows)
    keep = np.ones(sf.n_rows, bool)
    keep[moved] = False
    kept = np.flatnonzero(keep)
    return _Bounds(sps.csc_matrix(A[kept]), sf.b[kept], lower, upper, kept, moved,
                   np.concatenate(moved_cols), np.concatenate(moved_coefs), sf.n_rows)


def set_options(h: Any, opts: dict[str, Any]) -> None:
    """Set HiGHS options, refusing unknown names and ill-typed values (HiGHS would ignore them)."""
    import highspy

    h.setOptionValue("output_flag", False)
    for k, v in opts.items():
        if h.setOptionValue(k, v) != highspy.HighsStatus.kOk:
            raise ModelError(f"options.{k}", v, "a HiGHS option name with a value of its type "
                             "(see the HiGHS options reference)")


_STATUS = {
    "kOptimal": "Solved",
    "kInfeasible": "PrimalInfeasible",
    "kUnbounded": "DualInfeasible",
    "kTimeLimit": "MaxTime",
    "kIterationLimit": "MaxIterations",
}
