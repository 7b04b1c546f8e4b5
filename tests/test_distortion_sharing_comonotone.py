"""The comonotone inf-convolution as a layer LP on the sorted atoms (seed 002 §4, Embrechts-Liu-Wang).

The LP's value must equal rho_{min h_i}(X) for ANY distortions (VaR included), on every backend and on
the direct highspy path; its budget multipliers are the layer prices min_i h_i(P(X >= x_k)).
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import riskopt as ro
from riskopt.measures.distortion import (
    Custom,
    DualPower,
    ESDistortion,
    ExponentialDistortion,
    Power,
    VaRDistortion,
    Wang,
    choquet_sorted,
)
from riskopt.mechanisms.distortion import (
    PointwiseMin,
    comonotone_inf_convolution,
    layer_program,
    layers_of,
)

SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])

any_h = st.one_of(
    st.floats(0.02, 0.9).map(VaRDistortion),
    st.floats(0.02, 0.9).map(ESDistortion),
    st.floats(0.2, 4.0).map(Power),
    st.floats(0.3, 4.0).map(DualPower),
    st.floats(0.5, 6.0).map(ExponentialDistortion),
    st.floats(-1.0, 1.0).map(Wang),
)


@SETTINGS
@given(hs=st.lists(any_h, min_size=1, max_size=5),
       x=st.lists(st.integers(-8, 12).map(lambda k: k / 2), min_size=2, max_size=12),
       w=st.lists(st.floats(0.05, 1.0), min_size=12, max_size=12))
def test_layer_lp_equals_rho_of_the_minimum_on_every_path(hs, x, w):
    x = np.asarray(x)
    p = np.asarray(w[: x.size]) / np.sum(w[: x.size])
    space = ro.Scenarios.discrete(x, p)
    target = choquet_sorted(x, p, PointwiseMin(hs))
    scale = max(1.0, float(np.max(np.abs(x))))
    for method, backend, tol in (("direct", "highs", 1e-9), ("program", "highs", 1e-9),
                                 ("program", "cvxpy", 2e-7), ("closed_form", "highs", 1e-12)):
        res = comonotone_inf_convolution(space, hs, method=method, backend=backend)
        assert res.value == pytest.approx(target, abs=tol * scale), (method, backend)
        assert res.closed_form == pytest.approx(target, abs=1e-12 * scale)
        alloc = res.allocation()
        assert np.allclose(alloc.sum(axis=0), x, atol=1e-12 * scale, rtol=0)
        assert np.all(np.diff(res.functions, axis=1) >= -1e-12 * scale)  # comonotone: f_i nondecreasing
        # the agents' values are the exact Choquet sums of their allocations
        exact = [choquet_sorted(alloc[i], p, h) for i, h in enumerate(hs)]
        assert np.allclose(res.agent_values, exact, atol=1e-10 * scale, rtol=0)


def test_same_value_as_the_foundation_comonotone_program():
    """SharingProgram(Comonotone) (F with monotone rows) and the layer LP agree (small instance)."""
    rng = np.random.default_rng(7)
    x = np.round(rng.normal(size=40), 2)
    space = ro.Scenarios.equally_weighted(x)
    ms = [ro.measures.VaR(0.1), ro.measures.ES(0.3), ro.measures.Distortion("dual_power", b=2.0),
          ro.measures.Distortion("power", a=2.0)]
    agents = [ro.Agent(f"a{i}", m) for i, m in enumerate(ms)]
    sol = ro.SharingProgram(space, agents, allocation=ro.Comonotone(), objective="total_risk").solve(
        backend="highs")
    res = comonotone_inf_convolution(space, [m.h for m in ms], method="direct")
    assert res.value == pytest.approx(sol.objective, abs=1e-10)


@pytest.mark.parametrize("backend", ["highs", "cvxpy", "pyomo"])
def test_layer_prices_are_the_minimum_distortion_of_the_tail(backend):
    """The budget multiplier of layer k is min_i W_ik (= h_min(P(X >= x_k)) above 0): read from the
    Program's duals (sign convention of riskopt.duals) and from HiGHS's row duals."""
    x = np.array([-3.0, -1.0, 0.5, 2.0, 2.0, 4.0, 7.0])
    space = ro.Scenarios.discrete(x, [0.1, 0.15, 0.2, 0.1, 0.15, 0.2, 0.1])
    hs = [ESDistortion(0.25), Power(2.0), DualPower(1.5)]
    lay = layers_of(space, hs)
    expect = lay.prices()
    prog = layer_program(lay)
    sol = prog.solve(backend=backend, polish=False)
    tol = 1e-6 if backend == "cvxpy" else 1e-9
    assert np.allclose(sol.extra["layer_prices"], expect, atol=tol, rtol=0)
    direct = comonotone_inf_convolution(space, hs, method="direct")
    assert np.allclose(direct.layer_prices, expect, atol=1e-12, rtol=0)
    # above 0 the price is h_min(P(X >= x_k)); below 0 it is -h_min~(P(X <= x_k))
    hmin = PointwiseMin(hs)
    above = lay.atoms > 0
    ge = np.array([space.p[x >= a].sum() for a in lay.atoms])
    le = np.array([space.p[x <= a].sum() for a in lay.atoms])
    assert np.allclose(expect[above], hmin(ge[above]), atol=1e-15, rtol=0)
    assert np.allclose(expect[~above], -(1 - hmin(1 - le[~above])), atol=1e-15, rtol=0)


def test_layers_are_anchored_at_zero_and_sized_linearly():
    """No S x S block: one variable per (agent, atom), one budget row per atom; the shares are
    anchored at 0 (f_i(0) = 0 when 0 is an atom) and the widths add up to max X - min X."""
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(size=4999), [0.0]])
    space = ro.Scenarios.equally_weighted(x)
    hs = [Power(0.5), ESDistortion(0.1), VaRDistortion(0.05)]
    lay = layers_of(space, hs)
    assert lay.W.shape == (3, 5000) and np.all(lay.width >= 0)
    assert lay.width.sum() == pytest.approx(x.max() - x.min(), rel=1e-12)
    prog = layer_program(lay)
    data = prog.problem.get_problem_data("CLARABEL", ignore_dpp=True)[0]
    assert data["A"].shape[1] == 3 * 5000 and data["A"].nnz == 2 * 3 * 5000  # budget + sign rows
    res = comonotone_inf_convolution(space, hs, method="closed_form")
    zero = int(np.searchsorted(lay.atoms, 0.0))
    assert np.all(res.functions[:, zero] == 0)


def test_bad_inputs():
    space = ro.Scenarios.discrete([0.0, 1.0], [0.5, 0.5])
    with pytest.raises(ro.ModelError, match="method"):
        comonotone_inf_convolution(space, [Power(2.0)], method="simplex")
    with pytest.raises(ro.ModelError, match=r"h\(1\) = 1") as err:
        layers_of(space, [Power(2.0), Custom(lambda t: 0.5 * t, "half")])
    assert err.value.field == "agents[1].h"
    with pytest.raises(ro.ModelError, match="at least one agent"):
        layers_of(space, [])
