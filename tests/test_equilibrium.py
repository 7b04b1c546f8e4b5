"""The equilibrium mechanism: Bühlmann's closed form against Negishi's method, the equilibrium
conditions recomputed here from the numbers alone, bad input, and a case with no equilibrium.

Independent references: Bühlmann (1980), "An economic premium principle" (the CARA closed form,
written out again below from the paper, not taken from the package), and the definitions of a
competitive equilibrium (clearing, budgets, each agent's first-order conditions at the prices).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import riskopt.mechanisms as mech
from riskopt.agent import Agent
from riskopt.cli import main
from riskopt.constraints import ConstraintSpec
from riskopt.errors import ModelError
from riskopt.measures import ES, Entropic, Expectation, ExpectedUtility
from riskopt.mechanisms.equilibrium import EquilibriumSpec, buhlmann, negishi, preferences, solve
from riskopt.space import Scenarios
from riskopt.status import Status

#: closed form vs Negishi: the issue's bar (both are exact up to rounding and Newton's last step)
AGREE = 1e-10
#: the program route's welfare optimum is polished by Newton on its KKT system (riskopt.polish), so
#: it agrees with the closed form far below the conic solver's own 1e-8
PROGRAM_AGREE = 1e-8


def space_of(rng: np.random.Generator, S: int) -> Scenarios:
    return Scenarios(rng.dirichlet(np.ones(S)) * 0.999 + 0.001 / S, {"X": rng.normal(size=S)}, normalise=True)


def reference_buhlmann(a: np.ndarray, E: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bühlmann (1980) in the paper's own terms: phi = exp(-a W)/E[exp(-a W)], xi_i = (a/a_i) W + c_i,
    c_i = E[phi W_i] - (a/a_i) E[phi W] (the density shifted by its largest exponent)."""
    W = E.sum(axis=0)
    agg = 1.0 / np.sum(1.0 / a)
    x = -agg * W
    w = p * np.exp(x - x.max())
    phi = w / w.sum() / p
    c = (E * p * phi).sum(axis=1) - agg / a * np.sum(p * phi * W)
    return phi, (agg / a)[:, None] * W[None, :] + c[:, None]


def rel(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.max(np.abs(x - y)) / max(np.max(np.abs(x)), np.max(np.abs(y)), 1e-300))


# ------------------------------------------------------------------ Bühlmann against Negishi
@pytest.mark.parametrize("n", [2, 10, 100])
def test_buhlmann_closed_form_against_negishi_and_the_paper(n):
    rng = np.random.default_rng(n)
    S = 1000
    space = space_of(rng, S)
    a = rng.uniform(0.1, 5.0, n)
    E = rng.normal(0, 2, (n, S)) + rng.normal(0, 1, (n, 1))
    agents = tuple(Agent(f"i{k}", Entropic(a[k]), E[k]) for k in range(n))
    spec = EquilibriumSpec(space=space, agents=agents)
    fast = solve(spec)
    assert fast.route == "buhlmann" and fast.status is Status.VERIFIED
    phi, xi = reference_buhlmann(a, E, space.p)
    assert rel(fast.state_density, phi) <= AGREE
    assert rel(fast.xi, xi) <= AGREE
    prefs = preferences([ag.measure for ag in agents], space.p)
    ng = negishi(prefs, space.p, E)
    assert ng.converged
    assert rel(ng.xi, fast.xi) <= AGREE
    assert float(np.max(np.abs(ng.log_psi - fast.log_psi))) <= AGREE


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(2, 6), S=st.integers(2, 40), seed=st.integers(0, 2**32 - 1),
       scale=st.sampled_from([1e-3, 1.0, 1e3]), aversion=st.sampled_from([1e-2, 1.0, 1e2]),
       mix=st.booleans())
def test_closed_form_equals_negishi_on_random_cara_economies(n, S, seed, scale, aversion, mix):
    """Hostile magnitudes: endowments of 1e-3 to 1e3 (with a common offset), risk aversions whose
    products with W reach exponents in the thousands; entropic and expected-CARA agents mixed."""
    rng = np.random.default_rng(seed)
    space = space_of(rng, S)
    a = aversion * rng.uniform(0.2, 5.0, n) / scale
    E = scale * (rng.normal(0, 1, (n, S)) + rng.normal(0, 3, (n, 1)))
    agents = tuple(Agent(f"i{k}", ExpectedUtility("cara", gamma=a[k], wealth=float(rng.normal()))
                         if mix and k % 2 else Entropic(a[k]), E[k]) for k in range(n))
    spec = EquilibriumSpec(space=space, agents=agents)
    fast = solve(spec)
    assert fast.status.ok, fast.explanation
    prefs = preferences([ag.measure for ag in agents], space.p)
    ng = negishi(prefs, space.p, E)
    assert ng.converged, ng.note
    size = max(float(np.max(np.abs(E))), float(np.max(np.abs(fast.xi))))
    assert float(np.max(np.abs(ng.xi - fast.xi))) <= AGREE * size
    # densities in the log domain: exponents a W reach thousands, so prices underflow to 0
    assert float(np.max(np.abs(ng.log_psi - fast.log_psi))) <= AGREE * max(1.0, a.max() * size)
    _, xi = reference_buhlmann(a, E, space.p)
    assert float(np.max(np.abs(xi - fast.xi))) <= AGREE * size


def test_subjective_priors_closed_form_against_negishi():
    rng = np.random.default_rng(7)
    S, n = 30, 4
    space = space_of(rng, S)
    laws = rng.dirichlet(np.ones(S), n)
    E = rng.normal(0, 1, (n, S))
    agents = tuple(Agent(f"i{k}", Entropic(0.5 + k, law=laws[k]), E[k]) for k in range(n))
    spec = EquilibriumSpec(space=space, agents=agents)
    fast = solve(spec)
    ng = negishi(preferences([ag.measure for ag in agents], space.p), space.p, E)
    assert fast.status is Status.VERIFIED and ng.converged
    assert rel(ng.xi, fast.xi) <= AGREE
    program = solve(spec, method="program")
    assert program.status.ok and rel(program.xi, fast.xi) <= PROGRAM_AGREE


def test_closed_form_against_the_welfare_program_plus_side_payments():
    rng = np.random.default_rng(3)
    S, n = 40, 5
    space = space_of(rng, S)
    a = rng.uniform(0.2, 3, n)
    E = rng.normal(0, 2, (n, S))
    agents = tuple(Agent(f"i{k}", Entropic(a[k]), E[k]) for k in range(n))
    spec = EquilibriumSpec(space=space, agents=agents)
    fast, program = solve(spec, method="fast"), solve(spec, method="program")
    assert program.route == "welfare + side payments" and program.status.ok
    assert rel(program.xi, fast.xi) <= PROGRAM_AGREE
    assert rel(program.state_density, fast.state_density) <= PROGRAM_AGREE
    assert buhlmann(preferences([ag.measure for ag in agents], space.p), space.p, E).converged


# ------------------------------------------------------------------ CRRA by Negishi
def crra_spec(rng: np.random.Generator, n: int, S: int, scale: float = 1.0) -> EquilibriumSpec:
    space = space_of(rng, S)
    eta = rng.uniform(0.5, 5.0, n)
    E = scale * rng.uniform(0.1, 3.0, (n, S))
    wealth = scale * rng.uniform(0, 1, n)
    agents = tuple(Agent(f"h{k}", ExpectedUtility("crra", eta=eta[k], wealth=wealth[k]), E[k])
                   for k in range(n))
    return EquilibriumSpec(space=space, agents=agents)


def independent_conditions(doc: dict, etas: list[float], wealth: list[float]) -> tuple[float, float, float]:
    """Clearing, budgets and CRRA first-order conditions from a result's JSON alone."""
    p = np.array(doc["probabilities"])
    phi = np.array(doc["prices"]["state_density"])
    E = np.array([a["endowment"] for a in doc["agents"]])
    X = np.array([a["allocation"] for a in doc["agents"]])
    W = E.sum(axis=0)
    clearing = float(np.max(np.abs(X.sum(axis=0) - W)) / np.max(np.abs(W)))
    budget = float(np.max(np.abs((X - E) @ (p * phi))) / np.max((np.abs(X) + np.abs(E)) @ (p * phi)))
    foc = 0.0
    for k, (eta, w) in enumerate(zip(etas, wealth, strict=True)):
        mrs = (w + X[k]) ** (-eta) / phi  # u'(z_s) / phi_s: constant across states at an optimum
        foc = max(foc, float(np.max(np.abs(mrs / np.mean(mrs) - 1))))
    return clearing, budget, foc


def test_bundled_crra_card_passes_the_conditions_recomputed_here(capsys):
    assert main(["run", "crra_equilibrium", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["status"] == Status.VERIFIED and doc["mechanism"] == "equilibrium"
    assert {"clearing", "budget", "optimality"} <= set(doc["verification"])
    keys = {"name", "endowment", "allocation", "weight", "budget_residual"}
    assert all(set(a) >= keys for a in doc["agents"])
    assert abs(float(np.dot(doc["probabilities"], doc["prices"]["state_density"])) - 1) <= 1e-14
    clearing, budget, foc = independent_conditions(doc, [0.5, 2.0, 5.0], [1.0, 1.0, 0.5])
    assert clearing <= 1e-12 and budget <= 1e-10 and foc <= 1e-8
    assert all(a["gain"] >= 0 for a in doc["agents"])  # individually rational (first welfare theorem)


def test_bundled_buhlmann_card_is_the_papers_closed_form(capsys):
    assert main(["run", "buhlmann_equilibrium", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    p = np.array(doc["probabilities"])
    E = np.array([a["endowment"] for a in doc["agents"]])
    a = np.array([0.4, 0.5, 1.0, 0.25])
    phi, xi = reference_buhlmann(a, E, p)
    assert rel(np.array(doc["prices"]["state_density"]), phi) <= AGREE
    assert rel(np.array([ag["allocation"] for ag in doc["agents"]]), xi) <= AGREE
    assert doc["agents"][0]["endowment"] == [-v for v in [0.0, 1.0, 2.0, 4.0, 6.0, 9.0, 14.0, 25.0]]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(2, 8), S=st.integers(2, 60), seed=st.integers(0, 2**32 - 1),
       scale=st.sampled_from([1e-3, 1.0, 1e4]))
def test_crra_negishi_meets_its_residuals(n, S, seed, scale):
    spec = crra_spec(np.random.default_rng(seed), n, S, scale)
    res = solve(spec)
    assert res.route == "negishi" and res.status is Status.VERIFIED, res.explanation
    doc = res.to_dict()
    etas = [a.measure.u.eta for a in spec.agents]
    wealth = [a.measure.wealth for a in spec.agents]
    clearing, budget, foc = independent_conditions(doc, etas, wealth)
    assert clearing <= 1e-11 and budget <= 1e-10 and foc <= 1e-8


def test_crra_negishi_state_by_state_against_the_welfare_program():
    spec = crra_spec(np.random.default_rng(11), 4, 12)
    fast = solve(spec, method="fast")
    program = solve(spec, method="program")
    assert program.route == "negishi over the welfare program"
    assert program.status.ok, program.explanation
    assert rel(program.xi, fast.xi) <= PROGRAM_AGREE
    assert rel(program.state_density, fast.state_density) <= PROGRAM_AGREE


def test_crra_with_cara_agents_mixed():
    rng = np.random.default_rng(5)
    spec = crra_spec(rng, 3, 20)
    extra = Agent("cara", Entropic(0.7), rng.normal(0, 1, 20))
    res = solve(EquilibriumSpec(space=spec.space, agents=(*spec.agents, extra)))
    assert res.status is Status.VERIFIED, res.explanation


# ------------------------------------------------------------------ welfare theorems, kinks
def test_equilibrium_is_a_pareto_optimum_with_the_negishi_weights():
    """Second welfare theorem read backwards: the equilibrium maximises sum_i lambda_i E u_i with
    the reported weights (the pareto mechanism's program, solved afresh)."""
    from riskopt.mechanisms.pareto import AllocationSpec, ObjectiveSpec, ParetoSpec

    spec = crra_spec(np.random.default_rng(2), 3, 8)
    eq = solve(spec)
    weights = tuple(float(np.exp(r["log_weight"])) for r in eq.agent_rows())
    W = spec.aggregate
    space = Scenarios(spec.space.p, {"X": W})
    pareto = mech.solve(ParetoSpec(agents=spec.agents, space=space, allocation=AllocationSpec(set="budget"),
                                   objective=ObjectiveSpec(weights=weights)))
    xi = np.vstack([pareto.allocation[a.name] for a in spec.agents])
    assert rel(xi, eq.xi) <= 1e-7


def test_expected_shortfall_agents_get_a_verified_equilibrium():
    rng = np.random.default_rng(4)
    S = 20
    space = Scenarios(np.full(S, 1 / S), {"X": rng.normal(size=S)})
    E = rng.normal(0, 1, (3, S))
    agents = (Agent("es90", ES(0.9), E[0]), Agent("es50", ES(0.5), E[1]),
              Agent("entropic", Entropic(1.0), E[2]))
    res = solve(EquilibriumSpec(space=space, agents=agents))
    assert res.method == "program" and res.status.ok, res.explanation
    assert res.conditions is not None and res.conditions.optimality_kind[0] == "Fenchel gap"
    only_es = solve(EquilibriumSpec(space=space, agents=agents[:2]))
    assert only_es.status.ok, only_es.explanation
    # two ES agents: linear on a common face, so the welfare optimum (and the equilibrium) is a set
    assert only_es.allocation_unique is False and any("not unique" in n for n in only_es.notes)


# ------------------------------------------------------------------ refusals and no equilibrium
def _card(tmp_path, body: str) -> str:
    path = tmp_path / "card.toml"
    path.write_text('[model]\nmechanism = "equilibrium"\n[space]\nkind = "discrete"\nvalues = [0.0, 1.0]\n'
                    'probs = [0.5, 0.5]\n' + body, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(("body", "field"), [
    ('[[agents]]\nmeasure = { name = "entropic", gamma = 1.0 }\nendowment = [1.0, 2.0, 3.0]\n',
     "agents[0].endowment"),
    ('[[agents]]\nmeasure = { name = "entropic", gamma = 1.0 }\n', "agents[0].endowment"),
    ('[[agents]]\nmeasure = { name = "expected_utility", utility = "crra", eta = 2.0, wealth = 0.0 }\n'
     'endowment = [0.0, 1.0]\n', "agents[0].measure.wealth"),
    ('[[agents]]\nmeasure = { name = "expected_utility", utility = "crra", eta = 2.0, wealth = 1.0 }\n'
     'endowment = [-2.0, 1.0]\n', "agents[0].endowment"),
    ('[[agents]]\nmeasure = { name = "entropic", gamma = 1.0 }\nendowment = "Y"\n', "agents[0].endowment"),
    ('[[agents]]\nmeasure = { name = "var", alpha = 0.9 }\nendowment = "X"\n', "agents[0].measure"),
])
def test_bad_input_names_the_field_and_exits_2(tmp_path, capsys, body, field):
    assert main(["run", _card(tmp_path, body)]) == 2
    assert f"error: {field}" in capsys.readouterr().err


def test_constraints_are_refused_with_the_reason():
    rng = np.random.default_rng(0)
    spec = crra_spec(rng, 2, 3)
    with pytest.raises(ModelError, match=r"^constraints = .*competitive equilibrium"):
        spec.add_constraint(ConstraintSpec(name="cap", agent=spec.agents[0].name, what="allocation",
                                           sense="<=", rhs=1.0))


def test_fast_method_refused_for_non_smooth_agents():
    space = Scenarios(np.full(4, 0.25), {"X": np.arange(4.0)})
    agents = (Agent("a", ES(0.5), np.ones(4)), Agent("b", Entropic(1.0), np.arange(4.0)))
    with pytest.raises(ModelError, match=r"^method = 'fast'"):
        solve(EquilibriumSpec(space=space, agents=agents), method="fast")


def test_no_equilibrium_is_a_non_ok_status_with_an_explanation(tmp_path, capsys):
    """Risk-neutral traders who disagree: each wants to sell the other unlimited claims."""
    body = ('[[agents]]\nname = "optimist"\nmeasure = { name = "expectation", law = [0.3, 0.7] }\n'
            'endowment = [1.0, 1.0]\n[[agents]]\nname = "pessimist"\n'
            'measure = { name = "expectation", law = [0.7, 0.3] }\nendowment = [1.0, 1.0]\n')
    assert main(["run", _card(tmp_path, body), "--format", "json"]) == 3
    doc = json.loads(capsys.readouterr().out)
    assert doc["status"] == Status.UNBOUNDED and "no equilibrium" in doc["explanation"]
    space = Scenarios([0.5, 0.5], {"X": [0.0, 1.0]})
    same = solve(EquilibriumSpec(space=space, agents=(Agent("a", Expectation(), np.ones(2)),
                                                      Agent("b", Expectation(), np.array([0.0, 2.0])))))
    assert same.status.ok  # one shared belief: the prices are the probabilities, no trade needed
