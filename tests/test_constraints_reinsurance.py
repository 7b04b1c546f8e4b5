"""A modeler's own constraints on the reinsurance market: the layer LP with ``[[constraints]]``.

The constrained card (retention floors and a capacity in expected claims) binds with finite nonzero
duals and costs aggregate risk against the same card without constraints; each dual is the central
difference of the optimal value in its right-hand side; a user ``limit`` row reproduces the built-in
capacity row (value, scarcity price, premiums); the program path equals the pointwise path on every
unconstrained bundled paper card; bad constraints name their TOML path (exit 2) and an infeasible set
exits 3 with a hint naming the constraints.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _cardkit import run_json

from riskopt.cards import load_card
from riskopt.cli import main
from riskopt.constraints import ConstraintSpec
from riskopt.errors import ModelError, SolveError
from riskopt.mechanisms.reinsurance import ReinsuranceSpec, pareto, solve
from riskopt.mechanisms.reinsurance.market import Market
from riskopt.status import Status

MODELS = Path(__file__).resolve().parents[1] / "models"
CARD = MODELS / "reinsurance_constrained.toml"
PAPER = ("andraos2025_stackelberg", "andraos2025_two_reinsurers")  # the cards with a pointwise path
#: central differences of an LP value accurate to ~1e-12 (HiGHS at 1e-9 tolerances on O(1) data,
#: measured 1e-10): the error of (V(+h) - V(-h)) / 2h is about 1e-12 / 1e-6
FD_H, FD_TOL = 1e-6, 1e-6


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = main(["run", *args, "--format", "json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip().startswith("{") else {}


def _without_constraints(tmp_path: Path) -> Path:
    text = CARD.read_text(encoding="utf-8")
    path = tmp_path / "unconstrained.toml"
    path.write_text(text[:text.index("\n[[constraints]]")] + "\n", encoding="utf-8")
    return path


def _spec() -> ReinsuranceSpec:
    spec: ReinsuranceSpec = load_card(CARD).spec
    return spec


def _value(spec: ReinsuranceSpec) -> float:
    return float(solve(spec, backend="highs").objective)


def _with(spec: ReinsuranceSpec, k: int, **change: Any) -> ReinsuranceSpec:
    cons = list(spec.constraints)
    cons[k] = dataclasses.replace(cons[k], **change)
    return dataclasses.replace(spec, constraints=tuple(cons))


# ---------------------------------------------------------------------------- the card
def test_constrained_card_binds_and_costs_risk(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, doc = _run([str(CARD)], capsys)
    assert code == 0 and Status(doc["status"]).ok  # "verified": the working-set check passed
    assert doc["method"] == "program" and doc["objective_sense"] == "min"
    assert doc["kind"] == "pareto (constrained)" and doc["premiums_rule"] == "dual"
    assert any("VCG premiums not computed" in n for n in doc["notes"])
    binding = {k: v for k, v in doc["constraints"].items() if v["binding"]}
    assert set(binding) == {"retention insurer 1", "retention insurer 2", "retention insurer 3",
                            "capacity reinsurer 1"}
    for v in binding.values():
        assert np.isfinite(v["dual"]) and v["dual"] != 0.0
    # a retention floor (>=) costs risk, capacity (<=) is worth risk: the one sign rule
    duals = {k: v["dual"] for k, v in doc["constraints"].items()}
    assert duals["retention insurer 1"] > 0 > duals["capacity reinsurer 1"]
    free = run_json(capsys, tmp_path, "reinsurance_constrained", constraints=False)  # ok: exit 0
    assert free["constraints"] == {} and free["method"] == "program"
    assert free["objective"] <= doc["objective"] - 1e-3  # min: the unconstrained card is no worse
    # reinsurer 1 earns its scarcity rent: -dual * K on top of its valuation of the layers it writes
    rent = -doc["constraints"]["capacity reinsurer 1"]["dual"] * 0.5
    r1 = next(a for a in doc["agents"] if a["name"] == "reinsurer 1")
    assert r1["welfare_gain"] == pytest.approx(rent, abs=1e-9)  # HiGHS duals at 1e-9


def test_constrained_card_allocation() -> None:
    """The floors bind exactly (E[X_i - I_i] = 0.3 E[X_i]) and reinsurer 1's expected claims are 0.5;
    the insurers keep a deductible (the lowest layers), higher than without constraints."""
    spec = _spec()
    con = solve(spec, backend="highs")
    free = solve(dataclasses.replace(spec, constraints=()), backend="highs")
    for out in (con, free):
        assert out.status.ok
    first_ceded = [float(out.layers.edges[0][np.argmax(out.layers.winner[0] != -1)]) for out in (free, con)]
    # a cell edge: 1/2000 grid, measured
    assert first_ceded[0] == pytest.approx(0.0476551, abs=1e-6) and first_ceded[1] > 0.1
    for k in range(3):
        # HiGHS feasibility 1e-9
        assert con.constraints[f"retention insurer {k + 1}"].slack[0] == pytest.approx(0.0, abs=1e-9)


# ---------------------------------------------------------------------------- duals
@pytest.mark.parametrize("k", [0, 2, 3])
def test_duals_are_finite_differences(k: int) -> None:
    spec = _spec()
    out = solve(spec, backend="highs")
    c = spec.constraints[k]
    # type: ignore[arg-type]
    up, down = (_value(_with(spec, k, rhs=float(c.rhs) + s * FD_H)) for s in (1.0, -1.0))
    assert out.constraints[c.name].dual[0] == pytest.approx((up - down) / (2 * FD_H), abs=FD_TOL)


def test_every_state_and_limit_duals() -> None:
    """A coinsurance rule per layer cell (insurer 3 cedes at most 80 % of every layer: a row per
    cell, its duals summed = dV*/d(shift of every rhs)) and a limit on what reinsurer 2 writes."""
    spec = dataclasses.replace(_spec(), constraints=())
    spec = spec.add_constraint(name="coinsurance", insurer="insurer 3", what="ceded", sense="<=", rhs=0.8)
    spec = spec.add_constraint(name="limit r2", reinsurer="reinsurer 2", what="limit", sense="<=", rhs=0.1)
    out = solve(spec, backend="highs")
    co, lim = out.constraints["coinsurance"], out.constraints["limit r2"]
    assert co.scope == "every_state" and co.dual.size > 100 and co.binds and lim.binds
    assert np.all(co.dual <= 1e-12)  # a cap on ceding: raising it never raises the risk
    for k, total in ((0, float(co.dual.sum())), (1, float(lim.dual[0]))):
        c = spec.constraints[k]
        # type: ignore[arg-type]
        up, down = (_value(_with(spec, k, rhs=float(c.rhs) + s * FD_H)) for s in (1.0, -1.0))
        assert total == pytest.approx((up - down) / (2 * FD_H), abs=FD_TOL)
    share = out.layers.shares(2, 2).sum(axis=0)
    assert share.max() == pytest.approx(0.8, abs=1e-9)  # the cap, HiGHS 1e-9


def test_user_limit_is_the_capacity_row() -> None:
    """``limit <= 6`` on reinsurer 1 as a user constraint is the built-in capacity row of the capacity
    card on the same grid (``exact_capacity=False``): same value, dual = -lambda, same premiums."""
    capacity = load_card(MODELS / "andraos2025_capacity.toml").spec
    built_in = pareto(Market.of(capacity), exact_capacity=False)
    free = dataclasses.replace(capacity, reinsurers=tuple(dataclasses.replace(r, capacity=None)
                                                           for r in capacity.reinsurers))
    user = free.add_constraint(name="cap", reinsurer="reinsurer 1", what="limit", sense="<=", rhs=6.0)
    mine = solve(user, backend="highs")
    assert mine.objective == pytest.approx(built_in.objective, rel=1e-10)
    assert built_in.scarcity_prices_lp is not None
    assert -mine.constraints["cap"].dual[0] == pytest.approx(built_in.scarcity_prices_lp["reinsurer 1"],
                                                             rel=1e-7)
    assert np.allclose(mine.premium, built_in.premium, rtol=0, atol=1e-8)


# ---------------------------------------------------------------------------- program == fast
@pytest.mark.parametrize("name", PAPER)
def test_program_equals_fast_on_paper_cards(name: str) -> None:
    """Values to 1e-7 relative, premiums (the SPNE's = the LP's VCG premiums) to 1e-6. The third
    paper card (capacity limits) has no pointwise path: "fast" refuses it."""
    spec = load_card(MODELS / f"{name}.toml").spec
    fast, program = solve(spec, method="fast"), solve(spec, method="program", backend="highs")
    assert (fast.method, program.method) == ("fast", "program")
    assert program.objective == pytest.approx(fast.objective, rel=1e-7)
    assert np.allclose(program.premium, fast.premium, rtol=0, atol=1e-6)
    with pytest.raises(ModelError):
        solve(load_card(MODELS / "andraos2025_capacity.toml").spec, method="fast")


def test_auto_routes() -> None:
    table2 = load_card(MODELS / "andraos2025_two_reinsurers.toml").spec
    assert solve(table2).method == "fast"
    plain = dataclasses.replace(table2, market=dataclasses.replace(table2.market, compare_with=None))
    capped = plain.add_constraint(name="cap", reinsurer="reinsurer 1", what="expected_ceded", sense="<=",
                                  rhs=0.5)
    out = solve(capped, backend="highs")
    assert out.method == "program" and out.kind == "pareto (constrained)" and out.constraints["cap"].binds
    with pytest.raises(ModelError) as err:
        solve(capped, method="fast")
    assert err.value.field == "method"


# ---------------------------------------------------------------------------- bad input
def _card_with(tmp_path: Path, table: str) -> Path:
    path = tmp_path / "bad.toml"
    path.write_text(_without_constraints(tmp_path).read_text(encoding="utf-8") + table, encoding="utf-8")
    return path


@pytest.mark.parametrize(("table", "field"), [  # unknown who, what, sense: tests/test_constraints.py
    ('[[constraints]]\nname = "a"\nreinsurer = "reinsurer 1"\nwhat = "retention"\nsense = ">="\nrhs = 0\n',
     "constraints[0].what"),
    ('[[constraints]]\nname = "a"\ninsurers = ["insurer 1", "insurer 2"]\nwhat = "ceded"\nsense = "<="\n'
     'rhs = 1\n', "constraints[0].insurers"),
    ('[[constraints]]\nname = "a"\ninsurer = "insurer 1"\nwhat = "ceded"\nsense = "<="\nrhs = [0.5, 0.5]\n',
     "constraints[0].rhs"),
])
def test_bad_constraints_name_their_path(tmp_path: Path, capsys: pytest.CaptureFixture[str], table: str,
                                         field: str) -> None:
    path = _card_with(tmp_path, table)
    with pytest.raises(ModelError) as err:
        solve(load_card(path).spec, backend="highs")
    assert err.value.field == field
    assert main(["run", str(path)]) == 2
    assert field in capsys.readouterr().err


def test_vcg_with_constraints_is_refused() -> None:
    spec = _spec()
    with pytest.raises(ModelError) as err:
        dataclasses.replace(spec, market=dataclasses.replace(spec.market, premiums="vcg"))
    assert err.value.field == "market.premiums"
    market = Market.of(spec)
    with pytest.raises(ModelError):
        pareto(market, premiums="vcg", constraints=spec.constraints)


def test_infeasible_constraints(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Keep more than the expected loss (E[X] = 1/3): infeasible, exit 3, the hint names the floor."""
    table = ('[[constraints]]\nname = "impossible floor"\ninsurer = "insurer 2"\n'
             'what = "expected_retention"\nsense = ">="\nrhs = 0.5\n')
    path = _card_with(tmp_path, table)
    with pytest.raises(SolveError) as err:
        solve(load_card(path).spec, backend="highs")
    assert Status.of(err.value).base is Status.INFEASIBLE
    assert "impossible floor" in str(err.value)
    assert main(["run", str(path), "--format", "json"]) == 3
    capsys.readouterr()


def test_constraint_vocabulary_is_documented() -> None:
    from riskopt.mechanisms.reinsurance import QUANTITIES

    assert set(QUANTITIES) == {"ceded", "retention", "limit"}
    doc = tomllib.loads(CARD.read_text(encoding="utf-8"))
    assert all(c["what"].removeprefix("expected_") in QUANTITIES for c in doc["constraints"])
    spec = ConstraintSpec(name="x", insurer="insurer 1", what="expected_ceded", sense="<=", rhs=0.2)
    assert _spec().add_constraint(spec).constraints[-1] is spec


# ---------------------------------------------------------------------------- the working-set solve
def _bench_market(n: int, m: int) -> tuple[Market, list[ConstraintSpec]]:
    import riskopt as ro
    from riskopt.mechanisms.reinsurance import InsurerSpec, ReinsurerSpec

    rng = np.random.default_rng(7)
    insurers = [InsurerSpec(f"i{k}", ro.laws.censored_exponential(float(rng.uniform(2, 4)), 5.0),
                            ro.measures.ES(float(rng.uniform(0.01, 0.2)))) for k in range(n)]
    beliefs = rng.uniform(1.5, 3.5, (m, n))
    reinsurers = [ReinsurerSpec(f"r{j}", float(rng.uniform(0.05, 0.3)),
                                [ro.laws.censored_exponential(float(b), 5.0) for b in beliefs[j]])
                  for j in range(m)]
    cons = [ConstraintSpec(name=f"floor {k}", insurer=f"i{k}", what="expected_retention", sense=">=", rhs=0.0,
                           aggregate_multiple=0.6) for k in range(n)]
    cons += [ConstraintSpec(name="cap r0", reinsurer="r0", what="limit", sense="<=", rhs=0.8),
             ConstraintSpec(name="own r1", reinsurers=["r1", "r2"], what="expected_ceded", law="own",
                            coefficients=(1.0, 0.5), sense="<=", rhs=0.3),
             ConstraintSpec(name="limit i0", insurer="i0", what="limit", sense="<=", rhs=3.0)]
    return Market(insurers, reinsurers, bound=5.0), cons


def test_working_set_is_the_full_lp() -> None:
    """Merged cells refined where the duals say a cell is not optimal give the LP on every cell:
    the same value (1e-10 relative: two HiGHS solves of the same LP), duals and premiums (1e-8:
    the duals of a vertex, read twice), and shares."""
    market, cons = _bench_market(4, 3)
    ws = pareto(market, cells=600, nodes=2, constraints=cons)
    full = pareto(market, cells=600, nodes=2, constraints=cons, working_set=False)
    assert ws.status.ok and full.status.ok
    assert ws.checks["working-set rounds"] >= 2 and ws.checks["working-set point optimal on every cell"]
    assert int(ws.checks["working-set LP cells"]) < full.grid.lp_variables / 3  # type: ignore[union-attr]
    assert ws.objective == pytest.approx(full.objective, rel=1e-10)
    assert sum(c.binds for c in ws.constraints.values()) >= 5
    for k, c in full.constraints.items():
        assert ws.constraints[k].dual[0] == pytest.approx(c.dual[0], abs=1e-8), k
        assert ws.constraints[k].binds == c.binds
    assert np.allclose(ws.premium, full.premium, rtol=0, atol=1e-8)
    # type: ignore[arg-type]
    assert np.allclose(ws.prices.layer_value, full.prices.layer_value, rtol=0, atol=1e-8)


def test_every_state_rows_take_the_full_lp() -> None:
    spec = dataclasses.replace(_spec(), constraints=()).add_constraint(
        name="coinsurance", insurer="insurer 3", what="ceded", sense="<=", rhs=0.8)
    assert "working-set rounds" not in solve(spec, backend="highs").checks


def test_working_set_hands_an_infeasible_merge_to_every_cell() -> None:
    """Keep 0.3 of expected loss (of 1/3: the layers below 0.7675) and cede a limit of 4.2 (of 5):
    the fine cells can (keep the lowest layers, cede the rest: 4.23); merged cells of 128 (0.32 of
    layer each) cannot (4.19 at most), and hand over."""
    spec = dataclasses.replace(_spec(), constraints=())
    spec = spec.add_constraint(name="keep", insurer="insurer 1", what="expected_retention", sense=">=",
                               rhs=0.3)
    spec = spec.add_constraint(name="cede", insurer="insurer 1", what="limit", sense=">=", rhs=4.2)
    full = pareto(Market.of(spec), cells=2000, constraints=spec.constraints, working_set=False)
    out = pareto(Market.of(spec), cells=2000, constraints=spec.constraints)
    assert out.status.ok and out.objective == pytest.approx(full.objective, rel=1e-10)
    assert "working-set rounds" not in out.checks
