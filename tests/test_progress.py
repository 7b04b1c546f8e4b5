"""Progress bars: a sweep shows one on a terminal (a pseudo-terminal here) on every runner, updated as
chunks complete, and prints nothing but its result and summary line off a terminal or with --quiet."""

from __future__ import annotations

import io
import os
import pty
import re
import select
import subprocess
import sys
import time

import pytest

from riskopt.progress import bar, enabled, quiet
from riskopt.sweep import sweep

#: a cheap grid: four small pools, four chunks (four updates of the bar)
SWEEP = ["sweep", "hurricane_pool", "--grid", "pool.count=4,5,6,7", "--grid", "space.p.n=4", "--chunks", "4"]
PROGRESS = re.compile(r"sweep:\s+\d+%\|.*?\| (\d+)/4 ")
SUMMARY = re.compile(r"^4 points in [\d.]+ s; 0 failed, 0 not ok$")


def _riskopt(args: list[str], *, terminal: bool) -> tuple[int, str, str]:
    """``riskopt args`` in a subprocess whose stderr is a pseudo-terminal (or a pipe): (exit code,
    stdout, everything written to stderr)."""
    cmd = [sys.executable, "-m", "riskopt.cli", *args]
    if not terminal:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
        return done.returncode, done.stdout, done.stderr
    master, slave = pty.openpty()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(master)
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    code = proc.wait(timeout=60)
    return code, out, b"".join(chunks).decode(errors="replace")


@pytest.mark.parametrize("runner", ["serial", "processes:2", "dask:2"])
def test_sweep_shows_progress_on_a_terminal(runner):
    code, out, err = _riskopt([*SWEEP, "--runner", runner], terminal=True)
    assert code == 0, err
    counts = [int(n) for n in PROGRESS.findall(err)]
    assert counts and counts[0] == 0, err  # the bar opens at 0/4 ...
    assert any(0 < c < 4 for c in counts) or counts[-1] == 4, err  # ... and moves as chunks complete
    assert counts == sorted(counts)
    assert "\r" not in out and "%|" not in out  # never on stdout
    assert out.splitlines()[0].startswith("pool.count")


@pytest.mark.parametrize("runner", ["processes:2", "dask:2"])
def test_sweep_off_a_terminal_prints_only_the_result(runner):
    code, out, err = _riskopt([*SWEEP, "--runner", runner], terminal=False)
    assert code == 0, err
    assert [line for line in err.splitlines() if line.strip()] and SUMMARY.match(err.splitlines()[0]), err
    assert len(err.strip().splitlines()) == 1, err
    assert "%|" not in out and "\r" not in out
    assert len(re.findall(r"\boptimal\b", out)) == 4  # one status per point
    assert max(len(line) for line in out.splitlines()) <= 110  # the wide table comes in blocks


def test_quiet_silences_the_bar_on_a_terminal():
    code, _, err = _riskopt([*SWEEP, "--runner", "processes:2", "--quiet"], terminal=True)
    assert code == 0, err
    assert "%|" not in err
    assert SUMMARY.match(err.strip()), err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_python_api_quiet_and_progress(monkeypatch):
    fake = _Terminal()
    monkeypatch.setattr(sys, "stderr", fake)
    assert enabled()
    with quiet():
        assert not enabled()
        assert enabled(True)  # an explicit request wins
    rows = sweep(lambda p: {"y": p["x"] ** 2}, [{"x": i} for i in range(3)], quiet=True).rows
    assert [r["y"] for r in rows] == [0, 1, 4]
    assert fake.getvalue() == ""
    sweep(lambda p: {"y": p["x"]}, [{"x": i} for i in range(3)])
    assert "sweep:   0%" in fake.getvalue() and "0/3" in fake.getvalue()  # (faster updates are not drawn)
    with bar(5, "work", delay=0.0) as b:
        b.update(5)
    assert "work" in fake.getvalue()
