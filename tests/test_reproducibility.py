"""Reproducibility (issue 8): the same card and seed give byte-identical JSON.

Every bundled card is run twice in one process through the CLI with ``--reproducible`` (wall-clock
timings left out); the two outputs must be equal byte for byte and record the card's seed. For the
card whose data are random (the synthetic storm), a different seed must change the output: the seed
is really what fixes the draws.
"""

from __future__ import annotations

import json
import tomllib

import pytest
from _cardkit import MODELS, cheap, write

from riskopt.cli import main

CARDS = sorted(p.stem for p in MODELS.glob("*.toml"))
#: bundled cards that take seconds: run in CI's slow lane as well, but marked
HEAVY = {"hurricane_pool_500", "niakh_storm212"}


def run_json(capsys: pytest.CaptureFixture[str], card: str) -> str:
    code = main(["run", card, "--format", "json", "--reproducible"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n
                                  for n in CARDS])
def test_bundled_card_twice_gives_identical_json(name, capsys):
    first = run_json(capsys, name)
    second = run_json(capsys, name)
    assert first == second
    out = json.loads(first)
    seed = tomllib.loads((MODELS / f"{name}.toml").read_text(encoding="utf-8"))["model"].get("seed")
    assert out["model"]["seed"] == seed
    assert "compile_s" not in out["solver"] and "solve_s" not in out["solver"]


def test_the_seed_fixes_the_storm_draws(capsys, tmp_path):
    card = cheap("niakh_storm212")
    base = run_json(capsys, str(write(tmp_path / "a.toml", card)))
    again = run_json(capsys, str(write(tmp_path / "b.toml", card)))
    card["model"]["seed"] += 1
    other = run_json(capsys, str(write(tmp_path / "c.toml", card)))

    def body(text: str) -> dict:
        out = json.loads(text)
        out.pop("model")  # the source path differs between the three files
        return out

    assert body(base) == body(again)
    assert body(base) != body(other)


@pytest.mark.slow
def test_the_blas_thread_count_does_not_change_the_json():
    """Issue 18: a multithreaded BLAS splits the storm copula's ``eigh``, ``cholesky`` and products
    by thread count, so ``OPENBLAS_NUM_THREADS=1`` and ``=2`` gave JSON differing in 6,783 values
    (up to 8e-8) before ``--reproducible`` pinned the thread pools to one thread
    (:func:`riskopt.data.pinned_threads`). Subprocesses: OpenBLAS reads the variable when it loads."""
    import os
    import subprocess
    import sys

    def run(threads: str) -> bytes:
        env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
        env["OPENBLAS_NUM_THREADS"] = threads
        proc = subprocess.run([sys.executable, "-m", "riskopt.cli", "run", "niakh_storm212", "--format",
                               "json", "--reproducible"], capture_output=True, env=env, timeout=300)
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")
        return proc.stdout

    assert run("1") == run("2")
