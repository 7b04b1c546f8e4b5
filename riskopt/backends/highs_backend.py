"""Direct highspy path for LPs and convex QPs: no modelling layer between the matrices and HiGHS.

HiGHS row duals ``y`` satisfy ``c + Px - A'y = reduced costs`` (``y = d objective / d row bound``),
so cvxpy's conic dual is ``z = -y``.
"""

from __future__ import annotations

import time
from typing import Any

import cvxpy as cp
import numpy as np
import scipy.sparse as sps

from ..errors import ModelError
from .base import Backend, SolveReport, normalise_status, register_backend
from .standard_form import extract, unpack

DEFAULT_OPTIONS = {"primal_feasibility_tolerance": 1e-9, "dual_feasibility_tolerance": 1e-9}


@register_backend
class HighsBackend(Backend):
    name = "highs"
    cones = frozenset({"zero", "nonneg", "quadratic"})
    default_solver = "HIGHS"

    def available(self) -> bool:
        try:
            import highspy  # noqa: F401
        except ImportError:  # pragma: no cover
            return False
        return True

    def solvers(self) -> list[str]:
        return ["HIGHS"]

    def solve(self, problem: cp.Problem, solver: str, options: dict[str, Any], *,
              dpp: bool = False) -> SolveReport:
        import highspy

        sf = extract(problem, self.cones, self.name, dpp=dpp)
        opts = {**DEFAULT_OPTIONS, **options}
        if sf.n_vars == 0:  # everything is fixed by the data: nothing to solve
            unpack(problem, sf, "Solved", np.zeros(0), np.zeros(sf.n_rows), 0, 0.0)
            return SolveReport(self.name, solver, normalise_status(problem.status), "empty model",
                               compile_s=sf.compile_s, options=opts, objective=problem.value)
        t0 = time.perf_counter()
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        set_options(h, opts)
        inf = highspy.kHighsInf
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = sf.n_vars, sf.n_rows
        lp.col_cost_ = sf.c
        lp.col_lower_ = np.where(np.isfinite(sf.lower), sf.lower, -inf)
        lp.col_upper_ = np.where(np.isfinite(sf.upper), sf.upper, inf)
        lp.row_lower_ = np.concatenate([sf.b[: sf.n_eq], np.full(sf.n_rows - sf.n_eq, -inf)])
        lp.row_upper_ = sf.b
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = sf.A.indptr
        lp.a_matrix_.index_ = sf.A.indices
        lp.a_matrix_.value_ = sf.A.data
        h.passModel(lp)
        if sf.P is not None:
            low = sps.csc_matrix(sps.tril(sf.P))
            h.passHessian(sf.n_vars, low.nnz, highspy.HessianFormat.kTriangular,
                          low.indptr, low.indices, low.data)
        h.run()
        status = h.getModelStatus()
        if status == highspy.HighsModelStatus.kUnboundedOrInfeasible:
            h.setOptionValue("presolve", "off")  # presolve cannot tell which: ask the solver proper
            h.run()
            status = h.getModelStatus()
        solve_s = time.perf_counter() - t0
        clarabel_status = _STATUS.get(status.name, "NumericalError")
        x = z = None
        if clarabel_status == "Solved":
            sol = h.getSolution()
            x = np.asarray(sol.col_value, float)
            z = -np.asarray(sol.row_dual, float)
        info = h.getInfo()
        iters = int(info.simplex_iteration_count + info.ipm_iteration_count + info.qp_iteration_count)
        unpack(problem, sf, clarabel_status, x, z, iters, solve_s)
        return SolveReport(self.name, solver, normalise_status(problem.status), status.name,
                           compile_s=sf.compile_s, solve_s=solve_s, iterations=iters, options=opts,
                           objective=problem.value)


def set_options(h, opts: dict[str, Any]) -> None:
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
