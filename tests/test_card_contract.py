"""Every bundled model card runs, and its JSON carries the keys every mechanism promises:
status, mechanism, objective, agents (each with a name), solver = {backend, solver, compile_s,
solve_s}, with no NaN or infinity (json.dumps(allow_nan=False))."""

import json
import time
from importlib import resources

import pytest
from _cardkit import runnable

from riskopt.cli import main

CARDS = runnable(sorted(p.name[:-5] for p in resources.files("riskopt.models").iterdir()
                        if p.name.endswith(".toml")))
HEAVY = {"hurricane_pool_500", "niakh_storm212"}  # seconds each; still run, marked slow


@pytest.mark.parametrize("card", [pytest.param(c, marks=pytest.mark.slow) if c in HEAVY else c
                                  for c in CARDS])
def test_bundled_card_json_contract(card, capsys):
    t0 = time.perf_counter()
    assert main(["run", card, "--format", "json"]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    data = json.loads(out)
    json.dumps(data, allow_nan=False)
    for key in ("status", "mechanism", "objective", "agents", "solver"):
        assert key in data, f"{card}: missing {key}"
    assert isinstance(data["agents"], list) and all("name" in a for a in data["agents"])
    for key in ("backend", "solver", "compile_s", "solve_s"):
        assert key in data["solver"], f"{card}: solver.{key}"
    assert data["model"]["source"].endswith(f"{card}.toml")
    assert time.perf_counter() - t0 < 120


def test_cards_are_bundled():
    assert {"hurricane_pool", "ogaku_example1", "andraos2025_stackelberg", "grw_table2_row1"} <= set(CARDS)
