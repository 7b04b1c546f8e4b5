"""The Solution record: status, objective, allocation, values, prices, certificate, solver report.

A :class:`Solution` is immutable and JSON-safe through :meth:`Solution.to_dict` (no NaN or inf:
undetermined numbers are ``null``). Its status is computed, never written: the solver's word gated by
the scaled KKT certificate of :mod:`riskopt.certificate` (and the objective re-evaluated exactly at
the returned point), see :mod:`riskopt.status`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import cvxpy as cp
import numpy as np

from .backends.base import SolveReport
from .certificate import ZERO_DATA, Certificate, relative
from .constraints import ConstraintDual
from .data import json_object, jsonable, without_timings
from .duals import Prices
from .plots import plot_sharing
from .protocols import NamedProgram
from .report import solution_table
from .result import ResultBase
from .status import Check, Status


class Solvable(NamedProgram, Protocol):
    """What :func:`build_solution` reads from a program (a :class:`~riskopt.program.Program`)."""

    mechanism: str
    objective_unit: float

    def certify(self, *, stationarity: bool = False) -> Certificate: ...

    def interpret(self, fields: dict[str, Any]) -> dict[str, Any]: ...

__all__ = ["Solution", "build_solution", "jsonable", "without_timings"]



@dataclass(frozen=True)
class Solution(ResultBase):
    """Immutable result of a solve; on the one result contract (:mod:`riskopt.result`).

    ``method`` says which route produced it (``"program"``: a solver on the declarative program;
    ``"fast"``: a closed form or specialised solver, whose ``verification`` checks decided the
    status).
    """

    status: Status
    objective: float | None
    program: str
    mechanism: str
    sense: str
    solver: SolveReport
    certificate: Certificate | None
    variables: Mapping[str, np.ndarray] = field(default_factory=dict)
    duals: Mapping[str, np.ndarray] = field(default_factory=dict)
    allocation: Mapping[str, np.ndarray] = field(default_factory=dict)
    values: Mapping[str, float] = field(default_factory=dict)
    prices: Prices = field(default_factory=Prices)
    agents: tuple[dict[str, Any], ...] = ()
    aggregate: np.ndarray | None = None
    allocation_unique: bool | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    verification: tuple[Check, ...] = ()
    method: str = "program"
    #: the user constraints' duals by name (:mod:`riskopt.constraints`)
    constraints: Mapping[str, ConstraintDual] = field(default_factory=dict)

    @property
    def objective_sense(self) -> str:
        """``"max"`` (welfare) or ``"min"`` (total risk)."""
        return self.sense

    def agent_rows(self) -> list[dict[str, Any]]:
        """One row per agent (name, measure, weight, value)."""
        return [dict(row) for row in self.agents]

    @property
    def ok(self) -> bool:
        """Every check passed (``optimal``): see :class:`riskopt.status.Status`."""
        return self.status.ok

    def to_dict(self, *, allocations: bool = True) -> dict[str, Any]:
        """One JSON-safe object: status, mechanism, objective, agents, prices, certificate, solver."""
        agents = []
        for row in self.agents:
            entry = dict(row)
            if allocations and row["name"] in self.allocation:
                entry["allocation"] = self.allocation[row["name"]]
            agents.append(entry)
        rep = self.solver
        return json_object({
            "status": self.status,
            "status_meaning": self.status.meaning,
            "mechanism": self.mechanism,
            "program": self.program,
            "sense": self.sense,
            "objective": self.objective,
            "agents": agents,
            "prices": self.prices.to_dict(),
            "allocation_unique": self.allocation_unique,
            "certificate": None if self.certificate is None else self.certificate.to_dict(),
            "solver": {"backend": rep.backend, "solver": rep.solver, "raw_status": rep.raw_status,
                       "build_s": rep.build_s, "compile_s": rep.compile_s, "solve_s": rep.solve_s,
                       "iterations": rep.iterations, "options": rep.options, "polish": rep.polish},
            **{k: v for k, v in self.extra.items()},
            **({"verification": [c.to_dict() for c in self.verification]} if self.verification else {}),
            **self.contract_json(),
        })

    def table(self, title: str = "") -> str:
        """Plain-text report: summary, per-agent table, state prices (see riskopt.report)."""
        return solution_table(self, title=title)

    def plot(self, path: Any, title: str = "") -> Any:
        """Figure of the allocations and the state-price density (matplotlib, ``riskopt[plots]``)."""
        reference = self.extra.get("closed_form", {}).get("density_on_states")
        return plot_sharing(self, path, title=title, reference_density=reference)



def build_solution(program: Solvable, report: SolveReport, *, certify: bool = False) -> Solution:
    """Snapshot the cvxpy values and duals of ``program`` into a :class:`Solution`.

    Where the solver returned a point, the program's certificate (:meth:`Program.certify`) and the
    objective re-evaluated exactly at the point (by the program's ``interpret``) gate the status.
    ``certify=True`` asks programs without exact gradients for cvxpy's stationarity residual too.
    """
    problem = program.problem
    fields: dict[str, Any] = {
        "status": report.status,
        # only a point's value (a failed solve may leave a previous solve's value on the Problem)
        "objective": (_scaled_value(problem.value, program.objective_unit) if report.status.has_point
                      else None),
        "program": program.name,
        "mechanism": program.mechanism,
        "sense": program.sense,
        "solver": report,
        "certificate": None,
    }
    if report.status.has_point:
        fields["variables"] = {k: np.array(v.value, float) for k, v in program.variables.items()}
        # duals of the reported objective: the cvxpy ones (of the objective in its units) times the unit
        fields["duals"] = {name: _scaled(_group_dual(g.constraints), program.objective_unit)
                           for name, g in program.groups.items()}
        cert = program.certify(stationarity=certify)
        modelled = _finite(problem.objective.value)  # the cvxpy objective at the returned point
        if modelled is not None:
            modelled *= program.objective_unit
        fields = program.interpret(fields)
        exact, scale = fields.get("objective"), fields.pop("objective_magnitude", None)
        dual_error = fields.pop("dual_error", None)
        if dual_error is not None and dual_error > cert.dual_residual:
            # the duals outside the optimal dual set an independent solve computed: not optimal duals
            cert = replace(cert, dual_residual=dual_error,
                           note=f"{cert.note}; duals outside the LP's optimal dual set by {dual_error:.3g} "
                                "of the dual scale (riskopt.degeneracy)")
        if exact is not None and modelled is not None:
            size = abs(exact) if scale is None else max(abs(exact), scale)
            cert = cert.with_objective_error(relative(abs(modelled - exact), size or ZERO_DATA))
        elif fields.get("objective") is None:
            cert = cert.with_objective_error(float("nan"))  # no finite objective at the point
        fields["certificate"] = cert
        fields["status"] = cert.gate(report.status)
    return Solution(**fields)


def _finite(v: Any) -> float | None:
    return None if v is None or not np.isfinite(v) else float(v)


def _scaled(dual: np.ndarray | None, unit: float) -> np.ndarray | None:
    return dual if dual is None or unit == 1.0 else dual * unit


def _scaled_value(v: Any, unit: float) -> float | None:
    value = _finite(v)
    return None if value is None else value * unit


def _group_dual(constraints: tuple[cp.Constraint, ...]) -> np.ndarray | None:
    parts = [c.dual_value for c in constraints]
    if any(p is None for p in parts):
        return None
    if len(parts) == 1:
        return np.array(parts[0], float)
    return np.concatenate([np.ravel(np.asarray(p, float), order="F") for p in parts])


