"""The declarative taxation program (riskopt.program.Program) against the fast path, on every
backend; its duals under the one convention; user constraints the fast path cannot take."""

import numpy as np
import pytest

from riskopt import ModelError
from riskopt.mechanisms.taxation import (
    ExponentialFamily,
    PowerFamily,
    TaxationProgram,
    UniformAtomLaw,
    binned,
    layers,
    moments,
    nodes,
    p_zero,
    program_check,
    residual_law,
    solve_afpo,
    spec_instance,
)


def _instance(n=5, bins=40, seed=1):
    rng = np.random.default_rng(seed)
    caps = rng.uniform(1, 3, n)
    fam = ExponentialFamily(rng.uniform(0.5, 2, n), rng.uniform(0, 1, n), caps)
    S = np.where(rng.random(4000) < 0.3, 0.0, rng.uniform(0, 0.9 * caps.sum(), 4000))
    law = binned(residual_law(S), bins)
    targets = moments(layers(fam, rng.normal(0, 1, n)), law, jacobian=False).expected_tax
    return fam, law, targets


@pytest.mark.parametrize("backend", ["cvxpy", "highs", "pyomo"])
def test_afpo_program_matches_fast_path(backend):
    """Fairness multipliers = ln alpha (+ const), budget duals = ln Lambda(s) p(s): alpha to 1e-6 as
    the issue asks (measured ~1e-10 with the program's tight default tolerances)."""
    fam, law, targets = _instance()
    fast = solve_afpo(fam, law, targets)
    prog = TaxationProgram(fam, law, targets=targets)
    assert set(prog.groups) == {"budget", "caps", "fairness"}
    sol = prog.solve(backend=backend)
    assert sol.ok
    assert np.abs(np.asarray(sol.extra["alpha"]) - fast.alpha).max() < 1e-6
    assert sol.extra["fairness_residual"] < 1e-9
    T = np.vstack([sol.allocation[nm] for nm in prog.names])
    assert np.abs(T - fast.rule.taxes(nodes(law)[0])).max() < 1e-6
    assert np.max(np.abs(np.asarray(sol.extra["Lambda"]) / fast.rule.lam(nodes(law)[0]) - 1)) < 1e-6


@pytest.mark.parametrize(("form", "backend"), [("disutility", "cvxpy"), ("log", "cvxpy"), ("log", "highs"),
                                               ("log", "pyomo")])
def test_fixed_weights_program_duals_give_lambda(form, backend):
    """Fixed weights: the budget duals divided by the state probabilities are Lambda(s) (the
    disutility form, exponential cone) or ln Lambda(s) (the log form, a QP)."""
    fam, law, _ = _instance(n=4, bins=30, seed=3)
    alpha = np.array([0.4, 0.1, 0.3, 0.2])
    rule = layers(fam, np.log(alpha))
    sol = TaxationProgram(fam, law, kind="weights", weights=alpha, form=form).solve(backend=backend)
    T = np.vstack([sol.allocation[f"region {i + 1}"] for i in range(4)])
    tol = 5e-5 if form == "disutility" else 1e-8  # exponential cone at Clarabel's 1e-10 tolerances
    assert np.abs(T - rule.taxes(nodes(law)[0])).max() < tol
    assert np.max(np.abs(np.asarray(sol.extra["Lambda"]) / rule.lam(nodes(law)[0]) - 1)) < tol


def test_dual_signs_by_finite_differences():
    """Convention check (docs/duality.md): for lhs == rhs in a minimisation the dual is
    -d cost/d rhs; budget row k: d f*/d s_k = p_k ln Lambda(s_k) (log form) and fairness row i:
    d f*/d e_i = -a_i (AFPO)."""
    fam, law, targets = _instance(n=3, bins=12, seed=5)
    a = np.array([0.2, -0.3, 0.1])
    prog = TaxationProgram(fam, law, kind="weights", weights=np.exp(a), form="log")
    sol = prog.solve(backend="highs")
    k, h = 6, 1e-5
    atoms, probs = nodes(law)
    values = []
    for d in (h, -h):
        x = atoms.copy()
        x[k] += d
        moved = residual_law(np.concatenate([[0.0], x]), np.concatenate([[p_zero(law)], probs]))
        bumped = TaxationProgram(fam, moved, kind="weights", weights=np.exp(a), form="log")
        values.append(bumped.solve(backend="highs").objective)
    slope = (values[0] - values[1]) / (2 * h)
    y = sol.duals["budget"][k]
    assert slope == pytest.approx(-y, rel=1e-5)
    assert slope == pytest.approx(probs[k] * np.log(layers(fam, a).lam(atoms[k:k + 1])[0]), rel=1e-5)
    afpo = TaxationProgram(fam, law, targets=targets)
    base = afpo.solve(backend="highs")
    z = base.duals["fairness"]
    vals = []
    for d in (h, -h):
        e = targets.copy()
        e[0] += d
        e[1] -= d  # stay on sum e = E[S]
        vals.append(afpo.set(targets=e).solve(backend="highs").objective)
    assert (vals[0] - vals[1]) / (2 * h) == pytest.approx(-(z[0] - z[1]), rel=1e-4)


def test_user_constraints_tax_floor_and_grouping():
    """Variants the fast path cannot take: a tax floor for one region and a cap on a regional group;
    the program stays fair and honours them; without them it is the AFPO rule. (When a target sits at
    its attainability bound, e.g. a region that must pay min(S, c_i), such constraints can make
    the program infeasible: seed 8 is an interior instance.)"""
    fam, law, targets = _instance(n=4, bins=40, seed=8)
    free = TaxationProgram(fam, law, targets=targets).solve(backend="cvxpy")
    prog = TaxationProgram(fam, law, targets=targets, names=["north", "south", "east", "west"])
    floor = prog.add_constraint(lambda t: t["north"] >= 0.05 * t.s, name="floor")
    group = prog.add_constraint(lambda t: t["south"] + t["east"] <= 0.9 * t.s, name="group")
    sol = prog.solve(backend="cvxpy")
    T = np.vstack([sol.allocation[nm] for nm in prog.names])
    assert np.all(T[0] >= 0.05 * nodes(law)[0] - 1e-7)
    assert np.all(T[1] + T[2] <= 0.9 * nodes(law)[0] + 1e-7)
    assert sol.extra["fairness_residual"] < 1e-8
    Tfree = np.vstack([free.allocation[f"region {i + 1}"] for i in range(4)])
    assert np.abs(T - Tfree).max() > 1e-3  # the constraints bind
    binding = max(np.asarray(sol.duals[floor]).max(), np.asarray(sol.duals[group]).max())
    assert binding > 1e-6  # inequality duals >= 0, positive where a constraint binds


def test_power_family_program_on_exponential_cone():
    rng = np.random.default_rng(2)
    caps = rng.uniform(1, 2, 3)
    fam = PowerFamily(0.5, caps + 1.0, np.log(0.5), caps)
    law = binned(UniformAtomLaw(0.2, caps.sum() * 0.95), 30)
    targets = moments(layers(fam, np.array([0.3, -0.2, 0.0])), law, jacobian=False).expected_tax
    fast = solve_afpo(fam, law, targets)
    sol = TaxationProgram(fam, law, targets=targets).solve(backend="cvxpy")
    assert np.abs(np.asarray(sol.extra["alpha"]) - fast.alpha).max() < 1e-6
    with pytest.raises(ModelError, match="backend"):
        TaxationProgram(fam, law, targets=targets).solve(backend="highs")


def test_bad_program_input():
    fam, law, targets = _instance(n=3, bins=10)
    with pytest.raises(ModelError, match="law"):
        TaxationProgram(fam, UniformAtomLaw(0.2, 3.0), targets=targets)
    with pytest.raises(ModelError, match="targets"):
        TaxationProgram(fam, law)
    with pytest.raises(ModelError, match="weights"):
        TaxationProgram(fam, law, kind="weights", weights=[1.0, -1.0, 1.0])
    with pytest.raises(ModelError, match="kind"):
        TaxationProgram(fam, law, kind="welfare")
    prog = TaxationProgram(fam, law, targets=targets)
    with pytest.raises(ModelError, match="region"):
        prog.add_constraint(lambda t: t["nowhere"] >= 0)


@pytest.mark.slow
def test_storm_binned_program_agrees_with_fast_path():
    """The 212-region storm residual claims on 50 quantile bins: Clarabel QP vs the fast path on the
    same binned law (alpha to 1e-6)."""
    model, X = spec_instance(20_000)
    S = X.sum(axis=0)
    pi = 1.3 * X.mean(axis=1)
    K = 1000.0
    d = S > K
    eps = (X[:, d] * (1 - K / S[d])).sum(axis=1) / S.size
    fam = ExponentialFamily(np.ones(212), pi, model.regions.wealth - pi)
    law = residual_law(np.maximum(S - K, 0.0))
    out = program_check(fam, law, eps, model.regions.names, bins=50)
    assert out.status == "optimal"
    assert out.alpha_max_error < 1e-6
    assert out.fairness_residual < 1e-8
