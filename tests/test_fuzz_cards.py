"""Fuzzing every bundled model card, of every mechanism (issue 8).

Each bundled card (``models/*.toml``) is parsed to a dict and mutated: keys dropped, values of the
wrong type (strings, unicode, booleans, dates, tables, lists), numbers at the edges (negative, zero,
NaN, inf, 1e308, 10**30 integers), sizes far beyond any limit (counts, bins, scenarios, regions,
cells, menu sizes), probabilities outside [0, 1], empty and long lists, deeply nested tables, lists
where tables go, unknown keys and other mechanisms' keywords. Contract checked:

* ``parse_card`` returns a :class:`~riskopt.cards.Card` or raises :class:`~riskopt.ModelError`
  (never another exception), quickly;
* ``riskopt run CARD --format json --plot out.png`` exits 0 or 2 (never 1, the internal error),
  prints at most one line on stderr, within a time bound; on an error nothing is on stdout and the
  figure is not written (nothing partial).

The CLI runs start from the bundled cards made cheaper where a bundled card takes seconds
(``CHEAP``: fewer farmers, scenarios, menu points): the mutations, not the size of the bundled
study, are under test. Examples are derandomized (fixed inputs: no flaky CI runs); the number of
cases run is counted in ``FUZZ_COUNTS`` and printed in the session summary (tests/conftest.py).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from _cardkit import MODELS, bundled, card_paths, cheap, write
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from riskopt import ModelError, RiskoptWarning
from riskopt.cards import Card, parse_card
from riskopt.cli import main
from riskopt.status import Status

CARDS = sorted(p.stem for p in MODELS.glob("*.toml"))
#: wall-clock bound of one CLI call (huge sizes must be refused by validation, not computed)
CALL_LIMIT_S = 30
#: wall-clock bound of one parse
PARSE_LIMIT_S = 10
#: fuzz cases run, per (kind, card): reported at the end of the module
FUZZ_COUNTS: Counter[tuple[str, str]] = Counter()


# ------------------------------------------------------------------------------ the mutations
NAN, INF = math.nan, math.inf
#: sizes far beyond every limit of every mechanism (and the edges 0, -1)
HUGE_SIZES = [10**7, 10**9, 2**31, 2**63, 10**30, -(10**30), 10**400, 0, -1]
EDGE_NUMBERS = [NAN, INF, -INF, 1e308, -1e308, 5e-324, -0.0, 0.0, -1.0, -0.5, 0.5, 1.0, 1.5, 2.0,
                1e-12, 1e12, -1e-9, 1 + 1e-12, 1e154]
EDGE_INTS = [*HUGE_SIZES, 1, 2, 3, 10**6, 20_001, 100_001, 5_000_001]
#: words the readers accept somewhere (a wrong one in the right place reaches deeper code)
KEYWORDS = sorted({
    "pareto", "price_and_choose", "reinsurance_market", "distortion_sharing", "distortion_portfolio",
    "disaster_taxation", "entropic", "es", "var", "expectation", "distortion", "maxmin", "choquet", "eu",
    "cvar", "power", "dual_power", "wang", "ph", "exponential", "inverse_s", "mixture", "cara", "crra",
    "bernoulli_hits", "common_shock_hits", "bernoulli_atoms", "discrete", "samples", "law",
    "censored_exponential", "uniform", "normal", "budget", "comonotone", "anchored_comonotone",
    "no_sabotage", "sign", "limited_liability", "individual_rationality", "welfare", "total_risk",
    "cvxpy", "highs", "pyomo", "CLARABEL", "ECOS", "SCS", "HIGHS", "spne", "vcg", "dual", "limit",
    "expected", "program", "direct", "closed_form", "newton", "fixed_point", "algorithm2",
    "median_default", "largest", "repair", "raise", "single", "blocks", "sample", "lattice",
    "dirichlet", "none", "common", "own_hit_prior", "credal", "own_hit", "box", "conic", "atom_uniform",
    "reinsurer 1", "insurer 1", "farmer {i}", "{i}", "{}", "{i:>99999}", "{0}", "midpoint", "mean",
})
STRINGS = ["", " ", "x", "ǅé€😀\u200b", "\x00", "\n", "1.0", "nan", "-1", "1e308", "a" * 5000, *KEYWORDS]
TABLE_KEYS = ["name", "kind", "n", "seed", "size", "count", "values", "probs", "p", "loss", "law", "measure",
              "gamma", "level", "h", "a", "b", "rate", "cap", "lo", "hi", "uniform", "normal", "weights",
              "regions", "scenarios", "cells", "nodes", "bins", "grid", "m", "deviations", "capacity",
              "loading", "beliefs", "states", "solve", "bound", "options", "backend", "solver", "tol",
              "method", "gama", "unknown", "é", ""]


def _deep(value: Any, depth: int) -> Any:
    for _ in range(depth):
        value = {"a": value}
    return value


scalars = st.one_of(
    st.sampled_from(EDGE_NUMBERS), st.sampled_from(EDGE_INTS), st.sampled_from(STRINGS),
    st.booleans(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 300),
    st.text(max_size=8),
    st.sampled_from([dt.date(2024, 1, 1), dt.time(12, 0), dt.datetime(2024, 1, 1, 0, 0)]),
)
random_specs = st.builds(lambda kind, lo, hi, n: {kind: [lo, hi], "n": n},
                         st.sampled_from(["uniform", "normal"]), st.sampled_from(EDGE_NUMBERS),
                         st.sampled_from(EDGE_NUMBERS), st.sampled_from(EDGE_INTS))
values = st.recursive(
    st.one_of(scalars, random_specs),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.sampled_from(TABLE_KEYS), inner, max_size=3)),
    max_leaves=6,
)
OPS = ["drop", "replace", "replace", "edge", "edge", "size", "retype", "keyword", "list_length",
       "table", "list", "deep", "add", "scale"]
#: edits that keep the type: cards often stay valid and the mechanism runs on edge values
GENTLE_OPS = ["edge", "edge", "edge", "scale", "scale", "keyword", "size", "drop", "list_length"]


def _get(card: Any, path: tuple) -> Any:
    for k in path:
        card = card[k]
    return card


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def mutate(draw: st.DrawFn, card: dict[str, Any], max_ops: int,
           gentle: bool = False) -> tuple[dict[str, Any], list[str]]:
    """1 to ``max_ops`` mutations of ``card`` (in place); returns it and a log of what was done.
    ``gentle``: only edits that keep a leaf's type (edge values, rescaling, keywords, sizes)."""
    log = []
    for _ in range(draw(st.integers(1, max_ops))):
        paths = card_paths(card)[1:]
        if gentle:
            leaves = [p for p in paths if not isinstance(_get(card, p), dict)]
            paths = leaves or paths
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent: Any = card
        for k in path[:-1]:
            parent = parent[k]
        key = path[-1]
        old = parent[key]
        op = draw(st.sampled_from(GENTLE_OPS if gentle else OPS))
        if op == "drop":
            del parent[key]
        elif op == "replace":
            parent[key] = draw(values)
        elif op == "edge":  # same kind of value, at an edge: passes the type check, reaches the checks
            if isinstance(old, list) and old and _is_number(old[0]):
                i = draw(st.integers(0, len(old) - 1))
                parent[key] = [*old[:i], draw(st.sampled_from(EDGE_NUMBERS)), *old[i + 1:]]
            elif isinstance(old, int) and not isinstance(old, bool):
                parent[key] = draw(st.sampled_from(EDGE_INTS))
            else:
                parent[key] = draw(st.sampled_from(EDGE_NUMBERS))
        elif op == "size":
            parent[key] = draw(st.sampled_from(HUGE_SIZES))
        elif op == "retype":  # 2 -> 2.0, 0.1 -> 0, 1.5 -> "1.5", a table -> a list of it, [x] -> x
            if isinstance(old, bool):
                parent[key] = int(old)
            elif isinstance(old, int):
                parent[key] = float(old)
            elif isinstance(old, float):
                parent[key] = draw(st.sampled_from([int(old) if math.isfinite(old) else 0, str(old)]))
            elif isinstance(old, list):
                parent[key] = old[0] if old else {}
            elif isinstance(old, dict):
                parent[key] = [old]
            else:
                parent[key] = draw(st.sampled_from([1, 1.0, True, []]))
        elif op == "keyword":
            if gentle and not isinstance(old, str):
                op = "edge"
                parent[key] = draw(st.sampled_from(EDGE_NUMBERS))
            else:
                parent[key] = draw(st.sampled_from(KEYWORDS))
        elif op == "list_length":  # empty, truncated, repeated far beyond every count
            seq = old if isinstance(old, list) else [old]
            n = draw(st.sampled_from([0, 1, 2, 3, 25, 20_001]))
            parent[key] = [] if not seq else (seq * (n // len(seq) + 1))[:n]
        elif op == "table":
            parent[key] = {draw(st.sampled_from(TABLE_KEYS)): old}
        elif op == "list":
            parent[key] = [old]
        elif op == "deep":
            parent[key] = _deep(old, draw(st.sampled_from([2, 30, 200])))
        elif op == "add":
            target = old if isinstance(old, dict) else parent if isinstance(parent, dict) else card
            target[draw(st.sampled_from(TABLE_KEYS))] = draw(values)
        else:  # scale a number (often keeps the card valid: deeper code runs)
            factor = draw(st.sampled_from([-1, 0, 2, 10, 1000, 10**6]))
            if _is_number(old):
                parent[key] = old * factor
        log.append(f"{op} {'.'.join(map(str, path))}")
    return card, log


@st.composite
def mutated(draw: st.DrawFn, name: str, *, base: str = "bundled", max_ops: int = 3) -> dict[str, Any]:
    card = bundled(name) if base == "bundled" else cheap(name)
    return mutate(draw, card, max_ops, gentle=draw(st.booleans()))[0]


# ------------------------------------------------------------------------------- the checks
def parse_or_model_error(card: dict[str, Any]) -> Card | None:
    """``parse_card`` returns a Card or raises ModelError (one line), within the bound."""
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RiskoptWarning)
            result = parse_card(copy.deepcopy(card))
    except ModelError as err:
        assert str(err) and "\n" not in str(err)
        result = None
    else:
        assert isinstance(result, Card)
    assert time.perf_counter() - t0 < PARSE_LIMIT_S
    return result


def cli_contract(capfd: pytest.CaptureFixture[str], directory: Path, card: dict[str, Any]) -> int:
    """``riskopt run card --format json --plot out.png``: exit 0, 2 or 3, within the bound.
    2 (user error): one stderr line, nothing on stdout or disk. 3 (finished, status not ok): one JSON
    object on stdout whose status is not ok, the not-ok line on stderr (and at most one warnings
    line). 0: one JSON object and the figure."""
    file = write(directory / "card.toml", card)
    figure = directory / "out.png"
    if figure.exists():
        figure.unlink()
    t0 = time.perf_counter()
    code = main(["run", str(file), "--format", "json", "--reproducible", "--plot", str(figure)])
    elapsed = time.perf_counter() - t0
    out, err = capfd.readouterr()
    assert code in (0, 2, 3), err
    said = [line for line in err.splitlines() if not line.startswith("riskopt: wrote ")]
    assert len(said) <= (2 if code == 3 else 1) and "Traceback" not in err, err
    assert (f"riskopt: wrote {figure}" in err) == figure.exists(), err  # --plot says what it wrote
    assert elapsed < CALL_LIMIT_S, (elapsed, err)
    if code == 2:
        assert out == "" and said[0].startswith("riskopt: error: "), (out, err)
        assert not figure.exists()
    elif code == 3:
        assert out.count("\n") == 1 and said[0].startswith("riskopt: not ok: "), (out, err)
        assert not Status(json.loads(out)["status"]).ok
    else:
        assert out.count("\n") == 1 and out.startswith("{") and figure.exists()
        assert Status(json.loads(out)["status"]).ok
    return code


# -------------------------------------------------------------------------------- the tests
SUPPRESS = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large]
PARSE_EXAMPLES = 40
CLI_EXAMPLES = 6


@pytest.mark.parametrize("name", CARDS)
def test_fuzz_parse_card_returns_a_card_or_raises_model_error(name):
    @settings(max_examples=PARSE_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=SUPPRESS)
    @given(mutated(name))
    def check(card):
        FUZZ_COUNTS["parse", name] += 1
        parse_or_model_error(card)

    check()


@pytest.mark.parametrize("name", CARDS)
def test_fuzz_cli_exits_0_2_or_3_in_time_and_writes_nothing_partial(name, capfd, tmp_path):
    @settings(max_examples=CLI_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=SUPPRESS)
    @given(mutated(name, base="cheap", max_ops=2))
    def check(card):
        FUZZ_COUNTS["cli", name] += 1
        cli_contract(capfd, tmp_path, card)

    check()
