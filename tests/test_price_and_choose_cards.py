"""Price-and-choose model cards and command line: the three bundled cards, the JSON contract, the
table and the figures, and bad cards refused with their TOML path (one stderr line, exit 2)."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import numpy as np
import pytest
from _cardkit import MODELS, bundled, write

import riskopt as ro
from riskopt.cards import load_card, parse_card, run_card
from riskopt.cli import main


def run_dict(doc: dict[str, Any]):
    parsed = parse_card(doc)
    return run_card(parsed)


def _no_constant(name: str) -> None:
    raise AssertionError(f"non-standard JSON constant {name}")


@pytest.fixture(scope="module")
def example1():
    return run_card(load_card(MODELS / "ogaku_example1.toml"))


def test_example1_card(example1):
    """The card reproduces spec §3.6 and §4; K = C, the conic path agrees."""
    assert example1.status == "verified"
    assert example1.welfare == pytest.approx(-0.38982934, abs=1e-8)
    assert example1.eta == pytest.approx(0.22342122, abs=1e-8)
    assert example1.auction.bid == pytest.approx(0.14894748, abs=1e-8)
    assert example1.conic.welfare_error < 1e-12
    assert example1.atoms_check.x_measurable


def test_example1_json_contract(example1, capfd):
    """agents (name, gamma, share, utility, avg, payoff), welfare, eta, bid and prices.state_density
    over the atoms of X ordered by the number of hits 0..n; strict JSON."""
    assert main(["run", str(MODELS / "ogaku_example1.toml"), "--format", "json"]) == 0
    doc = json.loads(capfd.readouterr()[0], parse_constant=_no_constant)
    assert doc["mechanism"] == "price_and_choose" and doc["status"] == "verified"
    for key in ("welfare", "eta", "bid", "agents", "prices", "spne", "auction", "menu", "welfare_optimum"):
        assert key in doc
    first = doc["agents"][0]
    for key in ("name", "gamma", "share", "utility", "avg", "payoff"):
        assert key in first
    assert [a["gamma"] for a in doc["agents"]] == [1.0, 2.0, 4.0]
    assert np.allclose([a["share"] for a in doc["agents"]], [4 / 7, 2 / 7, 1 / 7])
    payoffs = [a["payoff"] for a in doc["agents"]]
    assert np.allclose(payoffs, [-0.06211516, -0.10788636, -0.21982782], atol=1e-8, rtol=0)
    assert doc["prices"]["hits"] == [0, 1, 2, 3]
    density = doc["prices"]["state_density"]
    assert np.allclose(density, [0.8003072028, 1.4171799551, 2.5095351111, 4.4438721077], atol=1e-9, rtol=0)
    assert doc["spne"]["lipschitz"]["metric"].startswith("d_sup")
    assert doc["menu"]["points"] == 217 and "appended" in doc["menu"]["note"]


def test_credal_card_and_box_reading():
    """ogaku_credal.toml: spec §5 own-hit row; the same card read as a box (one field changed)."""
    res = run_card(load_card(MODELS / "ogaku_credal.toml"))
    assert res.welfare == pytest.approx(-0.45135307, abs=1e-8)
    assert res.eta == pytest.approx(0.23498328, abs=1e-8)
    assert res.auction.bid == pytest.approx(0.15665552, abs=1e-8)
    assert res.atoms_check.welfare_k == pytest.approx(-0.434505, abs=1e-6)
    assert not res.atoms_check.x_measurable
    assert np.all(res.conic.vertex_weights[:, 1] > 1 - 1e-6)      # worst case: the high vertex
    doc = bundled("ogaku_credal")
    doc["beliefs"]["reading"] = "box"
    doc["welfare"] = {"cross_check": "none"}
    doc["game"]["deviations"] = 100
    box = run_dict(doc)
    assert box.welfare == pytest.approx(-0.57440053, abs=1e-8)
    assert box.eta == pytest.approx(0.25660462, abs=1e-8)


def test_hurricane_pool_500_welfare_only():
    """The 500-farmer card without its menu: W* and the density within 1e-8 of the closed form; the
    density list covers the 501 atoms (null where pruned); the draws follow the seed (spec §6)."""
    doc = bundled("hurricane_pool_500")
    del doc["menu"]
    res = run_dict(doc)
    po = res.optimum
    assert res.game is None and res.eta is None
    assert po.closed_form.welfare_error < 1e-8 and po.closed_form.density_max_rel_error < 1e-8
    out = res.to_dict()
    dens = out["prices"]["state_density"]
    assert len(dens) == 501 and sum(d is not None for d in dens) == 118 and out["bid"] is None
    json.dumps(out, allow_nan=False)
    doc["beliefs"] = {"kind": "common"}
    common = run_dict(doc)
    assert common.welfare == pytest.approx(-54.45105064, abs=1e-8)
    rng = np.random.default_rng(2505)
    assert np.allclose(common.spec.pool.gammas, rng.uniform(0.5, 5, 500))
    assert np.allclose(common.spec.pool.p, rng.uniform(0.02, 0.2, 500))


@pytest.mark.slow
def test_hurricane_pool_500_full_card(capfd):
    assert main(["run", "hurricane_pool_500", "--format", "json"]) == 0
    doc = json.loads(capfd.readouterr()[0], parse_constant=_no_constant)
    assert doc["status"] == "verified" and len(doc["agents"]) == 500
    assert doc["bid"] == pytest.approx(499 / 500 * doc["eta"], rel=1e-12)


def test_table_and_plots(example1, tmp_path):
    text = example1.table("Example 1")
    for fragment in ("W* over C", "eta = 0.223421", "SPNE         passed", "d_sup", "farmer 3",
                     "esscher"):
        assert fragment in text
    simplex = example1.plot(tmp_path / "simplex.png", "Example 1")
    assert simplex.stat().st_size > 10_000
    doc = bundled("ogaku_example1")
    doc["agents"].append({"name": "farmer 4", "measure": {"name": "entropic", "gamma": 3.0}})
    doc["space"]["p"] = [0.1, 0.1, 0.1, 0.2]
    doc["menu"] = {"kind": "dirichlet", "size": 50, "seed": 1}
    doc["welfare"] = {}
    doc["game"] = {"deviations": 20}
    four = run_dict(doc)
    assert four.plot(tmp_path / "four.png").stat().st_size > 10_000
    assert four.spne.passed


def _set(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    node = doc
    keys = path.split(".")
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node.setdefault(k, {})
    if value is _DROP:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return doc


_DROP = object()
BASE = bundled("ogaku_example1")
BAD = [
    ("p-above-one", "space.p", [0.1, 1.2, 0.1], "space.p[1]"),
    ("p-negative", "space.p", -0.1, "space.p[0]"),
    ("gamma-negative", "agents.1.measure.gamma", -2.0, "agents[1].measure.gamma"),
    ("not-entropic", "agents.0.measure", {"name": "expectation"}, "agents[0].measure"),
    ("low-above-high", "beliefs", {"kind": "credal", "low": 0.2, "high": 0.15}, "beliefs.low[0]"),
    ("interval-misses-p", "beliefs", {"kind": "credal", "low": 0.12, "high": 0.2}, "beliefs.low[0]"),
    ("interval-misses-p-high", "beliefs", {"kind": "credal", "low": 0.05, "high": [0.15, 0.09, 0.2]},
     "beliefs.high[1]"),
    ("relative-bad", "beliefs", {"kind": "credal", "relative": [1.2, 1.5]}, "beliefs.relative"),
    ("credal-missing-high", "beliefs", {"kind": "credal", "low": 0.05}, "beliefs.high"),
    ("belief-kind", "beliefs.kind", "optimistic", "beliefs.kind"),
    ("reading", "beliefs", {"kind": "credal", "low": 0.05, "high": 0.15, "reading": "corner"},
     "beliefs.reading"),
    ("menu-kind", "menu.kind", "grid", "menu.kind"),
    ("menu-m", "menu.m", 0, "menu.m"),
    ("menu-too-large", "menu.m", 40, "menu.m"),
    ("menu-size", "menu", {"kind": "dirichlet", "size": 1}, "menu.size"),
    ("menu-typo", "menu.mm", 2, "menu.mm"),
    ("iota", "game.iota", 1.5, "game.iota"),
    ("epsilons", "game.epsilons", [1e-2, -1.0], "game.epsilons"),
    ("deviations", "game.deviations", -5, "game.deviations"),
    ("cross-check", "welfare.cross_check", "sdp", "welfare.cross_check"),
    ("tail-tol", "welfare.tail_tol", 0.0, "welfare.tail_tol"),
    ("space-kind", "space.kind", "samples", "space.kind"),
    ("prune", "space.prune", 1.5, "space.prune"),
    ("tick-missing", "space.loss", [1.0, 2.0, 1.0], "space.tick"),
]


@pytest.mark.parametrize(("path", "value", "field"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_card_names_the_field(path, value, field):
    with pytest.raises(ro.ModelError) as err:
        run_dict(_set(BASE, path, value))
    assert err.value.field.startswith(field), (err.value.field, field)


def test_lipschitz_cap_too_small_is_refused_by_the_runner():
    with pytest.raises(ro.ModelError) as err:
        run_dict(_set(BASE, "game.l_cap", 0.55))
    assert err.value.field == "game.l_cap" and "p^2" in str(err.value)


def test_cli_bad_card_one_line_exit_2(tmp_path, capfd):
    path = write(tmp_path / "bad.toml", _set(BASE, "beliefs", {"kind": "credal", "low": 0.2, "high": 0.15}))
    assert main(["run", str(path)]) == 2
    out, err = capfd.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("riskopt: error: beliefs.low[0] = 0.2")


@pytest.mark.filterwarnings("default::riskopt.errors.RiskoptWarning")
def test_cli_overflow_warning_one_line(tmp_path, capfd):
    doc = _set(BASE, "agents.2.measure.gamma", 400.0)
    doc["welfare"] = {}
    doc["game"]["deviations"] = 10
    path = write(tmp_path / "hot.toml", doc)
    assert main(["run", str(path), "--format", "json"]) == 0
    out, err = capfd.readouterr()
    doc_out = json.loads(out, parse_constant=_no_constant)
    assert all(math.isfinite(d) for d in doc_out["prices"]["state_density"])
    assert err.startswith("riskopt: warning: gamma[2] * loss = 400") and err.count("\n") == 1


def test_cards_are_read_by_the_spec():
    """The card reader is read_spec on PriceAndChoose: the bundled cards give the spec the Python API
    builds (draws in the card's order: gammas, then hit probabilities; relative credal intervals)."""
    from riskopt.mechanisms.price_and_choose import (
        Beliefs,
        GameSpec,
        MenuSpec,
        Pool,
        PriceAndChoose,
        WelfareSpec,
    )

    card = load_card(MODELS / "ogaku_example1.toml")
    spec = card.spec
    assert isinstance(spec, PriceAndChoose)
    python = PriceAndChoose(Pool.independent([1.0, 2.0, 4.0], [0.1, 0.1, 0.1], 1.0,
                                             names=("farmer 1", "farmer 2", "farmer 3")),
                            Beliefs.common(), MenuSpec("lattice", m=2),
                            GameSpec(1.5, 0.5, (1e-2, 1e-4, 1e-6), 2000, 20250504),
                            WelfareSpec(cross_check="conic", compare_atoms=True))
    for name in ("gammas", "p", "losses", "names", "tick", "prune"):
        assert np.array_equal(getattr(spec.pool, name), getattr(python.pool, name)), name
    assert (spec.beliefs, spec.menu, spec.game, spec.welfare) == (python.beliefs, python.menu, python.game,
                                                                  python.welfare)
    big = load_card("hurricane_pool_500").spec
    assert big.beliefs.kind == "credal" and big.beliefs.relative is None       # resolved against p
    assert np.array_equal(big.beliefs.low, 0.5 * big.pool.p)
    assert np.array_equal(big.beliefs.high, 1.5 * big.pool.p)
    assert big.menu == MenuSpec("dirichlet", size=200, seed=20250504) and big.welfare.cross_check == "none"


@pytest.mark.parametrize(("path", "value", "field"), [
    ("beliefs", {"kind": "common", "low": 0.05}, "beliefs.low"),
    ("beliefs", {"kind": "credal", "relative": [0.5, 1.5], "low": 0.05}, "beliefs.low"),
    ("menu", {"kind": "lattice", "size": 10}, "menu.size"),
    ("menu", {"kind": "none", "m": 2}, "menu.m"),
    ("space.storm_prob", 0.2, "space.storm_prob"),
    ("space.p", True, "space.p"),
], ids=["common-with-low", "relative-and-low", "lattice-with-size", "none-with-m", "storm-prob-for-hits",
        "p-boolean"])
def test_fields_another_kind_reads_are_refused(path, value, field):
    with pytest.raises(ro.ModelError) as err:
        run_dict(_set(BASE, path, value))
    assert err.value.field.startswith(field), (err.value.field, field)


def test_program_method_from_a_card():
    from riskopt.mechanisms import solve

    card = load_card(MODELS / "ogaku_example1.toml")
    res = solve(card.spec, method="program", backend=card.backend, solver=card.solver)
    assert res.method == "program" and res.welfare == pytest.approx(-0.38982934, abs=1e-8)
    assert res.eta == pytest.approx(0.22342122, abs=1e-8) and res.status == "verified"
