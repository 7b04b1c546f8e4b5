"""User constraints on the pareto mechanism: the constrained card, duals against finite differences
and another solver, the program against the closed form, and bad input.

Tolerances: Clarabel's interior point stops at 1e-8 relative gaps and the KKT polish takes the point
to ~1e-13, so optimal values agree to 1e-9 between solvers; a central difference with h = 1e-6 of
values accurate to ~1e-13 has rounding error ~1e-7 and truncation O(h^2) ~ 1e-12, so duals are
compared to 1e-5 absolute (they are O(1e-3) here).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np
import pytest
from _cardkit import MODELS, bundled, run_cli, run_json, write

import riskopt as ro
from riskopt.cards import load_card
from riskopt.errors import ModelError
from riskopt.mechanisms import pareto

CARD = MODELS / "pareto_constrained.toml"
FD_STEP = 1e-6
FD_TOL = 1e-5  # rounding of two ~1e-13-accurate values divided by 2h, with margin


def _example1(**constraint: Any) -> pareto.ParetoSpec:
    pool = ro.Scenarios.bernoulli_hits([0.1, 0.1, 0.1])
    farmers = tuple(ro.Agent(f"farmer {i}", ro.measures.Entropic(g)) for i, g in enumerate([1, 2, 4]))
    spec = pareto.ParetoSpec(agents=farmers, space=pool)
    return spec.add_constraint(**constraint) if constraint else spec


def test_constrained_card_binds_with_a_finite_nonzero_dual(tmp_path: Any, capfd: Any) -> None:
    code, out, _ = run_cli(capfd, "run", CARD, "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["method"] == "program" and doc["status"] == "optimal" and doc["objective_sense"] == "max"
    cap = doc["constraints"]["farmer 2 burden cap"]
    dual = np.asarray(cap["dual"], float)
    assert cap["binding"] and np.all(np.isfinite(dual)) and np.max(np.abs(dual)) > 1e-6
    unconstrained = run_json(capfd, tmp_path, "pareto_constrained", constraints=False)
    assert unconstrained["constraints"] == {}
    # maximisation: dropping a constraint cannot lower welfare (1e-12: the two optima are polished)
    assert unconstrained["objective"] >= doc["objective"] - 1e-12
    assert unconstrained["objective"] - doc["objective"] > 1e-5  # and it binds: welfare moves


def test_card_dual_is_the_derivative_of_welfare_in_the_cap_share() -> None:
    """rhs(s) = c X(s): dW*/dc = sum_s dual_s X(s), against a central difference in c."""
    spec = load_card(CARD).spec
    sol = pareto.solve(spec)
    X = spec.space.X
    predicted = float(sol.constraints["farmer 2 burden cap"].dual @ X)

    def welfare_at(c: float) -> float:
        moved = dataclasses.replace(spec.constraints[0], rhs=c)
        return float(pareto.solve(dataclasses.replace(spec, constraints=(moved,))).objective)

    fd = (welfare_at(0.04 + FD_STEP) - welfare_at(0.04 - FD_STEP)) / (2 * FD_STEP)
    assert predicted == pytest.approx(fd, abs=FD_TOL)


@pytest.mark.parametrize("row", [1, 2, 3])
def test_per_state_dual_against_finite_differences(row: int) -> None:
    """Farmer 0 bears at most half of X in every state: each row's dual is dW*/d rhs_s."""
    X = _example1().space.X
    rhs = 0.5 * X

    def solve(r: np.ndarray) -> Any:
        return pareto.solve(_example1(name="cap", agent="farmer 0", what="allocation", sense=">=",
                                      rhs=tuple(r)))

    sol = solve(rhs)
    dual = sol.constraints["cap"].dual
    up, down = rhs.copy(), rhs.copy()
    up[row] += FD_STEP
    down[row] -= FD_STEP
    fd = (solve(up).objective - solve(down).objective) / (2 * FD_STEP)
    assert dual[row] == pytest.approx(fd, abs=FD_TOL)
    assert sol.constraints["cap"].binds and dual[row] < 0  # a tighter floor on a gain costs welfare


def test_expectation_constraint_dual_and_another_solver() -> None:
    """E_P[xi_0] >= -0.15 (farmer 0's expected loss at most 0.15): one dual, equal on ECOS."""
    kw = {"name": "mean", "agent": "farmer 0", "what": "expected_allocation", "sense": ">="}
    sol = pareto.solve(_example1(**kw, rhs=-0.15))
    other = pareto.solve(_example1(**kw, rhs=-0.15), solver="ECOS")
    d = sol.constraints["mean"]
    assert d.scope == "expectation" and d.dual.size == 1 and d.binds
    assert other.objective == pytest.approx(sol.objective, abs=1e-9)  # both polished (module docstring)
    # ECOS duals: 1e-8 gaps, O(1)
    assert other.constraints["mean"].dual[0] == pytest.approx(d.dual[0], abs=1e-6)
    fd = (pareto.solve(_example1(**kw, rhs=-0.15 + FD_STEP)).objective
          - pareto.solve(_example1(**kw, rhs=-0.15 - FD_STEP)).objective) / (2 * FD_STEP)
    assert d.dual[0] == pytest.approx(fd, abs=FD_TOL)


def test_program_equals_closed_form_on_the_bundled_card() -> None:
    """hurricane_pool (the unconstrained paper card): program path vs Ogaku's closed form."""
    spec = load_card(MODELS / "hurricane_pool.toml").spec
    program, fast = pareto.solve(spec, method="program"), pareto.solve(spec, method="fast")
    assert program.method == "program" and fast.method == "fast"
    # the program-vs-fast tolerance
    assert program.objective == pytest.approx(fast.objective, rel=1e-7)
    determined = program.prices.determined & (spec.space.p >= 1e-12)
    np.testing.assert_allclose(program.prices.state_density[determined],
                               fast.prices.state_density[determined], rtol=1e-6)


def test_fast_refuses_constraints() -> None:
    spec = _example1(name="cap", agent="farmer 0", what="allocation", sense=">=", rhs=-0.2)
    with pytest.raises(ModelError, match="method"):
        pareto.solve(spec, method="fast")
    assert pareto.solve(spec).method == "program"  # auto takes the program


def test_infeasible_constraints_exit_3_naming_them(tmp_path: Any, capfd: Any) -> None:
    card = bundled("pareto_constrained")
    card["constraints"].append({"name": "farmer 2 takes it all", "agent": "farmer 2",
                                "what": "share_of_aggregate", "sense": "<=", "rhs": 0.5})
    code, _, err = run_cli(capfd, "run", write(tmp_path / "infeasible.toml", card))
    assert code == 3 and "infeasible" in err
    assert "farmer 2 burden cap" in err and "farmer 2 takes it all" in err
