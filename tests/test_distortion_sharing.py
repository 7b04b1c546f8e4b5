"""Distortion risk sharing (seed 002, Ghossoub-Ren-Wang): the three inf-convolutions.

References: spec counter_monotonic.md §4-6 (Theorem 2, Corollary 1, Examples 1, 2, 4; Proposition 2;
Theorem 3 and Lemma 3; Proposition 3 and Table 2). Three independent routes to Theorem 3: the
closed form rho_h~(X), the explicit jackpot of Lemma 3 evaluated exactly on the split space, and
the tail-probability convex program (Clarabel).
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import riskopt as ro
from riskopt.measures.distortion import (
    DualPower,
    ExponentialDistortion,
    PiecewiseLinear,
    Power,
    choquet_sorted,
)
from riskopt.mechanisms.distortion import (
    PointwiseMin,
    inf_convolution,
    jackpot_events,
    jackpot_from_pieces,
    lemma3_jackpot,
    power_lottery,
    representative,
    share,
    tail_program,
    var_jackpot,
)

SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
M = ro.measures


def agents(*measures):
    return [ro.Agent(f"agent {i + 1}", m) for i, m in enumerate(measures)]


def dist(h):
    return M.Distortion(h)


RNG = np.random.default_rng(2412)
X_POS = ro.Scenarios.discrete([0.0, 1.0, 2.5, 4.0, 7.0, 10.0], [0.3, 0.25, 0.2, 0.12, 0.08, 0.05])
X_NEG = ro.Scenarios.discrete(-X_POS.X, X_POS.p)
INSTANCES = {
    "powers n=2": [Power(2.0), Power(3.0)],
    "power+exponential kink n=3": [Power(1.5), ExponentialDistortion(2.0), Power(4.0)],
    "piecewise-linear kink n=2": [PiecewiseLinear([0, 0.4, 1], [0, 0.1, 1]), Power(2.5)],
    "exponentials n=3": [ExponentialDistortion(0.5), ExponentialDistortion(3.0), ExponentialDistortion(8.0)],
    "powers n=10": [Power(a) for a in np.linspace(1.1, 5.0, 10)],
}


# ------------------------------------------------------------------------------ Theorem 3
@pytest.mark.parametrize("space", [X_POS, X_NEG], ids=["X>=0", "X<=0"])
@pytest.mark.parametrize("name", list(INSTANCES))
def test_theorem3_closed_form_jackpot_and_tail_program_agree(space, name):
    """rho_h~(X) = sum_i rho_{h_i}(X 1_{A_i}) (Lemma 3, exact) = tail program (1e-8)."""
    hs = INSTANCES[name]
    jp, rep = lemma3_jackpot(space, hs)
    closed = choquet_sorted(space.X, space.p, rep)
    assert jp.values(hs).sum() == pytest.approx(closed, abs=1e-12)
    prog = tail_program(space, hs)
    sol = prog.solve()
    assert sol.objective == pytest.approx(closed, abs=1e-8)
    assert prog.jackpot().values(hs).sum() == pytest.approx(closed, abs=1e-8)
    # (10): counter-monotone <= comonotone = rho_{min h}
    assert closed <= choquet_sorted(space.X, space.p, PointwiseMin(hs)) + 1e-12


@pytest.mark.slow
def test_tail_program_with_200_agents_is_honest_about_its_accuracy():
    """With 200 risk seekers the optimum is ~2e-6, 1e-5 of the equal split's value: Clarabel's
    answer is 5.7e-4 (relative) off the closed form, and the projection onto the constraints moves
    the exact value by 1.3e-3. The certificate's objective check sees it: the status is not ok
    (it used to say optimal). Whatever the status, an ok one must be right to 1e-7."""
    x = np.round(np.random.default_rng(3).exponential(2.0, size=40), 2)
    space = ro.Scenarios.discrete(x, np.full(40, 1 / 40))
    hs = [Power(a) if k % 2 == 0 else ExponentialDistortion(a)
          for k, a in enumerate(np.linspace(1.1, 5.0, 200))]
    closed = choquet_sorted(space.X, space.p, representative(hs, "nonnegative"))
    sol = tail_program(space, hs).solve(check=False)
    error = abs(sol.objective - closed) / closed
    assert error < 1e-2  # the projected point is feasible: its value is an upper bound close above
    if error > 1e-7:
        assert not sol.status.ok
        assert sol.certificate.objective_error > sol.certificate.tolerances.tight


def test_jackpot_is_a_counter_monotone_allocation_of_x():
    hs = INSTANCES["power+exponential kink n=3"]
    for space in (X_POS, X_NEG):
        jp, _ = lemma3_jackpot(space, hs)
        alloc = jp.allocation()
        assert np.allclose(alloc.sum(axis=0), jp.space.X, atol=0, rtol=0)
        assert np.all(np.count_nonzero(alloc, axis=0) <= 1)  # one agent bears all of X per state
        sign = np.sign(space.X.sum())
        assert np.all(alloc * sign >= 0)  # no short selling: X_i in L_+ (L_-)
        # pieces reproduce the atoms' masses: the refined space pushes forward to the law of X
        back = np.bincount(jp.space["atom"].astype(int), weights=jp.space.p)
        masses = [space.p[a == space.X].sum() for a in jp.atoms]
        assert np.allclose(back, masses, atol=1e-15, rtol=0)
        # counter-monotone pairs: (X_i(w) - X_i(w'))(X_j(w) - X_j(w')) <= 0
        for i in range(3):
            for j in range(i + 1, 3):
                di = alloc[i][:, None] - alloc[i][None, :]
                dj = alloc[j][:, None] - alloc[j][None, :]
                assert np.all(di * dj <= 1e-15)


def test_lemma3_events_from_u_and_v_integrate_to_the_pieces():
    """The (W, V) construction: the measure of A_i over the W-interval of an atom is its piece
    f_i(S_k) - f_i(S_{k-1}) (midpoint rule on a 1200 x 1200 grid)."""
    hs = [Power(1.5), ExponentialDistortion(2.0), Power(4.0)]
    jp, rep = lemma3_jackpot(X_POS, hs)
    m = 1200
    w = (np.arange(m) + 0.5) / m
    W, V = np.meshgrid(w, w, indexing="ij")
    ev = jackpot_events(rep, W, V)
    S = np.concatenate([[0.0], np.cumsum(jp.pieces.sum(axis=1))])
    for k in range(jp.pieces.shape[0]):
        cols = (w >= S[k]) & (w < S[k + 1])
        for i in range(3):
            est = np.count_nonzero(ev[cols] == i) / m**2
            assert est == pytest.approx(jp.pieces[k, i], abs=3e-3)


def test_without_randomisation_pieces_must_be_unions_of_states():
    hs = [Power(2.0), Power(3.0)]
    # 10 equally likely states with one atom: the optimal split (0.4555..) is no multiple of 0.1
    space = ro.Scenarios.equally_weighted(np.full(10, 2.0))
    with pytest.raises(ro.ModelError, match="randomisation") as err:
        lemma3_jackpot(space, hs, randomisation=False)
    assert err.value.field == "randomisation" and "X in X_U" in str(err.value)
    # pieces that are unions of states are formed by grouping them (no new states)
    pieces = np.array([[0.3, 0.7]])
    jp = jackpot_from_pieces(space, pieces, randomisation=False)
    assert jp.space.size == 10 and np.allclose(jp.probabilities(), [0.3, 0.7])
    assert np.array_equal(jp.owner, [0, 0, 0, 1, 1, 1, 1, 1, 1, 1])


def test_share_reports_theorem3_and_the_cross_checks():
    res = share(X_POS, agents(dist(Power(1.5)), dist(ExponentialDistortion(2.0)), dist(Power(4.0))))
    assert res.attitude == "risk_seeking" and res.side == "nonnegative"
    v = res.values
    assert v.unconstrained == v.counter_monotone < v.comonotone
    assert abs(res.checks["jackpot_minus_closed_form"]) < 1e-12
    assert abs(res.checks["tail_program_minus_closed_form"]) < 1e-8
    assert res.probabilities.sum() == pytest.approx(1.0, abs=1e-14)
    assert res.agent_values.sum() == pytest.approx(v.unconstrained, abs=1e-12)
    out = res.to_dict()
    assert set(out["inf_convolution"]) == {"unconstrained", "comonotone", "counter_monotone"}
    assert {"name", "distortion", "value", "probability"} <= set(out["agents"][0])
    assert out["representative"]["normalised"] is False and out["representative"]["h_tilde_at_1"] < 1


# --------------------------------------------------------------------------- Proposition 3
@pytest.mark.parametrize(("a", "p", "value"), [((1.2, 1.4), (0.5129, 0.4871), 0.8141),
                                               ((1.2, 5.0), (0.3371, 0.6629), 0.3992)])
def test_table2_through_the_mechanism(a, p, value):
    one = ro.Scenarios.discrete([1.0], [1.0])
    res = share(one, agents(*(dist(Power(x)) for x in a)))
    assert np.round(res.probabilities, 4).tolist() == list(p)
    assert round(res.values.unconstrained, 4) == value
    p_cf, _mu = power_lottery(a)
    assert np.max(np.abs(res.probabilities - p_cf)) < 1e-9
    assert abs(res.values.unconstrained - np.sum(p_cf ** np.asarray(a))) < 1e-9
    assert res.values.comonotone == pytest.approx(1.0, abs=1e-7)


def test_constant_payoff_scales_and_two_agent_reversal():
    """The lottery does not depend on c; with n = 2 the more risk-seeking agent may get less
    (row 1: a = 1.4 gets 0.4871 < 0.5129), with n >= 3 never (Proposition 3(ii))."""
    c = ro.Scenarios.discrete([3.5], [1.0])
    res = share(c, agents(dist(Power(1.2)), dist(Power(1.4))))
    assert res.values.unconstrained == pytest.approx(3.5 * 0.8140991497134822, abs=1e-12)
    assert res.probabilities[1] < res.probabilities[0]
    _p, mu = power_lottery([1.2, 1.4])
    assert mu > 1


@SETTINGS
@given(a=st.lists(st.floats(1.05, 8.0), min_size=3, max_size=8, unique=True))
def test_proposition3_ordering_for_three_or_more_agents(a):
    p, mu = power_lottery(a)
    assert mu <= 1 + 1e-12
    order = np.argsort(a)
    assert np.all(np.diff(p[order]) >= -1e-12)
    conv = inf_convolution([Power(x) for x in a])
    assert np.max(np.abs(conv.split(1.0).ravel() - p)) < 1e-9


def test_power_lottery_refuses_concave_exponents():
    with pytest.raises(ro.ModelError, match="a_i > 1"):
        power_lottery([1.5, 0.8])


# ----------------------------------------------------------------- Theorem 2 and examples
def test_example1_var_sum_of_levels():
    """□ VaR_{a_i}(X) = VaR_{sum a_i}(X) < VaR_{max a_i}(X) = □^+ on a two-sided X."""
    x = np.array([-2.0, 0.0, 1.0, 1.0, 2.0, 3.0, 5.0, 5.0, 8.0, 13.0])
    space = ro.Scenarios.equally_weighted(x)
    levels = [0.1, 0.2, 0.15]
    res = share(space, agents(*(M.VaR(a) for a in levels)))
    target = M.VaR(0.45).value(x, space)
    assert res.values.unconstrained == res.values.counter_monotone == pytest.approx(target, abs=1e-12)
    assert res.values.comonotone == pytest.approx(M.VaR(0.2).value(x, space), abs=1e-7)
    assert res.values.comonotone > res.values.counter_monotone
    jp = var_jackpot(space, levels)
    assert np.allclose(jp.allocation().sum(axis=0), jp.space.X)
    assert np.allclose(jp.probabilities()[:2], levels[:2])


@SETTINGS
@given(x=st.lists(st.integers(-5, 20), min_size=4, max_size=9), levels=st.lists(st.floats(0.05, 0.3),
                                                                                  min_size=2, max_size=3),
       seed=st.integers(0, 10**6))
def test_example1_lower_bound_holds_for_random_allocations(x, levels, seed):
    """Embrechts-Liu-Wang: sum_i VaR_{a_i}(X_i) >= VaR_{sum a_i}(X) for every allocation, and the
    explicit counter-monotone allocation attains it."""
    if sum(levels) >= 1:
        return
    x = np.asarray(x, float)
    space = ro.Scenarios.equally_weighted(x)
    target = M.VaR(sum(levels)).value(x, space)
    rng = np.random.default_rng(seed)
    n = len(levels)
    for _ in range(20):
        Z = rng.normal(size=(n - 1, x.size)) * 5
        alloc = np.vstack([Z, x - Z.sum(axis=0)])
        total = sum(M.VaR(a).value(alloc[i], space) for i, a in enumerate(levels))
        assert total >= target - 1e-9
    jp = var_jackpot(space, levels)
    got = sum(M.VaR(a).value(jp.allocation()[i], jp.space) for i, a in enumerate(levels))
    assert got == pytest.approx(target, abs=1e-12)


@pytest.mark.parametrize("backend", ["cvxpy", "highs"])
def test_example2_es_largest_level_for_all_three(backend):
    """□ = □^+ = □^- = ES_{max a_i}(X): the agent with the largest level takes X (Corollary 1)."""
    x = np.array([-1.0, 0.0, 2.0, 3.0, 3.0, 6.0, 9.0, 12.0])
    space = ro.Scenarios.equally_weighted(x)
    res = share(space, agents(M.ES(0.1), M.ES(0.5), M.ES(0.25)), backend=backend)
    target = M.ES(0.5).value(x, space)
    tol = 1e-7 if backend == "cvxpy" else 1e-10
    for k in ("unconstrained", "comonotone", "counter_monotone"):
        assert res.values.to_dict()[k] == pytest.approx(target, abs=tol), k
    assert res.theorem2.min_is_agent == "agent 2"
    assert res.attitude == "risk_averse"


def test_theorem2_iii_convex_program_equals_rho_of_min_for_concave_agents():
    """Concave h_i: the unconstrained convex program equals rho_{min h}(X) (Theorem 2(iii)); with no
    single agent at the minimum the counter-monotone value is undetermined (bounded below)."""
    x = np.array([0.0, 1.0, 1.0, 2.0, 4.0, 5.0, 7.0, 9.0, 10.0, 15.0])
    space = ro.Scenarios.equally_weighted(x)
    ms = [M.ES(0.1), M.Distortion("dual_power", b=3.0), M.Distortion("wang", lam=0.3)]
    res = share(space, agents(*ms), backend="highs")
    target = choquet_sorted(x, space.p, PointwiseMin([m.h for m in ms]))
    assert res.values.unconstrained == pytest.approx(target, abs=1e-9)
    assert res.values.comonotone == pytest.approx(target, abs=1e-9)
    if res.theorem2.min_is_agent is None:
        assert res.values.counter_monotone is None
        assert "Theorem 2(i)" in res.methods.counter_monotone
    assert res.theorem2.min_concave and res.theorem2.min_dually_subadditive


def test_example4_homogeneous_dually_subadditive():
    """h_i = h dually subadditive: □ = □^+ = □^- = rho_h(X)."""
    x = np.array([0.0, 2.0, 3.0, 7.0, 11.0])
    space = ro.Scenarios.discrete(x, [0.2, 0.2, 0.2, 0.2, 0.2])
    h = M.Distortion("dual_power", b=2.0)
    res = share(space, agents(h, M.Distortion("dual_power", b=2.0), M.Distortion("dual_power", b=2.0)),
                backend="highs")
    target = h.value(x, space)
    assert res.values.unconstrained == pytest.approx(target, abs=1e-9)
    assert res.values.comonotone == pytest.approx(target, abs=1e-12)
    assert res.values.counter_monotone == pytest.approx(target, abs=1e-12)


def test_theorem2_ii_for_a_non_concave_minimum_agent():
    """General distortions: when one agent's h is the minimum and dually subadditive, □^- = □^+."""
    x = np.array([1.0, 2.0, 5.0, 6.0])
    space = ro.Scenarios.discrete(x, [0.1, 0.4, 0.3, 0.2])
    ms = [M.ES(0.3), M.VaR(0.2)]  # min(t/0.3 ^ 1, 1{t > 0.2}) is neither agent's h: undetermined
    res = share(space, agents(*ms))
    assert res.attitude == "general"
    assert res.values.unconstrained is None and res.values.counter_monotone is None
    assert res.to_dict()["inf_convolution"]["counter_monotone"] is None


# ------------------------------------------------------------------------------ bad input
def test_proposition2_two_sided_x_for_risk_seekers_is_refused():
    space = ro.Scenarios.discrete([-1.0, 2.0], [0.5, 0.5])
    with pytest.raises(ro.ModelError, match="Proposition 2") as err:
        share(space, agents(dist(Power(2.0)), dist(Power(3.0))))
    assert err.value.field == "space" and "-infinity" in str(err.value)


def test_proposition2_the_coin_bet_drives_the_sum_to_minus_infinity():
    """Why two-sided X is refused: on X = 0 with a fair coin Y = +-1, the allocation (kY, -kY) has
    total risk k [(2 h_1(1/2) - 1) + (2 h_2(1/2) - 1)] -> -infinity for convex h_i != id."""
    coin = ro.Scenarios.discrete([-1.0, 1.0], [0.5, 0.5])
    h1, h2 = Power(2.0), ExponentialDistortion(3.0)
    slope = (2 * float(h1(0.5)) - 1) + (2 * float(h2(0.5)) - 1)
    assert slope < 0
    for k in (1.0, 10.0, 1000.0):
        total = choquet_sorted(k * coin.X, coin.p, h1) + choquet_sorted(-k * coin.X, coin.p, h2)
        assert total == pytest.approx(k * slope, rel=1e-12)


def test_mixed_attitudes_are_out_of_scope():
    with pytest.raises(ro.ModelError, match="out of the scope") as err:
        share(X_POS, agents(dist(Power(2.0)), dist(DualPower(2.0))))
    assert err.value.field == "agents"


def test_non_distortion_agents_are_named():
    with pytest.raises(ro.ModelError, match="distortion risk measure") as err:
        share(X_POS, agents(M.Expectation(), M.ES(0.1)))
    assert err.value.field == "agents[0].measure"
    with pytest.raises(ro.ModelError, match=r"h\(1\) = 1") as err:
        share(X_POS, agents(M.ES(0.2), M.Distortion(PiecewiseLinear([0, 1], [0, 0.8]), normalised=False)))
    assert err.value.field == "agents[1].measure.h"
    with pytest.raises(ro.ModelError, match="at least two"):
        share(X_POS, agents(M.ES(0.2)))


def test_smooth_concave_distortion_off_lattice_names_the_agent():
    space = ro.Scenarios.discrete([0.0, 1.0, 3.0], [1 / np.pi, 0.5, 0.5 - 1 / np.pi])
    with pytest.raises(ro.ModelError, match="lattice") as err:
        share(space, agents(M.ES(0.2), M.Distortion("dual_power", b=2.0)))
    assert err.value.field.startswith("agents[1].measure")


def test_representative_side_follows_the_sign_of_x():
    hs = [Power(2.0), Power(3.0)]
    assert lemma3_jackpot(X_NEG, hs)[1].side == "nonpositive"
    rep = representative(hs, "nonpositive")
    # X <= 0: rho_h~(X) = -rho_G(-X), G = ⊞ h~_i
    assert choquet_sorted(X_NEG.X, X_NEG.p, rep) == pytest.approx(
        -choquet_sorted(X_POS.X, X_POS.p, rep.inner), abs=1e-12)


# ------------------------------------------------------------------------------- the methods
@pytest.mark.parametrize("method", ["auto", "fast", "program"])
def test_every_method_gives_the_same_three_values(method):
    """Risk averters (Example 2), VaR agents (Example 1) and risk seekers on X <= 0: the values do
    not depend on the method; "fast" solves nothing on a modelling layer, "program" solves every
    program (the sharing program, the tail-probability program) and is verified by the closed forms."""
    x = np.array([-1.0, 0.0, 2.0, 3.0, 3.0, 6.0, 9.0, 12.0])
    space = ro.Scenarios.equally_weighted(x)
    es = share(space, agents(M.ES(0.1), M.ES(0.5), M.ES(0.25)), method=method, backend="highs")
    var = share(space, agents(M.VaR(0.1), M.VaR(0.2), M.VaR(0.15)), method=method, backend="highs")
    seek = share(X_NEG, agents(dist(Power(2.0)), dist(ExponentialDistortion(3.0))), method=method)
    for res in (es, var, seek):
        assert res.status.ok and res.method == method
        ref = share(res.space, [ro.Agent(n, M.Distortion(h)) for n, h in zip(res.names, res.hs, strict=True)],
                    backend="highs" if res is not seek else "cvxpy")
        for k in ("unconstrained", "comonotone", "counter_monotone"):
            got, want = res.values.to_dict()[k], ref.values.to_dict()[k]
            assert (got is None and want is None) or got == pytest.approx(want, abs=1e-7), (k, method)
        assert np.allclose(sum(res.allocation.values()), res.allocation_space.X, atol=1e-9, rtol=0)
        assert res.agent_values.sum() == pytest.approx(res.objective, abs=1e-7)
    assert es.values.unconstrained == pytest.approx(M.ES(0.5).value(x, space), abs=1e-9)
    assert (es.program_allocation is None) == (method == "fast")
    assert es.comonotone.method == ("direct" if method == "fast" else "program")
    if method == "program":
        assert "jackpot_minus_tail_program" in seek.checks and seek.solved
    if method == "fast":
        assert not es.solved and "tail_program_status" not in seek.checks


def test_unknown_method_is_named():
    with pytest.raises(ro.ModelError, match="method"):
        share(X_POS, agents(dist(Power(2.0)), dist(Power(3.0))), method="newton")
