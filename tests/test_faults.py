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


@pytest.mark.parametrize("backend", ["highs", "pyomo"])
def test_a_highs_time_limit_before_any_point_is_a_status_not_a_crash(backend: str) -> None:
    """HiGHS stopped by time_limit = 1e-9 has no point: status time_limit (exit 3), no TypeError
    (directly or through Pyomo)."""
    import riskopt as ro
    from riskopt.mechanisms.pareto import welfare
    from riskopt.status import Status

    pool = ro.Scenarios.bernoulli_hits([0.1, 0.2])
    agents = [ro.Agent("a", ro.measures.Distortion("es", level=0.5)),
              ro.Agent("b", ro.measures.Expectation())]
    sol = welfare(pool, agents).solve(backend=backend, time_limit=1e-9, check=False)
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


# ---------------------------------------------------------------- sweeps keep what they finished
def _killer(p: dict[str, Any]) -> dict[str, Any]:
    """A point that kills its own worker process (as an abort or the OOM killer would)."""
    import signal

    if p["x"] == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return {"y": p["x"] ** 2}


def test_a_killed_worker_loses_only_its_point() -> None:
    from riskopt.sweep import Processes, sweep

    points = [{"x": x} for x in range(8)]
    res = sweep(_killer, points, runner=Processes(2), chunks=2, progress=False)
    assert [r["x"] for r in res.rows] == list(range(8))
    assert [r.get("y") for r in res.rows] == [x * x if x != 3 else None for x in range(8)]
    dead = res.rows[3]
    assert dead["status"] == "error" and dead["message"].startswith("worker died")


SERIAL_ABORT = """
import os, sys
from riskopt.sweep import sweep
def task(p):
    if p["x"] == int(sys.argv[2]):
        os.abort()
    return {"y": p["x"] ** 2}
res = sweep(task, [{"x": x} for x in range(6)], chunks=6, journal=sys.argv[1], resume=True, progress=False)
print(len(res.rows))
"""


def test_a_serial_sweep_that_aborts_keeps_its_finished_rows_and_resumes(tmp_path: Path) -> None:
    import subprocess
    import sys

    journal = tmp_path / "rows.jsonl"
    script = tmp_path / "abort.py"
    script.write_text(SERIAL_ABORT)
    died = subprocess.run([sys.executable, str(script), str(journal), "4"], capture_output=True, timeout=120)
    assert died.returncode != 0  # the process aborted at x = 4
    kept = [json.loads(line) for line in journal.read_text().splitlines()]
    assert [r["x"] for r in kept] == [0, 1, 2, 3] and all(r["y"] == r["x"] ** 2 for r in kept)
    done = subprocess.run([sys.executable, str(script), str(journal), "-1"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "6"
    rows = [json.loads(line) for line in journal.read_text().splitlines()]
    assert [r["x"] for r in rows] == [0, 1, 2, 3, 4, 5]  # only the two missing points were solved


def test_cli_sweep_resumes_from_its_jsonl(tmp_path: Path, capfd: Any) -> None:
    out = tmp_path / "rows.jsonl"
    args = ["sweep", "ogaku_example1", "--grid", "game.deviations=10,20,30", "--out", out, "--chunks", "3"]
    code, _, _ = run_cli(capfd, *args)
    assert code == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 3
    out.write_text("\n".join(lines[:2]) + "\n" + lines[2][: len(lines[2]) // 2])  # a torn last line
    code, _, err = run_cli(capfd, *args, "--resume")
    assert code == 0 and "3 points" in err
    again = out.read_text().splitlines()
    assert again[:2] == lines[:2]  # the finished rows were kept as they were, not solved again
    assert json.loads(again[-1])["game.deviations"] == 30 and json.loads(again[-1])["status"] == "verified"


def test_cli_sweep_csv_is_written_atomically_and_its_journal_removed(tmp_path: Path, capfd: Any) -> None:
    out = tmp_path / "rows.csv"
    out.write_text("old contents\n")
    code, _, _ = run_cli(capfd, "sweep", "ogaku_example1", "--grid", "game.deviations=10,20", "--out", out)
    assert code == 0 and out.read_text().startswith("game.deviations,status")
    assert not (tmp_path / "rows.csv.partial.jsonl").exists()
    code, _, err = run_cli(capfd, "sweep", "ogaku_example1", "--grid", "game.deviations=10", "--out",
                           tmp_path / "rows.txt")
    assert code == 2 and ".csv or .jsonl" in err


def test_sigterm_stops_the_workers_and_keeps_finished_rows(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    out = tmp_path / "rows.jsonl"
    cmd = [sys.executable, "-m", "riskopt.cli", "sweep", "hurricane_pool",
           "--grid", "pool.measure.gamma=0.5:5:24", "--runner", "processes:2", "--chunks", "24",
           "--out", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and (not out.exists() or len(out.read_text().splitlines()) < 2):
        time.sleep(0.2)
    workers = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert len(err.strip().splitlines()) == 1 and "interrupted by SIGTERM" in err and "--resume" in err
    rows = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    assert len(rows) >= 2 and all(r["status"] == "optimal" for r in rows)
    time.sleep(0.5)
    alive = [pid for pid in workers if Path(f"/proc/{pid}").exists()
             and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()]
    assert alive == [], "orphaned workers"


def test_an_unreachable_scheduler_is_a_user_error_within_its_timeout(capfd: Any, monkeypatch: Any) -> None:
    pytest.importorskip("distributed")
    import riskopt.sweep

    monkeypatch.setattr(riskopt.sweep, "SCHEDULER_TIMEOUT_S", 1)
    t0 = time.perf_counter()
    code, out, err = run_cli(capfd, "sweep", "ogaku_example1", "--grid", "game.deviations=10,20",
                             "--scheduler", "tcp://127.0.0.1:1")
    assert code == 2 and out == "" and "scheduler = 'tcp://127.0.0.1:1'" in err
    assert time.perf_counter() - t0 < 10


@pytest.mark.parametrize("signame, whole_group", [("SIGINT", True), ("SIGTERM", False)])
def test_an_interrupted_dask_sweep_prints_one_line_and_leaves_no_process(tmp_path: Path, signame: str,
                                                                          whole_group: bool) -> None:
    """Ctrl-C at a terminal signals the whole foreground process group (the dask workers too); it
    printed distributed's tracebacks and warnings (workers, nanny, cancelled tasks) before the one
    line, and took the nanny's 4-s grace period. Now: one line, 130/143, every finished row kept,
    nothing of the sweep's process group left."""
    pytest.importorskip("distributed")
    import signal
    import subprocess
    import sys

    out = tmp_path / "rows.jsonl"
    cmd = [sys.executable, "-m", "riskopt.cli", "sweep", "hurricane_pool",
           "--grid", "pool.measure.gamma=0.5:5:60", "--runner", "dask:2", "--chunks", "60",
           "--out", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # its own process group, as a terminal job
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None and (
            not out.exists() or len(out.read_text().splitlines()) < 2):
        time.sleep(0.2)
    sig = getattr(signal, signame)
    if whole_group:
        os.killpg(proc.pid, sig)  # what Ctrl-C does
    else:
        proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    assert len(err.strip().splitlines()) == 1, err
    assert f"interrupted by {signame}" in err and "--resume" in err
    rows = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    assert len(rows) >= 2 and all(r["status"] == "optimal" for r in rows)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            os.killpg(proc.pid, 0)  # any process of the sweep's group (workers included) still there?
        except ProcessLookupError:
            break
        time.sleep(0.2)
    left = subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert left == [], f"orphaned processes {left}"
