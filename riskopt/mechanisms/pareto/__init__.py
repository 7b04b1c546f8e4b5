"""Pareto optima and Borch-Wilson welfare: the ``pareto`` mechanism.

``solve(ParetoSpec(...), method=...)``: ``"program"`` (the default) writes the weighted welfare (or
total risk) over the allocation set as a :class:`~riskopt.program.SharingProgram` and reads Borch's
state prices from its budget duals; ``"fast"`` is Ogaku's closed form for entropic utilities under
a common prior with equal weights (the proportional rule and the Esscher tilt), which the program
path is also checked against whenever it applies.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ...backends.base import SolveReport
from ...cardschema import CardMechanism
from ...duals import Prices
from ...errors import ModelError
from ...program import SharingProgram
from ...solution import Solution
from ...status import Check, Status, from_checks
from .. import Mechanism, register_mechanism
from .fast import ClosedForm, closed_form_check, entropic_closed_form, is_entropic_common_prior
from .program import Frontier, SupportingWeights, frontier, supporting_weights, welfare
from .spec import AllocationSpec, ObjectiveSpec, ParetoSpec, RestrictionSpec

__all__ = ["CARD", "AllocationSpec", "ClosedForm", "Frontier", "ObjectiveSpec", "ParetoSpec",
           "RestrictionSpec", "SupportingWeights", "closed_form_check", "entropic_closed_form", "frontier",
           "is_entropic_common_prior", "solve", "supporting_weights", "welfare"]


def program(spec: ParetoSpec) -> SharingProgram:
    """The paper's declarative program (welfare or total risk over the allocation set)."""
    allocation, restrictions = spec.allocation.build()
    prog = SharingProgram(spec.space, spec.agents, allocation=allocation, objective=spec.objective.kind,
                          weights=spec.weights, restrictions=restrictions,
                          name="welfare" if spec.objective.kind == "welfare" else "sharing")
    prog.add_constraints(spec.constraints)
    return prog


def fast_applies(spec: ParetoSpec) -> bool:
    """The closed form applies: equal-weight entropic welfare under the common prior, no restriction
    and no user constraint."""
    w = spec.weights
    return (spec.objective.kind == "welfare" and is_entropic_common_prior(spec.agents)
            and not spec.allocation.restrictions and not spec.constraints
            and (w is None or bool(np.allclose(w, w[0]))))


def solve(spec: ParetoSpec, *, method: str = "auto", backend: str = "cvxpy", solver: str | None = None,
          **options: Any) -> Solution:
    """The Pareto optimum of ``spec`` (``method``: ``"auto"`` = ``"program"``, or ``"fast"``)."""
    if not isinstance(spec, ParetoSpec):
        raise ModelError("spec", type(spec).__name__, "a ParetoSpec")
    if method == "fast":
        if not fast_applies(spec):
            raise ModelError("method", method, "'program' for this spec: the closed form needs "
                             "equal-weight entropic welfare under a common prior, without restrictions "
                             "or constraints")
        return closed_form_solution(spec)
    prog = program(spec)
    solution = prog.solve(backend=backend, solver=solver, **options)
    if spec.constraints:
        solution = dataclasses.replace(solution, constraints=prog.constraint_duals(solution))
    check = closed_form_check(prog, solution)
    if check is not None:
        solution = dataclasses.replace(solution, extra={**solution.extra, "closed_form": check})
    return solution


def closed_form_solution(spec: ParetoSpec) -> Solution:
    """The closed form as a :class:`~riskopt.solution.Solution` (method ``"fast"``), verified: the
    shares sum to one and the allocation splits X state by state (exact arithmetic up to rounding)."""
    gammas = [a.measure.gamma for a in spec.agents]  # type: ignore[attr-defined]
    cf = entropic_closed_form(spec.space, gammas)
    X, p = spec.space.X, spec.space.p
    scale = float(np.max(np.abs(X), initial=0.0)) or 1.0
    checks = (Check("shares_sum_to_one", abs(float(np.sum(cf.shares)) - 1.0), 1e-14),
              Check("allocation_splits_X", float(np.max(np.abs(cf.allocation.sum(axis=0) - X), initial=0.0)),
                    1e-14 * scale))
    names = [a.name for a in spec.agents]
    prices = Prices(state_prices=p * cf.state_density, state_density=cf.state_density, determined=p > 0,
                    state_probs=p, accuracy=np.zeros(p.size), unique=np.full(p.size, True, dtype=object),
                    note="the Esscher tilt in closed form (exact to rounding)")
    report = SolveReport("riskopt", "closed form (Ogaku, Example 1)", Status.OPTIMAL, "closed form")
    agents = tuple({"name": nm, "measure": a.measure.describe(), "weight": 1.0, "utility": float(u)}
                   for nm, a, u in zip(names, spec.agents, cf.utilities, strict=True))
    return Solution(status=from_checks(Status.OPTIMAL, checks), objective=float(cf.welfare),
                    program="closed_form", mechanism="pareto", sense="max", solver=report, certificate=None,
                    allocation=dict(zip(names, cf.allocation, strict=True)),
                    values=dict(zip(names, cf.utilities.tolist(), strict=True)), prices=prices, agents=agents,
                    aggregate=X, allocation_unique=True, verification=checks, method="fast")


CARD = CardMechanism.of("pareto", ParetoSpec, solve,
                        "Pareto optima and Borch-Wilson welfare of agents sharing X over an allocation set.")
MECHANISM = register_mechanism(Mechanism("pareto", ParetoSpec, solve, ("fast", "program"),
                                         "Pareto optima and Borch-Wilson welfare"))
