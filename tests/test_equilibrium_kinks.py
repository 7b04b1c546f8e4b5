"""Equilibria where preferences have kinks: the prices are an interval and each agent's side payment
ranges over the optimal dual face of the welfare LP (riskopt.degeneracy.dual_range), checked against
the per-state price intervals and a hand-derived face."""

from __future__ import annotations

import numpy as np
import pytest

import riskopt as ro
from riskopt.allocation import Budget
from riskopt.cards import parse_card, run_card
from riskopt.degeneracy import dual_range, price_intervals
from riskopt.program import SharingProgram

#: HiGHS's optimality tolerances are 1e-7 relative; the welfare values here are O(1)
LP_TOL = 1e-7


def _es_pair(a: list[float], b: list[float]) -> dict:
    return {"model": {"name": "kink", "mechanism": "equilibrium"},
            "space": {"kind": "discrete", "values": [0.0, 1.0, 1.0, 3.0], "probs": [0.25] * 4},
            "agents": [{"name": "a", "measure": {"name": "es", "level": 0.5}, "endowment": a},
                       {"name": "b", "measure": {"name": "es", "level": 0.5}, "endowment": b}]}


def test_side_payments_range_over_the_equilibrium_prices() -> None:
    """Two ES(0.5) agents, X = (0, -1, -1, -3) equiprobable (losses as gains): the equilibrium prices
    are y = (0, t, 1/2 - t, 1/2), t in [0, 1/2] (the tied states share 1/2). The welfare optimum is
    equal on the tied states, so agent a's side payment sum_s y_s (e_a - xi*_a)(s) moves only through
    e_a: its range has width (1/2) |e_a(1) - e_a(2)| = 0.3."""
    a, b = [0.0, -0.7, -1.3, -3.0], [1.0, 0.7, 1.3, 1.0]
    res = run_card(parse_card(_es_pair(a, b), source="kink"))
    assert res.status.ok
    pr = res.prices
    np.testing.assert_allclose(pr.lower, [0, 0, 0, 0.5], atol=LP_TOL)
    np.testing.assert_allclose(pr.upper, [0, 0.5, 0.5, 0.5], atol=LP_TOL)
    rows = {r["name"]: r for r in res.agent_rows()}
    lo_a, hi_a = rows["a"]["side_payment_lower"], rows["a"]["side_payment_upper"]
    lo_b, hi_b = rows["b"]["side_payment_lower"], rows["b"]["side_payment_upper"]
    assert hi_a - lo_a == pytest.approx(0.5 * abs(a[1] - a[2]), abs=LP_TOL)
    assert lo_a + hi_b == pytest.approx(0.0, abs=LP_TOL) and hi_a + lo_b == pytest.approx(0.0, abs=LP_TOL)
    # the reported equilibrium is one member of the set: its side payment lies in the range
    point = float((np.asarray(a) - res.xi[0]) @ res.psi)  # budget balance: 0 = E[phi (e - xi)]
    assert abs(point) <= 1e-9
    assert res.to_dict()["agents"][0]["side_payment_lower"] == pytest.approx(lo_a)


def test_side_payments_are_points_when_trades_do_not_see_the_kink() -> None:
    """Endowments equal on the tied states: the price interval does not move any payment."""
    res = run_card(parse_card(_es_pair([0.0, -1.0, -1.0, -3.0], [1.0, 1.0, 1.0, 1.0]), source="kink"))
    assert res.prices.all_unique is False
    lo, hi = res.side_payment_bounds
    np.testing.assert_allclose(hi - lo, 0.0, atol=LP_TOL)


@pytest.mark.parametrize("seed", range(4))
def test_dual_range_of_a_unit_row_is_its_price_interval(seed: int) -> None:
    """dual_range along e_r equals price_intervals' [lower_r, upper_r] (two routes through the LP's
    optimal dual face), and along the all-ones direction it is exactly 1 (cash invariance)."""
    rng = np.random.default_rng(seed)
    S = 6
    X = -rng.integers(0, 4, S).astype(float)  # integer losses: ties, hence kinks
    space = ro.Scenarios(np.full(S, 1 / S), {"X": X})
    agents = [ro.Agent("a", ro.measures.ES(0.5)), ro.Agent("b", ro.measures.ES(1 / 3)),
              ro.Agent("c", ro.measures.Expectation())]
    prog = SharingProgram(space, agents, allocation=Budget(), objective="welfare")
    prog.solve(backend="highs")
    pi = price_intervals(prog, "budget")
    lo, hi = dual_range(prog, "budget", np.eye(S))  # every unit row at once
    np.testing.assert_allclose(lo, pi.lower, atol=LP_TOL)
    np.testing.assert_allclose(hi, pi.upper, atol=LP_TOL)
    lo, hi = dual_range(prog, "budget", np.ones(S))
    assert (lo[0], hi[0]) == pytest.approx((1.0, 1.0), abs=LP_TOL)


def test_dual_range_refuses_a_wrong_number_of_weights() -> None:
    space = ro.Scenarios([0.5, 0.5], {"X": [0.0, -1.0]})
    agents = [ro.Agent("a", ro.measures.ES(0.5)), ro.Agent("b", ro.measures.Expectation())]
    prog = SharingProgram(space, agents, allocation=Budget(), objective="welfare")
    with pytest.raises(ro.ModelError, match="weights"):
        dual_range(prog, "budget", [1.0])
