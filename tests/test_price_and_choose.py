"""Price-and-choose (seed 000, Sections 2-5): welfare optimum over C, menus, the game, SPNE checks,
the first-mover auction and the credal version.

Reference values: ../shared/spec/price_and_choose.md §2.3, §2.5, §3.1, §3.4-3.6, §4, §5 and §6
(tolerances: 1e-8 on 8-decimal values, the printed precision otherwise). The conic reproductions
of §6 live in tests/test_pareto.py; here the fast path (closed forms and the log-price Newton) is
checked against them and against the conic path.
"""

import itertools
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import riskopt as ro
from riskopt.mechanisms.price_and_choose import (
    Beliefs,
    GameSpec,
    MenuSpec,
    Pool,
    PriceAndChoose,
    WelfareSpec,
    atom_gaps,
    choose,
    compare_menus,
    conic_comonotone,
    custom_menu,
    dirichlet_menu,
    expected_payoffs,
    first_mover_auction,
    geometric_mean_closed_form,
    lattice_menu,
    lattice_steps,
    leave_one_out_laws,
    play,
    pool_optimum,
    solve,
    solve_comonotone,
    utility_table,
    verify,
    welfare_atoms,
)
from riskopt.space import poisson_binomial

EX1 = Pool.independent([1, 2, 4], 0.1)
SEED = 20250504
TIGHT = {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12, "tol_ktratio": 1e-10}


def big_pool(n=500):
    rng = np.random.default_rng(2505)
    g = rng.uniform(0.5, 5, n)
    return Pool.independent(g, rng.uniform(0.02, 0.2, n))


def game_on(po, menu):
    return play(menu, utility_table(menu.allocations, po.pool.gammas, po.laws.vertices))


@pytest.fixture(scope="module")
def ex1_lattice():
    return solve(PriceAndChoose(EX1, menu=MenuSpec("lattice", m=2), game=GameSpec(seed=SEED)))


# ------------------------------------------------------------------------- welfare optimum over C
@pytest.mark.parametrize(
    ("gammas", "lam", "W", "Q", "density"),
    [((1, 2, 4), 4 / 7, -0.3898293377, (0.5834239508, 0.3443747291, 0.0677574480, 0.0044438721),
      (0.8003072028, 1.4171799551, 2.5095351111, 4.4438721077)),
     ((0.5, 3, 10), 30 / 73, -0.3619109499, (0.6282531590, 0.3158570760, 0.0529328509, 0.0029569141),
      (0.8618013155, 1.2998233580, 1.9604759607, 2.9569140830))])
def test_example1_fast_path(gammas, lam, W, Q, density):
    """Spec §6 table from the closed-form fast path: w, W*, U_i = w_i W*, Q and dQ/dP."""
    po = pool_optimum(Pool.independent(gammas, 0.1))
    opt = po.optimum
    w = (1 / np.array(gammas)) / np.sum(1 / np.array(gammas))
    assert po.closed_form.lam == pytest.approx(lam, abs=1e-10)
    assert opt.welfare == pytest.approx(W, abs=1e-10)
    assert np.allclose(opt.utilities, w * W, atol=1e-10, rtol=0)
    assert np.allclose(opt.average_shares, w, atol=1e-12, rtol=0)
    assert np.allclose(opt.prices, Q, atol=1e-10, rtol=0)
    assert np.allclose(opt.density, density, atol=1e-9, rtol=0)
    assert np.allclose(opt.F, w[:, None] * po.atoms.X[None, :], atol=1e-15, rtol=0)
    assert opt.method == "closed form" and opt.iterations == 0 and not opt.pooled
    assert max(opt.certificate.values()) < 1e-14


def test_law_and_common_shock():
    """Spec §6: law of N = (0.729, 0.243, 0.027, 0.001); correlated variant W* and Q."""
    assert np.allclose(EX1.atoms().p, [0.729, 0.243, 0.027, 0.001], atol=1e-15, rtol=0)
    cs = Pool.common_shock([1, 2, 4], [0.25] * 3, [0.0625] * 3, 0.2)
    po = pool_optimum(cs)
    assert np.allclose(po.atoms.p, [0.7435546875, 0.2162109375, 0.0369140625, 0.0033203125],
                       atol=1e-12, rtol=0)
    assert po.optimum.welfare == pytest.approx(-0.4052906137, abs=1e-10)
    assert np.allclose(po.optimum.prices, [0.5898378573, 0.3037145951, 0.0918222904, 0.0146252573],
                       atol=1e-10)


def test_credal_readings_closed_forms_and_prices():
    """Spec §5: identical intervals keep the rule proportional (w = 4/7, 2/7, 1/7); W*_mm closed forms
    and the dual state prices of both readings."""
    e = np.exp(4 / 7)
    cases = {"own_hit": (-(7 / 4) * (np.log(0.85 + 0.15 * e) + 2 * np.log(0.9 + 0.1 * e)),
                         [0.53197648, 0.37557711, 0.08601088, 0.00643553]),
             "box": (-(7 / 4) * 3 * np.log(0.85 + 0.15 * e),
                     [0.44229170, 0.41463948, 0.12957203, 0.01349679])}
    for reading, (W, prices) in cases.items():
        opt = pool_optimum(EX1, Beliefs.credal(0.05, 0.15, reading)).optimum
        assert opt.welfare == pytest.approx(W, abs=1e-12)
        assert np.allclose(opt.prices, prices, atol=1e-8, rtol=0)
        assert np.allclose(opt.shares, np.array([4, 2, 1])[:, None] / 7, atol=1e-12, rtol=0)
    own = pool_optimum(EX1, Beliefs.credal(0.05, 0.15)).optimum.welfare
    box = pool_optimum(EX1, Beliefs.credal(0.05, 0.15, "box")).optimum.welfare
    assert own == pytest.approx(-0.45135307, abs=5e-9) and box == pytest.approx(-0.57440053, abs=5e-9)


def test_credal_heterogeneous_intervals_bind_monotonicity():
    """Spec §2.5: intervals [.05,.15], [.05,.25], [.05,.40]: the geometric mean gives f_3(x_1) =
    +0.00525 > 0 (bound -0.5024916025); the C-optimum pools farmer 3's atoms 0 and 1 (W_C =
    -0.5025058286) and its multiplier equals the conic solver's monotonicity dual."""
    po = pool_optimum(EX1, Beliefs.credal(0.05, [0.15, 0.25, 0.40]))
    opt = po.optimum
    gm = geometric_mean_closed_form(po.atoms.X, po.laws.worst, EX1.gammas)
    assert gm["F"][2, 1] == pytest.approx(0.00525, abs=5e-6)
    assert not gm["monotone"] and gm["welfare"] == pytest.approx(-0.5024916025, abs=1e-10)
    assert opt.welfare == pytest.approx(-0.5025058286, abs=1e-10)
    assert opt.pooled == ((2, 0, 1),) and opt.method == "log-price Newton"
    assert opt.F[2, 1] == 0.0 and opt.multipliers[2, 1] > 1e-3
    assert max(opt.certificate.values()) < 1e-13
    check = conic_comonotone(po, **TIGHT)
    assert check.welfare_error < 1e-9
    monotone = check.solution.duals["monotone"]          # rows on ascending atoms: row K - k is ours k
    K = po.atoms.size - 1
    assert monotone[2, K - 1] == pytest.approx(opt.multipliers[2, 1], abs=1e-6)
    assert check.polished.welfare == pytest.approx(opt.welfare, abs=1e-15)


def test_conic_cross_check_and_worst_case_prior_weights():
    """The general conic path agrees; its vertex duals put (almost) all weight on the high vertex
    (spec §2.5: 2.6e-12 vs 1 - 2.6e-12); the Newton polish from its prices restores 1e-15."""
    po = pool_optimum(EX1, Beliefs.credal(0.05, 0.15))
    check = conic_comonotone(po, **TIGHT)
    assert check.welfare_error < 1e-9
    assert np.allclose(check.vertex_weights.sum(axis=1), 1.0, atol=1e-7, rtol=0)
    assert np.all(check.vertex_weights[:, 1] > 1 - 1e-6)
    assert check.polished.iterations <= 3
    assert abs(check.polished.welfare - po.optimum.welfare) < 1e-15
    assert np.allclose(check.polished.prices, po.optimum.prices, rtol=1e-12)


@pytest.mark.parametrize("reading", ["common", "own_hit"])
def test_large_pool_within_1e8_of_closed_form(reading):
    """n = 500 (seed 2505): lam = 0.0040196844, W* = -54.45105064 (common prior); W* and the density
    within 1e-8 of the closed form (Esscher / tilted geometric mean over the unpruned support)."""
    pool = big_pool()
    p = pool.p
    beliefs = Beliefs.common() if reading == "common" else Beliefs.credal(0.5 * p, 1.5 * p)
    po = pool_optimum(pool, beliefs)
    opt = po.optimum
    assert po.atoms.size == 118 and po.atoms.p[0] == pytest.approx(4.1907543528730e-26, rel=1e-9)
    assert po.closed_form.exact and po.closed_form.welfare_error < 1e-8
    assert po.closed_form.density_max_rel_error < 1e-8
    assert po.tail_mass < 1e-12
    if reading == "common":
        lam = po.closed_form.lam
        assert lam == pytest.approx(0.0040196844, abs=1e-10)
        assert opt.welfare == pytest.approx(-54.45105064, abs=1e-8)
        assert abs(opt.welfare - po.closed_form.welfare_product) < 1e-8
        assert np.max(np.abs(opt.F - (lam / pool.gammas)[:, None] * po.atoms.X)) < 1e-12
    else:  # the own-hit worst case is each farmer's high vertex: the geometric mean over the full law
        size = po.law.size
        loo = leave_one_out_laws(p, np.ones(500, int), size)
        law = loo * (1 - 1.5 * p[:, None])
        law[:, 1:] += 1.5 * p[:, None] * loo[:, :-1]
        keep = np.all(law > 0, axis=0)
        gm = geometric_mean_closed_form(-np.arange(size)[keep].astype(float), law[:, keep], pool.gammas)
        assert abs(opt.welfare - gm["welfare"]) < 1e-8
    # the anchor pins the constants only in log space: most low gaps are not identifiable (spec §2.6)
    assert set(range(1, 11)) <= set(opt.identifiability.unidentified.tolist())


def test_box_reading_large_pool_uses_shortcut_and_tilted_pruning():
    """Box reading, n = 500: no 2^500 corners (the all-high shortcut on C); the all-high law's tail
    carries state-price mass beyond P's 118 heavy atoms, so the pruning check adds atoms."""
    pool = big_pool()
    po = pool_optimum(pool, Beliefs.credal(0.5 * pool.p, 1.5 * pool.p, "box"))
    assert po.laws.labels == ("all-high",)
    assert po.atoms.size > 118 and po.notes and po.tail_mass < 1e-12
    assert po.closed_form.exact and po.closed_form.welfare_error < 1e-8


def test_leave_one_out_laws_on_a_tick():
    """Leave-one-out laws equal the direct recursion without farmer i (heterogeneous losses)."""
    rng = np.random.default_rng(3)
    p = rng.uniform(0.01, 0.9, 7)
    steps = rng.integers(1, 4, 7)
    loo = leave_one_out_laws(p, steps, int(steps.sum()) + 1)
    for i in range(7):
        direct = poisson_binomial(np.delete(p, i), np.delete(steps, i))
        assert np.allclose(loo[i, :direct.size], direct, rtol=1e-13, atol=0)
        assert np.all(loo[i, direct.size:] == 0)


def test_heterogeneous_losses_on_a_tick_match_conic():
    pool = Pool.independent([0.7, 1.5, 3.0, 5.0], [0.1, 0.2, 0.05, 0.3], [1.0, 2.0, 3.0, 1.0], tick=1.0)
    po = pool_optimum(pool, Beliefs.own_hit_prior([0.2, 0.1, 0.3, 0.25]))
    assert np.array_equal(po.atoms.X, ro.Scenarios.bernoulli_hits(pool.p, pool.losses, tick=1.0).X)
    check = conic_comonotone(po, **TIGHT)
    assert check.welfare_error < 1e-10 and check.allocation_max_error < 1e-7


def test_newton_converges_from_far_starts():
    po = pool_optimum(EX1, Beliefs.credal(0.05, [0.15, 0.25, 0.40]))
    rng = np.random.default_rng(0)
    for _ in range(5):
        start = po.optimum.log_prices + rng.normal(0, 3, po.atoms.size)
        opt = solve_comonotone(po.atoms.X, po.laws.worst, EX1.gammas, po.atoms.p, start=start)
        assert opt.welfare == pytest.approx(po.optimum.welfare, abs=1e-13)


@st.composite
def small_pools(draw):
    n = draw(st.integers(2, 5))
    floats = lambda lo, hi: st.floats(lo, hi, allow_nan=False, allow_infinity=False)  # noqa: E731
    g = draw(st.lists(floats(0.2, 8.0), min_size=n, max_size=n))
    p = draw(st.lists(floats(0.01, 0.6), min_size=n, max_size=n))
    q = draw(st.lists(floats(0.005, 0.95), min_size=n, max_size=n))
    losses = draw(st.lists(st.integers(1, 3), min_size=n, max_size=n))
    return Pool.independent(g, p, np.array(losses, float), tick=1.0), Beliefs.own_hit_prior(q)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_pools())
def test_property_fast_path_matches_conic_and_certifies(case):
    """Random pools with heterogeneous priors: budget, comonotone allocation, KKT certificate, the
    conic optimum (within 1e-8), and no Dirichlet menu point beats W*."""
    pool, beliefs = case
    po = pool_optimum(pool, beliefs)
    opt = po.optimum
    scale = float(np.abs(po.atoms.X).max())
    assert np.abs(opt.F.sum(axis=0) - po.atoms.X).max() < 1e-10 * scale
    assert np.all(np.diff(opt.F, axis=1) <= 1e-14) and np.all(opt.F[:, 0] == 0)
    assert np.all(opt.shares >= -1e-14) and np.allclose(opt.shares.sum(axis=0), 1.0)
    assert opt.certificate["stationarity"] < 1e-10 and opt.certificate["dual"] < 1e-12
    assert opt.certificate["complementarity"] < 1e-12
    assert abs(conic_comonotone(po, polish=False, **TIGHT).welfare - opt.welfare) < 1e-8
    menu = dirichlet_menu(opt.F, opt.gaps, 300, 1)
    U = utility_table(menu.allocations, pool.gammas, po.laws.vertices)
    assert U.sum(axis=1).max() <= opt.welfare + 1e-12


@settings(max_examples=20, deadline=None)
@given(st.lists(st.floats(0.2, 6.0), min_size=2, max_size=6),
       st.lists(st.floats(0.01, 0.5), min_size=6, max_size=6))
def test_property_common_prior_pooling_beats_standing_alone(gammas, p):
    """Common prior: proportional optimum, and W* >= sum_i U_i(own loss) (the endowment is in K and
    the K-optimum lies in C)."""
    n = len(gammas)
    g, pj = np.array(gammas), np.array(p[:n])
    opt = pool_optimum(Pool.independent(g, pj)).optimum
    alone = -np.log1p(pj * np.expm1(g)) / g
    assert opt.welfare >= alone.sum() - 1e-12
    w = (1 / g) / np.sum(1 / g)
    assert np.allclose(opt.shares, w[:, None], atol=1e-12, rtol=0)


# ------------------------------------------------------------------------- K versus C
@pytest.mark.parametrize(("beliefs", "W_K", "W_C"), [
    (Beliefs.common(), -0.38982933774678, -0.38982933774681),
    (Beliefs.credal(0.05, 0.15), -0.434505, -0.451353),
    (Beliefs.credal(0.05, [0.15, 0.25, 0.40]), -0.438077, -0.502506)])
def test_menu_k_versus_c(beliefs, W_K, W_C):
    """Spec §1.3/§2.5: K = C under a common prior; under credal beliefs the K-optimum is not
    X-measurable (bets on individual hurricanes) and beats the best comonotone rule."""
    out = compare_menus(EX1, beliefs)
    tol = 1e-9 if beliefs.kind == "common" else 1e-6
    assert out.welfare_k == pytest.approx(W_K, abs=tol)
    assert out.welfare_c == pytest.approx(W_C, abs=tol)
    if beliefs.kind == "common":
        assert out.x_measurable and abs(out.gain) < 1e-9
        assert not out.k.polish.applied                 # riskopt's smooth polish already ran
    else:
        assert not out.x_measurable and out.gain > 0.01
        # where the conic max-min program stops at optimal_inaccurate the KKT polish finishes it
        assert out.k.status == "optimal"
        if out.k.solution.status == "optimal_inaccurate":
            assert out.k.polish.applied and out.k.polish.residual_after < 1e-14
        assert abs(out.welfare_k - out.k.solution.objective) < 1e-7


def test_atom_level_limit():
    with pytest.raises(ro.ModelError, match="at most 12 farmers"):
        welfare_atoms(Pool.independent(np.ones(13), 0.1))


# ------------------------------------------------------------------------- menus
def test_menu_families_sizes_membership_and_streams():
    opt = pool_optimum(EX1).optimum
    lat = lattice_menu(opt.F, opt.gaps, 2)
    assert lat.size == 6 ** 3 + 1 and lat.optimum == 216
    A = lat.allocations
    assert np.all(A[:, :, 0] == 0) and np.allclose(A.sum(axis=1), opt.x) and np.all(np.diff(A, axis=2) <= 0)
    assert np.array_equal(A[-1], opt.F)
    five = pool_optimum(Pool.independent([1, 1.5, 2, 3, 4], [.05, .08, .10, .12, .15])).optimum
    assert lattice_menu(five.F, five.gaps, 1).size == 5 ** 5 + 1
    dm = dirichlet_menu(opt.F, opt.gaps, 200, SEED)
    first = np.random.default_rng(SEED).dirichlet(np.ones(3), size=(199, 3))[0]   # (K, n) shares
    assert np.allclose(-np.diff(dm.allocations[0], axis=1) / opt.gaps, first.T, atol=1e-15, rtol=0)
    assert dm.size == 200 and dm.describe()["mu"] == "uniform 1/M"


def test_custom_menu_without_the_optimum_is_completed_and_said_so():
    opt = pool_optimum(EX1).optimum
    base = lattice_menu(opt.F, opt.gaps, 1).allocations[:-1]
    with pytest.warns(ro.RiskoptWarning, match="appended"):
        menu = custom_menu(base, opt.F, opt.x)
    assert menu.size == base.shape[0] + 1 and menu.optimum == base.shape[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert custom_menu(np.concatenate([base, opt.F[None]]), opt.F, opt.x).optimum == base.shape[0]
    bad = base.copy()
    bad[3, 0, 1] += 0.5
    with pytest.raises(ro.ModelError, match=r"menu.allocations\[3\]"):
        custom_menu(bad, opt.F, opt.x)


def test_menu_too_large_is_refused():
    opt = pool_optimum(big_pool(50)).optimum
    with pytest.raises(ro.ModelError, match=r"menu\.m"):
        lattice_menu(opt.F, opt.gaps, 2)


# ------------------------------------------------------------------------- the game
def test_example1_lattice_table(ex1_lattice):
    """Spec §3.6 (Example 1A, lattice m = 2, M = 217) cell by cell, 1e-8."""
    g = ex1_lattice.game
    assert g.welfare == pytest.approx(-0.38982934, abs=1e-8)
    assert np.allclose(g.avg, [-0.13658890, -0.18236010, -0.29430156], atol=1e-8, rtol=0)
    assert np.allclose(g.wbar, [-0.61325056, -0.47666166, -0.29430156], atol=1e-8, rtol=0)
    assert np.allclose(g.prices[g.optimum, 1:3], [0.30959195, 0.23861165], atol=1e-8, rtol=0)
    assert np.allclose(g.outcome_payoffs, [0.08683232, -0.18236010, -0.29430156], atol=1e-8, rtol=0)
    assert g.eta == pytest.approx(0.22342122, abs=1e-8)
    assert g.welfare - g.best_other == pytest.approx(0.0317, abs=5e-5)


def test_game_identities(ex1_lattice):
    """g_k = Avg_k (k >= 2) at every point, sum of payoffs = W* at xi*, prices have mu-mean 0."""
    g = ex1_lattice.game
    assert np.allclose(g.payoffs[:, 1:], g.avg[None, 1:], atol=1e-15, rtol=0)
    assert g.outcome_payoffs.sum() == pytest.approx(g.welfare, abs=1e-15)
    assert g.outcome_payoffs[0] == pytest.approx(g.avg[0] + g.eta, abs=1e-15)
    assert np.allclose(g.mu @ g.prices, 0.0, atol=1e-15, rtol=0)
    assert g.chosen == g.optimum


@pytest.mark.parametrize(("gammas", "p", "family", "W", "eta", "g1", "gap", "tol"), [
    ((1, 2, 4), 0.1, ("dirichlet", 200), -0.38982934, 0.117739, 0.000560, 0.0027, 1e-6),
    ((1, 1.5, 2, 3, 4), [.05, .08, .10, .12, .15], ("lattice", 1), -0.58875154, 0.43177893, 0.29215277,
     0.133, 1e-8),
    ((1, 1.5, 2, 3, 4), [.05, .08, .10, .12, .15], ("dirichlet", 200), -0.58875154, 0.096066, -0.021560,
     None, 1e-6)])
def test_reference_games(gammas, p, family, W, eta, g1, gap, tol):
    """Spec §3.6 (dirichlet(200, seed 20250504) and n = 5) and §3.1 (best non-optimal point)."""
    po = pool_optimum(Pool.independent(gammas, p))
    opt = po.optimum
    menu = (lattice_menu(opt.F, opt.gaps, family[1]) if family[0] == "lattice"
            else dirichlet_menu(opt.F, opt.gaps, family[1], SEED))
    g = game_on(po, menu)
    assert g.welfare == pytest.approx(W, abs=1e-8)
    assert g.eta == pytest.approx(eta, abs=tol)
    assert g.outcome_payoffs[0] == pytest.approx(g1, abs=tol)
    if gap is not None:
        assert g.welfare - g.best_other == pytest.approx(gap, abs=5e-4)


def test_eta_converges_under_uniform_mu():
    """Spec §3.1: eta = 0.11924 +- 0.00022 for M = 200000 (a Monte-Carlo estimate of int U dmu)."""
    po = pool_optimum(EX1)
    g = game_on(po, dirichlet_menu(po.optimum.F, po.optimum.gaps, 200_000, SEED))
    assert abs(g.eta - 0.11924) < 3 * 0.00022


def test_utility_table_matches_riskopt_measures():
    po = pool_optimum(EX1, Beliefs.credal(0.05, 0.15))
    menu = dirichlet_menu(po.optimum.F, po.optimum.gaps, 20, 5)
    U = utility_table(menu.allocations, EX1.gammas, po.laws.vertices)
    space = ro.Scenarios(po.atoms.p, {"X": po.atoms.X})
    for m in (0, 7, 19):
        for i, g in enumerate(EX1.gammas):
            measure = ro.measures.MaxMin(ro.measures.Entropic(g), list(po.laws.vertices[i]))
            assert U[m, i] == pytest.approx(measure.value(menu.allocations[m, i], space), abs=1e-15)


def test_chooser_rule_is_lexicographic():
    """(W_3 - p^3, W_2 - p^2, W_1): the first criterion decides, ties pass to the next, then index."""
    W = np.array([[3.0, 2.0, 1.0], [5.0, 2.0, 1.0], [5.0, 2.0, 1.0], [4.0, 3.0, 1.0]])
    P = np.zeros((4, 4))
    assert choose(W, P, 1e-12) == 3                      # W_3 - p^3 = 1 everywhere; W_2 - p^2 max at 3
    P[3, 1] = 5.0                                         # now points 1 and 2 tie on everything
    assert choose(W, P, 1e-12) == 1


# ------------------------------------------------------------------------- SPNE verification
def test_spne_checks_example1(ex1_lattice):
    """Spec §3.4-3.5: indifference, the chooser's pick, beta = 0.345785, eps-gaps eps(1 - beta) to
    1e-16, random deviations never profitable; Lipschitz constants with their metric."""
    v = ex1_lattice.spne
    assert v.passed
    assert np.all(v.indifference_spread <= 4.5e-16)
    assert v.chooser_is_optimum
    assert v.beta == pytest.approx(0.345785, abs=1e-6)
    assert len(v.perturbations) == 6
    assert all(c["unique"] and c["chosen_is_optimum"] and c["gap_error"] < 2e-16 for c in v.perturbations)
    assert v.deviations["count"] == 2000 and v.deviations["max_gain"] < 0
    lip = v.lipschitz
    assert lip.exhaustive and lip.pairs == 217 * 216 // 2 and "max_i max_" in lip.metric
    assert np.allclose(lip.prices, [1.156, 0.991], atol=1e-3, rtol=0)
    assert np.all(lip.utilities <= 1.0) and np.all(lip.prices <= lip.price_bounds)
    assert lip.utilities_l1.max() == pytest.approx(198, abs=0.5)


@pytest.mark.slow
def test_spne_checks_five_farmers_lattice():
    """Spec §3.4: Lip(U_i) <= 0.9991 (n = 5 lattice), L1(P) constants up to 9233."""
    res = solve(PriceAndChoose(Pool.independent([1, 1.5, 2, 3, 4], [.05, .08, .10, .12, .15]),
                             menu=MenuSpec("lattice", m=1)))
    lip = res.spne.lipschitz
    assert res.spne.passed and lip.exhaustive
    assert lip.utilities.max() == pytest.approx(0.9991, abs=1e-4)
    assert lip.utilities_l1.max() == pytest.approx(9233, abs=1)


def test_lipschitz_cap_below_what_equalising_prices_need(ex1_lattice):
    with pytest.raises(ro.ModelError, match=r"game.l_cap.*p\^2"):
        verify(ex1_lattice.menu, ex1_lattice.game, EX1.atoms().p, l_cap=0.55)


def test_verification_detects_non_equalising_prices(ex1_lattice):
    """The checks can fail: a schedule that leaves the follower a strict preference is caught."""
    g = ex1_lattice.game
    bad = g.prices.copy()
    bad[:, 2] *= 0.5
    tampered = type(g)(**{**g.__dict__, "prices": bad})
    assert not verify(ex1_lattice.menu, tampered, EX1.atoms().p, deviations=50).passed


# ------------------------------------------------------------------------- the auction
def test_first_mover_auction(ex1_lattice):
    """Spec §4: b* = 0.14894748, payoffs (-0.06211516, -0.10788636, -0.21982782), losers receive
    0.07447374; bids b* x {0, .5, .9, .999, 1, 1.001, 1.1, 2} never gain (weak equilibrium)."""
    a = ex1_lattice.auction
    assert a.bid == pytest.approx(0.14894748, abs=1e-8)
    assert np.allclose(a.payoffs, [-0.06211516, -0.10788636, -0.21982782], atol=1e-8, rtol=0)
    assert a.loser_receives == pytest.approx(0.07447374, abs=1e-8)
    assert a.max_deviation_gain <= 1.4e-17
    below = np.array(a.deviation_factors) <= 1
    assert np.all(np.abs(a.deviation_gains[:, below]) < 1e-15)       # every bid <= b* is a best reply
    assert np.all(a.deviation_gains[:, ~below] < -1e-6)
    assert a.payoffs.sum() == pytest.approx(ex1_lattice.welfare, abs=1e-15)
    g = ex1_lattice.game
    assert np.allclose(expected_payoffs(np.full(3, a.bid), g.avg, g.eta), a.payoffs, atol=1e-16, rtol=0)


def test_auction_rules_random():
    rng = np.random.default_rng(1)
    for _ in range(20):
        n = int(rng.integers(2, 8))
        avg, eta = rng.uniform(-1, 0, n), float(rng.uniform(0, 1))
        a = first_mover_auction(avg, eta)
        assert a.bid == pytest.approx((n - 1) * eta / n)
        assert np.allclose(a.payoffs, avg + eta / n) and a.max_deviation_gain < 1e-15


# ------------------------------------------------------------------------- credal version (§5)
@pytest.mark.parametrize(("reading", "W", "avg", "eta", "bid", "payoffs"), [
    ("own_hit", -0.45135307, (-0.15724031, -0.20641894, -0.32267710), 0.23498328, 0.15665552,
     (-0.07891255, -0.12809118, -0.24434934)),
    ("box", -0.57440053, (-0.19811491, -0.25394948, -0.37894076), 0.25660462, 0.17106975,
     (-0.11258003, -0.16841461, -0.29340589))])
def test_credal_table(reading, W, avg, eta, bid, payoffs, ex1_lattice):
    """Spec §5 table, row by row (1e-8); Avg-underbar <= Avg; eta_mm > eta while g_1 falls."""
    res = solve(PriceAndChoose(EX1, Beliefs.credal(0.05, 0.15, reading), MenuSpec("lattice", m=2),
                             GameSpec(seed=SEED, deviations=200)))
    assert res.welfare == pytest.approx(W, abs=1e-8)
    assert np.allclose(res.game.avg, avg, atol=1e-8, rtol=0)
    assert res.eta == pytest.approx(eta, abs=1e-8)
    assert res.auction.bid == pytest.approx(bid, abs=1e-8)
    assert np.allclose(res.auction.payoffs, payoffs, atol=1e-8, rtol=0)
    assert np.all(res.game.avg <= res.reference_avg)
    assert np.allclose(res.reference_avg, ex1_lattice.game.avg, atol=1e-15, rtol=0)
    assert res.spne.passed
    if reading == "own_hit":
        assert res.eta > ex1_lattice.eta
        assert res.game.outcome_payoffs[0] == pytest.approx(0.0777, abs=5e-5)
        assert ex1_lattice.game.outcome_payoffs[0] == pytest.approx(0.0868, abs=5e-5)


def test_box_shortcut_equals_corner_enumeration():
    """On C the max-min over the 8 box corners equals the entropic CE under the all-high corner."""
    po = pool_optimum(EX1, Beliefs.credal(0.05, 0.15, "box"))
    assert po.laws.vertices.shape[1] == 8
    menu = dirichlet_menu(po.optimum.F, po.optimum.gaps, 500, 2)
    full = utility_table(menu.allocations, EX1.gammas, po.laws.vertices)
    high = utility_table(menu.allocations, EX1.gammas, po.laws.vertices[:, -1:])
    assert np.allclose(full, high, atol=1e-15, rtol=0)
    corners = [poisson_binomial(np.array(c)) for c in itertools.product([0.05, 0.15], repeat=3)]
    # the same Poisson-binomial recursion on the same corner: equal to an ulp (1.1e-16 at 0.61)
    assert np.allclose(po.laws.worst[0], corners[-1], atol=2 * np.finfo(float).eps, rtol=0)


# ------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(("make", "field"), [
    (lambda: Pool.independent([1, 2], [0.1, 1.2]), r"p\[1\]"),
    (lambda: Pool.independent([1, -2], 0.1), r"gamma\[1\]"),
    (lambda: Pool.independent([1, 2], [0.1, 0.2], [1.0, 2.0]), "tick"),
    (lambda: pool_optimum(EX1, Beliefs.credal(0.2, 0.15)), r"beliefs.low\[0\]"),
    (lambda: pool_optimum(EX1, Beliefs.credal(0.12, 0.15)), r"beliefs.low\[0\]"),
    (lambda: pool_optimum(EX1, Beliefs.credal(0.05, [0.15, 0.08, 0.2])), r"beliefs.high\[1\]"),
    (lambda: pool_optimum(EX1, Beliefs.credal(0.05, 0.15, "corner")), "beliefs.reading"),
    (lambda: MenuSpec("grid"), "menu.kind"),
    (lambda: pool_optimum(Pool.common_shock([1, 2], [0.2] * 2, [0.1] * 2, 0.5), Beliefs.credal(0.05, 0.15)),
     "beliefs.kind"),
])
def test_bad_input_names_the_field(make, field):
    with pytest.raises(ro.ModelError, match=field):
        make()


def test_overflow_prone_parameters_warn_and_stay_finite():
    """gamma * L in the hundreds: a warning naming the field; W*, prices, payoffs finite."""
    with pytest.warns(ro.RiskoptWarning, match=r"gamma\[2\] \* loss = 400"):
        pool = Pool.independent([100, 200, 400], [0.1, 0.3, 0.5])
    res = solve(PriceAndChoose(pool, menu=MenuSpec("lattice", m=2), game=GameSpec(deviations=100)))
    import json

    text = json.dumps(res.to_dict(), allow_nan=False)
    assert "null" not in text.split('"state_density"')[1].split("]")[0]
    assert np.isfinite(res.welfare) and np.all(np.isfinite(res.optimum.optimum.density))
    assert res.optimum.optimum.identifiability.unidentified.size == 3 and res.spne.passed


def test_game_on_a_menu_of_k():
    """P&C on a Dirichlet menu of K (shares of X per atom-level state) with the K-optimum appended:
    the credal K-optimum is the menu's best point, the SPNE checks pass, and eta_K > 0."""
    from riskopt.mechanisms.price_and_choose import atom_priors, atom_space, dirichlet_atoms

    beliefs = Beliefs.credal(0.05, [0.15, 0.25, 0.40])
    k = welfare_atoms(EX1, beliefs)
    space = atom_space(EX1)
    vertices = np.stack([np.vstack(v) for v in atom_priors(EX1, beliefs, space)])
    menu = dirichlet_atoms(k.allocation, space.X, space.p, 300, 4)
    assert menu.space == "K" and np.allclose(menu.allocations.sum(axis=1), space.X)
    game = play(menu, utility_table(menu.allocations, EX1.gammas, vertices))
    assert game.chosen == menu.optimum and game.welfare == pytest.approx(k.welfare, abs=1e-12)
    assert game.eta > 0 and verify(menu, game, space.p, deviations=200).passed


# ------------------------------------------------------------------------- methods and the contract
TIGHT_PROGRAM = {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12, "tol_ktratio": 1e-10}


@pytest.mark.parametrize("beliefs", [Beliefs.common(), Beliefs.credal(0.05, [0.15, 0.25, 0.40])],
                         ids=["common", "credal-binding"])
def test_program_method_agrees_with_fast(beliefs):
    """method="program": the conic program over C, certified by the same KKT certificate (prices from
    the budget duals, multipliers from the monotonicity duals); the game is played on its point."""
    spec = PriceAndChoose(EX1, beliefs, MenuSpec("lattice", m=2), GameSpec(seed=SEED, deviations=200))
    fast = solve(spec)
    program = solve(spec, method="program", **TIGHT_PROGRAM)
    assert fast.method == "fast" and program.method == "program"
    assert program.optimum.optimum.method == "conic program" and program.optimum.optimum.solution is not None
    assert program.status == "verified" and program.residual < 1e-7
    assert program.welfare == pytest.approx(fast.welfare, abs=1e-10)
    assert np.allclose(program.optimum.optimum.prices, fast.optimum.optimum.prices, atol=1e-7, rtol=0)
    assert np.allclose(program.optimum.optimum.F, fast.optimum.optimum.F, atol=1e-6, rtol=0)
    assert program.optimum.optimum.pooled == fast.optimum.optimum.pooled
    if fast.optimum.optimum.pooled:                      # the binding row's multiplier, from the duals
        assert program.optimum.optimum.multipliers[2, 1] == pytest.approx(
            fast.optimum.optimum.multipliers[2, 1], abs=1e-6)
    assert program.eta == pytest.approx(fast.eta, abs=1e-7)
    out = program.to_dict()
    assert out["method"] == "program" and out["solver"]["backend"] == "cvxpy"
    assert out["welfare_optimum"]["method"] == "conic program"


def test_program_method_cross_checks_with_newton():
    spec = PriceAndChoose(EX1, Beliefs.credal(0.05, 0.15), welfare=WelfareSpec(cross_check="conic"))
    res = solve(spec, method="program", **TIGHT_PROGRAM)
    assert res.conic is not None and res.conic.welfare_error < 1e-9
    assert res.to_dict()["solver"]["cross_check"].startswith("log-price Newton")


def test_registered_mechanism_and_result_contract(ex1_lattice):
    from riskopt.mechanisms import mechanisms
    from riskopt.mechanisms import solve as solve_any
    from riskopt.result import Result

    mech = mechanisms()["price_and_choose"]
    assert mech.methods == ("fast", "program") and mech.spec is PriceAndChoose
    res = solve_any(PriceAndChoose(EX1), method="auto")
    assert isinstance(res, Result) and res.method == "fast" and res.mechanism_name == "price_and_choose"
    with pytest.raises(ro.ModelError, match="method"):
        solve_any(PriceAndChoose(EX1), method="newton")
    r = ex1_lattice
    assert r.objective == r.welfare and r.status == "verified"
    assert set(r.allocation) == {"farmer 1", "farmer 2", "farmer 3"}
    assert np.allclose(sum(r.allocation.values()), r.optimum.atoms.X, atol=1e-15, rtol=0)
    assert r.verification and all(c.passed for c in r.verification) and r.spne.passed
    assert [c["name"] for c in r.to_dict()["verification"]] == [c.name for c in r.verification]
    prices = r.prices
    assert prices.label == "hits" and prices.kept_atoms == 4
    assert np.allclose(prices.state_prices.sum(), 1.0) and prices.density[0] == pytest.approx(0.8003072028)
    assert r.agent_rows()[0]["name"] == "farmer 1"
    assert PriceAndChoose(EX1).menu is None and solve(PriceAndChoose(EX1)).spne is None


def test_spne_checks_decide_the_status(ex1_lattice):
    """A failing SPNE check (a non-equalising schedule) is a failing verification of the result."""
    g = ex1_lattice.game
    bad = g.prices.copy()
    bad[:, 2] *= 0.5
    tampered = type(g)(**{**g.__dict__, "prices": bad})
    spne = verify(ex1_lattice.menu, tampered, EX1.atoms().p, deviations=50)
    assert not spne.passed and not all(c.passed for c in spne.checks)
    import dataclasses

    assert dataclasses.replace(ex1_lattice, spne=spne).status == "verification_failed"


def test_the_law_of_x_and_its_kept_atoms_are_scenarios():
    """The finite laws of the mechanism are Scenarios: the law of X with its lattice index, and the
    kept atoms (pruned upper tail, the dropped mass recorded)."""
    pool = big_pool(60)
    law, atoms = pool.law(), pool.atoms()
    assert isinstance(law, ro.Scenarios) and isinstance(atoms, ro.Scenarios)
    assert np.array_equal(lattice_steps(law), np.arange(61)) and law.X[0] == 0
    assert atoms.size < law.size and atoms.pruned_mass == pytest.approx(law.p[atoms.size:].sum(), rel=1e-9)
    assert np.array_equal(atoms.X, law.X[:atoms.size])
    assert np.array_equal(lattice_steps(atoms), np.arange(atoms.size))
    assert atoms.p[0] == pytest.approx(law.p[0] / (1 - atoms.pruned_mass), rel=1e-15)
    assert np.allclose(atom_gaps(atoms), 1.0) and atoms.mean() == pytest.approx(atoms.p @ atoms.X)
    po = pool_optimum(pool)
    assert po.law.size == law.size and po.atoms.size == atoms.size


@pytest.mark.parametrize(("make", "field"), [
    (lambda: Beliefs("common", low=np.array([0.1])), "low"),
    (lambda: Beliefs("credal", relative=(1.2, 1.5)), "relative"),
    (lambda: Beliefs("own_hit_prior"), "own"),
    (lambda: MenuSpec("lattice", size=10), "size"),
    (lambda: PriceAndChoose(Pool.independent(np.ones(13), 0.1), welfare=WelfareSpec(compare_atoms=True)),
     "welfare.compare_atoms"),
])
def test_spec_cross_field_checks(make, field):
    with pytest.raises(ro.ModelError) as err:
        make()
    assert err.value.field == field
