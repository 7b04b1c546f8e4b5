"""Fuzzing every bundled model card, of every mechanism (issue 8).

Each bundled card (``models/*.toml``) is parsed to a dict and mutated: keys dropped, values of the
wrong type (strings, unicode, booleans, dates, tables, lists), numbers at the edges (negative, zero,
NaN, inf, 1e308, 10**30 integers), sizes far beyond any limit (counts, bins, scenarios, regions,
cells, menu sizes), probabilities outside [0, 1], empty and long lists, deeply nested tables, lists
where tables go, unknown keys and other mechanisms' keywords. Contract checked:

* ``parse_card`` returns a :class:`~riskopt.cards.Card` or raises :class:`~riskopt.ModelError`
  (never another exception), quickly;
* ``riskopt run CARD --format json --plot out.png`` exits 0, 2 or 3 (never 1, the internal error),
  within a time bound: 2 is one error line on stderr, nothing on stdout and no figure (nothing
  partial); 3 one JSON object and the not-ok line; 0 one JSON object and the figure; a warnings line
  at most (never on 2); no temporary file left.

Numeric mutations (issue 18, :func:`numeric_mutate`) keep every value valid-looking but hostile:
probabilities of 1e-300, 5e-324, 1e-12 and 1 - 1e-15 (a probability vector renormalised around
them), magnitudes from 5e-324 to 1e150 next to values ~1 or a whole list rescaled, ties (a list all
equal, every agent alike), one state, one agent, counts of 1 or 2, edge seeds. Besides the contract
above, an ok result's numbers must be finite (:func:`finite_contract`). Cases that failed once are
pinned in ``NUMERIC_PINNED``.

The CLI runs start from the bundled cards made cheaper where a bundled card takes seconds
(``CHEAP``: fewer farmers, scenarios, menu points): the mutations, not the size of the bundled
study, are under test. Examples are derandomized (fixed inputs: no flaky CI runs); the number of
cases run is counted in ``FUZZ_COUNTS`` and printed in the session summary (tests/conftest.py).
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import functools
import io
import json
import math
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _cardkit import MODELS, bundled, card_paths, cheap, run_cli, write
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from riskopt import ModelError, RiskoptWarning
from riskopt.cards import Card, parse_card, set_path
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


# ------------------------------------------------------------------ numeric mutations (issue 18)
#: card fields holding a probability, a level or a probability vector (a ``{uniform = [lo, hi]}``
#: draw of them too)
PROB_KEYS = {"p", "probs", "p0", "p_storm", "p_calm", "storm_prob", "level", "prune", "low", "high"}
#: probabilities that are valid but hostile: underflowing, subnormal, tiny, next to 1
TINY_PROBS = [1e-300, 5e-324, 1e-12, 1 - 1e-15]
#: valid-looking magnitudes for losses, parameters, weights, wealths, rates, prices (the sign kept)
MAGNITUDES = [1e15, 1e150, 1e6, 1e-6, 1e-12, 1e-300, 5e-324]
#: rescalings of a whole list or value: everything huge or tiny at once
FACTORS = [1e6, 1e-6, 1e15, 1e-12, 1e150]
#: integer fields a card may shrink to one (one state, one agent, one cell, one scenario)
COUNT_KEYS = {"count", "n", "regions", "scenarios", "cells", "grid", "bins", "size", "deviations", "m"}
SEEDS = [0, 1, 2**32 - 1, 2**63 - 1]
#: per-agent and per-state lists, cut with the agents or the states
PER_AGENT = {"p", "low", "high", "p_storm", "p_calm", "weights", "caps"}
PER_STATE = {"endowment"}
NUMERIC_OPS = ["prob", "prob", "magnitude", "magnitude", "scale", "ties", "one"]


def _field(path: tuple) -> str:
    """The card field a leaf belongs to: ``space.p.uniform[0]`` -> ``p``."""
    names = [k for k in path if isinstance(k, str) and k not in ("uniform", "normal")]
    return names[-1] if names else ""


def _is_prob(path: tuple) -> bool:
    return _field(path) in PROB_KEYS


def _cut(card: dict[str, Any], n: int, fields: set[str]) -> None:
    """Every list of length ``n`` in one of ``fields`` cut to its first entry."""
    for path in card_paths(card)[1:]:
        if not isinstance(path[-1], int) and _field(path) in fields \
                and isinstance(v := _get(card, path), list) and len(v) == n:
            _get(card, path[:-1])[path[-1]] = v[:1]


def numeric_mutate(draw: st.DrawFn, card: dict[str, Any], max_ops: int) -> tuple[dict[str, Any], list[str]]:
    """1 to ``max_ops`` numeric edits of ``card`` (in place) that keep every value valid-looking:
    probabilities tiny, subnormal or next to 1 (a probability vector renormalised around them),
    magnitudes from 5e-324 to 1e150 (one value next to its neighbours ~1, or a whole list rescaled),
    ties (a list all equal, every agent alike), one state / one agent / counts of 1 or 2, edge seeds.
    Returns the card and a log of what was done."""
    log = []
    for _ in range(draw(st.integers(1, max_ops))):
        paths = card_paths(card)[1:]
        leaves = [p for p in paths if _is_number(_get(card, p)) and _field(p) not in ("seed",)]
        floats = [p for p in leaves if isinstance(_get(card, p), float)]
        probs = [p for p in floats if _is_prob(p)]
        number_lists = [p for p in paths if isinstance(v := _get(card, p), list) and len(v) >= 2
                        and all(_is_number(x) for x in v)]
        table_lists = [p for p in paths if isinstance(v := _get(card, p), list) and len(v) >= 2
                       and all(isinstance(x, dict) for x in v)]
        counts = [p for p in leaves if isinstance(_get(card, p), int) and _field(p) in COUNT_KEYS]
        seeds = [p for p in paths if _field(p) == "seed" and isinstance(_get(card, p), int)]
        spaces = [p for p in paths if isinstance(v := _get(card, p), dict)
                  and isinstance(v.get("values"), list) and isinstance(v.get("probs"), list)]
        op = draw(st.sampled_from(NUMERIC_OPS))
        if op == "prob" and not probs:
            op = "magnitude"
        if op == "one" and not (counts or table_lists or spaces or seeds):
            op = "ties"
        if op == "ties" and not (number_lists or table_lists):
            op = "magnitude"
        if op == "magnitude" and not floats:
            break
        if op == "prob":
            path = draw(st.sampled_from(probs))
            value = draw(st.sampled_from(TINY_PROBS))
            parent = _get(card, path[:-1])
            if _field(path) == "probs" and isinstance(parent, list) and len(parent) > 1:
                # a probability vector: the others rescaled so that it still sums to 1
                i, rest = path[-1], math.fsum(parent) - parent[path[-1]]
                share = [x / rest if rest > 0 else 1 / (len(parent) - 1) for x in parent]
                parent[:] = [value if j == i else (1 - value) * share[j] for j in range(len(parent))]
            else:
                parent[path[-1]] = value
            log.append(f"prob {'.'.join(map(str, path))} = {value!r}")
        elif op == "magnitude":  # one value huge or tiny, next to values ~1
            path = draw(st.sampled_from([p for p in floats if not _is_prob(p)] or floats))
            old = _get(card, path)
            value = math.copysign(draw(st.sampled_from(MAGNITUDES)), old)
            _get(card, path[:-1])[path[-1]] = value
            log.append(f"magnitude {'.'.join(map(str, path))} = {value!r}")
        elif op == "scale":  # a whole value or list, probabilities excepted, rescaled
            targets = [p for p in number_lists + floats if not _is_prob(p)]
            if not targets:
                continue
            path = draw(st.sampled_from(targets))
            factor = draw(st.sampled_from(FACTORS))
            old = _get(card, path)
            new = [float(x) * factor for x in old] if isinstance(old, list) else old * factor
            _get(card, path[:-1])[path[-1]] = new
            log.append(f"scale {'.'.join(map(str, path))} * {factor!r}")
        elif op == "ties":
            path = draw(st.sampled_from(number_lists + table_lists))
            old = _get(card, path)
            if isinstance(old[0], dict):  # every agent (insurer, region...) alike, names kept
                first = {k: v for k, v in old[0].items() if k != "name"}
                names = [{"name": t["name"]} if "name" in t else {} for t in old]
                _get(card, path[:-1])[path[-1]] = [{**copy.deepcopy(first), **n} for n in names]
            elif _field(path) == "probs":
                _get(card, path[:-1])[path[-1]] = [1.0 / len(old)] * len(old)
            else:
                _get(card, path[:-1])[path[-1]] = [old[0]] * len(old)
            log.append(f"ties {'.'.join(map(str, path))}")
        else:  # one state, one agent, one cell; or an edge seed
            which = draw(st.sampled_from(["count"] * bool(counts) + ["agents"] * bool(table_lists)
                                         + ["states"] * bool(spaces) + ["seed"] * bool(seeds)))
            if which == "count":  # a pool's count and its number of draws n move together
                path, value = draw(st.sampled_from(counts)), draw(st.sampled_from([1, 2]))
                alike = ("count", "n") if _field(path) in ("count", "n") else (_field(path),)
                for other in counts:
                    if _field(other) in alike:
                        _get(card, other[:-1])[other[-1]] = value
                log.append(f"one {'.'.join(map(str, path))} = {value}")
            elif which == "agents":  # the first agent (insurer, region...) only, and its own lists
                path = draw(st.sampled_from(table_lists))
                n = len(_get(card, path))
                _get(card, path[:-1])[path[-1]] = _get(card, path)[:1]
                _cut(card, n, PER_AGENT)
                log.append(f"one {'.'.join(map(str, path))}")
            elif which == "states":  # one value of probability 1 (and endowments of one state)
                path = draw(st.sampled_from(spaces))
                space = _get(card, path)
                n = len(space["values"])
                space["values"], space["probs"] = space["values"][:1], [1.0]
                _cut(card, n, PER_STATE)
                log.append(f"one state {'.'.join(map(str, path))}")
            else:
                path, value = draw(st.sampled_from(seeds)), draw(st.sampled_from(SEEDS))
                _get(card, path[:-1])[path[-1]] = value
                log.append(f"seed {'.'.join(map(str, path))} = {value}")
    return card, log


@st.composite
def numeric_mutated(draw: st.DrawFn, name: str, *, base: str = "bundled", max_ops: int = 2) -> dict[str, Any]:
    card = bundled(name) if base == "bundled" else cheap(name)
    return numeric_mutate(draw, card, max_ops)[0]


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
    line). 0: one JSON object and the figure (and at most one warnings line)."""
    return run_contract(capfd, directory, card)[0]


def run_contract(capfd: pytest.CaptureFixture[str], directory: Path, card: dict[str, Any], *,
                 plot: bool = True) -> tuple[int, dict[str, Any] | None, list[str]]:
    """:func:`cli_contract`, returning the exit code, the JSON document printed (``None`` on 2) and
    the warnings line (if any); without ``--plot`` unless ``plot``."""
    file = write(directory / "card.toml", card)
    figure = directory / "out.png"
    if figure.exists():
        figure.unlink()
    t0 = time.perf_counter()
    code = main(["run", str(file), "--format", "json", "--reproducible", *(["--plot", str(figure)] * plot)])
    elapsed = time.perf_counter() - t0
    out, err = capfd.readouterr()
    assert code in (0, 2, 3), err
    said = [line for line in err.splitlines() if not line.startswith("riskopt: wrote ")]
    warned = [line for line in said if line.startswith("riskopt: warning: ")]
    assert "Traceback" not in err and len(warned) <= (0 if code == 2 else 1), err
    assert (f"riskopt: wrote {figure}" in err) == figure.exists(), err  # --plot says what it wrote
    left = sorted(p.name for p in directory.iterdir() if p.name not in ("card.toml", "out.png"))
    assert not left, left  # no temporary file left behind
    assert elapsed < CALL_LIMIT_S, (elapsed, err)
    if code == 2:
        assert out == "" and len(said) == 1 and said[0].startswith("riskopt: error: "), (out, err)
        assert not figure.exists()
        return code, None, warned
    doc = json.loads(out)
    assert out.count("\n") == 1 and out.startswith("{"), out
    if code == 3:
        assert len(said) == 1 + len(warned) and said[0].startswith("riskopt: not ok: "), (out, err)
        assert not Status(doc["status"]).ok
    else:
        assert said == warned and figure.exists() == plot, err
        assert Status(doc["status"]).ok
    return code, doc, warned


def _leaves(doc: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(path, value) of every leaf of a JSON document; list entries are ``[]``."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _leaves(v, f"{path}.{k}")
    elif isinstance(doc, list):
        for v in doc:
            yield from _leaves(v, f"{path}[]")
    else:
        yield path, doc


@functools.cache
def numeric_fields(name: str) -> frozenset[str]:
    """The JSON paths that hold numbers when the cheap card ``name`` runs unchanged."""
    out = io.StringIO()
    with (tempfile.TemporaryDirectory() as folder, contextlib.redirect_stdout(out),
          contextlib.redirect_stderr(io.StringIO())):
        code = main(["run", str(write(Path(folder) / "card.toml", cheap(name))), "--format", "json",
                     "--reproducible"])
    assert code == 0, name
    return frozenset(p for p, v in _leaves(json.loads(out.getvalue())) if _is_number(v))


#: fields null by design in some runs: no polished point (``polish.residual_after``: the solver
#: point was kept), a pruned atom (``prices.state_density``: its note says so), a distortion
#: sharing of risk-averse agents (no jackpot ``agents[].probability``, no closed-form
#: ``inf_convolution.counter_monotone``: both only for risk seekers), an equilibrium weight beyond
#: the float range (``agents[].weight``; its ``log_weight`` is given)
NULLABLE = {"residual_after", "certificate_after", "residual_before", "certificate_before", "state_density[]",
            "probability", "counter_monotone", "weight"}


def finite_contract(name: str, doc: dict[str, Any]) -> None:
    """The numbers of an ok result are finite: JSON writes a non-finite number as ``null``
    (:func:`riskopt.data.jsonable`), so no list mixes numbers and nulls and no field that holds a
    number for the unchanged card is null."""
    numbers = numeric_fields(name)
    nulls = {p for p, v in _leaves(doc) if v is None and p.rsplit(".", 1)[-1] not in NULLABLE}
    assert not nulls & numbers, sorted(nulls & numbers)
    prices = doc.get("prices")
    density = prices.get("state_density") if isinstance(prices, dict) else None
    stack: list[Any] = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            kinds = {"number" if _is_number(v) else "null" if v is None else "other" for v in node}
            assert not {"number", "null"} <= kinds or node is density, node[:20]
            stack.extend(node)


# -------------------------------------------------------------------------------- the tests
SUPPRESS = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large]
PARSE_EXAMPLES = 40
CLI_EXAMPLES = 6
NUMERIC_PARSE_EXAMPLES = 20
NUMERIC_EXAMPLES = 8
#: the cards whose cheap runs still take about a second (storms, reinsurance grids): fewer examples
NUMERIC_SLOW = {"andraos2025_capacity": 4, "niakh_storm212": 4, "taxation_constrained": 4}
#: the numeric CLI cases draw the figure (--plot) once in PLOT_EVERY
PLOT_EVERY = 4


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


@pytest.mark.parametrize("name", CARDS)
def test_fuzz_numeric_parse_card_returns_a_card_or_raises_model_error(name):
    @settings(max_examples=NUMERIC_PARSE_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=SUPPRESS)
    @given(numeric_mutated(name, max_ops=3))
    def check(card):
        FUZZ_COUNTS["numeric-parse", name] += 1
        parse_or_model_error(card)

    check()


@pytest.mark.parametrize("name", CARDS)
def test_fuzz_numeric_cli_exits_0_2_or_3_with_finite_numbers(name, capfd, tmp_path):
    """Hostile but valid-looking numbers (:func:`numeric_mutate`) on the cheap card: the CLI contract
    (:func:`run_contract`), and an ok result's numbers are finite (:func:`finite_contract`)."""
    numeric_fields(name)

    @settings(max_examples=NUMERIC_SLOW.get(name, NUMERIC_EXAMPLES), deadline=None, derandomize=True,
              database=None, suppress_health_check=SUPPRESS)
    @given(numeric_mutated(name, base="cheap"))
    def check(card):
        FUZZ_COUNTS["numeric", name] += 1
        plot = FUZZ_COUNTS["numeric", name] % PLOT_EVERY == 1  # a figure takes 0.2 to 1.5 s
        code, doc, _ = run_contract(capfd, tmp_path, card, plot=plot)
        if code == 0:
            finite_contract(name, doc)

    check()


#: numeric cases that failed once (issue 18), pinned: the cheap card, its edits, the exit code now
NUMERIC_PINNED: dict[str, tuple[str, dict[str, Any], int]] = {
    # keep_atoms indexed an empty array (IndexError, exit 1): the tolerance pruned every atom
    "pandc-prune-next-to-1": ("hurricane_pool_500", {"space.prune": 1 - 1e-15}, 2),
    # HiGHS failed on the extreme data and cvxpy raised SolverError on unpacking (exit 1)
    "reinsurance-rate-1e150": ("andraos2025_two_reinsurers",
                               {"insurers[0].loss.rate": 1e150, "insurers[0].measure.level": 1e-300}, 3),
    # the exponential quantile at u = 1 warned 'divide by zero encountered in log1p' on stderr
    "reinsurance-level-1e-300": ("andraos2025_capacity", {"insurers[0].measure.level": 1e-300}, 0),
    # scale / level overflowed and 0 * inf put NaN in the layer LP's costs: exit 2 naming an internal
    # array ('cost = array of shape (799, 1) ... Parameter value must be real') for a valid card
    "reinsurance-level-subnormal": ("andraos2025_stackelberg",
                                    {"insurers[0].measure.level": 5e-324, "insurers[0].loss.rate": 1e6}, 0),
}


@pytest.mark.parametrize("case", NUMERIC_PINNED)
def test_numeric_cases_that_failed_once(case, capfd, tmp_path):
    name, edits, expected = NUMERIC_PINNED[case]
    card = cheap(name)
    for field, value in edits.items():
        set_path(card, field, value)
    FUZZ_COUNTS["numeric", f"pinned {case}"] += 1
    code, doc, warned = run_contract(capfd, tmp_path, card, plot=False)
    assert code == expected and not warned, warned
    if code == 0:
        finite_contract(name, doc)


# --------------------------------------------------------------------- resource mutations (budget)
#: size fields of the bundled cards and values within the readers' limits (so that only the memory
#: budget stands between them and an allocation of gigabytes): field -> values
RESOURCE_FIELDS = {
    "pool.count": [3_000, 20_000],
    "space.n": [2_000_000, 5_000_000],
    "storm.scenarios": [3_000_000, 5_000_000],
    "storm.regions": [20_000],
    "market.cells": [100_000],
    "menu.size": [100_000],
}
#: the limit the cases run under: every mutation above asks for more
RESOURCE_LIMIT = "1G"


def _resource_cases() -> list[tuple[str, str, Any]]:
    cases = []
    for name in CARDS:
        card = bundled(name)
        for field, values in RESOURCE_FIELDS.items():
            head, _, key = field.partition(".")
            if isinstance(card.get(head), dict) and key in card[head]:
                cases += [(name, field, v) for v in values]
    return cases


@pytest.mark.parametrize(("name", "field", "value"), _resource_cases())
def test_resource_mutations_are_refused_by_the_budget_before_allocating(name, field, value, capfd,
                                                                           tmp_path):
    """A size within the reader's limits but beyond ``--max-memory``: one line naming the field
    (or the fields the estimate multiplies), exit 2, nothing written, quickly."""
    card = bundled(name)
    if field == "pool.count" and card.get("space", {}).get("p") is not None:  # one hit probability each
        card["space"]["p"] = {"uniform": [0.02, 0.2], "n": value}
    set_path(card, field, value)
    FUZZ_COUNTS["resource", name] += 1
    path = write(tmp_path / "card.toml", card)
    t0 = time.perf_counter()
    code, out, err = run_cli(capfd, "run", path, "--max-memory", RESOURCE_LIMIT, "--format", "json",
                             "--plot", tmp_path / "out.png")
    said = err.splitlines()
    assert code == 2 and out == "" and len(said) == 1, (code, err)
    assert said[0].startswith("riskopt: error: ") and field.split(".")[0] in said[0], said
    assert not (tmp_path / "out.png").exists()
    assert time.perf_counter() - t0 < PARSE_LIMIT_S, err
