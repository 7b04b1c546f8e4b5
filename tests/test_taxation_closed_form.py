"""Two-region CARA closed form (Proposition 4, spec §10) against the reference table and against the
general solvers on the same exact law; the sensitivity sweeps through the sweep runner."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskopt import ModelError
from riskopt.mechanisms.taxation import (
    ExponentialFamily,
    UniformAtomLaw,
    gamma_sweep_points,
    mu_sweep_points,
    proposition4,
    sensitivity,
    sensitivity_point,
    solve_afpo,
)

BASE = {"w1": 4.5, "w2": 10.0, "g1": 1.0, "g2": 2.0}


def _instance(p0=0.2, mu=None, g2=2.0, w2=10.0):
    W = 4.5 + w2
    total = (1 - p0) * W / 2
    mu1 = total - 4.0 if mu is None else total / (1 + mu)
    return {"w1": 4.5, "w2": w2, "g1": 1.0, "g2": g2, "p0": p0, "mu1": mu1}


# spec §10: (instance, case, zeta, alpha1, T1 at W/8, W/4, W/2, 3W/4); printed to 6 decimals
REFERENCE = [
    (_instance(0.2), 2, -0.25, 0.562177, (0.4375, 1.041667, 2.25, 3.458333)),
    (_instance(0.1), 1, 0.699415, 0.331942, (1.070443, 1.674610, 2.882943, 4.091277)),
    (_instance(0.2, mu=1.0), 1, 2.899219, 0.052192, (1.8125, 3.141146, 4.349479, 4.5)),
    (_instance(0.2, mu=2.0), 1, 0.018557, 0.495361, (0.616538, 1.220705, 2.429038, 3.637371)),
    (_instance(0.2, mu=5.0), 3, -2.280472, 0.907247, (0.0, 0.0, 0.896352, 2.104685)),
    (_instance(0.1, g2=0.5), 2, -4.169753, 0.984779, (0.0, 1.026749, 3.443416, 4.5)),
    (_instance(0.1, g2=4.0), 2, 1.805556, 0.141176, (1.806944, 2.169444, 2.894444, 3.619444)),
    (_instance(0.1, g2=1.5, w2=8.0), 3, -1.259933, 0.779015, (0.0, 0.494040, 1.744040, 2.994040)),
]
IDS = ["baseline p0=0.2", "baseline p0=0.1", "mu=1", "mu=2", "mu=5", "gamma=0.5", "gamma=4", "appC"]
FRACTIONS = np.array([0.125, 0.25, 0.5, 0.75])


@pytest.mark.parametrize(("inst", "case", "zeta", "alpha1", "T1"), REFERENCE, ids=IDS)
def test_reference_table(inst, case, zeta, alpha1, T1):
    """Every cell of spec §10 at its printed precision (half a unit of the 6th decimal)."""
    sol = proposition4(**inst)
    W = inst["w1"] + inst["w2"]
    assert sol.case == case
    assert sol.zeta == pytest.approx(zeta, abs=5e-7)
    assert sol.alpha1 == pytest.approx(alpha1, abs=5e-7)
    assert np.allclose(sol.taxes(FRACTIONS * W)[0], T1, atol=5e-7, rtol=0)


def test_exact_cells():
    """Cells that are exact fractions, to 1e-12: zeta = -1/4, T1(W/8) = 7/16, T1(W/4) = 25/24."""
    sol = proposition4(**_instance(0.2))
    assert sol.zeta == pytest.approx(-0.25, abs=1e-12)
    assert np.allclose(sol.taxes(FRACTIONS * 14.5)[0], [7 / 16, 25 / 24, 2.25, 83 / 24], atol=1e-12, rtol=0)
    assert sol.alpha1 == pytest.approx(1 / (1 + np.exp(-0.25)), abs=1e-15)


@pytest.mark.parametrize(("inst", "case", "zeta", "alpha1", "T1"), REFERENCE, ids=IDS)
def test_fairness_equations_hold(inst, case, zeta, alpha1, T1):
    """The closed form is actuarially fair on the exact law (piecewise-linear integration)."""
    sol = proposition4(**inst)
    assert np.allclose(sol.expected_taxes(), [sol.mu1, sol.mu2], atol=1e-12, rtol=0)


@pytest.mark.parametrize("method", ["newton", "fixed_point"])
@pytest.mark.parametrize(("inst", "case", "zeta", "alpha1", "T1"), REFERENCE, ids=IDS)
def test_general_solver_matches_closed_form(inst, case, zeta, alpha1, T1, method):
    """The n-region solver on the same exact law (atom + uniform) reproduces Proposition 4: alpha and
    the whole rule to 1e-9."""
    sol = proposition4(**inst)
    W = inst["w1"] + inst["w2"]
    fam = ExponentialFamily([inst["g1"], inst["g2"]], 0.0, [inst["w1"], inst["w2"]])
    res = solve_afpo(fam, UniformAtomLaw(inst["p0"], W), [sol.mu1, sol.mu2], method=method)
    assert res.converged and res.residual < 1e-10
    assert res.alpha[0] == pytest.approx(sol.alpha1, abs=1e-9)
    s = np.linspace(0, W, 41)
    assert np.allclose(res.rule.taxes(s), sol.taxes(s), atol=1e-9, rtol=0)


def test_infeasible_mu_is_flagged_not_nan():
    """mu = 0.5 at p0 = 0.2: mu1 = 3.867 > E[min(S, w1)] = 3.0414, no AFPO (spec §10, §12.3)."""
    sol = proposition4(**_instance(0.2, mu=0.5))
    assert sol.case is None and sol.zeta is None and sol.alpha1 is None
    assert "3.04138" in sol.reason and "no AFPO" in sol.reason
    fam = ExponentialFamily([1.0, 2.0], 0.0, [4.5, 10.0])
    with pytest.raises(ModelError, match=r"targets\[0\].*3.0413793.*no AFPO exists"):
        solve_afpo(fam, UniformAtomLaw(0.2, 14.5), [sol.mu1, sol.mu2], names=["0", "1"])
    with pytest.raises(ModelError, match="mu1"):
        sol.taxes([1.0])


def test_case3_sign_corrected():
    """Case 3's middle layer carries + g1 g2 zeta/(g1+g2): continuous at s = -g2 zeta and fair; the
    paper's minus sign jumps there and breaks fairness (spec §12.1)."""
    sol = proposition4(**_instance(0.2, mu=5.0))
    assert sol.case == 3
    z, g1, g2 = sol.zeta, 1.0, 2.0
    start = -g2 * z
    eps = 1e-9
    left, right = sol.taxes([start - eps, start + eps])[0]
    assert abs(right - left) < 1e-8
    printed = g1 * start / (g1 + g2) - g1 * g2 * z / (g1 + g2)
    assert printed > 1.0  # the printed rule jumps from 0 to 3.04 at the layer start
    s = np.linspace(start, sol.layer_points()["s3"], 2001)
    mid = 0.5 * (s[:-1] + s[1:])
    wrong = g1 * mid / (g1 + g2) - g1 * g2 * z / (g1 + g2)
    right_rule = sol.taxes(mid)[0]
    assert np.abs(wrong - right_rule).max() > 1.0


def test_labels_swapped_when_x1_exceeds_x2():
    """gamma = 4: x1 = 4.5 > x2 = 2.5, the proposition is applied with swapped labels and reported
    in the original ones."""
    sol = proposition4(**_instance(0.1, g2=4.0))
    assert sol.swapped and sol.case == 2
    fam = ExponentialFamily([1.0, 4.0], 0.0, [4.5, 10.0])
    res = solve_afpo(fam, UniformAtomLaw(0.1, 14.5), [sol.mu1, sol.mu2])
    assert res.alpha[0] == pytest.approx(sol.alpha1, abs=1e-9)


def test_bad_parameters():
    with pytest.raises(ModelError, match="g1"):
        proposition4(4.5, 10, 0.0, 2, 0.2, 1.8)
    with pytest.raises(ModelError, match="p0"):
        proposition4(4.5, 10, 1.0, 2, 1.0, 1.8)
    with pytest.raises(ModelError, match="mu2"):
        proposition4(4.5, 10, 1.0, 2, 0.2, 1.8, 5.0)


@settings(max_examples=40, deadline=None)
@given(w1=st.floats(0.5, 20), w2=st.floats(0.5, 20), g1=st.floats(0.2, 5), g2=st.floats(0.2, 5),
       p0=st.floats(0.0, 0.8), t=st.floats(0.02, 0.98))
def test_closed_form_vs_solver_random(w1, w2, g1, g2, p0, t):
    """Random attainable instances, all three cases and both label orders: Proposition 4 equals the
    general Newton solver on the exact law."""
    W = w1 + w2
    lo, hi = (1 - p0) * w1 ** 2 / (2 * W), (1 - p0) * (W ** 2 - w2 ** 2) / (2 * W)
    mu1 = lo + t * (hi - lo)
    sol = proposition4(w1, w2, g1, g2, p0, mu1)
    assert sol.feasible
    assert np.allclose(sol.expected_taxes(), [sol.mu1, sol.mu2], atol=1e-10 * W, rtol=0)
    res = solve_afpo(ExponentialFamily([g1, g2], 0.0, [w1, w2]), UniformAtomLaw(p0, W), [sol.mu1, sol.mu2])
    s = np.linspace(0, W, 23)
    assert np.allclose(res.rule.taxes(s), sol.taxes(s), atol=1e-8 * W, rtol=0)


def test_mu_sweep_flags_cases_and_infeasible_range():
    """The paper's mu range [0.1, 10]: only [0.907, 9.383] is attainable (spec §12.3); along it the
    active case goes 1 -> 2 -> 3 as mu grows (alpha1 increases: region 1 pays a smaller share)."""
    mus = np.concatenate([np.geomspace(0.1, 10, 49), [0.9, 0.91, 9.38, 9.39]])
    result = sensitivity(mu_sweep_points(np.sort(mus), p0=0.2))
    rows = result.rows
    assert not result.failed
    feasible = np.array([r["feasible"] for r in rows])
    mu = np.array([r["mu"] for r in rows])
    assert np.all(feasible == ((mu >= 0.907) & (mu <= 9.383)))
    cases = [r["case"] for r in rows if r["feasible"]]
    assert cases == sorted(cases) and set(cases) == {1, 2, 3}
    a1 = [r["alpha1"] for r in rows if r["feasible"]]
    assert np.all(np.diff(a1) > 0)
    bad = [r for r in rows if not r["feasible"]]
    assert all(r["zeta"] is None and "no AFPO" in r["reason"] for r in bad)
    # boundaries of the attainable range, from the closed form
    total = 0.8 * 14.5 / 2
    lo, hi = 0.8 * 4.5 ** 2 / 29, 0.8 * (14.5 ** 2 - 100) / 29
    assert (total - hi) / hi == pytest.approx(0.907, abs=5e-4)
    assert (total - lo) / lo == pytest.approx(9.383, abs=5e-4)


def test_gamma_sweep_cases_and_swap():
    """Gamma sweep at p0 = 0.1 (Fig. 7/9): within the paper's range x1 <= x2 (gamma <= 10/4.5) only
    cases 1 and 2 appear; beyond it the labels are swapped (the case is then the swapped labels'
    case); Appendix C (w2 = 8): cases 2 and 3."""
    gammas = np.geomspace(0.1, 10, 25)
    rows = sensitivity(gamma_sweep_points(gammas, p0=0.1)).rows
    assert all(r["feasible"] for r in rows)
    assert [r["swapped"] for r in rows] == [g > 10 / 4.5 for g in gammas]
    assert {r["case"] for r in rows if not r["swapped"]} == {1, 2}
    assert {r["case"] for r in rows if r["swapped"]} == {2, 3}
    appc = sensitivity(gamma_sweep_points(np.geomspace(0.3, 3, 13), p0=0.1, w2=8.0)).rows
    assert {r["case"] for r in appc} >= {2, 3}
    row = sensitivity_point({**BASE, "w2": 8.0, "g2": 1.5, "p0": 0.1, "mu1": 0.9 * 12.5 / 2 - 4})
    assert row["case"] == 3 and row["alpha1"] == pytest.approx(0.779015, abs=5e-7)
