"""Reinsurance-market model cards through ``riskopt run``: the bundled cards (Tables 1 and 2, the
capacity example), JSON keys, plots, and one-line errors naming the TOML path for bad cards."""

from __future__ import annotations

import copy
import json
import tomllib

import numpy as np
import pytest
from _cardkit import MODELS, run_cli, write

from riskopt.cards import load_card
from riskopt.errors import ModelError

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
    assert "comparison (stackelberg | spne)" in out and "0.545767" in out and "-2.93344" in out


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
    with pytest.raises(ModelError) as err:
        load_card(write(tmp_path / "cap.toml", doc))
    assert err.value.field.startswith("insurers[0].measure")


# ------------------------------------------------------------------ the spec the card is read into
def test_the_card_is_read_into_the_spec():
    """The reader is the spec's field metadata: [market], [[insurers]] and [[reinsurers]] become
    MarketOptions, InsurerSpec and ReinsurerSpec, laws become riskopt laws, defaults stand."""
    import riskopt as ro
    from riskopt.mechanisms.reinsurance import InsurerSpec, MarketOptions, ReinsuranceSpec, ReinsurerSpec

    spec = load_card(TABLE2).spec
    assert isinstance(spec, ReinsuranceSpec) and isinstance(spec.market, MarketOptions)
    assert spec.market.solve == "spne" and spec.market.bound == 5.0
    assert spec.market.compare_with == "reinsurer 1"
    assert (spec.market.cells, spec.market.nodes, spec.market.pareto_check) == (256, 8, True)
    assert all(isinstance(i, InsurerSpec) for i in spec.insurers)
    assert [i.measure.level for i in spec.insurers] == [0.10, 0.05, 0.01]
    assert all(isinstance(r, ReinsurerSpec) for r in spec.reinsurers)
    assert [r.loading for r in spec.reinsurers] == [0.15, 0.10]
    law = spec.insurers[0].loss
    assert isinstance(law, ro.laws.Censored) and law.cap == 5.0 and law.base.rate == 3.0
    # a default name is the agent's position
    doc = tomllib.loads(TABLE2.read_text())
    del doc["insurers"][1]["name"]
    assert [i.name for i in load_card_data(doc).spec.insurers] == ["insurer 1", "insurer 2", "insurer 3"]
    doc["insurers"][0]["name"] = "insurer 2"
    with pytest.raises(ModelError) as err:
        load_card_data(doc)
    assert err.value.field == "insurers[1].name"


def load_card_data(doc):
    from riskopt.cards import parse_card

    return parse_card(doc, "card.toml")


def test_laws_by_name_with_their_parameters():
    """LawSpec: the parameters of the law named, no other; a discrete law is a Scenarios."""
    import riskopt as ro
    from riskopt.mechanisms.reinsurance import LawSpec

    law = LawSpec("discrete", values=(0.0, 1.0, 3.0), probs=(0.5, 0.3, 0.2)).build()
    assert isinstance(law, ro.Scenarios) and law.sf(0.5) == pytest.approx(0.5, abs=1e-15)
    assert LawSpec("uniform", lo=0.0, hi=2.0).build().sf(0.5) == pytest.approx(0.75, abs=1e-15)
    for kwargs, field in (({"name": "uniform", "lo": 0.0}, "hi"),
                          ({"name": "uniform", "lo": 0.0, "hi": 2.0, "rate": 1.0}, "rate"),
                          ({"name": "exponential", "rate": -1.0}, "rate"),
                          ({"name": "discrete", "values": (0.0, 1.0), "probs": (0.5, 0.6)}, "probs")):
        with pytest.raises(ModelError) as err:
            LawSpec(**kwargs)
        assert err.value.field == field, kwargs


def test_every_field_of_the_spec_is_in_the_card_reference():
    """The reference documents every field of every spec of the card (laws included), with help."""
    import dataclasses

    from riskopt.cards import reference_rows
    from riskopt.mechanisms.reinsurance import InsurerSpec, LawSpec, MarketOptions, ReinsurerSpec

    rows = {r.path: r for r in reference_rows("reinsurance_market")}
    for cls, prefix in ((MarketOptions, "market."), (InsurerSpec, "insurers[]."),
                        (ReinsurerSpec, "reinsurers[]."), (LawSpec, "insurers[].loss.")):
        for f in dataclasses.fields(cls):
            assert prefix + f.name in rows, prefix + f.name
            assert rows[prefix + f.name].help
    assert "reinsurers[]" in rows and "insurers[]" in rows and "<agent>.measure.level" in rows


def test_solve_by_either_method():
    """method = "fast" (pointwise, what "auto" does for solve = "spne") and "program" (the Pareto
    layer LP, whose VCG premiums are the SPNE's) agree; "fast" has no Pareto route with a premium
    rule or capacity limits and says so; the registry dispatches on the spec's type."""
    from riskopt.mechanisms import mechanisms
    from riskopt.mechanisms import solve as solve_any
    from riskopt.mechanisms.reinsurance import solve

    spec = load_card(TABLE2).spec
    fast = solve(spec, method="fast", backend="highs")
    program = solve(spec, method="program", backend="highs")
    assert (fast.method, fast.route, fast.kind) == ("fast", "pointwise", "spne")
    assert (program.method, program.route, program.kind) == ("program", "lp (highs)", "pareto")
    assert fast.status.ok and program.status.ok
    assert program.objective == pytest.approx(fast.objective, abs=1e-12)
    assert np.allclose(program.premium, fast.premium, atol=1e-12, rtol=0)
    assert program.comparison is not None and fast.comparison is not None
    assert program.comparison.aggregate_risk == pytest.approx(fast.comparison.aggregate_risk, abs=1e-12)
    auto = solve_any(spec, method="auto", backend="highs")
    assert auto.to_dict(layers=False)["checks"]["SPNE Pareto optimal"]
    assert mechanisms()["reinsurance_market"].methods == ("fast", "program")
    capacity = load_card(CAPACITY).spec
    with pytest.raises(ModelError) as err:
        solve(capacity, method="fast")
    assert err.value.field == "method" and "program" in str(err.value)
    with pytest.raises(ModelError):
        solve(spec, method="nash")


def test_best_responses_by_either_method():
    """Posted prices at the monopoly price: the pointwise rule and the LP's generous selection on its
    optimal face give the same premiums; neither is an equilibrium (undercutting pays)."""
    from riskopt.mechanisms.reinsurance import MarketOptions, solve

    spec = load_card(TABLE2).spec
    spec = dataclasses_replace(spec, market=MarketOptions(solve="best_response", prices="monopoly",
                                                          bound=5.0))
    fast = solve(spec, method="fast")
    program = solve(spec, method="program", backend="highs")
    assert fast.kind == program.kind == "best response"
    assert np.allclose(program.premium, fast.premium, atol=1e-9, rtol=0)
    assert not fast.status.ok and not program.status.ok
    assert fast.equilibrium.max_reinsurer_gain > 0.1 and program.equilibrium.max_reinsurer_gain > 0.1


def dataclasses_replace(obj, **changes):
    import dataclasses

    return dataclasses.replace(obj, **changes)


def test_the_result_contract():
    """The one result contract: status computed from the verification checks, the objective, rows by
    agent, allocations (layer shares) by name, typed prices, a frame."""
    from riskopt.mechanisms.reinsurance import MarketPrices, solve
    from riskopt.result import Result
    from riskopt.status import Check, Status, from_checks

    out = solve(load_card(CAPACITY).spec, backend="highs")
    assert isinstance(out, Result)
    assert all(isinstance(c, Check) for c in out.verification)
    assert out.status == from_checks(Status(str(out.solution.status)), out.verification)
    assert out.objective == out.aggregate_risk
    names = [r["name"] for r in out.agent_rows()]
    assert names == ["insurer 1", "insurer 2", "insurer 3", "reinsurer 1", "reinsurer 2"]
    alloc = out.allocation
    assert list(alloc) == names
    G = out.layers.edges.shape[1] - 1
    assert alloc["insurer 1"].shape == (2, G) and alloc["reinsurer 1"].shape == (3, G)
    used = (alloc["reinsurer 1"] * out.layers.widths).sum()
    assert used == pytest.approx(6.0, abs=1e-9)  # its capacity
    assert isinstance(out.prices, MarketPrices) and out.prices.layer_value is not None
    assert out.prices.scarcity[0] == pytest.approx(out.scarcity_prices_lp["reinsurer 1"], abs=0)
    assert (out.prices.layer_value >= -1e-12).all()
    assert out.to_frame().loc["reinsurer 1", "welfare_gain"] == pytest.approx(
        6.0 * out.scarcity_prices["reinsurer 1"], abs=1e-12)


def test_specs_built_in_python_are_checked():
    """The same checks without a card: capacity limits need the layer LP, compare_with names a
    reinsurer, [market] values in range; the market's own checks run when it is solved."""
    import riskopt as ro
    from riskopt.mechanisms.reinsurance import (
        InsurerSpec,
        MarketOptions,
        ReinsuranceSpec,
        ReinsurerSpec,
        solve,
    )

    law = ro.laws.censored_exponential(3.0, 5.0)
    insurers = [InsurerSpec("i", law, ro.measures.ES(0.1))]
    with pytest.raises(ModelError) as err:
        ReinsuranceSpec(insurers=insurers, reinsurers=[ReinsurerSpec("r", 0.1, capacity=1.0)])
    assert err.value.field == "reinsurers[0].capacity"
    with pytest.raises(ModelError) as err:
        ReinsuranceSpec(market=MarketOptions(compare_with="x"), insurers=insurers,
                        reinsurers=[ReinsurerSpec("r", 0.1)])
    assert err.value.field == "market.compare_with"
    with pytest.raises(ModelError) as err:
        MarketOptions(cells=0)
    assert err.value.field == "cells"
    spec = ReinsuranceSpec(market=MarketOptions(bound=4.0), insurers=insurers,
                           reinsurers=[ReinsurerSpec("r", 0.1, ro.laws.censored_exponential(2.5, 5.0))])
    with pytest.raises(ModelError) as err:
        solve(spec)
    assert err.value.field == "market.bound"
    ok = dataclasses_replace(spec, market=MarketOptions(bound=5.0, pareto_check=False))
    out = solve(ok)
    assert out.kind == "stackelberg" and out.status is out.status.VERIFIED
