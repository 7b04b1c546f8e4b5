"""Backends: the same program gives the same optimum (and duals) on every backend that takes it;
one dual sign convention everywhere; clear errors for cones a backend cannot take."""

import cvxpy as cp
import numpy as np
import pytest

import riskopt as ro
from riskopt.program import Program

LP_BACKENDS = [("cvxpy", "CLARABEL"), ("cvxpy", "HIGHS"), ("cvxpy", "ECOS"), ("highs", None), ("pyomo", None)]


def _es_market(S=30, seed=0):
    rng = np.random.default_rng(seed)
    space = ro.Scenarios.discrete(rng.gamma(2.0, 2.0, S), rng.dirichlet(np.ones(S)))
    agents = [ro.Agent("a", ro.measures.ES(0.1)), ro.Agent("b", ro.measures.ES(0.3)),
              ro.Agent("c", ro.measures.Distortion("dual_power", b=2.0))]
    return space, agents


@pytest.mark.parametrize("allocation", [ro.Comonotone(), ro.Budget()])
def test_lp_same_optimum_on_every_backend(allocation):
    """Total ES/dual-power risk on weighted scenarios (an LP): every LP backend agrees."""
    space = ro.Scenarios.discrete(np.arange(1.0, 21.0), np.full(20, 1 / 20))  # lattice: exact LP
    _, agents = _es_market()
    values = []
    for backend, solver in LP_BACKENDS:
        prog = ro.SharingProgram(space, agents, allocation=allocation, objective="total_risk",
                                 restrictions=[ro.LimitedLiability([25.0, 25.0, 25.0])])
        sol = prog.solve(backend=backend, solver=solver)
        values.append(sol.objective)
        assert sol.solver.backend == backend
        assert np.allclose(sum(sol.allocation.values()), space.X, atol=1e-7, rtol=0)
    assert np.ptp(values) < 1e-7


def _qp(rhs: float, flip: bool = False) -> tuple[Program, cp.Constraint]:
    """min sum_i (T_i^2 / 2 + h_i T_i) s.t. sum T = rhs, 0 <= T <= 3 (a taxation-like QP)."""
    prog = Program("qp", "min")
    T = prog.variable("T", 3)
    h = np.array([0.0, 0.5, 1.0])
    prog.set_objective(0.5 * cp.sum_squares(T) + h @ T)
    # "flip" writes the same row with both sides negated (Python turns `rhs == expr` into
    # `expr == rhs`, so swapping sides with a constant would not flip anything)
    budget = (-cp.sum(T) == -rhs) if flip else (cp.sum(T) == rhs)
    prog.constrain("budget", [budget])
    prog.constrain("bounds", [T >= 0, T <= 3])
    return prog, budget


@pytest.mark.parametrize(("backend", "solver"), [("cvxpy", "CLARABEL"), ("cvxpy", "OSQP"), ("highs", None),
                                                 ("pyomo", None)])
def test_qp_primal_and_dual_agree_across_backends(backend, solver):
    ref = _qp(4.0)[0].solve(backend="cvxpy", solver="CLARABEL")
    sol = _qp(4.0)[0].solve(backend=backend, solver=solver, **({"eps_abs": 1e-10, "eps_rel": 1e-10}
                                                              if solver == "OSQP" else {}))
    assert sol.objective == pytest.approx(ref.objective, abs=1e-7)
    assert np.allclose(sol.variables["T"], ref.variables["T"], atol=1e-6, rtol=0)
    assert sol.duals["budget"] == pytest.approx(float(ref.duals["budget"]), abs=1e-6)


@pytest.mark.parametrize(("backend", "solver"), [("cvxpy", "CLARABEL"), ("cvxpy", "HIGHS"), ("highs", None),
                                                 ("pyomo", None)])
def test_dual_sign_convention_and_flip(backend, solver):
    """min f s.t. lhs == rhs: the dual is -df*/d rhs (relaxation value); writing the same row as
    rhs == lhs flips it. Checked against a finite difference of the optimal value, per backend."""
    def value(rhs: float, flip: bool = False) -> tuple[float, float]:
        prog, _ = _qp(rhs, flip)
        sol = prog.solve(backend=backend, solver=solver)
        return sol.objective, float(sol.duals["budget"])

    f0, y = value(4.0)
    f1, _ = value(4.0 + 1e-4)
    slope = (f1 - f0) / 1e-4
    assert y == pytest.approx(-slope, abs=1e-3)
    assert y < 0  # raising the total tax raises the minimised cost
    _, y_flipped = value(4.0, flip=True)
    assert y_flipped == pytest.approx(-y, abs=1e-6)


@pytest.mark.parametrize(("backend", "solver"), [("cvxpy", "CLARABEL"), ("highs", None), ("pyomo", None)])
def test_inequality_duals_are_nonnegative_relaxation_prices(backend, solver):
    """A binding <= row: its dual is the value of relaxing it, >= 0, in min and max problems."""
    for sense in ("min", "max"):
        prog = Program("lp", sense)
        x = prog.variable("x", 2)
        sign = 1.0 if sense == "min" else -1.0
        prog.set_objective(sign * (np.array([-1.0, -2.0]) @ x))
        prog.constrain("cap", [cp.sum(x) <= 1.0])
        prog.constrain("nonneg", [x >= 0])
        sol = prog.solve(backend=backend, solver=solver)
        assert float(sol.duals["cap"]) == pytest.approx(2.0, abs=1e-7)


def test_state_prices_agree_across_lp_backends():
    """Comonotone ES sharing where the optimum is unique: state prices agree on every backend."""
    space = ro.Scenarios.discrete([0.0, 1.0, 2.0, 5.0, 9.0], [0.3, 0.3, 0.2, 0.15, 0.05])
    agents = [ro.Agent("a", ro.measures.ES(0.1)), ro.Agent("b", ro.measures.ES(0.4))]
    ref = None
    for backend, solver in LP_BACKENDS:
        sol = ro.SharingProgram(space, agents, allocation=ro.Comonotone(0.0), objective="total_risk").solve(
            backend=backend, solver=solver)
        d = sol.prices.state_density
        assert d is not None and np.all(d >= -1e-9)
        assert space.p @ d == pytest.approx(1.0, abs=1e-9)
        ref = d if ref is None else ref
        assert np.allclose(d, ref, atol=1e-6, rtol=0)


def test_cone_errors_name_the_cone():
    space = ro.Scenarios.bernoulli_hits([0.1, 0.1])
    agents = [ro.Agent("a", ro.measures.Entropic(1.0)), ro.Agent("b", ro.measures.Entropic(2.0))]
    for backend, solver in (("highs", None), ("pyomo", None), ("cvxpy", "HIGHS")):
        with pytest.raises(ro.ModelError, match="exponential cone"):
            ro.SharingProgram(space, agents).solve(backend=backend, solver=solver)


def test_unknown_backend_and_solver():
    space = ro.Scenarios.bernoulli_hits([0.1, 0.1])
    agents = [ro.Agent("a", ro.measures.Entropic(1.0))]
    with pytest.raises(ro.ModelError, match="backend"):
        ro.SharingProgram(space, agents).solve(backend="gurobi9")
    with pytest.raises(ro.ModelError, match="solver"):
        ro.SharingProgram(space, agents).solve(solver="NOPE")
    with pytest.raises(ro.ModelError, match="solver"):
        ro.SharingProgram(space, agents).solve(backend="highs", solver="CLARABEL")


@pytest.mark.parametrize(("backend", "solver"), [("cvxpy", "CLARABEL"), ("cvxpy", "HIGHS"), ("highs", None),
                                                 ("pyomo", None)])
def test_infeasible_and_unbounded_statuses(backend, solver):
    prog = Program("infeasible", "min")
    x = prog.variable("x", 2)
    prog.set_objective(cp.sum(x))
    prog.constrain("rows", [x >= 1, cp.sum(x) <= 1])
    with pytest.raises(ro.SolveError) as err:
        prog.solve(backend=backend, solver=solver)
    assert err.value.status.startswith("infeasible")
    assert err.value.backend == backend
    prog = Program("unbounded", "min")
    x = prog.variable("x", 2)
    prog.set_objective(x[0] - x[1])
    prog.constrain("rows", [x >= 0])
    with pytest.raises(ro.SolveError) as err:
        prog.solve(backend=backend, solver=solver)
    assert err.value.status.startswith("unbounded")
    sol = prog.solve(backend=backend, solver=solver, check=False)
    assert not sol.ok and sol.objective is None


def test_infeasible_limited_liability_is_refused_before_solving():
    space = ro.Scenarios.discrete([0.0, 5.0, 10.0], [0.5, 0.3, 0.2])
    agents = [ro.Agent("a", ro.measures.ES(0.2)), ro.Agent("b", ro.measures.Expectation())]
    with pytest.raises(ro.ModelError, match="caps"):
        ro.SharingProgram(space, agents, objective="total_risk", restrictions=[ro.LimitedLiability([4, 4])])


def test_no_sabotage_indemnities():
    """An insured (ES 0.1) and a reinsurer (expectation, loaded by 20% via weight): the optimal
    indemnity is 1-Lipschitz, starts at 0, and its slope is 0 or 1 (a layer structure)."""
    law = ro.laws.censored_exponential(1.0, 5.0)
    space = ro.Scenarios.from_law(law, 50)
    agents = [ro.Agent("insured", ro.measures.ES(0.1)), ro.Agent("reinsurer", ro.measures.Expectation())]
    sol = ro.SharingProgram(space, agents, allocation=ro.NoSabotage(), objective="total_risk",
                            weights=[1.0, 1.2]).solve(backend="highs")
    x = space.X
    order = np.argsort(x)
    indemnity = sol.allocation["reinsurer"][order]
    slopes = np.diff(indemnity) / np.diff(x[order])
    assert np.all(slopes > -1e-9) and np.all(slopes < 1 + 1e-9)
    assert np.all(np.minimum(np.abs(slopes), np.abs(slopes - 1)) < 1e-6)
    with pytest.raises(ro.ModelError, match="nonnegative loss"):
        ro.SharingProgram(ro.Scenarios.discrete([-1.0, 2.0], [0.5, 0.5]), agents,
                          allocation=ro.NoSabotage(), objective="total_risk")


@pytest.mark.parametrize(("backend", "solver"), [("cvxpy", "CLARABEL"), ("highs", None)])
def test_large_program_compiles_with_the_coo_backend_and_gives_the_same_answer(backend, solver):
    """From 100,000 variables cvxpy canonicalises with its COO backend (faster on the reinsurance
    layer LP); the answer must not change: min c'x on the simplex is min c with dual -min c."""
    from riskopt.backends.base import LARGE_PROGRAM_VARIABLES, canon_backend

    n = LARGE_PROGRAM_VARIABLES
    c = np.random.default_rng(5).uniform(1.0, 2.0, n)
    prog = Program("simplex", "min")
    x = prog.variable("x", n)
    prog.set_objective(c @ x)
    prog.constrain("total", [cp.sum(x) == 1])
    prog.constrain("sign", [x >= 0])
    assert canon_backend(prog.problem) == "COO"
    assert canon_backend(_qp(1.0)[0].problem) is None
    sol = prog.solve(backend=backend, solver=solver)
    assert sol.objective == pytest.approx(c.min(), abs=1e-7)
    assert float(sol.duals["total"]) == pytest.approx(-c.min(), abs=1e-6)
