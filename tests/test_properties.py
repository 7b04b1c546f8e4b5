"""Invariants on random small instances (hypothesis): budget per state, comonotonicity, prices,
closed forms vs the general program, backends vs each other, individual rationality, certificates."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import riskopt as ro
from riskopt.mechanisms.pareto import entropic_closed_form, welfare

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

probs = st.floats(0.01, 0.4)
gammas = st.floats(0.3, 5.0)


@SETTINGS
@given(p=st.lists(probs, min_size=2, max_size=5), g=st.lists(gammas, min_size=2, max_size=4),
       loss=st.floats(0.2, 3.0))
def test_entropic_pool_matches_closed_form(p, g, loss):
    space = ro.Scenarios.bernoulli_hits(p, loss=loss)
    agents = [ro.Agent(f"a{i}", ro.measures.Entropic(x)) for i, x in enumerate(g)]
    sol = welfare(space, agents).solve()
    cf = entropic_closed_form(space, g)
    assert abs(sol.objective - cf.welfare) <= 1e-9 * max(1.0, abs(cf.welfare))
    xi = np.vstack([sol.allocation[a.name] for a in agents])
    # budget per state, anchored at X = 0, nondecreasing in X (comonotone)
    assert np.allclose(xi.sum(axis=0), space.X, atol=1e-9, rtol=0)
    order = np.argsort(space.X)
    assert np.all(np.diff(xi[:, order], axis=1) >= -1e-9)
    assert np.allclose(xi[:, space.X == 0], 0.0, atol=1e-12, rtol=0)
    # prices: positive, a density under P, equal to the Esscher tilt
    d = sol.prices.state_density
    assert np.all(d > 0)
    assert space.p @ d == pytest.approx(1.0, abs=1e-10)
    assert space.p @ np.abs(d - cf.state_density) < 1e-8
    assert sol.certificate.max_residual < 1e-7


@SETTINGS
@given(values=st.lists(st.integers(0, 40).map(lambda k: k / 4), min_size=3, max_size=12),
       weights=st.lists(st.floats(0.05, 1.0), min_size=3, max_size=12),
       levels=st.lists(st.floats(0.05, 0.9), min_size=2, max_size=3))
def test_es_sharing_backends_agree_and_equal_min_level(values, weights, levels):
    """Total ES risk: comonotone LP on cvxpy and highs agree, and the inf-convolution of ES at
    levels a_i is ES at the largest level (seed 002, Example 2). Losses sit on a 0.25 grid: with
    atoms 1e-21 apart the budget multipliers are not unique (a negative one is then legitimate)."""
    n = min(len(values), len(weights))
    p = np.asarray(weights[:n]) / np.sum(weights[:n])
    space = ro.Scenarios.discrete(values[:n], p)
    agents = [ro.Agent(f"a{i}", ro.measures.ES(a)) for i, a in enumerate(levels)]
    sols = [ro.SharingProgram(space, agents, allocation=ro.Comonotone(), objective="total_risk").solve(
        backend=b) for b in ("cvxpy", "highs")]
    target = ro.measures.ES(max(levels)).value(space.X, space)
    scale = max(1.0, float(np.max(space.X)))
    # Clarabel stops at relative tolerances 1e-8; HiGHS's simplex is exact to ~1e-12
    for sol, tol, dual_tol in zip(sols, (1e-7 * scale, 1e-9 * scale), (1e-5, 1e-9), strict=True):
        assert sol.objective == pytest.approx(target, abs=tol)
        xi = np.vstack(list(sol.allocation.values()))
        assert np.allclose(xi.sum(axis=0), space.X, atol=tol, rtol=0)
        d = sol.prices.state_density
        # interior-point duals of degenerate LPs are accurate to ~1e-6 of the largest price
        # (observed -2e-6 next to 2 with Clarabel); HiGHS's simplex duals are exact
        assert np.all(d >= -dual_tol * np.max(d)) and space.p @ d == pytest.approx(1.0, abs=1e-8)


@SETTINGS
@given(p=st.lists(st.floats(0.05, 0.3), min_size=2, max_size=3), g=st.lists(gammas, min_size=2, max_size=3))
def test_individual_rationality_holds(p, g):
    """On the atom-level space with endowments, the IR restriction keeps every agent at least as
    well off as with its own endowment."""
    n = min(len(p), len(g))
    space = ro.Scenarios.bernoulli_atoms(p[:n])
    endow = space["endowments"]
    agents = [ro.Agent(f"a{i}", ro.measures.Entropic(g[i]), endow[:, i]) for i in range(n)]
    prog = welfare(space, agents, allocation=ro.Budget(), restrictions=[ro.IndividualRationality()])
    sol = prog.solve()
    for i, a in enumerate(agents):
        assert sol.values[a.name] >= a.measure.utility(endow[:, i], space) - 1e-8
    assert np.allclose(sum(sol.allocation.values()), space.X, atol=1e-8, rtol=0)


@SETTINGS
@given(gs=st.lists(gammas, min_size=2, max_size=3), ps=st.lists(probs, min_size=2, max_size=3))
def test_free_sharing_equals_comonotone_under_common_prior(gs, ps):
    """With a common prior and law-invariant concave utilities the free optimum is comonotone
    (spec §1.3): the Budget and AnchoredComonotone programs have the same value."""
    space = ro.Scenarios.bernoulli_hits(ps)
    agents = [ro.Agent(f"a{i}", ro.measures.Entropic(x)) for i, x in enumerate(gs)]
    free = welfare(space, agents, allocation=ro.Budget()).solve()
    como = welfare(space, agents).solve()
    assert free.objective == pytest.approx(como.objective, abs=1e-8)


@SETTINGS
@given(values=st.lists(st.integers(0, 40).map(lambda k: k / 4), min_size=3, max_size=10),
       weights=st.lists(st.floats(0.05, 1.0), min_size=3, max_size=10),
       var_level=st.floats(0.05, 0.6), es_level=st.floats(0.05, 0.9), b=st.floats(1.0, 4.0))
def test_comonotone_inf_convolution_is_min_distortion(values, weights, var_level, es_level, b):
    """Seed 002 (Embrechts-Liu-Wang): on comonotone allocations the optimal total distortion risk
    is rho of the pointwise minimum of the distortions, for any distortions (VaR included: each
    is linear on the sorted atoms)."""
    n = min(len(values), len(weights))
    space = ro.Scenarios.discrete(values[:n], np.asarray(weights[:n]) / np.sum(weights[:n]))
    ms = [ro.measures.VaR(var_level), ro.measures.ES(es_level), ro.measures.Distortion("dual_power", b=b)]
    agents = [ro.Agent(f"a{i}", m) for i, m in enumerate(ms)]
    sol = ro.SharingProgram(space, agents, allocation=ro.Comonotone(), objective="total_risk").solve(
        backend="highs")
    hmin = ro.measures.distortion.Custom(lambda t: np.minimum.reduce([m.h(t) for m in ms]), "min h")
    target = ro.measures.distortion.choquet_sorted(space.X, space.p, hmin)
    assert sol.objective == pytest.approx(target, abs=1e-9 * max(1.0, np.max(space.X)))
