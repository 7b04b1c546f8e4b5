"""Faults and hostile input that must not reach the terminal or hang the command (issue
"Nothing lost under faults and limits"): control characters in names, cards that are not regular
files or are too large."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from _cardkit import bundled, run_cli, write

from riskopt.cards import MAX_CARD_BYTES
from riskopt.terminal import safe

HOSTILE = {
    "osc retitle": "\x1b]0;pwned\x07",
    "clear screen": "\x1b[2J",
    "carriage return": "ok\rforged",
    "bidi override": "abc\u202edcba",
    "c1 csi": "\x9b31m",
    "delete": "a\x7fb",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_control_characters_in_names_are_escaped_in_tables(tmp_path: Any, capfd: Any, name: str) -> None:
    card = bundled("ogaku_example1")
    hostile = HOSTILE[name]
    card["agents"][0]["name"] = hostile
    card["model"]["name"] = "title " + hostile
    card["game"]["deviations"] = 20
    path = write(tmp_path / "hostile.toml", card)
    code, out, err = run_cli(capfd, "run", path)
    assert code == 0
    assert hostile not in out and safe(hostile) in out
    assert all(ch not in out + err for ch in "\x1b\x07\r\x9b\u202e\x7f")
    # JSON keeps the exact string (json escapes control characters itself)
    code, out, _ = run_cli(capfd, "run", path, "--format", "json")
    assert code == 0 and any(a["name"] == hostile for a in json.loads(out)["agents"])


def test_an_error_quoting_a_hostile_value_is_escaped(tmp_path: Any, capfd: Any) -> None:
    card = bundled("ogaku_example1")
    card["agents"][0]["measure"]["name"] = "\x1b[2Jentropic"
    code, out, err = run_cli(capfd, "run", write(tmp_path / "bad.toml", card))
    assert code == 2 and out == "" and "\x1b" not in err and "\\x1b" in err


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_a_device_is_not_read(capfd: Any) -> None:
    t0 = time.perf_counter()
    code, out, err = run_cli(capfd, "run", "/dev/zero")
    assert code == 2 and out == "" and "regular file" in err
    assert time.perf_counter() - t0 < 2


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_does_not_hang(tmp_path: Any, capfd: Any) -> None:
    fifo = tmp_path / "card.toml"
    os.mkfifo(fifo)
    t0 = time.perf_counter()
    code, _, err = run_cli(capfd, "run", fifo)
    assert code == 2 and "regular file" in err and time.perf_counter() - t0 < 2


def test_an_oversized_card_is_refused_without_reading_it_all(tmp_path: Any, capfd: Any) -> None:
    big = tmp_path / "big.toml"
    with big.open("wb") as f:  # a sparse file: no disk used
        f.truncate(MAX_CARD_BYTES + 10)
    t0 = time.perf_counter()
    code, out, err = run_cli(capfd, "run", big)
    assert code == 2 and out == "" and "MiB" in err and time.perf_counter() - t0 < 2


@pytest.mark.parametrize(("option", "fragment"), [
    ("max_iter = -1", "solver.options.max_iter"), ("max_iter = 1e20", "solver.options.max_iter"),
    ("max_iter = 2.5", "solver.options.max_iter"), ("tol_gap_abs = -1", "solver.options.tol_gap_abs"),
    ("tol_feas = nan", "solver.options.tol_feas"), ("time_limit = 0", "solver.options.time_limit"),
])
def test_solver_options_out_of_range_are_user_errors(tmp_path: Any, capfd: Any, option: str,
                                                     fragment: str) -> None:
    text = (Path(__file__).resolve().parents[1] / "models" / "hurricane_pool.toml").read_text()
    text = text.replace('solver = "CLARABEL"', f'solver = "CLARABEL"\noptions = {{ {option} }}')
    card = tmp_path / "options.toml"
    card.write_text(text)
    code, out, err = run_cli(capfd, "run", card)
    assert code == 2 and out == "" and fragment in err and len(err.strip().splitlines()) == 1


def test_api_options_are_checked_too() -> None:
    import riskopt as ro
    from riskopt.errors import ModelError
    from riskopt.mechanisms.pareto import welfare

    pool = ro.Scenarios.bernoulli_hits([0.1, 0.2])
    agents = [ro.Agent("a", ro.measures.Entropic(1.0)), ro.Agent("b", ro.measures.Entropic(2.0))]
    with pytest.raises(ModelError, match=r"options\.max_iters"):
        welfare(pool, agents).solve(solver="SCS", max_iters=0)


def test_a_highs_time_limit_before_any_point_is_a_status_not_a_crash() -> None:
    """HiGHS stopped by time_limit = 1e-9 has no point: status time_limit (exit 3), no TypeError."""
    import riskopt as ro
    from riskopt.mechanisms.pareto import welfare
    from riskopt.status import Status

    pool = ro.Scenarios.bernoulli_hits([0.1, 0.2])
    agents = [ro.Agent("a", ro.measures.Distortion("es", level=0.5)),
              ro.Agent("b", ro.measures.Expectation())]
    sol = welfare(pool, agents).solve(backend="highs", time_limit=1e-9, check=False)
    assert sol.status is Status.TIME_LIMIT and sol.objective is None


@pytest.mark.parametrize("runner", ["processes:abc", "processes:0", "processes:100000", "dask:-1", "dask:"])
def test_runner_specs_are_validated_before_any_worker_starts(capfd: Any, runner: str) -> None:
    t0 = time.perf_counter()
    code, out, err = run_cli(capfd, "sweep", "ogaku_example1", "--grid", "game.deviations=10:20:2",
                             "--runner", runner)
    assert code == 2 and out == "" and "worker count" in err and time.perf_counter() - t0 < 2


def test_an_extreme_crra_is_refused_at_construction() -> None:
    """eta = 1e6 crashed inside cvxpy (ZeroDivisionError in its rational power approximation)."""
    import riskopt as ro

    with pytest.raises(ro.ModelError, match=r"eta = 1000000.0: expected relative risk aversion at most 1000"):
        ro.measures.CRRA(1e6, shift=5.0)
    assert ro.measures.CRRA(1000.0, shift=5.0).eta == 1000.0  # the documented maximum itself is taken
