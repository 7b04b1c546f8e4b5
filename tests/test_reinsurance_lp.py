"""The layer LP of the reinsurance market (riskopt.mechanisms.reinsurance.program): Tables 1 and 2
through the Pareto LP and the VCG identities on every backend, the duals as layer values, the
LP best response with generous distribution, and the capacity-constrained extension.

The pointwise path (tests/test_reinsurance_market.py) is the oracle: on the same grid with exact
breakpoints the LP must agree with it to solver precision (1e-12 on HiGHS, 1e-7 on Clarabel).
"""

from __future__ import annotations

import numpy as np
import pytest
from test_reinsurance_market import GS, PRINTED, paper_market

import riskopt as ro
from riskopt.mechanisms.reinsurance import (
    DistortedSurvival,
    InsurerSpec,
    LayerLP,
    Market,
    ReinsurerSpec,
    best_response_lp,
    capacity_prices,
    pareto,
)

LP_EXACT = 1e-12


@pytest.fixture(scope="module")
def spne2():
    return paper_market(2).spne()


@pytest.fixture(scope="module")
def lp2():
    return pareto(paper_market(2), backend="highs")


def test_table2_through_the_lp_on_highs(lp2, spne2):
    """Every cell of Table 2 from the Pareto LP and the VCG identities (m + 1 = 3 solves)."""
    post = (0.545767, 0.547430, 0.547954)
    gain = (0.555094, 0.784479, 1.320426)
    assert np.allclose(lp2.insurer_post, post, atol=PRINTED, rtol=0)
    assert np.allclose(lp2.insurer_gain, gain, atol=PRINTED, rtol=0)
    assert np.allclose(lp2.reinsurer_post, [-0.273442, -0.000993], atol=PRINTED, rtol=0)
    assert np.allclose(lp2.premium.sum(axis=1), [0.498105, 0.499774, 0.500299], atol=PRINTED, rtol=0)
    assert lp2.aggregate_risk == pytest.approx(1.366715, abs=PRINTED)
    # and the pointwise oracle, cell by cell
    assert np.allclose(lp2.premium, spne2.premium, atol=LP_EXACT, rtol=0)
    assert np.allclose(lp2.insurer_post, spne2.insurer_post, atol=LP_EXACT, rtol=0)
    assert np.allclose(lp2.reinsurer_post, spne2.reinsurer_post, atol=LP_EXACT, rtol=0)
    assert lp2.aggregate_risk == pytest.approx(spne2.aggregate_risk, abs=LP_EXACT)
    assert lp2.solver.backend == "highs"


def test_table1_through_the_lp_on_highs():
    out = pareto(paper_market(1), backend="highs")
    assert np.allclose(out.initial_risk, [1.100861, 1.331909, 1.868380], atol=PRINTED, rtol=0)
    assert np.allclose(out.premium[:, 0], [1.044949, 1.276004, 1.812475], atol=PRINTED, rtol=0)
    assert np.allclose(out.insurer_post, out.initial_risk, atol=LP_EXACT, rtol=0)
    assert out.reinsurer_post[0] == pytest.approx(-2.933441, abs=PRINTED)
    assert out.aggregate_risk == pytest.approx(1.367708, abs=PRINTED)


@pytest.mark.parametrize(("backend", "solver", "tol"), [
    ("cvxpy", "HIGHS", 1e-10),
    ("cvxpy", "CLARABEL", 1e-7),
    pytest.param("pyomo", None, 1e-10, marks=pytest.mark.slow),
])
def test_every_backend_gives_the_same_market(backend, solver, tol, spne2):
    out = pareto(paper_market(2), backend=backend, solver=solver)
    assert out.aggregate_risk == pytest.approx(spne2.aggregate_risk, abs=tol)
    assert np.allclose(out.premium, spne2.premium, atol=10 * tol, rtol=0)
    assert out.solver.backend == backend


def test_layer_duals_are_gains_from_trade(lp2, spne2):
    """mu_c = cell average of (alpha - min tau)^+, and sum_c mu_c w_c = insurer i's gain from trade
    (the Pareto surplus of its block): 0.555094 + 0.273442-share..., i.e. V(no trade) - V*."""
    mk = paper_market(2)
    mu = lp2.prices.layer_value
    table = lp2.tabulation
    w = table.widths
    ints = table.integrals
    expect = np.maximum(ints[:, 0] - ints[:, 1:].min(axis=1), 0.0)  # exact breakpoints: per cell
    live = w > 0
    assert np.allclose(mu[live] * w[live], expect[live], atol=1e-13, rtol=0)
    block = (mu * w).sum(axis=1)
    assert np.allclose(block, spne2.insurer_gain + spne2.premium.sum(axis=1) - spne2.cost.sum(axis=1),
                       atol=LP_EXACT, rtol=0)
    assert block.sum() == pytest.approx(spne2.initial_risk.sum() - spne2.aggregate_risk, abs=LP_EXACT)
    assert lp2.layer_values["insurer 1"] == pytest.approx(block[0], abs=1e-15)
    # mu is not the price: the price paid is alpha - mu^(-j*) = tau-bar, cell by cell
    assert np.allclose(lp2.layers.price, spne2.layers.price, atol=LP_EXACT, rtol=0)
    assert mk.n == 3


def test_vcg_identities(lp2, spne2):
    """surplus_j = V*_{-j} - V* (the second-price auction's payoff to the winner)."""
    surplus = np.array(list(lp2.vcg_surplus.values()))
    assert np.allclose(surplus, spne2.reinsurer_gain, atol=LP_EXACT, rtol=0)
    assert np.allclose(surplus, [0.273442, 0.000993], atol=PRINTED, rtol=0)


def test_dual_premiums_are_walrasian(spne2):
    """Competitive prices tau_ij per unit of layer: reinsurers make no surplus, insurers get all."""
    out = pareto(paper_market(2), premiums="dual")
    assert np.allclose(out.reinsurer_post, 0.0, atol=LP_EXACT, rtol=0)
    assert np.allclose(out.insurer_gain.sum(), spne2.initial_risk.sum() - spne2.aggregate_risk,
                       atol=LP_EXACT, rtol=0)


def test_spne_is_pareto_optimal_and_individually_rational(spne2, lp2):
    assert spne2.individually_rational
    assert spne2.aggregate_risk == pytest.approx(lp2.aggregate_risk, abs=LP_EXACT)
    # an allocation that is not PO: retaining everything
    assert spne2.initial_risk.sum() > lp2.aggregate_risk + 1.0


def test_cost_is_a_parameter_so_vcg_resolves_reuse_the_program(lp2):
    prog = lp2.program
    assert isinstance(prog, LayerLP)
    assert "cost" in prog.parameters
    sol = lp2.solution
    assert sol.certificate.max_residual < 1e-9


def test_vcg_premiums_on_an_80000_variable_lp_agree_with_the_spne():
    """The VCG re-solves compile the cost Parameter in DPP form. Written as sum(multiply(cost, y))
    that form grows with the square of the size: at 10 insurers x 4 reinsurers (80,216 variables)
    cvxpy asked for 48 GiB. As vec(cost) @ vec(y) it is linear; the premiums must still be the
    SPNE's (the LP optimum is unique here; 1e-7 covers HiGHS's 1e-9 feasibility tolerance summed
    over the 2,000-cell layers)."""
    from riskopt.benchmarks.bench_reinsurance import market

    mk = market(10, 4)
    lp = pareto(mk, backend="highs", cells=2000, nodes=2, premiums="vcg")
    spne = mk.spne(cells=2000, nodes=2, verify=False)
    assert lp.aggregate_risk == pytest.approx(spne.aggregate_risk, rel=1e-10)
    assert np.allclose(lp.premium, spne.premium, atol=1e-7, rtol=0)


def test_the_lp_has_no_redundant_upper_bound():
    """Rows: sum_j y <= w only (with y <= w too the multipliers are not unique, spec)."""
    prog = LayerLP(np.array([0.5, 0.25]), np.array([[-1.0, -2.0], [0.5, -0.1]]))
    assert set(prog.groups) == {"ceded_nonneg", "layer"}
    sol = prog.solve(backend="highs")
    assert sol.objective == pytest.approx(-2 * 0.5 - 0.1 * 0.25, abs=1e-12)
    assert np.allclose(sol.duals["layer"], [2.0, 0.1], atol=1e-12, rtol=0)
    assert np.allclose(sol.duals["ceded_nonneg"], [[1.0, 0.0], [0.6, 0.0]], atol=1e-12, rtol=0)


# ------------------------------------------------------------------ best response through the LP
def test_best_response_lp_matches_the_pointwise_rule():
    mk = paper_market(2)
    P = mk.loss_law(0)
    for prices in (mk.canonical_prices(),
                   [[DistortedSurvival(P, None, 1.4), DistortedSurvival(P, None, 1.2)] for _ in range(3)]):
        pw = mk.best_response(prices)
        lp = best_response_lp(mk, prices, backend="highs")
        assert np.allclose(lp.premium, pw.premium, atol=1e-12, rtol=0)
        assert np.allclose(lp.insurer_post, pw.insurer_post, atol=1e-12, rtol=0)
        assert abs(lp.checks["LP value - generous selection value"]) < 1e-12
        assert lp.equilibrium.generous_violations == 0


def test_generous_selection_on_the_lp_face_at_the_monopoly_price():
    """Prices equal to alpha: the LP is indifferent (zero reduced cost, zero layer dual); the
    generous selection on its optimal face cedes, and reproduces Table 1's premiums."""
    mk = paper_market(1)
    alpha = [[DistortedSurvival(mk.loss_law(i), mk.insurers[i].measure.h)] for i in range(3)]
    out = best_response_lp(mk, alpha, backend="highs")
    assert np.allclose(out.premium[:, 0], [1.044949, 1.276004, 1.812475], atol=PRINTED, rtol=0)


# ------------------------------------------------------------------ capacity limits
@pytest.fixture(scope="module")
def capped():
    P = ro.laws.censored_exponential(3.0, 5.0)
    insurers = [InsurerSpec(f"insurer {i + 1}", P, ro.measures.ES(g)) for i, g in enumerate(GS)]
    reinsurers = [ReinsurerSpec("reinsurer 1", 0.15, ro.laws.censored_exponential(2.5, 5.0), capacity=6.0),
                  ReinsurerSpec("reinsurer 2", 0.10, ro.laws.censored_exponential(2.0, 5.0))]
    return Market(insurers, reinsurers, bound=5.0)


@pytest.fixture(scope="module")
def capped_lp(capped):
    return pareto(capped)


def test_capacity_limit_binds_and_prices_scarcity(capped_lp, lp2):
    out = capped_lp
    lam = out.scarcity_prices["reinsurer 1"]
    assert lam > 0
    # usage = K: sum over insurers of the layers ceded to reinsurer 1
    shares = out.layers.share_matrix
    usage = (shares[:, 0, :] * out.layers.widths).sum()
    assert usage == pytest.approx(6.0, abs=1e-9)
    # strong duality: the pointwise Lagrangian at lambda* is the LP value (exact grid)
    assert abs(out.checks["pointwise dual value - V*"]) < 1e-12
    assert abs(out.checks["Lagrangian value at the LP multipliers - V*"]) < 1e-12
    # the limit costs welfare, and reinsurer 1 earns exactly its scarcity rent
    assert out.aggregate_risk > lp2.aggregate_risk + 1e-3
    assert out.reinsurer_gain[0] == pytest.approx(lam * 6.0, abs=1e-12)
    assert out.reinsurer_gain[1] == pytest.approx(0.0, abs=1e-12)
    assert out.individually_rational


def test_capacity_switch_points_are_common_to_all_insurers(capped_lp):
    """The shifted preferences tau_1 + lambda and tau_2 cross at the same layers for every
    insurer (same beliefs), so reinsurer 1 writes [a, a + 2] for each of the three."""
    out = capped_lp
    for i in range(3):
        r1 = [s for s in out.segments(i) if s["reinsurer"] == "reinsurer 1"]
        assert len(r1) == 1
        assert r1[0]["to"] - r1[0]["from"] == pytest.approx(2.0, abs=1e-9)


def test_loose_capacity_changes_nothing(lp2):
    P = ro.laws.censored_exponential(3.0, 5.0)
    insurers = [InsurerSpec(f"insurer {i + 1}", P, ro.measures.ES(g)) for i, g in enumerate(GS)]
    reinsurers = [ReinsurerSpec("reinsurer 1", 0.15, ro.laws.censored_exponential(2.5, 5.0), capacity=50.0),
                  ReinsurerSpec("reinsurer 2", 0.10, ro.laws.censored_exponential(2.0, 5.0))]
    out = pareto(Market(insurers, reinsurers, bound=5.0))
    assert out.scarcity_prices["reinsurer 1"] == 0.0
    assert out.aggregate_risk == pytest.approx(lp2.aggregate_risk, abs=LP_EXACT)


@pytest.mark.slow
def test_expected_claims_capacity_and_lp_grid_convergence():
    """With capacity on expected claims E_P[I_i1(X_i)], the LP on the base grid (no shifted
    breakpoints) converges to the exact value as the grid is refined (measured: 3.0e-4 at 64
    cells, 4.0e-5 at 256)."""
    P = ro.laws.censored_exponential(3.0, 5.0)
    insurers = [InsurerSpec(f"insurer {i + 1}", P, ro.measures.ES(g)) for i, g in enumerate(GS)]
    reinsurers = [ReinsurerSpec("reinsurer 1", 0.15, ro.laws.censored_exponential(2.5, 5.0), capacity=0.3),
                  ReinsurerSpec("reinsurer 2", 0.10, ro.laws.censored_exponential(2.0, 5.0))]
    mk = Market(insurers, reinsurers, bound=5.0)
    exact = pareto(mk, capacity_weight="expected")
    lam, value = capacity_prices(mk, capacity_weight="expected")
    assert value == pytest.approx(exact.aggregate_risk, abs=1e-12)
    assert lam[0] == pytest.approx(exact.scarcity_prices["reinsurer 1"], abs=1e-12)
    errors = [abs(pareto(mk, capacity_weight="expected", exact_capacity=False, cells=c).aggregate_risk
                  - exact.aggregate_risk) for c in (64, 256)]
    assert errors[1] < errors[0] / 4 and errors[1] < 1e-4


def test_premium_rules_are_checked(capped):
    with pytest.raises(ro.ModelError, match="premiums"):
        pareto(capped, premiums="vcg")
    with pytest.raises(ro.ModelError, match="premiums"):
        pareto(paper_market(2), premiums="nash")
    with pytest.raises(ro.ModelError, match="capacity_weight"):
        pareto(capped, capacity_weight="tvar")
