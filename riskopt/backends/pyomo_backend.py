"""Pyomo backend: the standard form written as a Pyomo model, solved by HiGHS through Pyomo.

Pyomo's duals are ``d objective / d constraint bound`` (for a minimisation: <= 0 on a binding
``<=`` row), so cvxpy's conic dual is ``z = -dual``. Only LPs and convex QPs are accepted: an NLP
solver (ipopt) is not packaged for these machines (see the backends docs page).
"""

from __future__ import annotations

import time
from typing import Any

import cvxpy as cp
import numpy as np

from ..status import Status, from_solver
from .base import SolveReport, register_backend
from .quiet import new_highs, quiet_stdout
from .standard_form import HighsFedBackend, StandardForm, unpack


@register_backend
class PyomoBackend(HighsFedBackend):
    name = "pyomo"
    requires = "pyomo.environ"

    def solve_form(self, problem: cp.Problem, sf: StandardForm, solver: str,
                   opts: dict[str, Any]) -> SolveReport:
        import pyomo.environ as pyo
        from pyomo.core.expr.numeric_expr import LinearExpression
        from pyomo.opt import TerminationCondition as Term

        t0 = time.perf_counter()
        m = pyo.ConcreteModel()
        n = sf.n_vars
        m.x = pyo.Var(range(n))
        for j in range(n):
            lo, up = sf.lower[j], sf.upper[j]
            m.x[j].setlb(float(lo) if np.isfinite(lo) else None)
            m.x[j].setub(float(up) if np.isfinite(up) else None)
        rows = sf.A.tocsr()
        xs = [m.x[j] for j in range(n)]

        def row_expr(r: int) -> Any:
            lo, hi = rows.indptr[r], rows.indptr[r + 1]
            return LinearExpression(constant=0.0, linear_coefs=rows.data[lo:hi].tolist(),
                                    linear_vars=[xs[j] for j in rows.indices[lo:hi]])

        n_eq = sf.n_eq
        m.rows = pyo.Constraint(range(sf.n_rows), rule=lambda _, r: (
            row_expr(r) == float(sf.b[r]) if r < n_eq else row_expr(r) <= float(sf.b[r])))
        linear = LinearExpression(constant=0.0, linear_coefs=sf.c.tolist(), linear_vars=xs)
        if sf.P is not None:
            P = sf.P.tocoo()
            quad = sum(0.5 * float(v) * xs[i] * xs[j] for i, j, v in zip(P.row, P.col, P.data, strict=True))
            m.obj = pyo.Objective(expr=linear + quad)
        else:
            m.obj = pyo.Objective(expr=linear)
        m.dual = pyo.Suffix(direction=pyo.Suffix.IMPORT)
        build_s = time.perf_counter() - t0
        from .highs_backend import set_options

        set_options(new_highs(), opts)  # validate the names and types before Pyomo passes them on
        opt = pyo.SolverFactory("highs")
        for k, v in opts.items():
            opt.options[k] = v
        t1 = time.perf_counter()
        try:
            with quiet_stdout():
                result = opt.solve(m, load_solutions=False)
        except Exception as exc:  # a crash inside Pyomo or HiGHS is a failed solve, said so (never raised)
            return SolveReport(self.name, solver, Status.SOLVER_ERROR, f"{type(exc).__name__}: {exc}",
                               compile_s=sf.compile_s + build_s, solve_s=time.perf_counter() - t1,
                               options=opts)
        solve_s = time.perf_counter() - t1
        tc = result.solver.termination_condition
        clarabel_status = {Term.optimal: "Solved", Term.infeasible: "PrimalInfeasible",
                           Term.unbounded: "DualInfeasible", Term.maxTimeLimit: "MaxTime",
                           Term.maxIterations: "MaxIterations"}.get(tc, "NumericalError")
        x = z = None
        if clarabel_status == "Solved":
            m.solutions.load_from(result)
            x = np.array([pyo.value(m.x[j]) for j in range(n)], float)
            z = -np.array([m.dual.get(m.rows[r], 0.0) for r in range(sf.n_rows)], float)
        if clarabel_status == "NumericalError":  # cvxpy raises SolverError on it: said, not unpacked
            return SolveReport(self.name, solver, Status.SOLVER_ERROR, str(tc),
                               compile_s=sf.compile_s + build_s, solve_s=solve_s, options=opts)
        if x is None and clarabel_status in ("MaxTime", "MaxIterations"):  # a limit before any point:
            # cvxpy unpacks a limit only with a point (nothing reads the cvxpy values without one)
            limit = Status.TIME_LIMIT if clarabel_status == "MaxTime" else Status.ITERATION_LIMIT
            return SolveReport(self.name, solver, limit, str(tc), compile_s=sf.compile_s + build_s,
                               solve_s=solve_s, options=opts)
        unpack(problem, sf, clarabel_status, x, z, None, solve_s)
        return SolveReport(self.name, solver, from_solver(problem.status, raw=str(tc)), str(tc),
                           compile_s=sf.compile_s + build_s, solve_s=solve_s, options=opts,
                           objective=problem.value)
