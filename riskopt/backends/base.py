"""Backend protocol, registry and solve reports (statuses: :mod:`riskopt.status`).

A backend takes a compiled ``cvxpy.Problem`` and leaves the primal values and duals in its
variables and constraints, under cvxpy's sign convention (see ``riskopt.duals``). It declares the
cone types it accepts; asking it for more is a :class:`~riskopt.errors.ModelError` naming the cone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, ClassVar

import cvxpy as cp

from ..errors import ModelError
from ..status import Status

__all__ = ["Backend", "SolveReport", "backend", "backends", "canon_backend", "cone_types",
           "register_backend"]

#: from this many scalar variables cvxpy canonicalises with its "COO" backend: on the 2M-variable
#: reinsurance layer LP it compiles in 1.6 s instead of 2.7 s (default C++ backend); on programs of a
#: few thousand variables the default is faster (0.010 s vs 0.016 s on a 50-farmer pool)
LARGE_PROGRAM_VARIABLES = 100_000

#: HiGHS options on every backend that reaches it (highspy, Pyomo, cvxpy): the cell costs of fine
#: layer grids fall below HiGHS's 1e-7 default feasibility tolerances
HIGHS_OPTIONS: dict[str, Any] = {"primal_feasibility_tolerance": 1e-9, "dual_feasibility_tolerance": 1e-9}

def canon_backend(problem: cp.Problem) -> str | None:
    """cvxpy's canonicalisation backend for ``problem``: "COO" for large programs, else cvxpy's default."""
    size = sum(v.size for v in problem.variables())
    if size < LARGE_PROGRAM_VARIABLES:
        return None
    # COO arrived in cvxpy 1.7; SCIPY (older) compiles the layer LP about as fast (1.6 s)
    return str(getattr(cp.settings, "COO_CANON_BACKEND", cp.settings.SCIPY_CANON_BACKEND))


@dataclass
class SolveReport:
    """What a backend did: status, timings (build, compile, solve), iterations, options used."""

    backend: str
    solver: str
    status: Status
    raw_status: str
    build_s: float = 0.0
    compile_s: float = 0.0
    solve_s: float = 0.0
    iterations: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    objective: float | None = None
    polish: dict[str, Any] | None = None


class Backend:
    """Base class: ``name``, accepted ``cones``, ``solvers()`` and ``solve(problem, solver, options)``."""

    name: ClassVar[str]
    cones: ClassVar[frozenset[str]]  # cone types accepted, "quadratic" for a quadratic objective
    default_solver: ClassVar[str]

    def available(self) -> bool:
        raise NotImplementedError

    def solvers(self) -> list[str]:
        raise NotImplementedError

    def solve(self, problem: cp.Problem, solver: str, options: dict[str, Any], *,
              dpp: bool = False) -> SolveReport:
        raise NotImplementedError

    def check_solver(self, solver: str | None) -> str:
        chosen = (solver or self.default_solver).upper()
        names = self.solvers()
        if chosen not in names:
            raise ModelError("solver", solver, f"one of {names} for backend '{self.name}'")
        return chosen


_BACKENDS: dict[str, type[Backend]] = {}


def register_backend(cls: type[Backend]) -> type[Backend]:
    _BACKENDS[cls.name] = cls
    return cls


def backends() -> dict[str, type[Backend]]:
    """Registered backends by name."""
    return dict(_BACKENDS)


#: the backend every lookup returns within :func:`substituted` (None: the registered ones)
_SUBSTITUTE: ContextVar[Backend | None] = ContextVar("riskopt_backend_substitute", default=None)


@contextlib.contextmanager
def substituted(replacement: Backend) -> Iterator[None]:
    """Within the block every :func:`backend` lookup returns ``replacement``, whatever the name
    asked for: a backend that records the program it is handed instead of solving it lets
    :func:`riskopt.export.card_problem` build a mechanism's program through its own route."""
    token = _SUBSTITUTE.set(replacement)
    try:
        yield
    finally:
        _SUBSTITUTE.reset(token)


def backend(name: str) -> Backend:
    """Instantiate a registered, installed backend (clear error otherwise)."""
    chosen = _SUBSTITUTE.get()
    if chosen is not None:
        return chosen
    try:
        cls = _BACKENDS[name]
    except KeyError:
        raise ModelError("backend", name, f"one of {sorted(_BACKENDS)}") from None
    b = cls()
    if not b.available():
        raise ModelError("backend", name, "an installed backend", detail=f"'{name}' is not installed")
    return b


def cone_types(dims: Any, has_quadratic: bool) -> set[str]:
    """Cone types present in cvxpy's conic standard form (``ConeDims``)."""
    present = set()
    if dims.zero:
        present.add("zero")
    if dims.nonneg:
        present.add("nonneg")
    if dims.exp:
        present.add("exp")
    if dims.soc:
        present.add("soc")
    if dims.psd:
        present.add("psd")
    if getattr(dims, "p3d", None):
        present.add("pow")
    if has_quadratic:
        present.add("quadratic")
    return present


CONE_NAMES = {"exp": "exponential cone (entropic / log / exp terms)",
              "soc": "second-order cone", "psd": "semidefinite cone", "pow": "power cone (CRRA)",
              "quadratic": "quadratic objective"}
