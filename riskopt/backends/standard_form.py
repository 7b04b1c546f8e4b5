"""cvxpy's conic standard form as the exchange format for non-cvxpy backends.

``problem.get_problem_data(CLARABEL)`` canonicalises any DCP program to

    minimise  (1/2) x'Px + c'x + offset   subject to   A x + s = b,  s in K,

with ``K`` a product of a zero cone (equalities), a nonnegative orthant and, for conic programs,
other cones. A backend that takes LPs/QPs solves it with its own API; the answer is handed back as
the raw result Clarabel would have produced (``x``, dual ``z`` with ``Px + c + A'z = 0``) and mapped
onto the user's variables and constraints by cvxpy's own inverse chain. So every backend reports
primal values and duals under one convention, cvxpy's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import cvxpy as cp
import numpy as np
import scipy.sparse as sps

from ..errors import ModelError
from ..status import from_solver
from .base import CONE_NAMES, HIGHS_OPTIONS, Backend, SolveReport, canon_backend, cone_types


@dataclass
class StandardForm:
    P: sps.csc_matrix | None
    c: np.ndarray
    A: sps.csc_matrix
    b: np.ndarray
    n_eq: int
    lower: np.ndarray
    upper: np.ndarray
    chain: Any
    inverse_data: Any
    compile_s: float
    n_nonneg: int = -1  # rows of the nonnegative orthant after the equalities (-1: not recorded)

    @property
    def n_vars(self) -> int:
        return self.c.size

    @property
    def n_rows(self) -> int:
        return self.b.size


def extract(problem: cp.Problem, accepted: frozenset[str], backend: str, *,
            dpp: bool = False) -> StandardForm:
    """Canonicalise ``problem`` and check its cones against those the backend accepts."""
    t0 = time.perf_counter()
    data, chain, inverse = problem.get_problem_data(cp.CLARABEL, ignore_dpp=not dpp,
                                                    canon_backend=canon_backend(problem))
    compile_s = time.perf_counter() - t0
    P = data.get("P")
    has_quad = P is not None and P.nnz > 0
    missing = cone_types(data["dims"], has_quad) - set(accepted)
    if missing:
        named = ", ".join(CONE_NAMES.get(c, c) for c in sorted(missing))
        raise ModelError("backend", backend, "a backend that accepts this program's cones",
                         detail=f"'{backend}' takes {sorted(accepted)}; the program needs {named}")
    n = data["c"].size
    lower = data.get("lower_bounds")
    upper = data.get("upper_bounds")
    if has_quad:
        P = sps.csc_matrix(P)
        if sps.tril(P, k=-1).nnz == 0:  # upper triangle stored: symmetrise
            P = P + sps.triu(P, k=1).T
        P = sps.csc_matrix(P)
    return StandardForm(P=P if has_quad else None, c=np.asarray(data["c"], float),
                        A=sps.csc_matrix(data["A"]), b=np.asarray(data["b"], float),
                        n_eq=int(data["dims"].zero),
                        lower=np.full(n, -np.inf) if lower is None else np.asarray(lower, float),
                        upper=np.full(n, np.inf) if upper is None else np.asarray(upper, float),
                        chain=chain, inverse_data=inverse, compile_s=compile_s,
                        n_nonneg=int(data["dims"].nonneg))


def unpack(problem: cp.Problem, sf: StandardForm, status: str, x: np.ndarray | None,
           z: np.ndarray | None, iterations: int | None, solve_s: float) -> None:
    """Hand a solution back to cvxpy (``status`` in Clarabel's vocabulary, e.g. ``"Solved"``)."""
    obj = None
    if x is not None:
        obj = float(sf.c @ x + (0.5 * x @ (sf.P @ x) if sf.P is not None else 0.0))
    raw = SimpleNamespace(x=x, z=z, s=None if x is None else sf.b - sf.A @ x, status=status,
                          obj_val=obj, solve_time=solve_s, iterations=iterations)
    if getattr(sf.inverse_data[-1], "solver_options", None) is None:
        sf.inverse_data[-1].solver_options = {}
    problem.unpack_results(raw, sf.chain, sf.inverse_data)


def solve_empty(problem: cp.Problem, sf: StandardForm, backend: str, solver: str,
                options: dict[str, Any]) -> SolveReport:
    """A program whose variables the data fix entirely: nothing to hand to a solver. Its rows are
    constants ``0 + s = b``: feasible when ``b`` is in the cone (zero on equalities, ``>= 0`` on
    inequalities, to rounding of the data); the value is the constant objective, every dual 0."""
    b = sf.b
    n_eq, n_ineq = sf.n_eq, sf.n_nonneg if sf.n_nonneg >= 0 else sf.n_rows - sf.n_eq
    tol = 1e-12 * max(1.0, float(np.max(np.abs(b), initial=0.0)))
    if n_eq + n_ineq < sf.n_rows:  # constant rows in other cones: not checked here
        from ..status import Status

        return SolveReport(backend, solver, Status.SOLVER_ERROR,
                           "empty model with constant rows in cones other than equalities and inequalities",
                           compile_s=sf.compile_s, options=options)
    feasible = bool(np.all(np.abs(b[:n_eq]) <= tol) and np.all(b[n_eq:n_eq + n_ineq] >= -tol))
    if feasible:
        unpack(problem, sf, "Solved", np.zeros(0), np.zeros(sf.n_rows), 0, 0.0)
    else:
        unpack(problem, sf, "PrimalInfeasible", None, None, 0, 0.0)
    return SolveReport(backend, solver, from_solver(problem.status), "empty model" if feasible else
                       "empty model: constant rows violated", compile_s=sf.compile_s, options=options,
                       objective=problem.value)


class HighsFedBackend(Backend):
    """A backend that hands the extracted standard form (LP or convex QP) to HiGHS, directly or
    through a modelling layer: the accepted cones, the one solver and the shared prologue live here."""

    cones = frozenset({"zero", "nonneg", "quadratic"})
    default_solver = "HIGHS"
    #: the module whose import tells whether the backend is installed
    requires: str = "highspy"

    def available(self) -> bool:
        import importlib

        try:
            importlib.import_module(self.requires)
        except ImportError:  # pragma: no cover
            return False
        return True

    def solvers(self) -> list[str]:
        return ["HIGHS"]

    def solve(self, problem: cp.Problem, solver: str, options: dict[str, Any], *,
              dpp: bool = False) -> SolveReport:
        """Extract the standard form and solve it (:meth:`solve_form`); a program without variables
        is finished here (no solver is called). HiGHS options: the defaults overridden by ``options``."""
        form = extract(problem, self.cones, self.name, dpp=dpp)
        opts = {**HIGHS_OPTIONS, **options}
        if form.n_vars == 0:
            return solve_empty(problem, form, self.name, solver, opts)
        return self.solve_form(problem, form, solver, opts)

    def solve_form(self, problem: cp.Problem, sf: StandardForm, solver: str,
                   opts: dict[str, Any]) -> SolveReport:
        """Solve the standard form ``sf`` of ``problem`` (at least one variable) and unpack the
        point and duals into ``problem``."""
        raise NotImplementedError
