"""Cross-mechanism invariants on random small instances (hypothesis), filling what each mechanism's
own property tests leave out: two backends agree (reinsurance layer LP, taxation program), the
declarative program agrees with the fast path (taxation), state prices are a probability on the
atoms (price-and-choose), counter-monotone sharing beats comonotone sharing for risk seekers and
the jackpot allocation adds up (distortion sharing), and solver failures are typed with hints."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_reinsurance_properties import markets

import riskopt as ro
from riskopt.mechanisms.distortion import share
from riskopt.mechanisms.price_and_choose import Beliefs, Pool, pool_optimum
from riskopt.mechanisms.reinsurance import pareto
from riskopt.mechanisms.taxation import (
    ExponentialFamily,
    TaxationProgram,
    binned,
    layers,
    moments,
    nodes,
    residual_law,
    solve_afpo,
)

SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(markets(max_n=2, max_m=2))
def test_reinsurance_layer_lp_backends_agree(market):
    """The Pareto layer LP gives the same V* and layer values on highspy and on cvxpy + HiGHS."""
    a = pareto(market, backend="highs", cells=48)
    b = pareto(market, backend="cvxpy", solver="HIGHS", cells=48)
    assert a.aggregate_risk == pytest.approx(b.aggregate_risk, abs=1e-9 * max(1.0, abs(a.aggregate_risk)))
    for name, value in a.layer_values.items():
        assert value == pytest.approx(b.layer_values[name], abs=1e-8)
        assert value >= -1e-12  # gains from trade are nonnegative
    assert np.all(a.prices.layer_value >= -1e-12)


@st.composite
def economies(draw):
    n = draw(st.integers(2, 4))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    caps = rng.uniform(1.0, 3.0, n)
    family = ExponentialFamily(rng.uniform(0.5, 2.0, n), rng.uniform(0.0, 1.0, n), caps)
    claims = np.where(rng.random(600) < draw(st.floats(0.1, 0.6)), 0.0,
                      rng.uniform(0.0, 0.9 * caps.sum(), 600))
    law = binned(residual_law(claims), draw(st.integers(5, 20)))
    targets = moments(layers(family, rng.normal(0.0, 1.0, n)), law, jacobian=False).expected_tax
    return family, law, targets


@SETTINGS
@given(economies())
def test_taxation_program_agrees_with_the_fast_path(case):
    """AFPO: the declarative program on two backends vs Newton on the convex potential give the
    same tax rule (the rule is unique; the weights alpha can be set-valued when a region is capped
    whenever it is active, spec §8, which small binned laws produce), taxes add up and respect the
    caps, fairness holds, and Lambda from the budget duals is positive."""
    family, law, targets = case
    fast = solve_afpo(family, law, targets)
    atoms, probs = nodes(law)
    T_fast = fast.rule.taxes(atoms)
    scale = max(1.0, float(family.caps.max()))
    for backend in ("cvxpy", "highs"):
        sol = TaxationProgram(family, law, targets=targets).solve(backend=backend)
        assert np.all(sol.extra["Lambda"] > 0)
        T = sol.variables["taxes"]
        assert np.abs(T - T_fast).max() < 1e-5 * scale
        assert np.abs(T @ probs - targets).max() < 1e-6 * scale
        assert np.allclose(T.sum(axis=0), atoms, atol=1e-7, rtol=0)
        assert np.all(T >= -1e-7) and np.all(T - family.caps[:, None] <= 1e-7)


@SETTINGS
@given(st.lists(st.floats(0.3, 6.0), min_size=2, max_size=6), st.lists(st.floats(0.01, 0.5), min_size=6,
                                                                        max_size=6),
       st.booleans())
def test_pandc_state_prices_are_a_probability_on_the_atoms(gammas, p, credal):
    """Welfare optimum over C: the state prices are nonnegative and sum to one (cash invariance),
    and the density is the Esscher tilt under a common prior."""
    n = len(gammas)
    pool = Pool.independent(np.array(gammas), np.array(p[:n]))
    beliefs = Beliefs.credal(np.array(p[:n]) * 0.5, np.array(p[:n]) * 1.5) if credal else None
    po = pool_optimum(pool, beliefs) if beliefs is not None else pool_optimum(pool)
    prices = np.asarray(po.optimum.prices)
    assert np.all(prices >= -1e-15) and prices.sum() == pytest.approx(1.0, abs=1e-12)
    if not credal:
        assert np.allclose(prices / po.atoms.p, po.esscher_density, rtol=1e-9)


@SETTINGS
@given(st.lists(st.floats(1.2, 5.0), min_size=2, max_size=4), st.integers(3, 8), st.integers(0, 10**6))
def test_risk_seekers_prefer_counter_monotone_and_jackpots_add_up(exponents, states, seed):
    """Convex power distortions on a nonnegative loss (Theorem 3): counter-monotone <= comonotone,
    the unconstrained value equals the counter-monotone one, and the jackpot allocation gives each
    state's loss to exactly one agent."""
    rng = np.random.default_rng(seed)
    space = ro.Scenarios.discrete(rng.uniform(0.0, 5.0, states), rng.dirichlet(np.ones(states)))
    agents = [ro.Agent(f"a{i}", ro.measures.Distortion("power", a=a)) for i, a in enumerate(exponents)]
    res = share(space, agents, cross_check=False)
    v = res.values
    assert v.counter_monotone <= v.comonotone + 1e-9
    assert v.unconstrained == pytest.approx(v.counter_monotone, abs=1e-9)
    alloc = res.jackpot.allocation()
    X = res.jackpot.space.X
    assert np.allclose(alloc.sum(axis=0), X, atol=1e-12, rtol=0)
    assert np.all((np.abs(alloc) < 1e-12) | (np.abs(alloc - X) < 1e-12))  # all or nothing
    assert res.jackpot.probabilities().sum() == pytest.approx(1.0, abs=1e-12)


def test_limits_are_typed_with_hints():
    """An iteration cap is an 'iteration_limit' (not a time limit), with a hint on what to do."""
    from riskopt.mechanisms.pareto import welfare

    pool = ro.Scenarios.bernoulli_hits([0.1, 0.1, 0.1])
    agents = [ro.Agent(f"f{i}", ro.measures.Entropic(g)) for i, g in enumerate([1, 2, 4])]
    with pytest.raises(ro.SolveError) as err:
        welfare(pool, agents).solve(max_iter=3)
    assert err.value.status == "iteration_limit" and "max_iter" in err.value.hint
    sol = welfare(pool, agents).solve(max_iter=3, check=False)
    assert sol.status == "iteration_limit" and not sol.ok and sol.allocation == {}
