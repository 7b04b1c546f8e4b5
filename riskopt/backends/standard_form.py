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
from .base import CONE_NAMES, SolveReport, canon_backend, cone_types


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
                        chain=chain, inverse_data=inverse, compile_s=compile_s)


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
    """A program whose variables the data fix entirely: nothing to hand to a solver."""
    unpack(problem, sf, "Solved", np.zeros(0), np.zeros(sf.n_rows), 0, 0.0)
    return SolveReport(backend, solver, from_solver(problem.status), "empty model",
                       compile_s=sf.compile_s, options=options, objective=problem.value)
