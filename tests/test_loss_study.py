"""The storm study of Niakh et al. on a modelled loss table (riskopt.mechanisms.taxation.loss_table_study)
and its cards ([losses] + [wealth], mechanism disaster_taxation), on synthetic tables made here (no
CLIMADA): the study against the storm pipeline fed the same matrix, AFPO fairness checked from the
returned arrays, the wealth scaling, the CLI and the program route, and bad cards (exit 2, one line)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from _cardkit import run_cli, write

from riskopt import ModelError
from riskopt.cards import load_card, parse_card, run_card
from riskopt.losstables import LossTable
from riskopt.mechanisms.taxation import DefaultableInsurer, ExponentialPayments, loss_table_study, solve
from riskopt.mechanisms.taxation.economy import MatrixSource, run_economy

REGIONS = ("north", "bay", "delta", "inland")
EXPOSURE = np.array([100.0, 150.0, 80.0, 120.0])
SHARE = 0.5  # wealth = half the exposure value
YEARS = 2000


def synthetic_losses(seed: int = 7) -> np.ndarray:
    """Regions x years losses: a storm year with probability 0.25 hits each region with probability
    0.7 and destroys a Beta(0.5, 2) fraction of its wealth (SHARE x exposure); most years lose 0."""
    rng = np.random.default_rng(seed)
    storm = rng.random(YEARS) < 0.25
    hit = (rng.random((len(REGIONS), YEARS)) < 0.7) & storm
    frac = rng.beta(0.5, 2.0, (len(REGIONS), YEARS))
    return np.where(hit, frac, 0.0) * (SHARE * EXPOSURE)[:, None]


LOSSES = synthetic_losses()
TOTAL = LOSSES.sum(axis=0)
# the insurer defaults in about 5 % of the years (capital: the 95 % quantile of the total loss)
CAPITAL = float(np.quantile(TOTAL, 0.95))
INSURER = DefaultableInsurer(theta=0.3, capital=CAPITAL)


def table(exposure: Any = EXPOSURE) -> LossTable:
    return LossTable(REGIONS, LOSSES, np.full(YEARS, 1.0 / YEARS), exposure, {"source": "synthetic"})


def test_synthetic_table_is_what_the_study_needs() -> None:
    assert (TOTAL == 0).mean() > 0.5  # many years without loss
    assert 0.03 < (TOTAL > CAPITAL).mean() <= 0.05 + 1e-12  # the insurer can default
    k = 1.3 * LOSSES.mean(axis=1).sum()
    assert k < CAPITAL < SHARE * EXPOSURE.sum()  # K >= the premium income, below the total wealth


@pytest.fixture(scope="module")
def study():
    return loss_table_study(table(), wealth_per_exposure=SHARE, insurer=INSURER)


def test_study_ok_and_verified(study) -> None:
    assert study.status.ok and str(study.status) == "verified", study.status
    assert set(study.verified) == {"hybrid", "pure"}
    assert max(study.verified.values()) < 1e-9
    assert study.scenarios == YEARS and study.model is None
    e = study.economy
    assert e.names == REGIONS and e.K == CAPITAL
    np.testing.assert_array_equal(e.S, TOTAL)


def test_study_is_the_storm_pipeline_on_the_same_matrix(study) -> None:
    # An independent route to the same economy: the storm study's own engine (run_economy) fed the
    # table as a MatrixSource with the wealth computed here. Both routes run the same deterministic
    # arithmetic on the same inputs, so they must agree to the last bits; 1e-12 only leaves room for
    # a harmless reordering, while any slip in the adapter (wealth scaling, region order, insurer,
    # premium basis, probabilities) moves the weights by far more.
    ref = run_economy(MatrixSource(LOSSES, np.full(YEARS, 1.0 / YEARS)), REGIONS, SHARE * EXPOSURE,
                      insurer=INSURER, disutility=ExponentialPayments(), premium_basis="sample")
    e = study.economy
    for mine, theirs in ((e.hybrid, ref.hybrid), (e.pure, ref.pure)):
        assert mine is not None and theirs is not None
        np.testing.assert_allclose(mine.alpha, theirs.alpha, rtol=1e-12, atol=0)
        np.testing.assert_allclose(mine.expected_tax, theirs.expected_tax, rtol=1e-12, atol=0)
        np.testing.assert_allclose(mine.layer_start, theirs.layer_start, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(e.premiums, ref.premiums, rtol=1e-12, atol=0)
    np.testing.assert_allclose(e.expected_residual_claim, ref.expected_residual_claim, rtol=1e-12, atol=0)
    assert e.k == pytest.approx(ref.k, rel=1e-12) and e.K == ref.K
    assert e.event is not None and ref.event is not None and e.event.index == ref.event.index


def test_afpo_fairness_from_the_arrays(study) -> None:
    """E[T_i] = E[eps_i] (hybrid: taxes of S_eps = (S - K)^+ against the residual claims
    eps_i = X_i (1 - K/S) on S > K) and E[T_i] = E[X_i] (pure sharing of S), every expectation
    computed here from the table, the taxes from the returned rules. Tolerance 1e-8 relative: the
    Newton stops at 1e-11 and the study's own check allows 1e3 times that."""
    e = study.economy
    p = np.full(YEARS, 1.0 / YEARS)
    K = CAPITAL
    default = TOTAL > K
    eps = np.where(default, LOSSES * (1 - K / np.where(default, TOTAL, 1.0)), 0.0)
    T = study.hybrid.rule.taxes(np.maximum(TOTAL - K, 0.0))
    assert T.shape == LOSSES.shape
    np.testing.assert_allclose(T @ p, eps @ p, rtol=1e-8, atol=0)
    np.testing.assert_allclose(e.expected_residual_claim, eps @ p, rtol=1e-12, atol=0)
    # the taxes of a year add up to its residual claim, and stay within the capacities w_i - pi_i
    np.testing.assert_allclose(T.sum(axis=0), np.maximum(TOTAL - K, 0.0), rtol=1e-9, atol=1e-9)
    assert np.all(T >= -1e-12) and np.all(T - e.caps[:, None] <= 1e-9)
    Tp = study.pure.rule.taxes(TOTAL)
    np.testing.assert_allclose(Tp @ p, LOSSES @ p, rtol=1e-8, atol=0)
    np.testing.assert_allclose(e.premiums, 1.3 * (LOSSES @ p), rtol=1e-12)


def test_wealth_per_exposure_and_wealth_list(study) -> None:
    np.testing.assert_allclose(study.economy.wealth, SHARE * EXPOSURE, rtol=1e-15)
    np.testing.assert_allclose(study.regions.wealth, SHARE * EXPOSURE, rtol=1e-15)
    doubled = loss_table_study(table(), wealth_per_exposure=2 * SHARE, insurer=INSURER, verify=False)
    np.testing.assert_allclose(doubled.economy.wealth, 2 * SHARE * EXPOSURE, rtol=1e-15)
    # the capacities w_i - pi_i grow with the wealth (the premiums do not); here no year's taxes reach
    # them, and the exponential rule below its caps does not depend on the wealth: same weights
    caps = 2 * SHARE * EXPOSURE - study.economy.premiums
    np.testing.assert_allclose(doubled.economy.caps, caps, rtol=1e-15)
    np.testing.assert_allclose(doubled.hybrid.alpha, study.hybrid.alpha, rtol=1e-9)  # two Newton runs, 1e-11
    given = loss_table_study(table(exposure=None), wealth=list(SHARE * EXPOSURE), insurer=INSURER)
    np.testing.assert_array_equal(given.economy.wealth, study.economy.wealth)
    # the same wealth array by another route: the same arithmetic, a few ulps at most
    np.testing.assert_allclose(given.hybrid.alpha, study.hybrid.alpha, rtol=1e-13, atol=0)
    np.testing.assert_allclose(given.pure.alpha, study.pure.alpha, rtol=1e-13, atol=0)


def test_api_refuses_bad_wealth() -> None:
    for kwargs, field in (({}, "wealth"),
                          ({"wealth": [1.0] * 4, "wealth_per_exposure": 0.5}, "wealth"),
                          ({"wealth_per_exposure": 0.0}, "wealth_per_exposure"),
                          ({"wealth_per_exposure": -1.0}, "wealth_per_exposure"),
                          ({"wealth_per_exposure": float("nan")}, "wealth_per_exposure")):
        with pytest.raises(ModelError) as err:
            loss_table_study(table(), insurer=INSURER, **kwargs)
        assert err.value.field == field, (kwargs, str(err.value))
    with pytest.raises(ModelError) as err:
        loss_table_study(table(exposure=None), wealth_per_exposure=0.5, insurer=INSURER)
    assert err.value.field == "wealth_per_exposure"


# ----------------------------------------------------------------------------------------- cards
def write_tables(folder: Path) -> None:
    """ylt.csv (wide: a year column and one column per region) and regions.csv (region, exposure)."""
    frame = pd.DataFrame(LOSSES.T, columns=list(REGIONS))
    frame.insert(0, "year", np.arange(1, YEARS + 1))
    frame.to_csv(folder / "ylt.csv", index=False, float_format="%.17g")
    pd.DataFrame({"region": list(REGIONS), "exposure": EXPOSURE}).to_csv(folder / "regions.csv", index=False)


def ylt_card(**sections: Any) -> dict[str, Any]:
    card: dict[str, Any] = {
        "model": {"name": "synthetic ylt taxation", "mechanism": "disaster_taxation"},
        "losses": {"kind": "year_loss_table", "path": "ylt.csv", "regions": "regions.csv"},
        "wealth": {"per_exposure": SHARE},
        "insurer": {"theta": 0.3, "capital": CAPITAL},
        "disutility": {"name": "exponential", "tolerance": 1.0},
    }
    card.update(copy.deepcopy(sections))
    return {k: v for k, v in card.items() if v is not None}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write_tables(tmp_path)
    return tmp_path


def test_ylt_card_reads_the_table_and_its_exposure(folder: Path) -> None:
    card = load_card(write(folder / "card.toml", ylt_card()))
    spec = card.spec
    assert spec.losses.regions == REGIONS
    np.testing.assert_array_equal(spec.losses.losses, LOSSES)  # %.17g round-trips every double
    np.testing.assert_array_equal(spec.losses.exposure, EXPOSURE)
    assert spec.wealth.per_exposure == SHARE and spec.wealth.values is None


def test_ylt_card_cli_json(folder: Path, capfd: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.chdir(folder.parent)  # the paths are the card's folder's, not the current directory's
    code, out, err = run_cli(capfd, "run", write(folder / "card.toml", ylt_card()), "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["status"] == "verified" and doc["mechanism"] == "disaster_taxation"
    assert doc["scenarios"] == YEARS and [a["name"] for a in doc["agents"]] == list(REGIONS)
    np.testing.assert_allclose([a["wealth"] for a in doc["agents"]], SHARE * EXPOSURE, rtol=1e-15)
    assert doc["insurer"]["capital"] == CAPITAL
    assert doc["insurer"]["default_scenarios"] == int((TOTAL > CAPITAL).sum())
    study = loss_table_study(table(), wealth_per_exposure=SHARE, insurer=INSURER)
    np.testing.assert_allclose([a["alpha"] for a in doc["agents"]], study.hybrid.alpha, rtol=1e-12)


def test_ylt_card_wealth_values_same_as_per_exposure(folder: Path) -> None:
    a = run_card(load_card(write(folder / "a.toml", ylt_card())))
    values = ylt_card(wealth={"values": (SHARE * EXPOSURE).tolist()})
    b = run_card(load_card(write(folder / "b.toml", values)))
    np.testing.assert_array_equal(a.economy.wealth, b.economy.wealth)
    np.testing.assert_allclose(a.hybrid.alpha, b.hybrid.alpha, rtol=1e-13, atol=0)


def test_ylt_card_program_route_agrees_with_fast(folder: Path) -> None:
    spec = load_card(write(folder / "card.toml", ylt_card())).spec
    fast = solve(spec)
    prog = solve(spec, method="program")
    assert fast.method == "fast" and prog.method == "program"
    assert fast.status.ok and prog.status.ok, (fast.status, prog.status)
    # the program's weights are its fairness duals from a conic solver (accurate to about 1e-9
    # relative: PROGRAM_TOL), so 1e-6 relative leaves three digits of slack and still catches any
    # wrong law, target or cap (those move the weights by 1e-3 or more)
    np.testing.assert_allclose(prog.hybrid.alpha, fast.hybrid.alpha, rtol=1e-6, atol=0)
    assert prog.program is not None and prog.program.alpha_max_error < 1e-6
    np.testing.assert_allclose(prog.hybrid.expected_tax, fast.hybrid.expected_tax, rtol=1e-6)
    assert prog.verified["hybrid"] < 1e-6


# --------------------------------------------------------------------------------------- bad cards
def _bad_cards() -> list[tuple[str, Any, str]]:
    storm = {"regions": 5, "scenarios": 1000}
    return [
        ("storm-and-losses", ylt_card(storm=storm), "storm"),
        ("losses-without-wealth", ylt_card(wealth=None), "wealth"),
        ("wealth-both", ylt_card(wealth={"per_exposure": 0.5, "values": [1.0, 2.0, 3.0, 4.0]}),
         "wealth.per_exposure"),
        ("wealth-neither", ylt_card(wealth={}), "wealth.per_exposure"),
        ("values-length", ylt_card(wealth={"values": [60.0, 70.0, 80.0]}), "wealth.values"),
        ("per-exposure-0", ylt_card(wealth={"per_exposure": 0.0}), "wealth.per_exposure"),
        ("per-exposure-negative", ylt_card(wealth={"per_exposure": -0.5}), "wealth.per_exposure"),
        ("per-exposure-no-exposure",
         ylt_card(losses={"kind": "year_loss_table", "path": "ylt.csv"}), "wealth.per_exposure"),
        ("capital-above-wealth", ylt_card(insurer={"theta": 0.3, "capital": float(SHARE * EXPOSURE.sum())}),
         "insurer.capital"),
        ("event-out-of-range", ylt_card(comparison={"event": YEARS}), "comparison.event"),
        ("event-negative", ylt_card(comparison={"event": -1}), "comparison.event"),
        ("constraint-unknown-region",
         ylt_card(constraints=[{"name": "cap", "region": "atlantis", "what": "tax", "sense": "<=",
                                "rhs": 1.0}]),
         "constraints[0].region"),
        ("wealth-unknown-key", ylt_card(wealth={"per_exposure": 0.5, "per_exposur": 0.5}),
         "wealth.per_exposur"),
        ("losses-unknown-kind", ylt_card(losses={"kind": "yearly", "path": "ylt.csv"}), "losses.kind"),
    ]


BAD = _bad_cards()


@pytest.mark.parametrize(("card", "field"), [(c, f) for _, c, f in BAD], ids=[i for i, _, _ in BAD])
def test_bad_loss_cards_one_line_exit_2(card, field, folder: Path, capfd: pytest.CaptureFixture[str]) -> None:
    path = write(folder / "bad.toml", card)
    with pytest.raises(ModelError) as err:
        run_card(load_card(path))
    assert err.value.field.startswith(field), str(err.value)
    parts = err.value.field.split(".")
    assert len(parts) == 1 or parts[0] != parts[1], str(err.value)  # no doubled section prefix
    code, out, err_text = run_cli(capfd, "run", path)
    assert code == 2 and out == "", err_text
    assert len(err_text.strip().splitlines()) == 1, err_text
    assert field.split("[")[0] in err_text, err_text


def test_constraint_on_a_known_region_runs(folder: Path) -> None:
    """The bad constraint above fails for its region name, not for the constraint itself."""
    card = ylt_card(constraints=[{"name": "cap", "region": "bay", "what": "tax", "sense": "<=",
                                 "rhs": 1e6}])
    res = run_card(parse_card(card, source=str(write(folder / "ok.toml", card))))
    assert res.status.ok
