"""User constraints on distortion_sharing: the constrained card, duals against finite differences and
the paper's closed form, the program path against the fast path, and bad input.

Tolerances: the tail-probability program (power cones, Clarabel at 1e-10 gaps) returns values
accurate to ~1e-11 and multipliers accurate to ~3e-6 (Clarabel's duals on power cones are less
accurate than its primal value; measured on Table 2). Duals are therefore compared to 1e-5
absolute; the finite difference uses h = 1e-3 (values accurate to 1e-11 give rounding ~1e-8 at that
step; the truncation error V''' h^2 / 6 is ~1e-6 here), not 1e-6 (rounding ~1e-5). The layer LP on
HiGHS is exact up to 1e-9, so its finite differences use h = 1e-6.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np
import pytest
from _cardkit import MODELS, bundled, run_cli, run_json, write

import riskopt as ro
from riskopt import measures
from riskopt.cards import load_card
from riskopt.constraints import ConstraintSpec
from riskopt.errors import ModelError
from riskopt.mechanisms import distortion

CARD = MODELS / "distortion_constrained.toml"
NAME = "fair lottery"
TAIL_STEP = 1e-3
DUAL_TOL = 1e-5  # Clarabel's multipliers on the power-cone program (~3e-6), with margin
PAPER_CARDS = ("grw_table2_row1", "grw_table2_row2", "grw_risk_seeking_pair")


def _with_rhs(spec: distortion.SharingSpec, rhs: Any, k: int = 0) -> distortion.SharingSpec:
    moved = dataclasses.replace(spec.constraints[k], rhs=rhs)
    return dataclasses.replace(spec, constraints=(*spec.constraints[:k], moved, *spec.constraints[k + 1:]))


def test_constrained_card_binds_with_a_finite_nonzero_dual(tmp_path: Any, capfd: Any) -> None:
    code, out, _ = run_cli(capfd, "run", CARD, "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["method"] == "program" and doc["status"] in ("optimal", "verified")
    assert doc["objective_sense"] == "min"
    cap = doc["constraints"][NAME]
    assert cap["binding"] and np.isfinite(cap["dual"]) and abs(cap["dual"]) > 1e-3
    assert set(doc["constrained_values"]) == {"unconstrained", "comonotone", "counter_monotone"}
    unconstrained = run_json(capfd, tmp_path, "distortion_constrained", constraints=False)
    assert unconstrained["constraints"] == {} and unconstrained["constrained_values"] == []
    # minimisation: dropping the constraint cannot raise the total risk (1e-10: solver accuracy)
    assert unconstrained["objective"] <= doc["objective"] + 1e-10
    assert doc["objective"] - unconstrained["objective"] > 0.05  # and it binds: the value moves


def test_card_value_and_dual_are_the_papers_lottery_at_the_cap() -> None:
    """Constant loss 1, powers t^1.2 and t^5, E[X_2] = p_2 <= c: V(c) = (1 - c)^1.2 + c^5 for c below
    the unconstrained p_2* = 0.6629, so V'(c) = 5 c^4 - 1.2 (1 - c)^0.2 (Proposition 3's lottery)."""
    spec = load_card(CARD).spec
    res = distortion.solve(spec)
    c = 0.5
    assert res.objective == pytest.approx((1 - c) ** 1.2 + c**5, abs=1e-10)  # tight Clarabel (1e-10 gaps)
    # tail probabilities: solver feasibility
    np.testing.assert_allclose(res.probabilities, [1 - c, c], atol=1e-8)
    dual = res.constraints[NAME]
    assert dual.scope == "expectation" and dual.binds
    assert dual.dual[0] == pytest.approx(5 * c**4 - 1.2 * (1 - c) ** 0.2, abs=DUAL_TOL)


def test_card_dual_against_a_central_difference() -> None:
    spec = load_card(CARD).spec
    dual = distortion.solve(spec).constraints[NAME].dual[0]
    up = distortion.solve(_with_rhs(spec, 0.5 + TAIL_STEP)).objective
    down = distortion.solve(_with_rhs(spec, 0.5 - TAIL_STEP)).objective
    assert dual == pytest.approx((up - down) / (2 * TAIL_STEP), abs=DUAL_TOL)


def _es_spec(**constraint: Any) -> distortion.SharingSpec:
    space = ro.Scenarios(np.full(6, 1 / 6), {"X": np.array([0.0, 1.0, 2.0, 3.0, 5.0, 8.0])})
    agents = tuple(ro.Agent(nm, measures.ES(a)) for nm, a in (("a", 0.1), ("b", 0.5), ("c", 0.25)))
    spec = distortion.SharingSpec(agents=agents, space=space)
    return spec.add_constraint(**constraint) if constraint else spec


@pytest.mark.parametrize("row", [4, 5])
def test_layer_lp_per_state_dual_against_finite_differences(row: int) -> None:
    """ES agents (risk averse): agent b (ES_0.5, the least risk averse, who takes X unconstrained)
    bears at most 3 in every state. The comonotone value rises (layers above 3 go to c, then a); the
    unconstrained program pays side payments and keeps rho_(min h)(X) (Theorem 2(iii)'s value): its
    cap is priced 0. Each layer-LP row's dual is d value / d rhs_s (an LP: h = 1e-6, tolerance 1e-7)."""
    rhs = np.full(6, 3.0)

    def solve(r: np.ndarray) -> Any:
        return distortion.solve(_es_spec(name="cap", agent="b", what="allocation", sense="<=", rhs=tuple(r)),
                       backend="highs")

    res = solve(rhs)
    assert res.method == "program" and set(res.constrained_values) == {"comonotone", "unconstrained"}
    assert res.values.counter_monotone is None  # Theorem 2's closed form ignores constraints
    free = distortion.solve(_es_spec(), method="fast")
    # two LP solves, HiGHS 1e-9
    assert res.values.unconstrained == pytest.approx(free.values.unconstrained, abs=1e-9)
    assert res.values.comonotone > free.values.comonotone + 0.5
    co = res.comonotone.constraints["cap"]
    assert co.binds
    step = 1e-6
    up, down = rhs.copy(), rhs.copy()
    up[row] += step
    down[row] -= step
    fd = (solve(up).values.comonotone - solve(down).values.comonotone) / (2 * step)
    assert co.dual[row] == pytest.approx(fd, abs=1e-7)  # LP values exact to ~1e-13: FD rounding 1e-13/1e-6


@pytest.mark.parametrize("card", PAPER_CARDS)
def test_program_equals_fast_on_the_bundled_paper_cards(card: str) -> None:
    """Every unconstrained value (1e-7 relative) and the identified layer prices (1e-6)."""
    spec = load_card(MODELS / f"{card}.toml").spec
    program, fast = distortion.solve(spec, method="program"), distortion.solve(spec, method="fast")
    assert program.method == "program" and fast.method == "fast"
    for key, want in fast.values.to_dict().items():
        got = program.values.to_dict()[key]
        assert (got is None) == (want is None)
        if want is not None:
            assert got == pytest.approx(want, rel=1e-7, abs=1e-12), key
    p, f = program.prices, fast.prices
    assert p.prices is not None and f.prices is not None
    identified = p.lower == p.upper
    np.testing.assert_allclose(p.prices[identified], f.prices[identified], rtol=1e-6, atol=1e-12)


def test_fast_refuses_constraints_and_auto_takes_the_program() -> None:
    spec = load_card(CARD).spec
    with pytest.raises(ModelError, match="method"):
        distortion.solve(spec, method="fast")
    assert distortion.solve(spec).method == "program"
    assert distortion.solve(dataclasses.replace(spec, constraints=())).method == "auto"


def test_risk_seeking_per_state_rows_are_the_lotterys_mean_loss() -> None:
    """On the tail program, allocation(s) = E[X_i | X = X(s)]: on a constant loss it is P(A_i)."""
    spec = load_card(MODELS / "grw_table2_row1.toml").spec
    res = distortion.solve(spec.add_constraint(ConstraintSpec(name="cap", agent="agent 1", what="allocation",
                                                     sense="<=", rhs=0.4)))
    assert res.probabilities[0] == pytest.approx(0.4, abs=1e-8)  # solver feasibility
    assert res.objective == pytest.approx(0.4**1.2 + 0.6**1.4, abs=1e-10)  # tight Clarabel (1e-10 gaps)
    assert res.constraints["cap"].dual[0] == pytest.approx(1.2 * 0.4**0.2 - 1.4 * 0.6**0.4, abs=DUAL_TOL)


def test_infeasible_constraints_exit_3_naming_them(tmp_path: Any, capfd: Any) -> None:
    card = bundled("distortion_constrained")
    card["constraints"].append({"name": "agent 2 takes most", "agent": "agent 2",
                                "what": "expected_allocation", "sense": ">=", "rhs": 0.8})
    code, _, err = run_cli(capfd, "run", write(tmp_path / "infeasible.toml", card))
    assert code == 3 and "infeasible" in err
    assert NAME in err and "agent 2 takes most" in err


def test_portfolio_program_equals_the_closed_form() -> None:
    """distortion_portfolio, method "program" (the inner programs and the manager's QP): the value to
    1e-7 relative; lambda* to 1e-6 (the QP's optimum is flat: Clarabel's ~1e-12 value error moves
    lambda by ~1e-8, measured)."""
    spec = load_card(MODELS / "grw_portfolio.toml").spec
    program, fast = distortion.solve(spec, method="program"), distortion.solve(spec, method="fast")
    assert program.method == "program" and program.status.ok and program.lambda_program is not None
    # the program-vs-fast tolerance
    assert program.objective == pytest.approx(fast.objective, rel=1e-7)
    # a QP optimum: sqrt(1e-12) at worst
    assert program.lambda_star == pytest.approx(fast.lambda_star, abs=1e-6)
    doc = program.to_dict()
    assert doc["method"] == "program" and doc["objective_sense"] == "min" and doc["constraints"] == {}


def test_portfolio_refuses_constraints_naming_the_table(tmp_path: Any, capfd: Any) -> None:
    card = bundled("grw_portfolio")
    card["constraints"] = [{"name": "cap", "agent": "agent 1", "what": "allocation", "sense": "<=",
                            "rhs": 0.0}]
    code, out, err = run_cli(capfd, "run", write(tmp_path / "portfolio.toml", card))
    assert code == 2 and out == "" and "constraints[0]" in err
