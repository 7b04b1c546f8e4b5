"""Reinsurance-market model cards through ``riskopt run``: the bundled cards (Tables 1 and 2, the
capacity example), JSON keys, plots, and one-line errors naming the TOML path for bad cards."""

from __future__ import annotations

import copy
import json
import tomllib

import pytest
from _cardkit import MODELS, run_cli, write

from riskopt.cards import load_card

TABLE1 = MODELS / "andraos2025_stackelberg.toml"
TABLE2 = MODELS / "andraos2025_two_reinsurers.toml"
CAPACITY = MODELS / "andraos2025_capacity.toml"
PRINTED = 5e-7


def as_json(capfd, card, *extra):
    code, out, err = run_cli(capfd, "run", card, "--format", "json", *extra)
    assert code == 0, err
    return json.loads(out)


def agents(doc):
    return {a["name"]: a for a in doc["agents"]}


def test_table1_card(capfd):
    doc = as_json(capfd, TABLE1)
    rows = agents(doc)
    assert doc["kind"] == "stackelberg" and doc["mechanism"] == "reinsurance_market"
    for name, initial, premium in (("insurer 1", 1.100861, 1.044949), ("insurer 2", 1.331909, 1.276004),
                                   ("insurer 3", 1.868380, 1.812475)):
        assert set(rows[name]) == {"name", "role", "initial_risk", "premium_paid", "post_transfer_risk",
                                   "welfare_gain"}
        assert rows[name]["initial_risk"] == pytest.approx(initial, abs=PRINTED)
        assert rows[name]["premium_paid"] == pytest.approx(premium, abs=PRINTED)
        assert rows[name]["post_transfer_risk"] == pytest.approx(initial, abs=PRINTED)
        assert rows[name]["welfare_gain"] == pytest.approx(0.0, abs=1e-12)
    re = rows["reinsurer"]
    assert set(re) == {"name", "role", "initial_risk", "premium_received", "post_transfer_risk",
                       "welfare_gain"}
    assert re["post_transfer_risk"] == pytest.approx(-2.933441, abs=PRINTED)
    assert doc["verification"]["ok"] and doc["checks"]["SPNE Pareto optimal"]
    assert doc["model"]["name"] == "andraos2025 stackelberg"


def test_table2_card_with_the_monopoly_column(capfd):
    doc = as_json(capfd, TABLE2)
    rows = agents(doc)
    for i, (post, gain) in enumerate(((0.545767, 0.555094), (0.547430, 0.784479), (0.547954, 1.320426))):
        assert rows[f"insurer {i + 1}"]["post_transfer_risk"] == pytest.approx(post, abs=PRINTED)
        assert rows[f"insurer {i + 1}"]["welfare_gain"] == pytest.approx(gain, abs=PRINTED)
    assert rows["reinsurer 1"]["post_transfer_risk"] == pytest.approx(-0.273442, abs=PRINTED)
    assert rows["reinsurer 2"]["post_transfer_risk"] == pytest.approx(-0.000993, abs=PRINTED)
    mono = agents(doc["comparison"])
    assert mono["reinsurer 1"]["post_transfer_risk"] == pytest.approx(-2.933441, abs=PRINTED)
    assert doc["checks"]["Pareto LP V*"] == pytest.approx(1.366715, abs=PRINTED)
    assert doc["layers"]["insurer 1"][0] == {"from": 0.0, "to": pytest.approx(0.047655, abs=PRINTED),
                                             "reinsurer": None, "price": None}
    code, out, _ = run_cli(capfd, "run", TABLE2)
    assert code == 0
    assert "comparison (stackelberg | spne)" in out and "0.545767" in out and "-2.933441" in out


def test_capacity_card(capfd):
    doc = as_json(capfd, CAPACITY)
    assert doc["kind"] == "pareto (capacity)"
    lam = doc["scarcity_prices"]["reinsurer 1"]
    assert lam > 0
    assert agents(doc)["reinsurer 1"]["welfare_gain"] == pytest.approx(6.0 * lam, abs=1e-12)
    assert abs(doc["checks"]["pointwise dual value - V*"]) < 1e-12


@pytest.mark.slow
def test_backend_override_and_plot(capfd, tmp_path):
    doc = as_json(capfd, TABLE2, "--backend", "cvxpy", "--solver", "CLARABEL")
    assert doc["pareto_lp"]["solver"]["backend"] == "cvxpy"
    assert doc["checks"]["SPNE Pareto optimal"]
    png = tmp_path / "market.png"
    code, _, err = run_cli(capfd, "run", TABLE1, "--plot", png)
    assert code == 0, err
    assert png.stat().st_size > 10_000


def test_finite_space_card_with_a_capacity(capfd, tmp_path):
    doc = tomllib.loads(TABLE1.read_text())
    doc["market"] = {"states": [0.2, 0.3, 0.5], "comonotone": True}
    capacity = [{"states": [0], "value": 0.3}, {"states": [1], "value": 0.4}, {"states": [2], "value": 0.6},
                {"states": [0, 1], "value": 0.6}, {"states": [0, 2], "value": 0.8},
                {"states": [1, 2], "value": 0.9}]
    doc["insurers"] = [{"name": "c", "loss": [0.0, 1.0, 3.0],
                        "measure": {"name": "choquet", "capacity": capacity, "n_states": 3}}]
    doc["reinsurers"] = [{"name": "q", "loading": 0.1, "beliefs": [0.3, 0.3, 0.4]}]
    out = as_json(capfd, write(tmp_path / "finite.toml", doc))
    assert agents(out)["c"]["initial_risk"] == pytest.approx(2.1, abs=1e-12)
    assert agents(out)["q"]["post_transfer_risk"] == pytest.approx(1.1 * 1.5 - 2.1, abs=1e-12)


def _bad(section, index, key, value):
    def change(doc):
        target = doc[section] if index is None else doc[section][index]
        if value is _DROP:
            del target[key]
        else:
            target[key] = value
    return change


_DROP = object()
BAD = [
    (_bad("reinsurers", 0, "loading", 0.0), "reinsurers[0].loading"),
    (_bad("reinsurers", 1, "loading", -0.2), "reinsurers[1].loading"),
    (_bad("insurers", 0, "measure", {"name": "es", "level": 1.5}), "insurers[0].measure.level"),
    (_bad("market", None, "bound", 4.0), "market.bound"),
    (_bad("insurers", 2, "loss", {"name": "pareto", "a": 2.0}), "insurers[2].loss.name"),
    (_bad("insurers", 0, "loss", {"name": "uniform", "lo": 2.0, "hi": 1.0}), "insurers[0].loss.hi"),
    (_bad("insurers", 0, "loss", [0.0, 1.0]), "insurers[0].loss"),
    (_bad("reinsurers", 0, "beliefs", {"name": "exponential", "rate": 2.0}), "reinsurers[0].beliefs"),
    (_bad("reinsurers", 0, "measure", {"name": "distortion", "h": "wang", "lam": 0.3}), "reinsurers[0]"),
    (_bad("reinsurers", 0, "capacity", 3.0), "reinsurers[0].capacity"),
    (_bad("market", None, "solve", "nash"), "market.solve"),
    (_bad("market", None, "compare_with", "nobody"), "market.compare_with"),
    (_bad("market", None, "cells", 0), "market.cells"),
    (_bad("insurers", 1, "colour", "red"), "insurers[1].colour"),
    (_bad("reinsurers", 0, "loading", _DROP), "reinsurers[0].loading"),
]


@pytest.mark.parametrize(("change", "path"), BAD, ids=[p for _, p in BAD])
def test_bad_card_is_one_line_naming_the_field(capfd, tmp_path, change, path):
    doc = copy.deepcopy(tomllib.loads(TABLE2.read_text()))
    change(doc)
    code, out, err = run_cli(capfd, "run", write(tmp_path / "bad.toml", doc))
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and path in lines[0], err


def test_non_additive_reinsurer_is_refused_with_the_reason(capfd, tmp_path):
    doc = tomllib.loads(TABLE2.read_text())
    del doc["reinsurers"][0]["beliefs"]
    doc["reinsurers"][0]["measure"] = {"name": "distortion", "h": "wang", "lam": 0.3}
    code, _, err = run_cli(capfd, "run", write(tmp_path / "wang.toml", doc))
    assert code == 2 and "reinsurers[0].measure" in err and "comonotone" in err
    doc["market"]["comonotone"] = True
    out = as_json(capfd, write(tmp_path / "wang_como.toml", doc))
    assert out["verification"]["ok"]


def test_non_monotone_capacity_names_the_card_field(tmp_path):
    doc = tomllib.loads(TABLE1.read_text())
    doc["market"] = {"states": [0.5, 0.5]}
    bad = [{"states": [0], "value": 0.9}, {"states": [1], "value": 0.2}, {"states": [0, 1], "value": 0.5}]
    doc["insurers"] = [{"name": "c", "loss": [0.0, 1.0],
                        "measure": {"name": "choquet", "capacity": bad, "n_states": 2}}]
    from riskopt.errors import ModelError

    with pytest.raises(ModelError) as err:
        load_card(write(tmp_path / "cap.toml", doc))
    assert err.value.field.startswith("insurers[0].measure")
