"""Pluggable solvers behind one call: ``run(problem, backend=..., solver=...)``.

* ``cvxpy``: cvxpy's interfaces (Clarabel default; SCS, ECOS, HiGHS, OSQP where installed);
* ``highs``: LPs and convex QPs straight into highspy;
* ``pyomo``: LPs and convex QPs as a Pyomo model, solved by HiGHS.

All report duals under cvxpy's convention (``riskopt.duals`` states it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cvxpy as cp

from . import cvxpy_backend, highs_backend, pyomo_backend  # noqa: F401  (register)
from .base import Backend, SolveReport, backend, backends

__all__ = ["Backend", "SolveReport", "backend", "backends", "run"]


def run(problem: cp.Problem, *, backend: str = "cvxpy", solver: str | None = None,
        options: dict[str, Any] | None = None, build_s: float = 0.0, dpp: bool = False,
        defaults: Callable[[str, str], dict[str, Any]] | None = None) -> SolveReport:
    """Solve ``problem`` on a registered backend; values and duals are left in the cvxpy objects.

    ``dpp=False`` compiles with the current parameter values as constants (fastest for one solve);
    ``dpp=True`` compiles a parametrised program once, so later parameter changes re-solve without
    recompiling (what sweeps want). ``defaults(backend, solver)`` gives a program's own option
    defaults (e.g. tighter tolerances), applied under ``options`` and over the backend's defaults.
    """
    from .base import backend as get_backend
    from .options import check_options

    check_options(options or {})
    b = get_backend(backend)
    chosen = b.check_solver(solver)
    opts = {**(defaults(b.name, chosen) if defaults else {}), **(options or {})}
    report = b.solve(problem, chosen, opts, dpp=dpp)
    report.build_s = build_s
    return report
