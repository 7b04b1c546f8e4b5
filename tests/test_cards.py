"""Model cards (riskopt.cards): good cards parse and run, bad cards fail naming their TOML path.

Oracles: the closed form of the entropic pool (Esscher tilt) for the bundled demo; brute-force
enumeration of hit patterns for the Poisson-binomial spaces; the documented draw order of random
specs (agents first, then the space) replayed with ``numpy.random.default_rng(seed)``; three
independent LP backends (cvxpy/Clarabel, highspy, Pyomo/HiGHS) for the total-risk LPs; the defining
constraints of each allocation set and restriction checked on the returned allocation.
"""

from __future__ import annotations

import copy
import itertools
import math
import re
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _cardkit import BAD_CARDS, DEMO, LP_CARDS, SPACES, demo_dict, es_card, mutated_card, write
from hypothesis import HealthCheck, given, settings

from riskopt import ModelError, RiskoptWarning, Scenarios
from riskopt.cards import MAX_AGENTS, Card, load_card, parse_card, run_card


def assert_names_path(message: str, path: str) -> None:
    """The message starts with the exact TOML path, followed by its value or what was expected."""
    assert re.match(re.escape(path) + r"( = |: |$)", message), (path, message)


def brute_force_hits(p: list[float]) -> np.ndarray:
    """P(number of hits = k) by enumerating every hit pattern."""
    out = np.zeros(len(p) + 1)
    for bits in itertools.product((0, 1), repeat=len(p)):
        out[sum(bits)] += math.prod(pj if b else 1 - pj for pj, b in zip(p, bits, strict=True))
    return out


# ------------------------------------------------------------------------ the bundled demo
def test_bundled_demo_loads_by_name_and_by_path():
    by_name = load_card("hurricane_pool")
    assert Path(by_name.source).name == "hurricane_pool.toml"
    for ref in ("hurricane_pool.toml", DEMO, str(DEMO)):
        card = load_card(ref)
        assert [a.name for a in card.agents] == [a.name for a in by_name.agents]
        assert [a.measure.gamma for a in card.agents] == [a.measure.gamma for a in by_name.agents]
    assert by_name.name == "hurricane pool" and by_name.mechanism == "pareto" and by_name.seed == 2505
    assert len(by_name.agents) == 50
    assert by_name.agents[0].name == "farmer 1" and by_name.agents[-1].name == "farmer 50"
    gammas = np.array([a.measure.gamma for a in by_name.agents])
    assert np.all((gammas >= 0.5) & (gammas <= 5.0)) and np.unique(gammas).size == 50
    assert (by_name.backend, by_name.solver, by_name.objective.kind) == ("cvxpy", "CLARABEL", "welfare")
    assert by_name.space.size <= 51 and np.isclose(by_name.space.p.sum(), 1.0)
    assert by_name.space.pruned_mass < 1e-13


def test_bundled_demo_runs_and_matches_the_closed_form():
    card = load_card("hurricane_pool")
    sol = run_card(card)
    assert sol.status == "optimal"
    check = sol.extra["closed_form"]
    assert check["welfare_rel_error"] < 1e-9
    assert check["density_l1_error"] < 1e-7
    assert sol.objective == pytest.approx(sum(sol.values.values()), rel=1e-12)
    X = card.space.X
    total = np.sum([sol.allocation[a.name] for a in card.agents], axis=0)
    np.testing.assert_allclose(total, X, atol=1e-9, rtol=0)


# ----------------------------------------------------------------------------- space kinds


def expected_law(name: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(values of X, probabilities) from first principles, for the kinds with a closed form."""
    p = [0.1, 0.2, 0.3]
    if name == "bernoulli_hits":
        return -np.arange(4.0), brute_force_hits(p)
    if name == "common_shock_hits":
        mix = 0.1 * brute_force_hits([0.5, 0.4, 0.6]) + 0.9 * brute_force_hits([0.05, 0.1, 0.02])
        return -2.0 * np.arange(4.0), mix
    if name == "bernoulli_hits_tick":  # losses 1, 0.5, 1.5: enumerate the 8 patterns
        totals: dict[float, float] = {}
        for bits in itertools.product((0, 1), repeat=3):
            loss = sum(b * v for b, v in zip(bits, [1.0, 0.5, 1.5], strict=True))
            totals[-loss] = totals.get(-loss, 0.0) + math.prod(
                pj if b else 1 - pj for pj, b in zip(p, bits, strict=True))
        keys = sorted(totals, reverse=True)
        return np.array(keys), np.array([totals[k] for k in keys])
    if name == "discrete":
        return np.array([0.0, -1.0, -4.0]), np.array([0.7, 0.2, 0.1])
    if name == "samples":
        return np.array([0.0, -1.0, -2.0, -5.0, -1.0]), np.full(5, 0.2)
    return None


@pytest.mark.parametrize("name", sorted(SPACES))
def test_every_space_kind_parses_with_the_right_law_and_runs(name):
    card = parse_card(es_card(space=SPACES[name]))
    space = card.space
    assert np.isclose(space.p.sum(), 1.0, atol=1e-12) and np.all(space.p >= 0)
    law = expected_law(name)
    if law is not None:
        values, probs = law
        np.testing.assert_allclose(space.X, values, atol=1e-12, rtol=0)
        np.testing.assert_allclose(space.p, probs, atol=1e-12, rtol=0)
    if name == "bernoulli_atoms":
        assert space.size == 8
        hits = space["hits"]
        for s in range(8):
            expected = math.prod(pj if hits[s, j] else 1 - pj for j, pj in enumerate([0.1, 0.2, 0.3]))
            assert space.p[s] == pytest.approx(expected, rel=1e-12)
        np.testing.assert_array_equal(space.X, -hits.sum(axis=1))
    if name.startswith("law"):
        assert np.all(np.diff(space.X) >= 0)
    if name in ("law", "law_mean"):  # censored at 3: an atom of mass exp(-3) at the cap
        assert space.X[-1] == 3.0 and space.p[-1] == pytest.approx(math.exp(-3.0), rel=1e-12)
    if name == "pruned":
        assert space.size < 11 and 0 < space.pruned_mass < 1e-12 * 11
    sol = run_card(card)
    assert sol.status == "optimal"
    assert np.all(np.isfinite([sol.objective, *sol.values.values()]))


def test_discrete_normalise_warns_and_rescales():
    card = es_card(space={"kind": "discrete", "values": [0.0, -1.0], "probs": [1, 3], "normalise": True})
    with pytest.warns(RiskoptWarning, match="normalised"):
        parsed = parse_card(card)
    np.testing.assert_allclose(parsed.space.p, [0.25, 0.75])


# ------------------------------------------------------------ allocation sets, restrictions
ENTROPIC_AGENTS = [
    {"name": "a", "measure": {"name": "entropic", "gamma": 1.0}, "endowment": [0.0, -1.0, 0.0, -1.0]},
    {"name": "b", "measure": {"name": "entropic", "gamma": 3.0}, "endowment": [0.0, 0.0, -2.0, -2.0]},
]
CAPS = [2.0, 1.5]
RESTRICTIONS = {
    "none": [],
    "sign": [{"kind": "sign"}],
    "limited_liability": [{"kind": "limited_liability", "caps": CAPS}],
    "individual_rationality": [{"kind": "individual_rationality"}],
    "all": [{"kind": "sign"}, {"kind": "limited_liability", "caps": 2.0},
            {"kind": "individual_rationality"}],
}


@pytest.mark.parametrize("restriction", sorted(RESTRICTIONS))
@pytest.mark.parametrize("allocation_set", ["budget", "comonotone", "anchored_comonotone"])
def test_allocation_sets_and_restrictions_hold_at_the_optimum(allocation_set, restriction):
    card = parse_card(es_card(agents=ENTROPIC_AGENTS,
                              allocation={"set": allocation_set, "restrictions": RESTRICTIONS[restriction]}))
    allocation, restrictions = card.allocation.build()
    assert card.allocation.set == allocation.name == allocation_set
    assert [r.name for r in restrictions] == [r["kind"] for r in RESTRICTIONS[restriction]]
    sol = run_card(card)
    assert sol.status == "optimal"
    X = card.space.X
    xi = np.vstack([sol.allocation["a"], sol.allocation["b"]])
    tol = 1e-7
    np.testing.assert_allclose(xi.sum(axis=0), X, atol=tol, rtol=0)  # every set splits X exactly
    if allocation_set != "budget":  # comonotone: every share nondecreasing in X
        order = np.argsort(X)
        assert np.all(np.diff(xi[:, order], axis=1) >= -tol)
    if allocation_set == "anchored_comonotone" or restriction in ("sign", "all"):
        assert np.all(xi * X >= -tol) and np.all(np.abs(xi[:, X == 0]) <= tol)
    if restriction in ("limited_liability", "all"):
        caps = np.array(CAPS if restriction == "limited_liability" else [2.0, 2.0])
        losses = -xi  # welfare: losses are negative gains
        assert np.all(losses >= -tol) and np.all(losses <= caps[:, None] + tol)
    if restriction in ("individual_rationality", "all"):
        for agent in card.agents:
            assert sol.values[agent.name] >= agent.measure.utility(agent.endowment, card.space) - tol
    # restrictions only remove allocations: welfare never above the unrestricted optimum
    free = run_card(parse_card(es_card(agents=ENTROPIC_AGENTS, allocation={"set": allocation_set})))
    assert sol.objective <= free.objective + 1e-7


# ---------------------------------------------------- total risk: an LP on three backends
@pytest.mark.parametrize("name", sorted(LP_CARDS))
def test_total_risk_lp_is_the_same_on_every_backend(name):
    card = parse_card(LP_CARDS[name])
    objectives = {}
    for backend in ("cvxpy", "highs", "pyomo"):
        sol = run_card(card, backend=backend)
        assert sol.status == "optimal", backend
        assert sol.solver.backend == backend
        objectives[backend] = sol.objective
    assert objectives["highs"] == pytest.approx(objectives["pyomo"], abs=1e-9)
    assert objectives["cvxpy"] == pytest.approx(objectives["highs"], abs=1e-7)


def test_card_solver_is_used_only_with_its_own_backend():
    card = parse_card(es_card(solver={"backend": "cvxpy", "solver": "ECOS"}))
    sol = run_card(card)
    assert (sol.solver.backend, sol.solver.solver) == ("cvxpy", "ECOS")
    sol = run_card(card, backend="highs")  # the card's ECOS is not carried to highs
    assert (sol.solver.backend, sol.solver.solver) == ("highs", "HIGHS")


# ------------------------------------------------------------------------- random specs
def test_random_specs_follow_the_documented_draw_order():
    card = parse_card(demo_dict())
    rng = np.random.default_rng(2505)
    gammas = rng.uniform(0.5, 5.0, 50)  # agent parameters first
    p = rng.uniform(0.02, 0.2, 50)  # then the space
    np.testing.assert_array_equal([a.measure.gamma for a in card.agents], gammas)
    unpruned = demo_dict()
    del unpruned["space"]["prune"]
    np.testing.assert_allclose(parse_card(unpruned).space.p, Scenarios.bernoulli_hits(p).p,
                               atol=1e-15, rtol=0)


def test_random_specs_are_reproducible_and_depend_on_the_seed():
    first, second = parse_card(demo_dict()), parse_card(demo_dict())
    assert [a.measure.gamma for a in first.agents] == [a.measure.gamma for a in second.agents]
    np.testing.assert_array_equal(first.space.p, second.space.p)
    other = demo_dict()
    other["model"]["seed"] = 2506
    assert parse_card(other).seed == 2506
    assert [a.measure.gamma for a in parse_card(other).agents] != [a.measure.gamma for a in first.agents]
    unseeded = demo_dict()
    del unseeded["model"]["seed"]
    assert parse_card(unseeded).seed is None


def test_random_spec_for_one_listed_agent_draws_one_value():
    card = parse_card(es_card(model={"seed": 7}, agents=[
        {"name": "a", "measure": {"name": "entropic", "gamma": {"uniform": [1.0, 2.0]}}},
        {"name": "b", "measure": {"name": "entropic", "gamma": {"normal": [3.0, 0.0]}}}]))
    rng = np.random.default_rng(7)
    assert card.agents[0].measure.gamma == rng.uniform(1.0, 2.0)
    assert card.agents[1].measure.gamma == 3.0


def test_pool_parameters_given_as_lists_are_per_agent():
    card = parse_card({
        "model": {}, "space": SPACES["samples"],
        "pool": {"count": 3, "name": "f{i:02d}", "measure": {"name": "entropic", "gamma": [1.0, 2.0, 3.0]}}})
    assert [a.name for a in card.agents] == ["f01", "f02", "f03"]
    assert [a.measure.gamma for a in card.agents] == [1.0, 2.0, 3.0]


def test_pool_count_at_the_limit_is_accepted():
    card = demo_dict()
    card["pool"]["count"] = MAX_AGENTS
    t0 = time.perf_counter()
    assert len(parse_card(card).agents) == MAX_AGENTS
    assert time.perf_counter() - t0 < 20


# ------------------------------------------------------------------------------ bad cards
@pytest.mark.parametrize(("card", "path"), [pytest.param(c, p, id=i) for i, c, p in BAD_CARDS])
def test_bad_card_is_refused_naming_its_toml_path(tmp_path, card, path):
    file = write(tmp_path / "card.toml", card)
    t0 = time.perf_counter()
    with pytest.raises(ModelError) as err:
        load_card(file)
    assert time.perf_counter() - t0 < 20
    assert_names_path(str(err.value), path)
    assert "\n" not in str(err.value)
    if isinstance(card, dict):  # the same through the mapping interface
        with pytest.raises(ModelError) as again:
            parse_card(copy.deepcopy(card))
        assert str(again.value) == str(err.value)


def test_missing_file_directory_and_binary_file(tmp_path):
    with pytest.raises(ModelError, match=r"^card = .*file not found"):
        load_card(tmp_path / "nope.toml")
    with pytest.raises(ModelError, match=r"^card = .*file not found"):
        load_card("no_such_bundled_card")
    with pytest.raises(ModelError, match=r"^card = .*regular file"):
        load_card(tmp_path)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x01" * 10)
    with pytest.raises(ModelError, match=r"^card = .*readable UTF-8"):
        load_card(binary)
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes("[model]\nname = 'caf\xe9'\n".encode("latin-1"))
    with pytest.raises(ModelError, match=r"^card = .*readable UTF-8"):
        load_card(latin1)
    empty = write(tmp_path / "empty.toml", "")
    with pytest.raises(ModelError, match=r"^model: expected a table: missing"):
        load_card(empty)


def test_parse_card_refuses_a_document_that_is_not_a_table():
    for doc in ([], "model", 3, None):
        with pytest.raises(ModelError, match=r"^card"):
            parse_card(doc)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------- fuzzing
def parse_or_model_error(card: Any) -> None:
    """``parse_card`` returns a Card or raises ModelError, fast; no other exception escapes."""
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():  # e.g. a discrete space with normalise = true
            warnings.simplefilter("ignore", RiskoptWarning)
            result = parse_card(card)
    except ModelError as err:
        assert str(err)
    else:
        assert isinstance(result, Card)
    assert time.perf_counter() - t0 < 20


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_card())
def test_fuzz_mutated_demo_card_parses_or_raises_model_error(card):
    parse_or_model_error(card)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_card(others=True))
def test_fuzz_mutated_small_cards_parse_or_raise_model_error(card):
    parse_or_model_error(card)


# ------------------------------------------------ bugs found outside cards.py and cli.py
@pytest.mark.parametrize("entry", [16, [0, 1], "x"])
def test_choquet_capacity_entry_that_is_not_a_table(entry):
    card = es_card(space={"kind": "samples", "values": [0.0, -1.0]}, agents=[
        {"name": "a", "measure": {"name": "choquet", "n_states": 2,
                                  "capacity": [entry, {"states": [1], "value": 0.6}]}}])
    with pytest.raises(ModelError, match=r"^agents\[0\]\.measure"):
        parse_card(card)


@pytest.mark.parametrize("base", [[{"name": "entropic", "gamma": 1.0}], 3.0])
def test_maxmin_base_that_is_not_a_measure(base):
    """Found by the fuzz: MaxMin called base.describe() on a list (AttributeError); fixed in
    riskopt/measures/credal.py."""
    card = es_card(agents=[{"name": "a", "measure": {"name": "maxmin", "base": base,
                                                     "priors": [[0.25] * 4]}}])
    with pytest.raises(ModelError, match=r"^agents\[0\]\.measure"):
        parse_card(card)


def test_maxmin_with_a_base_table_and_choquet_with_a_full_table_parse():
    """The nested-measure table of maxmin is passed through (not read as a random spec)."""
    capacity = [{"states": [0], "value": 0.3}, {"states": [1], "value": 0.6}]
    components = [{"spec": "es", "level": 0.1}, {"spec": "power", "a": 0.5}]
    card = parse_card(es_card(space={"kind": "samples", "values": [0.0, -1.0]}, agents=[
        {"name": "a", "measure": {"name": "maxmin", "base": {"name": "entropic", "gamma": 1.0},
                                  "priors": [[0.5, 0.5], [0.2, 0.8]]}},
        {"name": "b", "measure": {"name": "choquet", "n_states": 2, "capacity": capacity}},
        {"name": "c", "measure": {"name": "distortion", "h": "mixture", "weights": [0.5, 0.5],
                                  "components": components}}]))
    a, b, c = (agent.measure for agent in card.agents)
    assert [type(m).__name__ for m in (a, b, c)] == ["MaxMin", "Choquet", "Distortion"]
    assert type(a.base).__name__ == "Entropic" and a.base.gamma == 1.0
    assert np.array_equal(np.vstack(a.priors), [[0.5, 0.5], [0.2, 0.8]])
    assert [b.capacity(np.array(m)) for m in ([True, False], [False, True], [True, True])] == [0.3, 0.6, 1.0]
    assert list(c.h.weights) == [0.5, 0.5] and c.h(0.1) == pytest.approx(0.5 * 1.0 + 0.5 * 0.1 ** 0.5)
