"""Model cards of the disaster-taxation mechanism: the two bundled cards, JSON fields, plots, the CLI,
and bad cards (one ModelError naming the TOML path; exit 2 with one stderr line)."""

from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
from _cardkit import MODELS, write

from riskopt import ModelError
from riskopt.cards import load_card, parse_card, run_card
from riskopt.cli import main

TWO = MODELS / "niakh_two_region.toml"
STORM = MODELS / "niakh_storm212.toml"


def two_dict() -> dict:
    return tomllib.loads(TWO.read_text())


def small_storm() -> dict:
    card = tomllib.loads(STORM.read_text())
    card["storm"].update({"regions": 25, "scenarios": 3000})
    card["insurer"] = {"theta": 0.3, "own_capital": 12.0}
    return card


def test_two_region_card_reproduces_proposition4():
    card = load_card(TWO)
    res = run_card(card)
    out = res.to_dict()
    json.dumps(out, allow_nan=False)
    a = out["agents"]
    assert [x["name"] for x in a] == ["region 1", "region 2"]
    for key in ("name", "wealth", "cap", "alpha", "expected_tax", "expected_residual_claim", "layer_start"):
        assert key in a[0]
    assert a[0]["alpha"] == pytest.approx(0.562177, abs=5e-7)
    assert a[0]["alpha"] + a[1]["alpha"] == pytest.approx(1.0, abs=1e-15)
    assert out["fairness_residual"] < 1e-12 and out["iterations"] >= 1
    assert out["closed_form"]["case"] == 2 and out["closed_form"]["alpha1_error"] < 1e-12
    assert out["program"]["alpha_max_error"] < 1e-6 and out["program"]["status"] == "optimal"
    assert "g_i exp(t/g_i)" in out["convention"]
    s = np.asarray(out["tax_table"]["s"])
    assert np.allclose(out["tax_table"]["T"]["region 1"][2:7:2], [1.041666667, 2.25, 3.458333333],
                       atol=1e-9, rtol=0)
    assert s[-1] == pytest.approx(14.5)
    assert "closed form (Proposition 4): case 2, zeta = -0.25" in res.table()


def test_two_region_card_plot(tmp_path):
    res = run_card(load_card(TWO))
    path = res.plot(tmp_path / "layers.png", title="two regions")
    assert path.stat().st_size > 10_000


def test_small_storm_card_json_and_plot(tmp_path):
    res = run_card(parse_card(small_storm()))
    out = res.to_dict()
    text = json.dumps(out, allow_nan=False)
    assert "NaN" not in text
    assert len(out["agents"]) == 25 and out["iterations"] >= 1
    assert out["fairness_residual"] < 1e-10 and out["pure"]["fairness_residual"] < 1e-10
    summary = out["scheme_comparison"]["summary"]
    kinds = {"insurance - baseline", "pure - baseline", "hybrid - insurance"}
    assert {r["difference"] for r in summary} == kinds
    hyb = [r for r in summary if r["difference"] == "hybrid - insurance"]
    assert hyb[0]["mean_over_regions"] == 0 and hyb[1]["mean_over_regions"] == 0
    assert out["single_event"]["set"] in ("default", "favourable", "intermediate")
    assert "scheme comparison" in res.table()
    assert res.plot(tmp_path / "storm.png").stat().st_size > 10_000


def test_cli_runs_the_two_region_card(capfd):
    code = main(["run", str(TWO), "--format", "json"])
    out, err = capfd.readouterr()
    assert code == 0 and err == ""
    assert json.loads(out)["agents"][0]["alpha"] == pytest.approx(0.562177, abs=5e-7)


def _law(**regions_override):
    card = two_dict()
    for i, change in regions_override.items():
        card["regions"][int(i[1:])].update(change)
    return card


def _storm(section: str, **change):
    card = small_storm()
    card.setdefault(section, {}).update(change)
    return card


BAD = [
    ("tolerance<=0", _law(r0={"disutility": {"name": "exponential", "tolerance": 0.0}}),
     "regions[0].disutility.tolerance"),
    ("cara-gamma<=0", _law(r1={"disutility": {"name": "cara", "gamma": -1.0}}),
     "regions[1].disutility.gamma"),
    ("power-p-outside", _law(r0={"disutility": {"name": "power", "p": 1.2, "shift": 1.0}}),
     "regions[0].disutility.p"),
    ("duplicate-names", _law(r1={"name": "region 1"}), "regions[1].name"),
    ("no-afpo", _law(r0={"expected_loss": 3.8666666666666667}, r1={"expected_loss": 1.9333333333333333}),
     "regions[0].expected_loss"),
    ("targets-sum", _law(r0={"expected_loss": 2.0}), "targets"),
    ("unknown-key", _law(r0={"welth": 1.0}), "regions[0].welth"),
    ("bad-law", {**two_dict(), "law": {"kind": "atom_uniform", "p0": 1.5}}, "law.p0"),
    ("nan-samples", {**two_dict(), "law": {"kind": "samples", "values": [1.0, float("nan")]}}, "law.values"),
    ("storm-and-regions", {**small_storm(), "regions": two_dict()["regions"]}, "storm"),
    ("capital>=wealth", _storm("insurer", own_capital=1e6), "insurer.capital"),
    ("wealth<premium", _storm("insurer", theta=40.0), "regions[R"),
    ("both-capitals", _storm("insurer", capital=100.0), "insurer.capital"),
    ("psd-option", _storm("storm", psd="ignore"), "storm.psd"),
    ("streams", _storm("storm", streams="parallel"), "storm.streams"),
    ("csv-missing", _storm("storm", csv="/nonexistent/regions.csv", regions=None), "storm"),
    ("too-big", _storm("storm", regions=20000, scenarios=5_000_000), "storm.scenarios"),
    ("afpo-method", _storm("afpo", method="bisect"), "afpo.method"),
    ("event", _storm("comparison", event="worst"), "comparison.event"),
]


@pytest.mark.parametrize(("card", "field"), [(c, f) for _, c, f in BAD], ids=[i for i, _, _ in BAD])
def test_bad_cards_name_the_field(card, field, capfd, tmp_path):
    card = copy.deepcopy(card)
    if card.get("storm", {}).get("regions", 0) is None:
        del card["storm"]["regions"]
    with pytest.raises(ModelError) as info:
        run_card(parse_card(card))
    assert info.value.field.startswith(field), str(info.value)
    path = write(tmp_path / "bad.toml", card)
    code = main(["run", str(path)])
    out, err = capfd.readouterr()
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and field.split("[")[0] in err


def test_csv_card_with_nan(tmp_path):
    csv = tmp_path / "regions.csv"
    csv.write_text("name,wealth,x,y\nA,11.0,0,50\nB,,1,51\n")
    card = small_storm()
    del card["storm"]["regions"]
    card["storm"]["csv"] = str(csv)
    with pytest.raises(ModelError, match=r"storm.csv line 3"):
        run_card(parse_card(card))


def test_bundled_name_and_sensitivity_plot(tmp_path, capfd):
    """The card runs by its bundled name; the sensitivity figure (alpha by case, no-AFPO marks)."""
    from riskopt.mechanisms.taxation import mu_sweep_points, plot_sensitivity, sensitivity

    assert main(["run", "niakh_two_region", "--format", "json"]) == 0
    assert json.loads(capfd.readouterr().out)["closed_form"]["case"] == 2
    rows = sensitivity(mu_sweep_points(np.geomspace(0.1, 10, 30))).rows
    path = plot_sensitivity(rows, "mu", tmp_path / "mu.png", title="mu sweep")
    assert Path(path).stat().st_size > 10_000


def test_cards_read_into_specs_with_defaults_written_once():
    """The card reader is read_spec on the specs: absent keys take the defaults of the function or
    model the field feeds (solve_afpo, storm_study, StormModel, STUDY_INSURER), stated once."""
    import inspect

    from riskopt.mechanisms.taxation import (
        STUDY_INSURER,
        LawEconomySpec,
        StormModel,
        StormStudySpec,
        UniformAtomLaw,
        solve_afpo,
        storm_study,
    )

    law = load_card(TWO).spec
    assert isinstance(law, LawEconomySpec) and law.names == ("region 1", "region 2")
    assert isinstance(law.law, UniformAtomLaw) and law.law.upper == 14.5  # default: the total wealth
    afpo = inspect.signature(solve_afpo).parameters
    assert (law.afpo.method, law.afpo.tol) == (afpo["method"].default, afpo["tol"].default)
    assert law.program is not None and law.program.bins == 200 and law.output.grid == 9
    storm = load_card(STORM).spec
    assert isinstance(storm, StormStudySpec) and storm.insurer == STUDY_INSURER and storm.seed == 20250601
    bare = parse_card({"model": {"mechanism": "disaster_taxation"}, "storm": {}}).spec
    assert bare.storm.synthetic == inspect.signature(storm_study).parameters["regions"].default
    assert bare.storm.scenarios == inspect.signature(storm_study).parameters["scenarios"].default
    assert bare.storm.beta_b == StormModel.__dataclass_fields__["beta_b"].default
    assert bare.insurer == STUDY_INSURER
    assert bare.seed == inspect.signature(storm_study).parameters["seed"].default
    # keys given override the study's insurer; own capital replaces its capital K
    own = parse_card(small_storm()).spec.insurer
    assert (own.theta, own.eta, own.capital, own.own_capital) == (0.3, STUDY_INSURER.eta, None, 12.0)
    unnamed = two_dict()
    del unnamed["regions"][1]["name"]
    assert parse_card(unnamed).spec.names == ("region 1", "region 2")  # the default name "region {k}"


def test_reference_documents_every_card_key():
    from riskopt.mechanisms.taxation import LawEconomySpec, StormStudySpec
    from riskopt.spec import reference

    law = {r.path: r for r in reference(LawEconomySpec)}
    assert {"afpo.method", "afpo.tol", "regions[].wealth", "regions[].expected_loss", "regions[].disutility",
            "law.kind", "output.grid", "program.bins"} <= set(law)
    storm = {r.path: r for r in reference(StormStudySpec)}
    assert storm["insurer.theta"].default == "0.3" and storm["storm.scenarios"].default == "100000"
    assert {"storm.track", "storm.length_unit", "comparison.event", "disutility"} <= set(storm)


def test_solve_fast_and_program_on_the_two_region_card():
    """solve(spec, method=...): "fast" (today's default, the card's run) and "program" (the AFPO
    program on the 200 quantile bins, Lambda from the budget duals) agree; the storm study's program
    runs on the positive atoms of S_eps; both results are on the one result contract."""
    import riskopt.mechanisms as mechs
    from riskopt.data import without_timings
    from riskopt.result import Result

    spec = load_card(TWO).spec
    fast = mechs.solve(spec, method="fast")
    assert without_timings(fast.to_dict()) == without_timings(run_card(load_card(TWO)).to_dict())  # "auto"
    prog = mechs.solve(spec, method="program", solver="CLARABEL")
    for res in (fast, prog):
        assert isinstance(res, Result) and res.status.ok and res.mechanism_name == "disaster_taxation"
        assert all(c.passed for c in res.verification) and set(res.allocation) == {"region 1", "region 2"}
        assert list(res.to_frame().index) == ["region 1", "region 2"]
    assert np.abs(prog.alpha - fast.alpha).max() < 1e-6
    assert prog.method == "program" and prog.to_dict()["method"] == "program"
    assert prog.prices.source.startswith("the program's budget duals")
    s = prog.prices.s
    assert np.allclose(prog.prices.Lambda, prog.afpo.rule.lam(s), rtol=1e-6, atol=0)  # duals = the exact rule
    assert {c.name for c in prog.verification} == {"fairness_residual", "program_alpha_minus_fast_path"}
    assert mechs.mechanisms()["disaster_taxation"].methods == ("fast", "program")
    storm = mechs.solve(parse_card(small_storm()).spec, method="program")  # on the atoms of S_eps
    assert storm.method == "program" and storm.status.ok
