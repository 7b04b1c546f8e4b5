"""The text tables of every bundled card (at a cheap size): every column is explained in
docs/tables.md, no line is wider than 110 characters, numbers have at most --digits significant
digits, and long tables are cut the same way everywhere (--all prints every row)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from _cardkit import MODELS, cheap, dumps, run_cli

from riskopt.report import format_table, number, plural, table_options

GLOSSARY = Path(__file__).resolve().parents[1] / "docs" / "tables.md"
CARDS = sorted(p.stem for p in MODELS.glob("*.toml"))
WIDTH = 110
RULE = re.compile(r"-+(?: +-+)*")
NUMBER = re.compile(r"(?<![\w.\[])-?\d+\.\d+(?:e[-+]?\d+)?(?![\w.])|(?<![\w.])-?\d+e[-+]?\d+(?![\w.])")
CALL = re.compile(r"\w+\([^()]*\)")  # descriptions of inputs: entropic(gamma=0.68), power(a=1.2)


def glossary() -> set[str]:
    return set(re.findall(r"^\| `([^`]+)` \|", GLOSSARY.read_text(), re.M))


def columns(text: str) -> set[str]:
    """The header of every table: the line above a rule of dashes."""
    lines = text.splitlines()
    return {c for i in range(1, len(lines)) if RULE.fullmatch(lines[i])
            for c in re.split(r"\s{2,}", lines[i - 1].strip())}


def significant(token: str) -> int:
    mantissa = token.lstrip("-").split("e")[0]
    return len(mantissa.replace(".", "").lstrip("0")) or 1


def results(text: str) -> list[str]:
    """The numbers of a report, leaving out its title (a path) and the descriptions of its inputs."""
    body = [line for line in text.splitlines()[1:] if not line.startswith(("law ", "  g = "))]
    out = []
    for line in body:
        while CALL.search(line):
            line = CALL.sub("", line)
        out += NUMBER.findall(line)
    return out


@pytest.fixture(scope="module")
def cards(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cheap")
    paths = {}
    for name in CARDS:
        paths[name] = folder / f"{name}.toml"
        paths[name].write_text(dumps(cheap(name)))
    return paths


@pytest.mark.parametrize("name", CARDS)
def test_every_column_is_explained_and_no_line_is_too_wide(capfd, cards, name):
    code, out, _ = run_cli(capfd, "run", cards[name])
    assert code == 0
    names = {re.sub(r"^T\[.*\]$", "T[<region>]", c) for c in columns(out)}
    assert names or name == "grw_portfolio", out  # (the portfolio report has no table)
    assert not names - glossary(), f"columns not in docs/tables.md: {sorted(names - glossary())}"
    wide = [line for line in out.splitlines()[1:] if len(line) > WIDTH]
    assert not wide, wide
    assert all(significant(t) <= 6 for t in results(out)), [t for t in results(out) if significant(t) > 6]


@pytest.mark.parametrize("name", CARDS)
def test_digits_sets_the_significant_digits(capfd, cards, name):
    code, out, _ = run_cli(capfd, "run", cards[name], "--digits", "3")
    assert code == 0
    numbers = results(out)
    assert numbers
    assert all(significant(t) <= 3 for t in numbers), [t for t in numbers if significant(t) > 3]


def test_long_tables_are_cut_alike_and_all_prints_every_row(capfd, tmp_path):
    card = cheap("hurricane_pool_500")
    card["pool"]["count"] = card["space"]["p"]["n"] = 21
    path = tmp_path / "pool21.toml"
    path.write_text(dumps(card))
    _, out, _ = run_cli(capfd, "run", path)
    farmers = re.findall(r"^farmer (\d+) ", out, re.M)
    assert farmers == [str(i) for i in [*range(1, 11), *range(17, 22)]]
    assert "... 6 more farmers (use --all)" in out
    _, out_all, _ = run_cli(capfd, "run", path, "--all")
    assert re.findall(r"^farmer (\d+) ", out_all, re.M) == [str(i) for i in range(1, 22)]
    assert "more farmers" not in out_all


def test_bad_digits_is_a_user_error(capfd):
    code, out, err = run_cli(capfd, "run", "ogaku_example1", "--digits", "0")
    assert code == 2 and out == "" and "--digits" in err and len(err.strip().splitlines()) == 1


def test_format_table_splits_wide_tables_and_aligns_numbers():
    rows = [{"name": f"agent {i}", **{f"column_{j}": i / 7 + j for j in range(12)}} for i in range(3)]
    text = format_table(rows, list(rows[0]))
    lines = text.splitlines()
    assert max(map(len, lines)) <= WIDTH
    assert text.count("\nagent 2") == text.count("name") >= 2  # each block repeats the names
    assert sum(line.startswith("name") for line in lines) >= 2
    assert "0.285714" in text and "0.2857142857" not in text
    with table_options(digits=3):
        assert number(1 / 7) == "0.143" and number(-0.0) == "0" and number(None) == "-"
        assert number(1 / 7, 10) == "0.143"  # the setting caps explicit digits
    assert plural(1, "state") == "1 state" and plural(2, "state") == "2 states"
