"""The bundled cards on CLIMADA's Florida tropical-cyclone demo ([space] / [losses] of kind "climada"):
florida_tc_pool (a CARA pool at competitive prices) and florida_tc_taxation (disaster taxation).

Without CLIMADA each card is refused in one line that says how to install it (run everywhere, CLIMADA
hidden by a monkeypatched ``sys.modules``); with CLIMADA both run and are checked against closed forms
computed here (the Esscher density of the pool, the mean annual loss of the event table)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _cardkit import MODELS, bundled, run_cli, write

from riskopt import ModelError
from riskopt.cards import load_card, run_card
from riskopt.cardschema import missing_extras
from riskopt.cli import main
from riskopt.mechanisms.equilibrium import solve as solve_equilibrium

POOL = MODELS / "florida_tc_pool.toml"
TAXATION = MODELS / "florida_tc_taxation.toml"
#: the card name and the section its climada table sits in
CARDS = [("florida_tc_pool", "space"), ("florida_tc_taxation", "losses")]


# -- without CLIMADA -------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "section"), CARDS)
def test_without_climada_one_line_exit_2(name: str, section: str, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    for mod in [m for m in sys.modules if m == "climada" or m.startswith("climada.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, "climada", None)  # import climada -> ImportError
    with pytest.raises(ImportError):
        import climada  # noqa: F401
    code = main(["run", name])
    out, err = capsys.readouterr()
    assert code == 2 and out == "", (out, err)
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert f"{section}.kind" in lines[0] and "climada" in lines[0] and "pip install" in lines[0], err
    with pytest.raises(ModelError) as info:  # the API names the same field
        load_card(MODELS / f"{name}.toml")
    assert info.value.field == f"{section}.kind"
    assert missing_extras(bundled(name)) == ["climada"]  # what tests and the gallery skip on
    assert missing_extras(bundled("hurricane_pool")) == []


# -- with CLIMADA: the pool ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pool():
    pytest.importorskip("climada")
    card = load_card(POOL)
    return card, run_card(card)


def _json_run(capfd: pytest.CaptureFixture[str], name: str) -> dict[str, Any]:
    """``riskopt run NAME --format json`` (CLIMADA needed): exit 0, the parsed document."""
    pytest.importorskip("climada")
    code, out, err = run_cli(capfd, "run", name, "--format", "json")
    assert code == 0, err
    return dict(json.loads(out))


def test_pool_card_cli_json(capfd: pytest.CaptureFixture[str]) -> None:
    doc = _json_run(capfd, "florida_tc_pool")
    assert doc["status"] == "verified" and doc["route"] == "buhlmann"
    assert {k for k, v in doc["verification"].items() if v["passed"]} >= {"clearing", "budget", "optimality"}
    assert all(v["passed"] for v in doc["verification"].values())
    assert len(doc["agents"]) == 8 and len(doc["prices"]["state_density"]) == 10_000


def test_pool_checks_and_gains(pool) -> None:
    _, res = pool
    assert str(res.status) == "verified" and res.route == "buhlmann"
    checks = {c.name: c for c in res.verification}
    for name in ("clearing", "budget", "optimality"):
        assert checks[name].passed, checks[name]
    gains = np.asarray(res.gains, float)
    assert gains.shape == (8,) and np.all(gains >= 0), gains
    assert gains.max() > 0  # pooling helps someone


def test_pool_density_is_the_esscher_tilt(pool) -> None:
    """phi = exp(a L) / E[exp(a L)], 1/a = sum_i 1/gamma_i, from the card's gammas (read from the TOML
    here) and the space's total loss: Bühlmann's closed form, independent of the solver's route."""
    card, res = pool
    gammas = [agent["measure"]["gamma"] for agent in bundled("florida_tc_pool")["agents"]]
    assert len(gammas) == 8
    a = 1.0 / sum(1.0 / g for g in gammas)
    space = card.spec.space
    L = np.asarray(space["loss"], float)
    p = np.asarray(space.p, float)
    np.testing.assert_allclose(L, -np.asarray(space.X), rtol=0, atol=0)
    w = np.exp(a * (L - L.max()))  # shifted: the normalisation cancels it
    phi = w / (p @ w)
    assert p @ phi == pytest.approx(1.0, rel=1e-12)
    # 1e-9: the closed form's own exp/normalisation in another order; a wrong a moves phi by > 1e-3
    np.testing.assert_allclose(res.state_density, phi, rtol=1e-9, atol=0)
    assert phi.max() > 2.0  # the tail years are priced well above their probabilities
    # member i keeps the share a / gamma_i of the pooled loss (up to its constant side payment)
    xi = np.asarray(res.xi, float)
    for i, g in enumerate(gammas):
        d = xi[i] - (a / g) * (-L)
        assert np.ptp(d) < 1e-9 * max(1.0, float(np.abs(L).max())), (i, np.ptp(d))


@pytest.mark.slow
def test_pool_program_route_agrees_with_fast(pool) -> None:
    card, fast = pool
    prog = solve_equilibrium(card.spec, method="program")
    assert prog.status.ok, prog.status
    assert fast.method == "fast" and prog.method == "program"
    # the program's point comes from Clarabel at 1e-12 tolerances (TIGHT_CLARABEL): 1e-6 in USD bn and
    # relative density leaves six digits of slack and still catches a wrong weight or price (>= 1e-3)
    np.testing.assert_allclose(prog.xi, fast.xi, rtol=0, atol=1e-6)
    np.testing.assert_allclose(prog.state_density, fast.state_density, rtol=1e-6, atol=0)


# -- with CLIMADA: taxation ------------------------------------------------------------------------

def test_taxation_card_cli_json(capfd: pytest.CaptureFixture[str]) -> None:
    doc = _json_run(capfd, "florida_tc_taxation")
    assert doc["status"] == "verified" and doc["mechanism"] == "disaster_taxation"
    assert all(c["passed"] for c in doc["verification"])
    assert doc["scenarios"] == 10_000 and doc["seed"] == 2026 and len(doc["agents"]) == 8
    assert doc["insurer"]["capital"] == 10.0
    for agent in doc["agents"]:  # AFPO fairness: Newton stops at 1e-11, 1e-8 leaves the study's 1e3 slack
        assert agent["expected_tax"] == pytest.approx(agent["expected_residual_claim"], rel=1e-8)


def test_taxation_losses_and_default_probability() -> None:
    pytest.importorskip("climada")
    from riskopt.climada_impact import florida_demo

    card = load_card(TAXATION)
    table = card.spec.losses
    total = table.total
    assert total.size == 10_000
    # the exact mean annual loss of Poisson occurrence: sum_e rate_e x (event e's total loss), USD bn
    elt = florida_demo()
    exact = float(elt.rates @ elt.losses.sum(axis=1)) / 1e9
    se = float(total.std(ddof=1)) / math.sqrt(total.size)
    assert abs(float(total.mean()) - exact) < 4 * se, (total.mean(), exact, se)
    res = run_card(card)
    assert res.status.ok and str(res.status) == "verified"
    e = res.economy
    assert e.K == 10.0
    np.testing.assert_array_equal(e.S, total)
    share = float(np.mean(total > 10.0))
    assert 0 < share < 0.05
    assert float(e.probs @ (e.S > e.K)) == pytest.approx(share, rel=1e-12)
    np.testing.assert_allclose(e.wealth, 0.5 * table.exposure, rtol=1e-15)


# -- with CLIMADA: bad climada fields ----------------------------------------------------------------

def _bad(name: str, section: str, change: dict[str, Any]) -> dict[str, Any]:
    card = bundled(name)
    for key, value in change.items():
        if value is None:
            del card[section][key]
        else:
            card[section][key] = value
    return card


BAD_FIELDS: list[tuple[str, dict[str, Any], str]] = [
    ("hazard-europe", {"hazard": "europe"}, "hazard"),
    ("groups-kmeans-and-grid", {"groups": {"kmeans": 4, "grid": [0.1, 0.1]}}, "groups"),
    ("kmeans-0", {"groups": {"kmeans": 0}}, "groups.kmeans"),
    ("grid-negative-cell", {"groups": {"grid": [-0.1, 0.1]}}, "groups.grid"),
    ("years-0", {"years": 0}, "years"),
    ("years-missing", {"years": None}, "years"),
    ("unit-negative", {"unit": -1.0}, "unit"),
    ("groups-unknown-key", {"groups": {"kmeans": 4, "sed": 1}}, "groups.sed"),
]


@pytest.mark.parametrize(("name", "section"), CARDS)
@pytest.mark.parametrize(("change", "field"), [(c, f) for _, c, f in BAD_FIELDS],
                         ids=[i for i, _, _ in BAD_FIELDS])
def test_bad_climada_fields_one_line_exit_2(name: str, section: str, change: dict[str, Any], field: str,
                                            tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("climada")
    path = write(tmp_path / f"{name}.toml", _bad(name, section, change))
    with pytest.raises(ModelError) as info:
        load_card(path)
    assert info.value.field == f"{section}.{field}", str(info.value)
    code, out, err = run_cli(capfd, "run", path)
    assert code == 2 and out == "", err
    assert len(err.splitlines()) == 1, err
    assert f"{section}.{field}" in err, err
