"""Reinsurance market (seed 001, Andraos, Ghossoub, Zhu 2025): Tables 1 and 2, layer patterns,
closed forms, best responses, the equilibrium verifier, other measures and laws.

Reference values: ../shared/spec/reinsurance_market.md (recomputed there from first principles;
they match the paper's tables to 6 decimals). The closed forms below integrate the exponential
pieces between the analytic breakpoints: the pointwise path must match them to 1e-12 (exact
breakpoints, closed-form cell integrals), the printed tables to half a unit of the 6th decimal.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import riskopt as ro
from riskopt.measures.distortion import PiecewiseLinear
from riskopt.mechanisms.reinsurance import DistortedSurvival, InsurerSpec, Market, ReinsurerSpec

GS = (0.10, 0.05, 0.01)
PRINTED = 5e-7  # half a unit of the 6th decimal
EXACT = 1e-12


def paper_market(m: int = 2) -> Market:
    P = ro.laws.censored_exponential(3.0, 5.0)
    insurers = [InsurerSpec(f"insurer {i + 1}", P, ro.measures.ES(g)) for i, g in enumerate(GS)]
    reinsurers = [ReinsurerSpec("reinsurer 1", 0.15, ro.laws.censored_exponential(2.5, 5.0)),
                  ReinsurerSpec("reinsurer 2", 0.10, ro.laws.censored_exponential(2.0, 5.0))]
    return Market(insurers, reinsurers[:m], bound=5.0)


@pytest.fixture(scope="module")
def table1():
    return paper_market(1).spne()


@pytest.fixture(scope="module")
def table2():
    return paper_market(2).spne()


# ------------------------------------------------------------------ closed forms (spec, Sec. 4)
def _exp(rate: float, a: float, b: float) -> float:
    """int_a^b exp(-rate z) dz."""
    return (math.exp(-rate * a) - math.exp(-rate * b)) / rate


def _alpha(g: float, a: float, b: float) -> float:
    """int_a^b alpha(z) dz, alpha = min(exp(-3z)/g, 1) on [0, 5)."""
    zg = math.log(1 / g) / 3
    flat = max(0.0, min(b, zg) - a)
    lo = max(a, zg)
    return flat + (_exp(3.0, lo, b) / g if b > lo else 0.0)


def es(g: float) -> float:
    return math.log(1 / g) / 3 + (1 - math.exp(-15) / g) / 3


Z1, Z2, Z3 = math.log(1.1) / 2, math.log(1.15) / 2.5, 2 * math.log(1.15 / 1.1)


def zb(g: float) -> float:
    return min(-2 * math.log(1.15 * g), 5.0)


def z4(g: float) -> float:
    return min(-math.log(1.1 * g), 5.0)


def stackelberg_closed_form(g: float) -> tuple[float, float]:
    """(premium, reinsurer cost) for one insurer: the layers [Z2, zb] at price alpha."""
    return _alpha(g, Z2, zb(g)), 1.15 * _exp(2.5, Z2, zb(g))


def spne_closed_form(g: float) -> dict[str, float]:
    """Insurer gain, premiums to each reinsurer and their surpluses, layer by layer (spec)."""
    t1 = lambda a, b: 1.15 * _exp(2.5, a, b)  # noqa: E731
    t2 = lambda a, b: 1.10 * _exp(2.0, a, b)  # noqa: E731
    prem2 = (Z2 - Z1) + t1(Z2, Z3)          # reinsurer 2: price 1 (alpha) then tau_1
    prem1 = t2(Z3, z4(g)) + _alpha(g, z4(g), zb(g))  # reinsurer 1: price tau_2 then alpha
    cost2, cost1 = t2(Z1, Z3), t1(Z3, zb(g))
    ceded = _alpha(g, Z1, zb(g))
    return {"gain": ceded - prem1 - prem2, "prem1": prem1, "prem2": prem2,
            "surplus1": prem1 - cost1, "surplus2": prem2 - cost2}


# ------------------------------------------------------------------ Table 1 (Stackelberg)
def test_table1_every_cell(table1):
    initial = (1.100861, 1.331909, 1.868380)
    premium = (1.044949, 1.276004, 1.812475)
    rows = {r["name"]: r for r in table1.agent_rows()}
    for i, name in enumerate(["insurer 1", "insurer 2", "insurer 3"]):
        assert rows[name]["initial_risk"] == pytest.approx(initial[i], abs=PRINTED)
        assert rows[name]["premium_paid"] == pytest.approx(premium[i], abs=PRINTED)
        assert rows[name]["post_transfer_risk"] == pytest.approx(initial[i], abs=PRINTED)
    assert rows["reinsurer 1"]["post_transfer_risk"] == pytest.approx(-2.933441, abs=PRINTED)
    assert rows["reinsurer 1"]["initial_risk"] == 0.0
    assert table1.kind == "stackelberg"


def test_table1_matches_the_closed_forms_to_1e12(table1):
    cf = [stackelberg_closed_form(g) for g in GS]
    assert np.allclose(table1.initial_risk, [es(g) for g in GS], atol=EXACT, rtol=0)
    assert np.allclose(table1.premium[:, 0], [p for p, _ in cf], atol=EXACT, rtol=0)
    assert table1.reinsurer_post[0] == pytest.approx(sum(c - p for p, c in cf), abs=EXACT)


def test_monopolist_takes_the_whole_surplus(table1):
    """Sec. 4.1: every insurer is exactly indifferent (post = initial), prices are alpha."""
    assert np.max(np.abs(table1.insurer_post - table1.initial_risk)) < EXACT
    assert table1.reinsurer_gain[0] == pytest.approx(
        table1.initial_risk.sum() - table1.aggregate_risk, abs=EXACT)
    for i in range(3):
        assert all(s["price"] == "alpha" for s in table1.segments(i) if s["reinsurer"] is not None)


def test_stackelberg_ceded_layers(table1):
    """Ceded layers [0.055905, z_b] with z_b = 4.325646, 5, 5."""
    for i, g in enumerate(GS):
        ceded = [s for s in table1.segments(i) if s["reinsurer"] is not None]
        assert len(ceded) == 1
        assert ceded[0]["from"] == pytest.approx(Z2, abs=1e-12)
        assert ceded[0]["to"] == pytest.approx(zb(g), abs=1e-12)
    assert zb(0.10) == pytest.approx(4.325646, abs=PRINTED)


# ------------------------------------------------------------------ Table 2 (two reinsurers)
def test_table2_every_cell(table2):
    post = (0.545767, 0.547430, 0.547954)
    gain = (0.555094, 0.784479, 1.320426)
    premiums = (0.498105, 0.499774, 0.500299)
    rows = {r["name"]: r for r in table2.agent_rows()}
    for i in range(3):
        row = rows[f"insurer {i + 1}"]
        assert row["initial_risk"] == pytest.approx((1.100861, 1.331909, 1.868380)[i], abs=PRINTED)
        assert row["post_transfer_risk"] == pytest.approx(post[i], abs=PRINTED)
        assert row["welfare_gain"] == pytest.approx(gain[i], abs=PRINTED)
        assert row["premium_paid"] == pytest.approx(premiums[i], abs=PRINTED)
    assert rows["reinsurer 1"]["post_transfer_risk"] == pytest.approx(-0.273442, abs=PRINTED)
    assert rows["reinsurer 1"]["welfare_gain"] == pytest.approx(0.273442, abs=PRINTED)
    assert rows["reinsurer 2"]["post_transfer_risk"] == pytest.approx(-0.000993, abs=PRINTED)
    assert rows["reinsurer 2"]["welfare_gain"] == pytest.approx(0.000993, abs=PRINTED)


def test_table2_matches_the_closed_forms_to_1e12(table2):
    cf = [spne_closed_form(g) for g in GS]
    assert np.allclose(table2.insurer_gain, [c["gain"] for c in cf], atol=EXACT, rtol=0)
    assert np.allclose(table2.premium[:, 0], [c["prem1"] for c in cf], atol=EXACT, rtol=0)
    assert np.allclose(table2.premium[:, 1], [c["prem2"] for c in cf], atol=EXACT, rtol=0)
    assert table2.reinsurer_gain[0] == pytest.approx(sum(c["surplus1"] for c in cf), abs=EXACT)
    assert table2.reinsurer_gain[1] == pytest.approx(sum(c["surplus2"] for c in cf), abs=EXACT)


def test_pareto_aggregate_risks(table1, table2):
    """V* = sum ES - sum int (alpha - min tau)^+: 1.366715 (m = 2) and 1.367708 (m = 1)."""
    assert table2.aggregate_risk == pytest.approx(1.366715, abs=PRINTED)
    assert table1.aggregate_risk == pytest.approx(1.367708, abs=PRINTED)
    exact2 = sum(es(g) - _alpha(g, Z1, zb(g)) + 1.10 * _exp(2.0, Z1, Z3) + 1.15 * _exp(2.5, Z3, zb(g))
                 for g in GS)
    assert table2.aggregate_risk == pytest.approx(exact2, abs=EXACT)


def test_table2_layer_pattern(table2):
    """Retained on [0, 0.047655]; R2 at price 1 (alpha); R2 at tau_1; R1 at tau_2 up to where
    alpha = tau_2 (2.207275 / 2.900422 / 4.509860); R1 at alpha up to z_b; retained beyond."""
    printed_z4 = (2.207275, 2.900422, 4.509860)
    for i, g in enumerate(GS):
        segs = table2.segments(i)
        expect = [(0.0, Z1, None, None), (Z1, Z2, "reinsurer 2", "alpha"),
                  (Z2, Z3, "reinsurer 2", "tau of reinsurer 1"),
                  (Z3, z4(g), "reinsurer 1", "tau of reinsurer 2"),
                  (z4(g), zb(g), "reinsurer 1", "alpha")]
        if zb(g) < 5:
            expect.append((zb(g), 5.0, None, None))
        assert len(segs) == len(expect), segs
        for s, (a, b, who, price) in zip(segs, expect, strict=True):
            assert s["from"] == pytest.approx(a, abs=1e-12)
            assert s["to"] == pytest.approx(b, abs=1e-12)
            assert s["reinsurer"] == who and s["price"] == price
        assert z4(g) == pytest.approx(printed_z4[i], abs=PRINTED)
    breaks = np.array([Z1, Z2, Z3])
    assert np.allclose(breaks, [0.047655, 0.055905, 0.088904], atol=PRINTED, rtol=0)


def test_competition_helps_every_insurer(table1, table2):
    """Sec. 4.2: with a second reinsurer every agent gains; insurers gain strictly."""
    assert np.all(table2.insurer_gain > 0.5)
    assert np.all(table2.reinsurer_gain > 0)
    assert np.all(table1.insurer_gain < 1e-12)
    assert table2.aggregate_risk < table1.aggregate_risk


def test_verification_passes_at_the_spne(table1, table2):
    for out in (table1, table2):
        v = out.equilibrium
        assert v.ok
        assert np.max(v.reinsurer_gain) <= 1e-12 and np.max(v.insurer_gap) <= 1e-12
        assert v.generous_violations == 0


def test_indemnities_are_admissible(table2):
    """I_ij(0) = 0, nondecreasing, and sum_j I_ij 1-Lipschitz (Assumption 2.1)."""
    x = np.linspace(0, 5, 2001)
    for i in range(3):
        ind = table2.layers.indemnity(i, x, 2)
        assert np.all(ind[:, 0] == 0)
        steps = np.diff(ind, axis=1)
        assert np.all(steps >= -1e-15)
        assert np.all(steps.sum(axis=0) <= np.diff(x) + 1e-12)
        # reinsurer 2 indemnifies [Z1, Z3], reinsurer 1 [Z3, zb]
        assert ind[1, -1] == pytest.approx(Z3 - Z1, abs=1e-12)
        assert ind[0, -1] == pytest.approx(zb(GS[i]) - Z3, abs=1e-12)


def test_grid_resolution_does_not_change_the_answer(table2):
    """Exact breakpoints: a coarse and a fine grid give the same numbers to 1e-12."""
    for cells, nodes in ((64, 4), (1024, 2)):
        other = paper_market(2).spne(cells=cells, nodes=nodes)
        assert np.allclose(other.premium, table2.premium, atol=EXACT, rtol=0)
        assert other.aggregate_risk == pytest.approx(table2.aggregate_risk, abs=EXACT)


def test_monopoly_view_is_table1(table1):
    mono = paper_market(2).monopoly("reinsurer 1").spne()
    assert np.allclose(mono.premium, table1.premium, atol=EXACT, rtol=0)
    with pytest.raises(ro.ModelError, match="monopoly"):
        paper_market(2).monopoly("nobody")
    with pytest.raises(ro.ModelError, match="exactly one reinsurer"):
        paper_market(2).stackelberg()


# ------------------------------------------------------------------ best responses
def test_best_response_to_canonical_prices_is_the_spne(table2):
    mk = paper_market(2)
    br = mk.best_response(mk.canonical_prices())
    assert np.allclose(br.premium, table2.premium, atol=EXACT, rtol=0)
    assert np.allclose(br.insurer_post, table2.insurer_post, atol=EXACT, rtol=0)
    assert br.equilibrium.ok


def test_generous_tie_break_cedes_at_the_monopoly_price(table1):
    """Priced at alpha the insurer is indifferent: generous distribution cedes to the reinsurer
    with the lower true preference (without it the monopolist's supremum is not attained)."""
    mk = paper_market(1)
    alpha = [[DistortedSurvival(mk.loss_law(i), mk.insurers[i].measure.h)] for i in range(3)]
    br = mk.best_response(alpha)
    assert np.allclose(br.premium, table1.premium, atol=1e-12, rtol=0)
    assert br.equilibrium.generous_violations == 0


def test_verifier_finds_profitable_deviations():
    """Both reinsurers at the monopoly price alpha is no equilibrium: undercutting pays."""
    mk = paper_market(2)
    alpha = [DistortedSurvival(mk.loss_law(i), mk.insurers[i].measure.h) for i in range(3)]
    out = mk.best_response([[a, a] for a in alpha])
    assert not out.equilibrium.ok
    assert np.max(out.equilibrium.reinsurer_gain) > 0.1
    # pricing at one's own true preference leaves money on the table too
    own = [[mk.tau[i][0], mk.tau[i][1]] for i in range(3)]
    assert not mk.best_response(own).equilibrium.ok


def test_best_response_to_expected_value_premiums():
    """Prices (1 + eta) E_P (a loaded expected-value principle): cede where the price is below
    alpha, to the cheaper reinsurer; the premium is the price integral over the ceded layers."""
    mk = paper_market(2)
    P = mk.loss_law(0)
    prices = [[DistortedSurvival(P, None, 1.4), DistortedSurvival(P, None, 1.2)] for _ in range(3)]
    out = mk.best_response(prices)
    for i, g in enumerate(GS):
        # alpha = 1 > 1.2 exp(-3z) from ln(1.2)/3 on; exp(-3z)/g > 1.2 exp(-3z) always (g < 1/1.2)
        lo = math.log(1.2) / 3
        expected = 1.2 * _exp(3.0, lo, 5.0)
        assert out.premium[i, 1] == pytest.approx(expected, abs=EXACT)
        assert out.premium[i, 0] == 0.0
        assert out.insurer_post[i] == pytest.approx(es(g) - _alpha(g, lo, 5.0) + expected, abs=EXACT)


def test_prices_table_is_checked():
    mk = paper_market(2)
    with pytest.raises(ro.ModelError, match="prices"):
        mk.best_response([[mk.tau[0][0]]])


# ------------------------------------------------------------------ other measures and laws
def _law_market(measure, law, reinsurers=None, **kw):
    reinsurers = reinsurers or [ReinsurerSpec("r1", 0.2, ro.laws.censored_exponential(1.0, 4.0)),
                                ReinsurerSpec("r2", 0.1)]
    return Market([InsurerSpec("i", law, measure)], reinsurers, **kw)


def _brute_force(market: Market, points: int = 400_001) -> float:
    """V* by a fine midpoint rule on [0, M] split at the curves' kinks (jumps), without breakpoint
    search: an independent oracle, accurate to ~1e-10 here."""
    total = 0.0
    for i in range(market.n):
        edges = np.unique(np.concatenate([np.linspace(0, market.bound, points), market.bank.kinks(i)]))
        edges = edges[(edges >= 0) & (edges <= market.bound)]
        vals = market.curve_values(i, (edges[1:] + edges[:-1]) / 2)
        total += float((vals[0] - np.maximum(vals[0] - vals[1:].min(axis=0), 0.0)) @ np.diff(edges))
    return total


@pytest.mark.parametrize("measure", [
    ro.measures.Distortion("wang", lam=0.5),
    ro.measures.Distortion("dual_power", b=2.5),
    ro.measures.Distortion("power", a=0.6),
    ro.measures.Distortion("mixture", components=[{"name": "es", "level": 0.1}, {"name": "es", "level": 0.6}],
                           weights=[0.3, 0.7]),
    ro.measures.VaR(0.2),
    ro.measures.Expectation(),
], ids=["wang", "dual_power", "power", "es_mixture", "var", "expectation"])
def test_distortion_insurers_match_a_brute_force_integral(measure):
    law = ro.laws.censored_exponential(1.5, 4.0)
    mk = _law_market(measure, law)
    out = mk.spne()
    assert out.equilibrium.ok and out.individually_rational
    assert out.aggregate_risk == pytest.approx(_brute_force(mk), abs=1e-8)


def test_law_given_by_its_survival_function():
    law = ro.laws.FromSurvival(lambda z: (1 - z / 4) ** 2, 0.0, 4.0)
    mk = _law_market(ro.measures.ES(0.2), law)
    out = mk.spne()
    # ES_0.2 of a law with S(z) = (1 - z/4)^2: int_0^4 min(S/0.2, 1) dz
    zq = 4 * (1 - math.sqrt(0.2))
    es_exact = zq + (4 / 3) * (1 - zq / 4) ** 3 / 0.2
    assert out.initial_risk[0] == pytest.approx(es_exact, abs=1e-12)
    assert out.aggregate_risk == pytest.approx(_brute_force(mk), abs=1e-8)


def test_discrete_law_and_step_curves():
    law = ro.laws.Discrete([0.0, 1.0, 2.5, 4.0], [0.4, 0.3, 0.2, 0.1])
    mk = _law_market(ro.measures.ES(0.25), law)
    out = mk.spne()
    # ES_0.25 = (0.1 * 4 + 0.15 * 2.5) / 0.25
    assert out.initial_risk[0] == pytest.approx((0.1 * 4 + 0.15 * 2.5) / 0.25, abs=1e-12)
    assert out.aggregate_risk == pytest.approx(_brute_force(mk), abs=1e-8)
    assert out.equilibrium.ok


def test_general_capacity_on_a_finite_space():
    """Choquet insurer with a non-additive capacity; a subjective-probability reinsurer; losses per
    state. alpha is the capacity of {X > z}: a step function."""
    space = ro.Scenarios([0.2, 0.3, 0.5])
    cap = ro.measures.Capacity.from_table({(0,): 0.3, (1,): 0.4, (2,): 0.6, (0, 1): 0.6, (0, 2): 0.8,
                                           (1, 2): 0.9}, 3)
    X = np.array([0.0, 1.0, 3.0])
    mk = Market([InsurerSpec("c", X, ro.measures.Choquet(cap))],
                [ReinsurerSpec("q", 0.1, beliefs=np.array([0.3, 0.3, 0.4]))], space=space)
    out = mk.spne()
    # rho(X) = int_0^1 c({X > z}) + int_1^3 c({X > z}) = c({1, 2}) + 2 c({2}) = 0.9 + 1.2
    assert out.initial_risk[0] == pytest.approx(2.1, abs=1e-12)
    # tau(z) = 1.1 Q(X > z): 1.1 * 0.7 on [0, 1), 1.1 * 0.4 on [1, 3): both below alpha
    assert out.premium[0, 0] == pytest.approx(0.9 + 1.2, abs=1e-12)  # m = 1: price alpha
    assert out.reinsurer_post[0] == pytest.approx(1.1 * (0.7 + 0.8) - 2.1, abs=1e-12)


def test_non_additive_reinsurer_needs_comonotone_losses():
    law = ro.laws.censored_exponential(2.0, 4.0)
    ins = [InsurerSpec("a", law, ro.measures.ES(0.1)), InsurerSpec("b", law, ro.measures.ES(0.2))]
    wang = ReinsurerSpec("w", 0.05, measure=ro.measures.Distortion("wang", lam=0.3))
    with pytest.raises(ro.ModelError) as err:
        Market(ins, [wang, ReinsurerSpec("r", 0.1)])
    assert err.value.field == "reinsurers[0].measure" and "Thm 3.8" in str(err.value)
    out = Market(ins, [wang, ReinsurerSpec("r", 0.1)], comonotone=True).spne()
    assert out.equilibrium.ok
    # one insurer: additivity over insurers is trivial
    assert Market(ins[:1], [wang]).spne().equilibrium.ok


def test_comonotone_flag_is_checked_on_state_losses():
    space = ro.Scenarios([0.25, 0.25, 0.5])
    cap = ro.measures.Capacity.distorted(lambda t: np.sqrt(t), space.p)
    ins = [InsurerSpec("a", np.array([0.0, 1.0, 2.0]), ro.measures.ES(0.3)),
           InsurerSpec("b", np.array([2.0, 1.0, 0.0]), ro.measures.ES(0.3))]
    with pytest.raises(ro.ModelError, match="comonotone"):
        Market(ins, [ReinsurerSpec("c", 0.1, measure=ro.measures.Choquet(cap))], space=space, comonotone=True)
    ins[1] = InsurerSpec("b", np.array([0.5, 0.5, 3.0]), ro.measures.ES(0.3))
    out = Market(ins, [ReinsurerSpec("c", 0.1, measure=ro.measures.Choquet(cap))], space=space,
                 comonotone=True).spne()
    assert out.equilibrium.ok


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(("make", "field"), [
    (lambda: ReinsurerSpec("r", 0.0), "reinsurers[0].loading"),
    (lambda: ReinsurerSpec("r", -0.1), "reinsurers[0].loading"),
    (lambda: ReinsurerSpec("r", float("nan")), "reinsurers[0].loading"),
], ids=["zero", "negative", "nan"])
def test_loading_must_be_positive(make, field):
    with pytest.raises(ro.ModelError) as err:
        Market([InsurerSpec("i", ro.laws.censored_exponential(1, 3), ro.measures.ES(0.1))], [make()])
    assert err.value.field == field


@pytest.mark.parametrize("level", [0.0, 1.0, 1.5, -0.2])
def test_es_level_outside_the_unit_interval(level):
    with pytest.raises(ro.ModelError) as err:
        ro.measures.ES(level)
    assert err.value.field == "level"


def test_capacity_not_monotone_or_not_normalised():
    with pytest.raises(ro.ModelError, match="monotone"):
        ro.measures.Capacity.from_table({(0,): 0.5, (1,): 0.1, (2,): 0.1, (0, 1): 0.4, (0, 2): 0.6,
                                         (1, 2): 0.3}, 3)
    with pytest.raises(ro.ModelError, match="normalised"):
        ro.measures.Capacity.from_table({(0,): 0.2, (1,): 0.2, (0, 1): 0.9}, 2)
    space = ro.Scenarios([0.5, 0.5])
    loose = ro.measures.Capacity(lambda mk: 0.5 * mk.sum(), 2, normalised=False)
    with pytest.raises(ro.ModelError) as err:
        Market([InsurerSpec("i", np.array([0.0, 1.0]), ro.measures.Choquet(loose))],
               [ReinsurerSpec("r", 0.1)], space=space)
    assert err.value.field == "insurers[0].measure"


def test_increasing_survival_function():
    with pytest.raises(ro.ModelError, match="nonincreasing"):
        ro.laws.FromSurvival(lambda z: np.where(z < 1, 0.5, 0.8) * (z < 3), 0.0, 3.0)


def test_bound_must_bound_every_loss():
    law = ro.laws.censored_exponential(1.0, 5.0)
    ins = [InsurerSpec("i", law, ro.measures.ES(0.1))]
    with pytest.raises(ro.ModelError) as err:
        Market(ins, [ReinsurerSpec("r", 0.1)], bound=4.0)
    assert err.value.field == "bound" and "> 4" in str(err.value)
    with pytest.raises(ro.ModelError) as err:
        Market([InsurerSpec("i", ro.laws.Exponential(1.0), ro.measures.ES(0.1))], [ReinsurerSpec("r", 0.1)])
    assert err.value.field == "bound"
    with pytest.raises(ro.ModelError) as err:
        Market(ins, [ReinsurerSpec("r", 0.1, beliefs=ro.laws.Exponential(2.0))], bound=5.0)
    assert err.value.field == "reinsurers[0].beliefs"


def test_other_declaration_errors():
    law = ro.laws.censored_exponential(1.0, 5.0)
    ok = InsurerSpec("i", law, ro.measures.ES(0.1))
    cases = [
        (lambda: Market([ok], []), "reinsurers"),
        (lambda: Market([ok, ok], [ReinsurerSpec("r", 0.1)]), "insurers[1].name"),
        (lambda: Market([InsurerSpec("i", law, ro.measures.Entropic(1.0))], [ReinsurerSpec("r", 0.1)]),
         "insurers[0].measure"),
        (lambda: Market([InsurerSpec("i", [0.0, 1.0], ro.measures.ES(0.1))], [ReinsurerSpec("r", 0.1)]),
         "insurers[0].loss"),
        (lambda: Market([ok], [ReinsurerSpec("r", 0.1, beliefs=[law, law])]), "reinsurers[0].beliefs"),
        (lambda: Market([ok], [ReinsurerSpec("r", 0.1, beliefs=law, measure=ro.measures.Expectation())]),
         "reinsurers[0]"),
        (lambda: Market([ok], [ReinsurerSpec("r", 0.1, capacity=-1.0)]), "reinsurers[0].capacity"),
        (lambda: Market([InsurerSpec("i", law, ro.measures.Distortion(PiecewiseLinear([0, 1], [0, 0.5]),
                                                                  normalised=False))],
                        [ReinsurerSpec("r", 0.1)]), "insurers[0].measure"),
    ]
    for make, field in cases:
        with pytest.raises(ro.ModelError) as err:
            make()
        assert err.value.field == field, (field, err.value)
