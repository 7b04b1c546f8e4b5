"""cvxpy's own solver interfaces: Clarabel (default), SCS, ECOS, HiGHS, OSQP, ... where installed."""

from __future__ import annotations

import functools
import time
import warnings
from typing import Any

import cvxpy as cp

from ..errors import ModelError
from ..status import Status, from_solver
from .base import (
    CONE_NAMES,
    HIGHS_OPTIONS,
    Backend,
    SolveReport,
    canon_backend,
    cone_types,
    register_backend,
)
from .quiet import quiet_stdout
from .standard_form import extract, solve_empty

#: riskopt's default options per solver (overridable per call); they are recorded in every report.
#: Clarabel: its own 1e-8 tolerances (the KKT polish refines smooth programs beyond them) and no
#: iterative refinement: on the exponential-cone pools of benchmarks/ it gave the same accuracy with
#: fewer, cheaper iterations (n = 500: 74 iterations, 6.8 s, instead of 89 iterations, 10.5 s).
DEFAULT_OPTIONS: dict[str, dict[str, Any]] = {
    "CLARABEL": {"tol_gap_abs": 1e-8, "tol_gap_rel": 1e-8, "tol_feas": 1e-8, "max_iter": 500,
                 "iterative_refinement_enable": False},
    "ECOS": {"abstol": 1e-9, "reltol": 1e-9, "feastol": 1e-9, "max_iters": 300},
    "SCS": {"eps_abs": 1e-8, "eps_rel": 1e-8, "max_iters": 20_000},
    "HIGHS": HIGHS_OPTIONS,
}


@register_backend
class CvxpyBackend(Backend):
    name = "cvxpy"
    cones = frozenset({"zero", "nonneg", "soc", "exp", "psd", "pow", "quadratic"})
    default_solver = "CLARABEL"

    def available(self) -> bool:
        return True

    def solvers(self) -> list[str]:
        return _installed()

    def solve(self, problem: cp.Problem, solver: str, options: dict[str, Any], *,
              dpp: bool = False) -> SolveReport:
        opts = {**DEFAULT_OPTIONS.get(solver, {}), **options}
        if sum(v.size for v in problem.variables()) == 0:
            # the data may fix every variable: then nothing is left for a solver (several of cvxpy's
            # interfaces crash on an empty model: SCS "m must be a positive integer")
            sf = extract(problem, self.cones, self.name, dpp=dpp)
            if sf.n_vars == 0:
                return solve_empty(problem, sf, self.name, solver, opts)
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings():  # riskopt reports the status itself
                warnings.filterwarnings("ignore", message="Solution may be inaccurate", category=UserWarning)
                # cvxpy's HiGHS (and other) interfaces print on the C stdout: discarded unless asked
                with quiet_stdout("stderr" if opts.get("verbose") else "devnull"):
                    problem.solve(solver=solver, ignore_dpp=not dpp, canon_backend=canon_backend(problem),
                                  **opts)
        except cp.error.SolverError as exc:
            missing = _missing_cones(problem, solver)
            if missing:
                named = ", ".join(CONE_NAMES.get(c, c) for c in sorted(missing))
                raise ModelError("solver", solver, "a solver that accepts this program's cones",
                                 detail=f"{solver} cannot take: {named}") from None
            return SolveReport(self.name, solver, Status.SOLVER_ERROR, str(exc), options=opts,
                               solve_s=time.perf_counter() - t0)
        except TypeError as exc:  # cvxpy's interfaces raise TypeError for unknown solver settings
            # (some without naming it); without options of the caller's it is the solver's failure
            if options:
                raise ModelError("options", options, f"settings that {solver} accepts",
                                 detail=str(exc)) from None
            return _crashed(self.name, solver, exc, opts, t0)
        except cp.error.DCPError as exc:
            raise ModelError("program", problem, "a DCP-compliant convex program", detail=str(exc)) from None
        except Exception as exc:  # a crash inside the solver or its interface is a failed solve, said so
            if _names_an_option(str(exc), options):  # HiGHS: ValueError naming a rejected option
                raise ModelError("options", options, f"settings that {solver} accepts",
                                 detail=str(exc)) from None
            return _crashed(self.name, solver, exc, opts, t0)
        total = time.perf_counter() - t0
        compile_s = float(getattr(problem, "compilation_time", None) or 0.0)
        stats = problem.solver_stats
        iterations = getattr(stats, "num_iters", None)
        cap = next((opts[k] for k in ("max_iter", "max_iters", "maxiter") if k in opts), None)
        return SolveReport(self.name, solver,
                           from_solver(problem.status, iterations=iterations, max_iterations=cap),
                           str(problem.status), compile_s=compile_s, solve_s=max(total - compile_s, 0.0),
                           iterations=iterations, options=opts, objective=problem.value)


def _names_an_option(message: str, options: dict[str, Any]) -> bool:
    """Does a solver's error message name one of the caller's options (an unknown or ill-typed setting)?"""
    return any(f"{k}" in message for k in options)


def _crashed(backend: str, solver: str, exc: Exception, opts: dict[str, Any], t0: float) -> SolveReport:
    """The report of a solve that raised inside the solver: ``solver_error`` with its message."""
    return SolveReport(backend, solver, Status.SOLVER_ERROR, f"{type(exc).__name__}: {exc}", options=opts,
                       solve_s=time.perf_counter() - t0)


@functools.lru_cache(maxsize=1)
def _installed() -> list[str]:
    """cvxpy probes every solver package on each call (~4 ms): ask once per process."""
    return sorted(cp.installed_solvers())


_CONE_OF = {"Zero": "zero", "NonNeg": "nonneg", "SOC": "soc", "ExpCone": "exp", "PowCone3D": "pow",
            "PowConeND": "pow", "SvecPSD": "psd", "PSD": "psd"}


def _missing_cones(problem: cp.Problem, solver: str) -> set[str]:
    """Cone types of ``problem`` that cvxpy's interface to ``solver`` does not accept."""
    from cvxpy.reductions.solvers.defines import SOLVER_MAP_CONIC

    interface = SOLVER_MAP_CONIC.get(solver)
    if interface is None:
        return set()
    data = problem.get_problem_data(cp.CLARABEL, ignore_dpp=True)[0]
    needed = cone_types(data["dims"], False)
    accepted = {_CONE_OF.get(c.__name__, c.__name__) for c in interface.SUPPORTED_CONSTRAINTS}
    return needed - accepted
