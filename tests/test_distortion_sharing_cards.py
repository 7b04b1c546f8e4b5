"""Model cards of the distortion-sharing mechanisms: Table 2, the risk-seeking pair, the portfolio
manager; JSON keys; plots; and bad cards (one stderr line, exit 2, the TOML path named)."""

import copy
import json

import pytest
from _cardkit import MODELS, bundled, run_cli, write


@pytest.mark.parametrize(("name", "p", "value"), [("grw_table2_row1", [0.5129, 0.4871], 0.8141),
                                                  ("grw_table2_row2", [0.3371, 0.6629], 0.3992)])
def test_table2_cards(capfd, name, p, value):
    code, out, err = run_cli(capfd, "run", MODELS / f"{name}.toml", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    inf = doc["inf_convolution"]
    assert set(inf) == {"unconstrained", "comonotone", "counter_monotone"}
    assert round(inf["unconstrained"], 4) == round(inf["counter_monotone"], 4) == value
    assert inf["comonotone"] == pytest.approx(1.0, abs=1e-7)
    assert [round(a["probability"], 4) for a in doc["agents"]] == p
    for a in doc["agents"]:
        assert {"name", "distortion", "value", "probability"} <= set(a)
    assert sum(a["value"] for a in doc["agents"]) == pytest.approx(inf["unconstrained"], abs=1e-12)
    assert doc["checks"]["proposition3_max_probability_gap"] < 1e-9


def test_risk_seeking_pair_card_comonotone_vs_counter_monotone(capfd, tmp_path):
    png = tmp_path / "pair.png"
    code, out, err = run_cli(capfd, "run", MODELS / "grw_risk_seeking_pair.toml", "--format", "json",
                         "--plot", png)
    assert code == 0, err
    doc = json.loads(out)
    inf = doc["inf_convolution"]
    assert inf["counter_monotone"] == inf["unconstrained"] < inf["comonotone"] - 0.1
    assert abs(doc["checks"]["tail_program_minus_closed_form"]) < 1e-8
    assert abs(doc["checks"]["jackpot_minus_closed_form"]) < 1e-12
    assert doc["representative"]["h_tilde_at_1"] < 1
    assert png.stat().st_size > 10_000
    code, out, err = run_cli(capfd, "run", MODELS / "grw_risk_seeking_pair.toml")
    assert code == 0 and "counter_monotone" in out and "jackpot" in out


def test_portfolio_card(capfd, tmp_path):
    png = tmp_path / "pm.png"
    code, out, err = run_cli(capfd, "run", MODELS / "grw_portfolio.toml", "--format", "json", "--plot", png)
    assert code == 0, err
    doc = json.loads(out)
    assert round(doc["lambda_star"], 4) == 0.4338
    assert doc["lambda_brute_force"] == pytest.approx(doc["lambda_star"], abs=1e-6)
    assert "reconstructed" in doc["wealth"]
    assert abs(doc["checks"]["program_minus_closed_form"]) < 1e-7
    assert png.stat().st_size > 10_000


def _mutate(name, fn):
    doc = copy.deepcopy(bundled(name))
    fn(doc)
    doc.pop("model", None)
    return {"model": {"name": "bad", "mechanism": bundled(name)["model"]["mechanism"]}, **doc}


def _set(path, value):
    def fn(doc):
        node = doc
        keys = path.split(".")
        for k in keys[:-1]:
            node = node[int(k)] if k.isdigit() else node[k]
        node[keys[-1]] = value
    return fn


BAD = [
    ("grw_risk_seeking_pair", _set("agents.1.measure", {"name": "distortion", "h": "power", "a": 0.5}),
     "agents", "out of the scope"),
    ("grw_risk_seeking_pair", _set("space", {"kind": "discrete", "values": [-1.0, 2.0], "probs": [0.5, 0.5]}),
     "space", "Proposition 2"),
    ("grw_table2_row1", _set("agents.0.measure", {"name": "distortion", "h": "powr", "a": 2.0}),
     "agents[0].measure.h", "one of"),
    ("grw_table2_row1", _set("agents.0.measure", {"name": "distortion", "t": [0.0, 1.0], "h": [0.1, 1.0]}),
     "agents[0].measure.h", "h(0) = 0"),
    ("grw_table2_row1", _set("agents.0.measure", {"name": "distortion", "t": [0.0, 0.5, 1.0],
                                                   "h": [0.0, 1.2, 1.0]}),
     "agents[0].measure.h", "nondecreasing"),
    ("grw_table2_row1", _set("agents.0.measure", {"name": "distortion", "t": [0.0, 1.0], "h": [0.0, 0.7]}),
     "agents[0].measure.h", "h(1) = 1"),
    ("grw_table2_row1", _set("agents.0.measure", {"name": "entropic", "gamma": 1.0}),
     "agents[0].measure", "distortion risk measure"),
    ("grw_table2_row1", _set("sharing.randomisation", False), "sharing.randomisation", "X_U"),
    ("grw_table2_row1", _set("sharing.comonotone", "simplex"), "sharing.comonotone", "closed_form"),
    ("grw_table2_row1", _set("sharing.typo", 1), "sharing.typo", "unknown field"),
    ("grw_portfolio", _set("portfolio.cost", 0.9), "portfolio.cost", "feasibility"),
    ("grw_portfolio", _set("portfolio.cost", -0.1), "portfolio.cost", "kappa > 0"),
    ("grw_portfolio", _set("payoff.values", [-0.5, 2.0]), "payoff.values", "nonnegative"),
    ("grw_portfolio", _set("agents.1.measure", {"name": "var", "level": 0.1}), "agents", "Proposition 4"),
]


@pytest.mark.parametrize(("base", "mutate", "path", "fragment"), BAD,
                         ids=[f"{b}:{p}:{f or 'bad'}" for b, _, p, f in BAD])
def test_bad_cards_give_one_line_naming_the_field(capfd, tmp_path, base, mutate, path, fragment):
    doc = _mutate(base, mutate)
    code, out, err = run_cli(capfd, "run", write(tmp_path / "card.toml", doc))
    assert code == 2, err
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert f"error: {path}" in err, err
    assert fragment in err, err
