"""Pareto optima / Borch-Wilson welfare: seed 000's Example 1 and the spec's reference numbers.

Reference values: ../shared/spec/price_and_choose.md §2.3, §5 and §6 (independent reference
implementation); closed forms from riskopt.mechanisms.pareto.entropic_closed_form.
"""

import itertools

import numpy as np
import pytest

import riskopt as ro
from riskopt.mechanisms.pareto import entropic_closed_form, frontier, supporting_weights, welfare
from riskopt.space import poisson_binomial

EX1 = ro.Scenarios.bernoulli_hits([0.1, 0.1, 0.1], loss=1.0)


def farmers(gammas, space=None):
    return [ro.Agent(f"farmer {i + 1}", ro.measures.Entropic(g)) for i, g in enumerate(gammas)]


@pytest.mark.parametrize(
    ("gammas", "lam", "W", "Q"),
    [
        ((1, 2, 4), 4 / 7, -0.3898293377,
         (0.5834239508, 0.3443747291, 0.0677574480, 0.0044438721)),
        ((0.5, 3, 10), 30 / 73, -0.3619109499,
         (0.6282531590, 0.3158570760, 0.0529328509, 0.0029569141)),
    ],
)
def test_example1_table(gammas, lam, W, Q):
    """Spec §6 table: lambda, shares, W*, U_i = w_i W*, Esscher Q (10 printed decimals)."""
    sol = welfare(EX1, farmers(gammas)).solve()
    cf = entropic_closed_form(EX1, gammas)
    assert cf.lam == pytest.approx(lam, abs=1e-10)
    assert sol.objective == pytest.approx(W, abs=1e-10)
    for i, a in enumerate(farmers(gammas)):
        assert sol.values[a.name] == pytest.approx(cf.shares[i] * W, abs=1e-10)
    assert np.allclose(sol.prices.state_prices, Q, atol=1e-10, rtol=0)


@pytest.mark.parametrize("gammas", [(1, 2, 4), (0.5, 3, 10)])
def test_example1_closed_form_to_1e8(gammas):
    """Allocation xi_i = w_i X and density exp(-lam X)/E[exp(-lam X)], after the KKT polish."""
    sol = welfare(EX1, farmers(gammas)).solve()
    cf = entropic_closed_form(EX1, gammas)
    F = np.vstack([sol.allocation[f"farmer {i + 1}"] for i in range(3)])
    assert np.max(np.abs(F - cf.allocation)) < 1e-8
    assert np.max(np.abs(sol.prices.state_density - cf.state_density)) < 1e-8
    assert sol.solver.polish["applied"]
    assert sol.certificate.max_residual < 1e-8
    # dQ/dP = e^{lam k L} / E[e^{lam N}] (spec §6)
    k = np.arange(4)
    assert np.allclose(sol.prices.state_density, np.exp(cf.lam * k) / (EX1.p @ np.exp(cf.lam * k)),
                       rtol=1e-9)


def test_unpolished_solver_is_looser_and_reported():
    """Without the polish Clarabel's allocation at the 0.001 atom is only ~1e-5 accurate."""
    sol = welfare(EX1, farmers((1, 2, 4))).solve(polish=False)
    cf = entropic_closed_form(EX1, (1, 2, 4))
    F = np.vstack([sol.allocation[f"farmer {i + 1}"] for i in range(3)])
    assert sol.solver.polish is None
    assert abs(sol.objective - cf.welfare) < 1e-9  # welfare is accurate anyway
    assert np.max(np.abs(F - cf.allocation)) > 1e-8  # the polish is what buys the last digits


def test_correlated_common_shock():
    """Spec §6 correlated variant: law, W* and Esscher Q."""
    cs = ro.Scenarios.common_shock_hits([0.25] * 3, [0.0625] * 3, 0.2)
    assert np.allclose(cs.p, [0.7435546875, 0.2162109375, 0.0369140625, 0.0033203125], atol=1e-12, rtol=0)
    sol = welfare(cs, farmers((1, 2, 4))).solve()
    assert sol.objective == pytest.approx(-0.4052906137, abs=1e-10)
    assert np.allclose(sol.prices.state_prices, [0.5898378573, 0.3037145951, 0.0918222904, 0.0146252573],
                       atol=1e-10)


def _own_hit(gammas, intervals):
    agents = []
    for i, (g, (a, b)) in enumerate(zip(gammas, intervals, strict=True)):
        vertices = []
        for pi in (a, b):
            p = [0.1, 0.1, 0.1]
            p[i] = pi
            vertices.append(poisson_binomial(np.array(p)))
        agents.append(ro.Agent(f"farmer {i + 1}", ro.measures.MaxMin(ro.measures.Entropic(g), vertices)))
    return agents


TIGHT = {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12, "tol_ktratio": 1e-10}
#: state prices of the max-min programs (duals of an optimal_inaccurate Clarabel solve): 1.6e-7 measured
CREDAL_PRICE_TOL = 2e-7


def test_credal_own_hit_identical_intervals():
    """Spec §5: W*_mm = -(7/4)[log(.85 + .15 e^{4/7}) + 2 log(.9 + .1 e^{4/7})], state prices,
    and the vertex duals putting all weight on the high vertex (the worst-case prior)."""
    sol = welfare(EX1, _own_hit((1, 2, 4), [(0.05, 0.15)] * 3)).solve(**TIGHT)
    e = np.exp(4 / 7)
    W = -(7 / 4) * (np.log(0.85 + 0.15 * e) + 2 * np.log(0.9 + 0.1 * e))
    assert sol.objective == pytest.approx(W, abs=1e-9)
    assert sol.objective == pytest.approx(-0.45135307, abs=5e-9)
    # Clarabel ends optimal_inaccurate on this max-min epigraph even at 1e-12 tolerances: the value
    # is within 1e-9, its duals (the prices) within 1.1e-7 (an allclose with the default rtol hid
    # that behind a 1e-8 that was never met)
    prices = [0.53197648, 0.37557711, 0.08601088, 0.00643553]
    assert np.allclose(sol.prices.state_prices, prices, atol=CREDAL_PRICE_TOL, rtol=0)
    for i in range(3):
        beta = sol.duals[f"credal:farmer {i + 1}"]
        assert beta.sum() == pytest.approx(1.0, abs=1e-8)  # equal weights 1: sum of multipliers
        assert beta[1] > 1 - 1e-7  # the high-probability vertex is the worst case on C


def test_credal_box_reading():
    """Spec §5 box reading: W = -(7/4) 3 log(.85 + .15 e^{4/7}) and its state prices."""
    corners = [poisson_binomial(np.array(c)) for c in itertools.product([0.05, 0.15], repeat=3)]
    agents = [ro.Agent(f"f{i}", ro.measures.MaxMin(ro.measures.Entropic(g), corners))
              for i, g in enumerate((1, 2, 4))]
    sol = welfare(EX1, agents).solve(**TIGHT)
    assert sol.objective == pytest.approx(-(7 / 4) * 3 * np.log(0.85 + 0.15 * np.exp(4 / 7)), abs=1e-9)
    prices = [0.44229170, 0.41463948, 0.12957203, 0.01349679]  # the Esscher tilt of the high corner
    assert np.allclose(sol.prices.state_prices, prices, atol=CREDAL_PRICE_TOL, rtol=0)


def test_credal_heterogeneous_intervals_bind_monotonicity():
    """Spec §2.5: intervals [.05,.15], [.05,.25], [.05,.40]: the C-optimum has a binding
    monotonicity row, W_C = -0.5025058286 (below the unconstrained bound -0.5024916025)."""
    sol = welfare(EX1, _own_hit((1, 2, 4), [(0.05, 0.15), (0.05, 0.25), (0.05, 0.40)])).solve(**TIGHT)
    assert sol.objective == pytest.approx(-0.5025058286, abs=1e-9)
    assert sol.objective < -0.5024916025
    assert np.max(sol.duals["monotone"]) > 1e-4  # a monotonicity multiplier is active


def test_large_pool_modulo_constants():
    """n = 50 (seed 2505 draws as in the spec's n = 500 instance): welfare and density match the
    closed form; the anchor pins the constants here, and the polish gives pointwise accuracy."""
    n = 50
    rng = np.random.default_rng(2505)
    g, p = rng.uniform(0.5, 5, n), rng.uniform(0.02, 0.2, n)
    pool = ro.Scenarios.bernoulli_hits(p).prune(1e-16)
    sol = welfare(pool, farmers(g)).solve()
    cf = entropic_closed_form(pool, g)
    assert abs(sol.objective - cf.welfare) / abs(cf.welfare) < 1e-12
    assert np.max(np.abs(sol.prices.state_density / cf.state_density - 1)) < 1e-10
    F = np.vstack([sol.allocation[f"farmer {i + 1}"] for i in range(n)])
    assert np.max(np.abs(F - cf.allocation)) < 1e-10
    assert pool.pruned_mass < 1e-15


def test_unequal_weights_with_side_payments_are_unbounded():
    """Teaching point: monetary utilities + free side payments + unequal weights -> unbounded."""
    prog = welfare(EX1, farmers((1, 2, 4)), allocation=ro.Budget(), weights=[1.0, 2.0, 1.0])
    with pytest.raises(ro.SolveError) as err:
        prog.solve()
    assert err.value.status.startswith("unbounded")
    assert "side payments" in str(err.value)
    # equal weights: bounded, and the free optimum equals the comonotone one (common prior)
    free = welfare(EX1, farmers((1, 2, 4)), allocation=ro.Budget()).solve()
    assert free.objective == pytest.approx(-0.3898293377, abs=1e-9)


def test_unequal_weights_on_anchored_set_are_bounded():
    """On the anchored set C there are no side payments: unequal weights stay bounded and shift
    risk away from the heavier-weighted farmer (his share of the worst loss drops below 2/7)."""
    sol = welfare(EX1, farmers((1, 2, 4)), weights=[1.0, 2.0, 1.0]).solve()
    assert sol.ok
    share_worst = sol.allocation["farmer 2"][3] / EX1.X[3]
    assert 0 < share_worst < 2 / 7 - 0.05
    assert np.allclose(sum(sol.allocation.values()), EX1.X, atol=1e-9, rtol=0)


def test_frontier_expected_utility_traced_without_recompiling():
    """Two CARA expected-utility agents (not monetary): a concave frontier traced by weights,
    one compiled program (DPP) re-solved; U_a increases and U_b decreases with t."""
    space = ro.Scenarios.discrete([-2.0, -1.0, 0.0, 1.0], [0.1, 0.2, 0.4, 0.3])
    agents = [ro.Agent("a", ro.measures.ExpectedUtility("cara", gamma=1.0, wealth=2.0)),
              ro.Agent("b", ro.measures.ExpectedUtility("cara", gamma=3.0, wealth=2.0))]
    fr = frontier(space, agents, points=9)
    assert all(s == "optimal" for s in fr.statuses)
    ua, ub = fr.utilities[:, 0], fr.utilities[:, 1]
    assert np.all(np.diff(ua) > -1e-9) and np.all(np.diff(ub) < 1e-9)
    # every frontier point is Pareto optimal: supporting weights recover (t, 1 - t)
    for t, sol in zip(fr.weights[1:-1], fr.solutions[1:-1], strict=True):
        sw = supporting_weights(space, agents, sol.allocation)
        assert sw.residual < 1e-6
        assert sw.weights[0] == pytest.approx(t, abs=1e-4)


def test_frontier_monetary_is_a_line():
    sp = ro.Scenarios.discrete([-2.0, 0.0, 1.0], [0.2, 0.5, 0.3])
    agents = [ro.Agent("a", ro.measures.Entropic(1.0)), ro.Agent("b", ro.measures.Entropic(2.0))]
    fr = frontier(sp, agents, points=5)
    assert "line" in fr.note
    total = fr.utilities.sum(axis=1)
    assert np.allclose(total, total[0], atol=1e-12, rtol=0)


def test_supporting_weights_of_monetary_optimum_are_equal():
    sol = welfare(EX1, farmers((1, 2, 4)), allocation=ro.Budget()).solve()
    sw = supporting_weights(EX1, farmers((1, 2, 4)), sol.allocation)
    assert np.allclose(sw.weights, 1 / 3, atol=1e-6, rtol=0)
    assert sw.residual < 1e-6


def test_user_constraint_and_its_dual():
    """A modeler's constraint: farmer 1 keeps at least 60% of X; its dual is its shadow price."""
    prog = welfare(EX1, farmers((1, 2, 4)))
    name = prog.add_constraint(lambda xi: xi["farmer 1"] <= 0.6 * EX1.X)
    sol = prog.solve()
    assert np.all(sol.allocation["farmer 1"] <= 0.6 * EX1.X + 1e-9)
    base = welfare(EX1, farmers((1, 2, 4))).solve()
    assert sol.objective < base.objective  # the constraint binds (w_1 = 4/7 < 0.6 is violated)
    assert np.max(sol.duals[name]) > 0
