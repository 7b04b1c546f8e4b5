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
    assert code == 0 and "counter-monotone" in out and "jackpot" in out


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


# ------------------------------------------------------------- the specs the cards are read into
def test_cards_are_read_into_specs_with_their_defaults_written_once():
    """The card readers are read_spec on SharingSpec / PortfolioSpec: the bundled cards give the
    specs (agents first, then the space), and a card without [sharing] gets the spec's defaults."""
    from riskopt.cards import load_card, parse_card
    from riskopt.mechanisms.distortion import PortfolioSpec, SharingOptions, SharingSpec

    card = load_card(MODELS / "grw_risk_seeking_pair.toml")
    spec = card.spec
    assert isinstance(spec, SharingSpec)
    assert [a.name for a in spec.agents] == ["power", "exponential"] and spec.space.size == 198
    assert spec.sharing == SharingOptions(randomisation=True, comonotone="program", cross_check=True)
    doc = bundled("grw_table2_row1")
    doc.pop("sharing")
    assert parse_card(doc).spec.sharing == SharingOptions()
    pm = load_card(MODELS / "grw_portfolio.toml").spec
    assert isinstance(pm, PortfolioSpec)
    assert (pm.portfolio.endowment, pm.portfolio.cost, pm.portfolio.grid) == (1.0, 0.3, 201)
    assert pm.payoff.X.tolist() == [0.8, 2.0]


def test_random_agent_parameters_are_drawn_before_the_space():
    """A [pool] with a random exponent and a random space: the draws follow the field order."""
    import numpy as np

    from riskopt.cards import parse_card

    doc = {"model": {"name": "r", "mechanism": "distortion_sharing", "seed": 5},
           "pool": {"count": 3,
                    "measure": {"name": "distortion", "h": "power", "a": {"uniform": [1.5, 3.0]}}},
           "space": {"kind": "samples", "values": [1.0, 2.0, 4.0]}}
    spec = parse_card(doc).spec
    rng = np.random.default_rng(5)
    assert [a.measure.h.a for a in spec.agents] == rng.uniform(1.5, 3.0, 3).tolist()


def test_solve_through_the_registry_with_every_method():
    """riskopt.mechanisms.solve dispatches on the spec: the three methods agree on the values, each
    result is on the Result contract (status computed, allocation by name, verification, frame)."""
    import numpy as np

    from riskopt.cards import load_card
    from riskopt.mechanisms import mechanisms, solve
    from riskopt.result import Result

    assert mechanisms()["distortion_sharing"].methods == ("fast", "program")
    assert mechanisms()["distortion_portfolio"].methods == ("fast", "program")
    spec = load_card(MODELS / "grw_risk_seeking_pair.toml").spec
    out = {m: solve(spec, method=m) for m in ("auto", "fast", "program")}
    for m, res in out.items():
        assert isinstance(res, Result) and res.status == "verified", m
        assert res.method == m and res.to_dict()["method"] == m
        assert res.objective == pytest.approx(out["auto"].objective, abs=1e-8)
        alloc = res.allocation
        assert list(alloc) == ["power", "exponential"]
        assert np.allclose(sum(alloc.values()), res.allocation_space.X, atol=1e-12, rtol=0)
        assert res.to_frame().index.tolist() == ["power", "exponential"]
        assert res.prices.prices is not None and res.prices.upper.size == res.prices.atoms.size
    assert out["fast"].comonotone.method == "direct" and out["program"].comonotone.method == "program"
    assert any("comonotone option 'program'" in n for n in out["fast"].notes)  # the card's, overridden
    assert "tail_program_minus_closed_form" not in out["fast"].checks
    assert {c.name for c in out["program"].verification} == {"tail_program_minus_closed_form",
                                                              "jackpot_minus_tail_program"}
    pm = load_card(MODELS / "grw_portfolio.toml").spec
    fast, auto = solve(pm, method="fast"), solve(pm, method="auto")
    assert fast.lambda_closed == auto.lambda_closed and "program_minus_closed_form" not in fast.checks
    assert isinstance(fast, Result) and fast.status == "verified"
    assert np.all(np.concatenate(list(fast.allocation.values())) <= 1e-12)  # shares of the loss -W
    program = solve(pm, method="program")  # the manager's QP in lambda over the mechanism's programs
    assert program.method == "program"
    assert program.lambda_program == pytest.approx(fast.lambda_closed, abs=1e-7)  # the QP's tolerance
