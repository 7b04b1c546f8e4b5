"""AFPO weights: Newton on the convex potential, the damped fixed point and the paper's Algorithm 2;
attainability checks; regions that never pay."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskopt import ModelError
from riskopt.measures.utility import CARA, CRRA
from riskopt.mechanisms.taxation import (
    ExponentialFamily,
    ExponentialPayments,
    PowerFamily,
    PowerPayments,
    UniformAtomLaw,
    UtilityFamily,
    check_targets,
    direct_residual,
    excess,
    layers,
    moments,
    nodes,
    relative_residual,
    residual_law,
    solve_afpo,
    taxation_family,
    truncated_mean,
)


def _connected(rule, law) -> bool:
    """Co-activity graph (spec §8): regions linked when both are interior at some atom of the law.
    Weights are unique (up to normalisation) iff it is connected."""
    lo, hi = rule.layer_start, rule.cap_start
    n = lo.size

    def shared(i: int, j: int) -> bool:
        a, b = max(lo[i], lo[j]), min(hi[i], hi[j])
        return bool(np.any((nodes(law)[0] > a) & (nodes(law)[0] < b)))

    seen, todo = {0}, [0]
    while todo:
        i = todo.pop()
        for j in range(n):
            if j not in seen and shared(i, j):
                seen.add(j)
                todo.append(j)
    return len(seen) == n


def _instance(seed: int, n: int, kind: str, samples: int = 3000):
    rng = np.random.default_rng(seed)
    caps = rng.uniform(0.5, 3.0, n)
    if kind == "exponential":
        fam = ExponentialFamily(rng.uniform(0.8, 3, n), rng.uniform(-0.2, 0.2, n), caps)
    elif kind == "power":
        fam = PowerFamily(rng.uniform(0.3, 1.5), caps + rng.uniform(0.3, 2, n), rng.normal(0, 0.5, n), caps)
    elif kind == "mixed":
        ds = [ExponentialPayments(rng.uniform(0.5, 2)) if i % 2 else PowerPayments(0.5, rng.uniform(0.5, 2))
              for i in range(n)]
        fam = taxation_family(ds, np.zeros(n), caps)
    else:
        fam = UtilityFamily([CRRA(1.5, 1.0) if i % 2 else CARA(0.8) for i in range(n)], caps)
    s = np.where(rng.random(samples) < 0.4, 0.0, rng.beta(0.7, 1.5, samples) * caps.sum())
    law = residual_law(s)
    a_true = rng.normal(0, 1.0, n)
    targets = moments(layers(fam, a_true), law, jacobian=False).expected_tax
    alpha_true = np.exp(a_true) / np.exp(a_true).sum()
    return fam, law, targets, alpha_true


@pytest.mark.parametrize("kind", ["exponential", "power", "mixed", "utility"])
@pytest.mark.parametrize("method", ["newton", "fixed_point"])
def test_recovers_the_weights_behind_the_targets(kind, method):
    """Targets = expected taxes of a PO rule with known weights: the AFPO solver finds those weights
    (unique here: every region interior with positive probability) and the direct evaluation of the
    returned rule confirms fairness."""
    n = 5 if kind == "utility" else 8
    seed = {"exponential": 8, "power": 10, "mixed": 7, "utility": 8}[kind]  # connected co-activity
    samples = 3000 if kind in ("exponential", "power") else 800  # generic inversion: fewer atoms
    fam, law, targets, alpha_true = _instance(seed, n, kind, samples)
    tol = 1e-10 if method == "fixed_point" else 1e-12  # the fixed point converges linearly
    res = solve_afpo(fam, law, targets, method=method, tol=tol)
    assert res.converged, res.note
    assert _connected(layers(fam, np.log(alpha_true)), law)
    assert np.allclose(res.alpha, alpha_true, rtol=1e-7, atol=1e-12)
    assert res.alpha.sum() == pytest.approx(1.0, abs=1e-14)
    s = np.linspace(0, law.support()[1], 40)  # connected: the rule is unique between the atoms too
    assert np.allclose(res.rule.taxes(s), layers(fam, np.log(alpha_true)).taxes(s), atol=1e-9, rtol=0)
    direct, _ = direct_residual(res)
    assert direct < 10 * tol
    assert relative_residual(res.expected_tax, targets) < tol
    if method == "newton":
        assert res.iterations <= 20


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 12))
def test_newton_random_instances(seed, n):
    fam, law, targets, alpha_true = _instance(seed, n, "exponential", 800)
    res = solve_afpo(fam, law, targets)
    assert res.converged and res.residual < 1e-11
    # uniqueness of the rule on the support (spec §7): same taxes at every atom as the rule that
    # produced the targets; the weights too when the co-activity structure is connected (else they
    # are set-valued and the rules may differ between atoms, spec §8)
    truth = layers(fam, np.log(alpha_true))
    assert np.allclose(res.rule.taxes(nodes(law)[0]), truth.taxes(nodes(law)[0]), atol=1e-7, rtol=0)
    if _connected(truth, law):
        assert np.allclose(res.alpha, alpha_true, rtol=1e-6)
    assert [h[1] for h in res.history][-1] == pytest.approx(res.residual, rel=1e-3, abs=1e-13)


def test_algorithm2_baseline_runs_and_reports_its_residual_exactly():
    """The paper's Algorithm 2 (histogram + nudging): far slower; its reported residual is the exact
    one of the rule it returns."""
    fam, law, targets, _ = _instance(2, 4, "exponential", 2000)
    res = solve_afpo(fam, law, targets, method="algorithm2", max_iter=3000, step=2.0, bins=200)
    exact = relative_residual(moments(res.rule, law, jacobian=False).expected_tax, targets)
    assert res.residual == pytest.approx(exact, rel=1e-12)
    start = res.history[0][1]
    assert min(h[1] for h in res.history) < start
    newton = solve_afpo(fam, law, targets)
    assert newton.residual < res.residual


def test_targets_must_add_up_and_caps_cover_the_law():
    fam = ExponentialFamily([1.0, 1.0], 0.0, [1.0, 1.0])
    law = UniformAtomLaw(0.5, 2.0)
    with pytest.raises(ModelError, match=r"targets = 'sum 0\.6'.*E\[S_eps\] = 0\.5"):
        check_targets(fam, law, [0.3, 0.3])
    with pytest.raises(ModelError, match=r"caps = 'sum 2'.*max S_eps = 3"):
        check_targets(fam, UniformAtomLaw(0.5, 3.0), [0.375, 0.375])
    with pytest.raises(ModelError, match=r"targets\[b\] = -0\.1"):
        check_targets(fam, law, [0.6, -0.1], ["a", "b"])


def test_unattainable_target_names_region_and_reason():
    """Per-region bounds E[(S - sum of the others' caps)^+] <= e_i <= E[min(S, c_i)]."""
    fam = ExponentialFamily([1.0, 1.0, 1.0], 0.0, [0.5, 2.0, 2.0])
    law = residual_law([0.0, 1.0, 3.0, 4.5])
    hi = truncated_mean(law, [0.5])[0]
    with pytest.raises(ModelError, match=r"targets\[small\].*at most E\[min\(S_eps, c_i\)\].*capacity 0\.5"):
        solve_afpo(fam, law, [hi + 0.01, 1.0, law.mean() - 1.01 - hi], names=["small", "b", "c"])
    lo = excess(law, 4.5 - 2.0)[0]  # region b must pay at least what a and c cannot (caps 0.5 + 2)
    assert lo > 0
    with pytest.raises(ModelError, match=r"targets\[b\].*at least.*no AFPO exists"):
        solve_afpo(fam, law, [0.2, lo - 0.05, law.mean() - 0.15 - lo], names=["a", "b", "c"])


def test_zero_target_region_never_pays():
    """A region with no expected residual claim pays nothing; its weight is only bounded below
    (entry at the top of the support)."""
    fam, law, targets, _ = _instance(11, 4, "exponential", 2000)
    fam5 = ExponentialFamily(np.append(fam.g, 1.0), np.append(fam.h, 0.0), np.append(fam.caps, 1.0))
    res = solve_afpo(fam5, law, np.append(targets, 0.0))
    assert res.converged and res.zero_target.tolist() == [False] * 4 + [True]
    assert np.all(res.rule.taxes(nodes(law)[0])[4] == 0.0)
    assert res.rule.layer_start[4] >= law.support()[1] - 1e-12
    with pytest.raises(ModelError, match="nothing to tax"):
        solve_afpo(fam, law, np.zeros(4), validate=False)


def test_bad_method_and_tolerance():
    fam, law, targets, _ = _instance(1, 3, "exponential", 200)
    with pytest.raises(ModelError, match="method"):
        solve_afpo(fam, law, targets, method="bisection")
    with pytest.raises(ModelError, match="tol"):
        solve_afpo(fam, law, targets, tol=0.0)
