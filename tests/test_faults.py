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
