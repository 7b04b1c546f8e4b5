"""User constraints on the price-and-choose mechanism: the constrained card, duals against finite
differences, the program against the fast path on the bundled paper cards, the credal forms of the
program, the game skipped under constraints, and bad input.

Tolerances: the conic program is polished by riskopt's KKT Newton step (certificate ~1e-16 on
Example 1), so optimal values are accurate to ~1e-13; a central difference with h = 1e-6 then has
rounding error ~1e-7 and truncation O(h^2) ~ 1e-12, so duals (O(1e-2) here) are compared to 1e-6
absolute.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np
import pytest
from _cardkit import MODELS, bundled, run_cli, run_json, write

from riskopt.cards import load_card
from riskopt.constraints import ConstraintSpec
from riskopt.errors import ModelError
from riskopt.mechanisms import price_and_choose as pc

CARD = MODELS / "price_and_choose_constrained.toml"
CAP = "farmer 1 burden cap"
FD_STEP = 1e-6
FD_TOL = 1e-6  # rounding of two ~1e-13-accurate values divided by 2h (~1e-7), with margin


def _example1(beliefs: pc.Beliefs | None = None, *constraints: ConstraintSpec) -> pc.PriceAndChoose:
    pool = pc.Pool.independent([1.0, 2.0, 4.0], 0.1, names=("farmer 1", "farmer 2", "farmer 3"))
    return pc.PriceAndChoose(pool, beliefs or pc.Beliefs.common(), constraints=constraints)


def _cap(rhs: Any, what: str = "allocation", **kw: Any) -> ConstraintSpec:
    return ConstraintSpec(name="cap", agent="farmer 1", what=what, sense=">=", rhs=rhs, **kw)


# ----------------------------------------------------------------------------- the card
def test_constrained_card_binds_with_a_finite_nonzero_dual(tmp_path: Any, capfd: Any) -> None:
    code, out, _ = run_cli(capfd, "run", CARD, "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["method"] == "program" and doc["status"] == "optimal" and doc["objective_sense"] == "max"
    cap = doc["constraints"][CAP]
    dual = np.asarray(cap["dual"], float)
    assert cap["binding"] and cap["binding_rows"] == 4 and np.all(np.isfinite(dual))
    assert dual[0] == 0.0 and np.all(dual[1:] < -1e-4)  # the anchor's row is priced 0 (f(0) = 0 on C)
    assert doc["welfare_optimum"]["relative_residual"] < 1e-9  # certified with the cap's dual
    assert doc["welfare_optimum"]["closed_form"]["exact"] is False  # the closed form is a bound
    unconstrained = run_json(capfd, tmp_path, "price_and_choose_constrained", constraints=False)
    assert unconstrained["constraints"] == {} and unconstrained["method"] == "fast"
    # maximisation: dropping a constraint cannot lower welfare (1e-12: both optima are exact to ~1e-15)
    assert unconstrained["objective"] >= doc["objective"] - 1e-12
    assert unconstrained["objective"] - doc["objective"] > 1e-3  # and it binds: welfare moves


def test_card_allocation_is_capped_and_the_rest_proportional() -> None:
    """Farmer 1 bears exactly half of X; farmers 2 and 3 split the other half 2 : 1 (1/gamma)."""
    res = pc.solve(load_card(CARD).spec)
    X = res.optimum.atoms.X
    alloc = res.allocation
    np.testing.assert_allclose(alloc["farmer 1"], 0.5 * X, atol=1e-12)  # the binding cap, polished
    np.testing.assert_allclose(alloc["farmer 2"], X / 3, atol=1e-9)  # solver feasibility on the free rows
    np.testing.assert_allclose(alloc["farmer 3"], X / 6, atol=1e-9)


def test_card_dual_is_the_derivative_of_welfare_in_the_cap_share() -> None:
    """rhs(x_k) = c x_k: dW*/dc = sum_k dual_k x_k, against a central difference in c."""
    spec = load_card(CARD).spec
    res = pc.solve(spec)
    predicted = float(res.constraints[CAP].dual @ res.optimum.atoms.X)

    def welfare_at(c: float) -> float:
        moved = dataclasses.replace(spec.constraints[0], rhs=c)
        return pc.solve(dataclasses.replace(spec, constraints=(moved,))).welfare

    fd = (welfare_at(0.5 + FD_STEP) - welfare_at(0.5 - FD_STEP)) / (2 * FD_STEP)
    assert predicted == pytest.approx(fd, abs=FD_TOL)
    assert predicted > 0  # a looser cap (larger c) raises welfare


@pytest.mark.parametrize("row", [1, 2, 3])
def test_per_atom_dual_against_finite_differences(row: int) -> None:
    """f_1(x_k) >= x_k / 2 on every atom: each row's dual is dW*/d rhs_k."""
    X = pc.Pool.independent([1.0, 2.0, 4.0], 0.1).law().X
    rhs = 0.5 * X

    def solve(r: np.ndarray) -> pc.PriceAndChooseResult:
        return pc.solve(_example1(None, _cap(tuple(r))))

    res = solve(rhs)
    dual = res.constraints["cap"].dual
    up, down = rhs.copy(), rhs.copy()
    up[row] += FD_STEP
    down[row] -= FD_STEP
    fd = (solve(up).welfare - solve(down).welfare) / (2 * FD_STEP)
    assert dual[row] == pytest.approx(fd, abs=FD_TOL)
    assert dual[row] < 0  # a higher floor on a gain costs welfare


def test_expectation_constraint_under_own_laws() -> None:
    """Credal own-hit beliefs: farmer 1's expected loss under his own (worst-case) law at most 0.15;
    one dual, certified, against a central difference; the epigraph and worst-case programs agree."""
    credal = pc.Beliefs.credal([0.05] * 3, [0.15] * 3)
    kw: dict[str, Any] = {"what": "expected_allocation", "law": "own"}
    res = pc.solve(_example1(credal, _cap(-0.15, **kw)))
    d = res.constraints["cap"]
    assert d.scope == "expectation" and d.dual.size == 1 and d.binds and d.dual[0] < 0
    assert res.status == "optimal" and res.residual < 1e-8
    assert "worst-case laws" in res.optimum.optimum.method
    fd = (pc.solve(_example1(credal, _cap(-0.15 + FD_STEP, **kw))).welfare
          - pc.solve(_example1(credal, _cap(-0.15 - FD_STEP, **kw))).welfare) / (2 * FD_STEP)
    assert d.dual[0] == pytest.approx(fd, abs=FD_TOL)
    epigraph = dataclasses.replace(_example1(credal, _cap(-0.15, **kw)),
                                   welfare=pc.WelfareSpec(credal_program="epigraph"))
    other = pc.solve(epigraph)
    # the max-min epigraphs stop at Clarabel's 1e-8 gaps (riskopt's polish does not take MaxMin
    # rows): values to 1e-8, the dual (a first-order quantity, ~sqrt of the gap) to 1e-5 relative
    assert other.welfare == pytest.approx(res.welfare, abs=1e-8)  # two conic forms at 1e-8 gaps
    # the epigraph form is unpolished
    assert other.constraints["cap"].dual[0] == pytest.approx(d.dual[0], rel=1e-5)


# ----------------------------------------------------------------------------- program == fast
# the 500-farmer card's conic program takes 15-30 s (two shared cores): a heavy case
PAPER_CARDS = ["ogaku_example1", "ogaku_credal", pytest.param("hurricane_pool_500", marks=pytest.mark.slow)]


@pytest.mark.parametrize("name", PAPER_CARDS)
def test_program_equals_fast_on_the_bundled_paper_cards(name: str) -> None:
    """Welfare to 1e-7 relative; state prices to 1e-6 relative where identified, on the atoms priced
    at >= 1e-3 of the largest price, and to 1e-7 of the largest price everywhere: a conic solver's
    prices are accurate to its feasibility tolerance in absolute terms (the 500-farmer pool's atoms
    of probability 1e-26 .. 1e-6 have prices an interior point cannot pin down relatively, and atom
    0's price, completed by cash invariance, sums the others' errors; the Newton path has every price
    in log space). The 500-farmer credal card uses the worst-case form of the program
    (the epigraph form takes ~150 s there; the two forms are compared on the 3-farmer credal cards),
    each card its own [solver] options."""
    card = load_card(MODELS / f"{name}.toml")
    spec = dataclasses.replace(card.spec, menu=None, welfare=pc.WelfareSpec(
        credal_program="worst_case" if name == "hurricane_pool_500" else "epigraph"))
    backend, solver, options = card.solver_choice.resolve(None, None)
    fast = pc.solve(spec, method="fast")
    program = pc.solve(spec, method="program", backend=backend, solver=solver, **options)
    assert fast.method == "fast" and program.method == "program" and program.status.ok
    assert program.welfare == pytest.approx(fast.welfare, rel=1e-7)  # the program-vs-fast tolerance
    ours, ref = program.optimum.optimum.prices, fast.optimum.optimum.prices
    identified = ref >= 1e-3 * ref.max()
    np.testing.assert_allclose(ours[identified], ref[identified], rtol=1e-6)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-7 * ref.max())


def test_a_constrained_menu_is_not_played() -> None:
    """With constraints the game, SPNE checks and auction are skipped, and the JSON says why."""
    spec = load_card(MODELS / "ogaku_example1.toml").spec
    spec = dataclasses.replace(spec, welfare=pc.WelfareSpec()).add_constraint(_cap(0.5, "share_of_aggregate"))
    res = pc.solve(spec)
    assert res.method == "program" and res.game is None and res.auction is None and res.spne is None
    out = res.to_dict()
    assert out["eta"] is None and out["bid"] is None and out["game_skipped"] == pc.GAME_SKIPPED
    assert "not played" in res.table()


# ----------------------------------------------------------------------------- bad input
def test_fast_refuses_constraints() -> None:
    spec = _example1(None, _cap(0.5, "share_of_aggregate"))
    with pytest.raises(ModelError, match="method"):
        pc.solve(spec, method="fast")
    assert pc.solve(spec).method == "program"  # auto takes the program


@pytest.mark.parametrize(("welfare", "field"), [
    (pc.WelfareSpec(cross_check="conic"), "welfare.cross_check"),
    (pc.WelfareSpec(compare_atoms=True), "welfare.compare_atoms"),
])
def test_cross_checks_without_constraints_are_refused(welfare: pc.WelfareSpec, field: str) -> None:
    with pytest.raises(ModelError) as err:
        dataclasses.replace(_example1(None, _cap(0.5, "share_of_aggregate")), welfare=welfare)
    assert err.value.field == field


def test_infeasible_constraints_exit_3_naming_them(tmp_path: Any, capfd: Any) -> None:
    card = bundled("price_and_choose_constrained")
    card["constraints"].append({"name": "farmer 1 takes most", "agent": "farmer 1",
                                "what": "share_of_aggregate", "sense": "<=", "rhs": 0.6})
    code, _, err = run_cli(capfd, "run", write(tmp_path / "infeasible.toml", card))
    assert code == 3 and "infeasible" in err
    assert CAP in err and "farmer 1 takes most" in err
