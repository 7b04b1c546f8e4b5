"""Helpers shared by test_cards.py and test_cli.py: a small TOML writer, the table of bad cards,
small good cards, and the hypothesis strategy that mutates cards for the fuzz tests.

The standard library reads TOML (tomllib) but does not write it; ``dumps`` covers what model cards
use (tables, arrays, inline tables, strings, integers, floats with nan/inf, booleans, dates).
"""

from __future__ import annotations

import copy
import datetime as dt
import importlib.util
import math
import tomllib
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from riskopt.cardschema import missing_extras

MODELS = Path(__file__).resolve().parents[1] / "models"
DEMO = MODELS / "hurricane_pool.toml"
#: wall-clock bound of one in-process CLI call in the tests
CALL_LIMIT_S = 20
#: CLIMADA (the climada extra) is importable: the cards of kind "climada" run
HAS_CLIMADA = importlib.util.find_spec("climada") is not None


def runnable(names: list[str]) -> list[str]:
    """The bundled cards among ``names`` this machine can run: none of the extras they need
    (riskopt.cardschema.missing_extras) is missing (tests/test_climada_cards.py checks the one-line
    refusal of a card whose extra is missing)."""
    return [n for n in names if not missing_extras(bundled(n))]


def bundled(name: str) -> dict[str, Any]:
    """A bundled card (``models/<name>.toml``) as a parsed TOML document (a fresh copy)."""
    return tomllib.loads((MODELS / f"{name}.toml").read_text(encoding="utf-8"))


def demo_dict() -> dict[str, Any]:
    """The bundled demo card as a parsed TOML document (a fresh copy)."""
    return bundled(DEMO.stem)


#: cheaper versions of the bundled cards that take seconds (sizes only change), for CLI runs whose
#: subject is not the size of the bundled study
CHEAP: dict[str, dict[str, Any]] = {
    "hurricane_pool": {"pool.count": 12, "space.p.n": 12},
    "hurricane_pool_500": {"pool.count": 12, "space.p.n": 12, "menu.size": 20, "game.deviations": 20},
    "niakh_storm212": {"storm.regions": 12, "storm.scenarios": 2000, "insurer.capital": 60.0},
    # the constraints name regions of the 212: only the scenarios shrink (the caps still bind)
    "taxation_constrained": {"storm.scenarios": 5000},
    "ogaku_example1": {"game.deviations": 50},
    "ogaku_credal": {"game.deviations": 50},
    # 2,000 simulated years still hold ~80 loss years and ~30 insurer defaults
    "florida_tc_pool": {"space.years": 2000},
    "florida_tc_taxation": {"losses.years": 2000},
}


def cheap(name: str) -> dict[str, Any]:
    """``bundled(name)`` with the sizes of ``CHEAP[name]``."""
    from riskopt.cards import set_path

    card = bundled(name)
    for path, value in CHEAP.get(name, {}).items():
        set_path(card, path, value)
    return card


def run_cli(capfd: Any, *argv: Any) -> tuple[int, str, str]:
    """``riskopt argv...`` in-process: (exit code, stdout, stderr), within ``CALL_LIMIT_S``."""
    import time

    from riskopt.cli import main

    t0 = time.perf_counter()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse usage errors
        code = exc.code
    elapsed = time.perf_counter() - t0
    out, err = capfd.readouterr()
    assert elapsed < CALL_LIMIT_S, (argv, elapsed)
    return code, out, err


def _string(text: str) -> str:
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def value(v: Any) -> str:
    """One TOML value (inline form)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, (dt.datetime, dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_string(str(k))} = {value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"no TOML form for {type(v).__name__}")


def dumps(doc: dict[str, Any]) -> str:
    """A TOML document: top-level tables as ``[section]`` headers, everything else inline."""
    lines = [f"{_string(k)} = {value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    for k, v in doc.items():
        if isinstance(v, dict):
            lines.append(f"[{_string(k)}]")
            lines += [f"{_string(kk)} = {value(vv)}" for kk, vv in v.items()]
    return "\n".join(lines) + "\n"


def write(path: Path, doc: dict[str, Any] | str) -> Path:
    path.write_text(doc if isinstance(doc, str) else dumps(doc), encoding="utf-8")
    return path


# ------------------------------------------------------------------------- small cards
def es_card(**sections: Any) -> dict[str, Any]:
    """Two agents (ES 0.5 and expectation) on four equally likely losses; ``sections`` override."""
    card = {
        "model": {"name": "small"},
        "space": {"kind": "samples", "values": [0.0, -1.0, -2.0, -3.0]},
        "agents": [{"name": "a", "measure": {"name": "es", "level": 0.5}},
                   {"name": "b", "measure": {"name": "expectation"}}],
    }
    card.update(copy.deepcopy(sections))
    return card


def _demo(change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    card = demo_dict()
    change(card)
    return card


def _set(*path_and_value: Any) -> Callable[[dict[str, Any]], None]:
    *path, new = path_and_value

    def change(card: dict[str, Any]) -> None:
        node = card
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = copy.deepcopy(new)

    return change


def _drop(*path: Any) -> Callable[[dict[str, Any]], None]:
    def change(card: dict[str, Any]) -> None:
        node = card
        for k in path[:-1]:
            node = node[k]
        del node[path[-1]]

    return change


NAN, INF = float("nan"), float("inf")
LAW = {"name": "censored_exponential", "rate": 1.0, "cap": 3.0}

#: (id, card as a dict or TOML text, the TOML path the error must start with)
BAD_CARDS: list[tuple[str, dict[str, Any] | str, str]] = [
    ("missing-model", _demo(_drop("model")), "model"),
    ("missing-space", _demo(_drop("space")), "space"),
    ("unknown-mechanism", _demo(_set("model", "mechanism", "nash")), "model.mechanism"),
    ("unknown-measure", _demo(_set("pool", "measure", "name", "entropc")), "pool.measure.name"),
    ("unknown-measure-agents", es_card(agents=[{"measure": {"name": "cvaR"}}]), "agents[0].measure.name"),
    ("typo-gama", _demo(_set("pool", "measure", {"name": "entropic", "gama": 1.0})), "pool.measure.gama"),
    ("typo-gama-agents", es_card(agents=[{"measure": {"name": "entropic", "gamma": 1.0, "gama": 2.0}}]),
     "agents[0].measure.gama"),
    ("missing-level", es_card(agents=[{"measure": {"name": "es"}}]), "agents[0].measure.level"),
    ("negative-gamma", _demo(_set("pool", "measure", "gamma", -1.0)), "pool.measure.gamma"),
    ("negative-gamma-agents", es_card(agents=[{"measure": {"name": "entropic", "gamma": -1}}]),
     "agents[0].measure.gamma"),
    ("nan-gamma", _demo(_set("pool", "measure", "gamma", NAN)), "pool.measure.gamma"),
    ("inf-gamma", _demo(_set("pool", "measure", "gamma", INF)), "pool.measure.gamma"),
    ("nan-in-uniform-spec", _demo(_set("pool", "measure", "gamma", {"uniform": [NAN, 1.0]})),
     "pool.measure.gamma.uniform"),
    ("uniform-lo-above-hi", _demo(_set("pool", "measure", "gamma", {"uniform": [5.0, 1.0]})),
     "pool.measure.gamma.uniform"),
    ("uniform-overflow", _demo(_set("pool", "measure", "gamma", {"uniform": [-1e308, 1e308]})),
     "pool.measure.gamma.uniform"),
    ("normal-negative-sd", _demo(_set("pool", "measure", "gamma", {"normal": [1.0, -1.0]})),
     "pool.measure.gamma.normal"),
    ("random-spec-typo", _demo(_set("pool", "measure", "gamma", {"unifrom": [1.0, 2.0]})),
     "pool.measure.gamma"),
    ("random-spec-extra-key", _demo(_set("pool", "measure", "gamma", {"uniform": [1.0, 2.0], "m": 1})),
     "pool.measure.gamma.m"),
    ("gamma-list-wrong-length", _demo(_set("pool", "measure", "gamma", [1.0, 2.0])), "pool.measure.gamma"),
    ("es-level-0", es_card(agents=[{"measure": {"name": "es", "level": 0}}]), "agents[0].measure.level"),
    ("es-level-1", es_card(agents=[{"measure": {"name": "es", "level": 1}}]), "agents[0].measure.level"),
    ("es-level-1.5", es_card(agents=[{"measure": {"name": "es", "level": 1.5}}]), "agents[0].measure.level"),
    ("es-level-nan", es_card(agents=[{"measure": {"name": "es", "level": NAN}}]), "agents[0].measure.level"),
    ("es-level-string", es_card(agents=[{"measure": {"name": "es", "level": "0.1"}}]),
     "agents[0].measure.level"),
    ("es-level-bool", es_card(agents=[{"measure": {"name": "es", "level": True}}]),
     "agents[0].measure.level"),
    ("gamma-bool", _demo(_set("pool", "measure", "gamma", True)), "pool.measure.gamma"),
    ("gamma-table", _demo(_set("pool", "measure", "gamma", {"a": 1})), "pool.measure.gamma"),
    ("probs-sum", es_card(space={"kind": "discrete", "values": [0.0, -1.0], "probs": [0.5, 0.4]}),
     "space.probs"),
    ("probs-negative", es_card(space={"kind": "discrete", "values": [0.0, -1.0], "probs": [1.5, -0.5]}),
     "space.probs[1]"),
    ("probs-nan", es_card(space={"kind": "discrete", "values": [0.0, -1.0], "probs": [NAN, 1.0]}),
     "space.probs"),
    ("probs-length", es_card(space={"kind": "discrete", "values": [0.0], "probs": [0.5, 0.5]}),
     "space.values"),
    ("values-nan", es_card(space={"kind": "samples", "values": [0.0, NAN]}), "space.values"),
    ("values-inf", es_card(space={"kind": "samples", "values": [0.0, -INF]}), "space.values"),
    ("values-empty", es_card(space={"kind": "samples", "values": []}), "space.values"),
    ("values-nested", es_card(space={"kind": "samples", "values": [[1.0]]}), "space.values"),
    ("values-string", es_card(space={"kind": "samples", "values": "1, 2"}), "space.values"),
    ("hit-probability-above-1", _demo(_set("space", "p", [0.5, 1.5])), "space.p[1]"),
    ("hit-probability-negative", _demo(_set("space", "p", [-0.1])), "space.p[0]"),
    ("hit-probability-nan", _demo(_set("space", "p", [0.1, NAN])), "space.p"),
    ("hit-probabilities-empty", _demo(_set("space", "p", [])), "space.p"),
    ("hit-probabilities-string", _demo(_set("space", "p", "0.1")), "space.p"),
    ("loss-nan", _demo(_set("space", "loss", NAN)), "space.loss"),
    ("loss-negative", _demo(_set("space", "loss", -1.0)), "space.loss"),
    ("loss-bool", _demo(_set("space", "loss", True)), "space.loss"),
    ("loss-huge-integer", _demo(_set("space", "loss", 10**400)), "space.loss"),
    ("loss-list-vs-p", _demo(_set("space", "loss", [1.0, 2.0])), "space.loss"),
    ("tick-zero", _demo(lambda c: c["space"].update(loss=[1.0] * 50, tick=0.0)), "space.tick"),
    ("tick-too-fine", _demo(lambda c: c["space"].update(loss=[1.0] * 50, tick=1e-9)), "space.tick"),
    ("tick-too-much-work", _demo(lambda c: c["space"].update(p={"uniform": [0.0, 0.1], "n": 20000},
                                                             loss=250.0, tick=1.0)), "space.tick"),
    ("p-count-vs-random-n", _demo(_set("space", "p", {"uniform": [0.1, 0.2], "n": 0})), "space.p.n"),
    ("p-random-without-n", _demo(_set("space", "p", {"uniform": [0.1, 0.2]})), "space.p.n"),
    ("weights-vs-agents", _demo(_set("objective", "weights", [1.0, 1.0])), "objective.weights"),
    ("weights-negative", es_card(objective={"weights": [-1.0, 2.0]}), "objective.weights"),
    ("weights-zero", es_card(objective={"weights": [0.0, 0.0]}), "objective.weights"),
    ("weights-table", es_card(objective={"weights": {"a": 1.0}}), "objective.weights"),
    ("weights-nan", es_card(objective={"weights": [1.0, NAN]}), "objective.weights"),
    ("endowment-vs-states", es_card(agents=[{"name": "a", "measure": {"name": "expectation"},
                                             "endowment": [1.0, 2.0]}]), "agents[0].endowment"),
    ("endowment-string", es_card(agents=[{"name": "a", "measure": {"name": "expectation"},
                                          "endowment": ["x", "y", "z", "w"]}]), "agents[0].endowment"),
    ("p-calm-vs-p-storm", es_card(space={"kind": "common_shock_hits", "p_storm": [0.5, 0.4],
                                         "p_calm": [0.1], "storm_prob": 0.1}), "space.p_calm"),
    ("storm-prob-above-1", es_card(space={"kind": "common_shock_hits", "p_storm": [0.5], "p_calm": [0.1],
                                          "storm_prob": 1.1}), "space.storm_prob"),
    ("name-number", _demo(_set("model", "name", 3)), "model.name"),
    ("count-string", _demo(_set("pool", "count", "50")), "pool.count"),
    ("count-float", _demo(_set("pool", "count", 50.0)), "pool.count"),
    ("count-bool", _demo(_set("pool", "count", True)), "pool.count"),
    ("agents-table-not-list", es_card(agents={"name": "a", "measure": {"name": "expectation"}}), "agents"),
    ("agents-empty", es_card(agents=[]), "agents"),
    ("agent-not-table", es_card(agents=["a"]), "agents[0]"),
    ("agent-name-blank", es_card(agents=[{"name": " ", "measure": {"name": "expectation"}}]),
     "agents[0].name"),
    ("agent-names-repeat", es_card(agents=[{"name": "a", "measure": {"name": "expectation"}}] * 2),
     "agents[1].name"),
    ("measure-string", es_card(agents=[{"measure": "expectation"}]), "agents[0].measure"),
    ("restrictions-table", es_card(allocation={"restrictions": {"kind": "sign"}}), "allocation.restrictions"),
    ("restriction-string", es_card(allocation={"restrictions": ["sign"]}), "allocation.restrictions[0]"),
    ("restriction-unknown", es_card(allocation={"restrictions": [{"kind": "positive"}]}),
     "allocation.restrictions[0].kind"),
    ("restriction-extra-key", es_card(allocation={"restrictions": [{"kind": "sign", "caps": 1.0}]}),
     "allocation.restrictions[0].caps"),
    ("caps-negative", es_card(allocation={"restrictions": [{"kind": "limited_liability", "caps": -1.0}]}),
     "allocation.restrictions[0].caps"),
    ("caps-string", es_card(allocation={"restrictions": [{"kind": "limited_liability", "caps": "1"}]}),
     "allocation.restrictions[0].caps"),
    ("caps-vs-agents", es_card(allocation={"restrictions": [{"kind": "limited_liability",
                                                             "caps": [2.0, 2.0, 2.0]}]}),
     "allocation.restrictions[0].caps"),
    ("caps-below-aggregate-loss", es_card(allocation={"restrictions": [{"kind": "limited_liability",
                                                                        "caps": 1.0}]}),
     "allocation.restrictions[0].caps"),
    ("caps-below-aggregate-loss-law", es_card(
        space={"kind": "law", "law": LAW, "n": 20}, objective={"kind": "total_risk"},
        allocation={"restrictions": [{"kind": "limited_liability", "caps": [1.0, 1.0]}]}),
     "allocation.restrictions[0].caps"),
    ("unknown-set", es_card(allocation={"set": "free"}), "allocation.set"),
    ("unknown-objective", es_card(objective={"kind": "utility"}), "objective.kind"),
    ("unknown-top-level-key", _demo(_set("modle", {"name": "x"})), "modle"),
    ("unknown-top-level-value", _demo(_set("verbose", True)), "verbose"),
    ("unknown-model-key", _demo(_set("model", "sed", 1)), "model.sed"),
    ("unknown-space-key", _demo(_set("space", "prob", [0.1])), "space.prob"),
    ("unknown-pool-key", _demo(_set("pool", "size", 3)), "pool.size"),
    ("unknown-agent-key", es_card(agents=[{"name": "a", "measure": {"name": "expectation"}, "wealth": 1}]),
     "agents[0].wealth"),
    ("unknown-objective-key", es_card(objective={"kind": "welfare", "weight": [1, 1]}), "objective.weight"),
    ("unknown-solver-key", es_card(solver={"backnd": "highs"}), "solver.backnd"),
    ("unknown-allocation-key", es_card(allocation={"sets": "budget"}), "allocation.sets"),
    ("section-not-table", _demo(_set("solver", "cvxpy")), "solver"),
    ("agents-and-pool", _demo(_set("agents", [{"measure": {"name": "entropic", "gamma": 1.0}}])), "agents"),
    ("neither-agents-nor-pool", _demo(_drop("pool")), "agents"),
    ("pool-count-0", _demo(_set("pool", "count", 0)), "pool.count"),
    ("pool-count-negative", _demo(_set("pool", "count", -3)), "pool.count"),
    ("pool-count-above-max", _demo(_set("pool", "count", 20_001)), "pool.count"),
    ("pool-count-huge", _demo(_set("pool", "count", 10**30)), "pool.count"),
    ("pool-name-without-i", _demo(_set("pool", "name", "farmer")), "pool.name"),
    ("pool-name-other-field", _demo(_set("pool", "name", "farmer {j}")), "pool.name"),
    ("pool-name-attribute", _demo(_set("pool", "name", "farmer {i.real}")), "pool.name"),
    ("pool-name-huge-width", _demo(_set("pool", "name", "{i:>100000000000}")), "pool.name"),
    ("bernoulli-atoms-25", es_card(space={"kind": "bernoulli_atoms", "p": [0.1] * 25}), "space.p"),
    ("law-bins-above-max", es_card(space={"kind": "law", "law": LAW, "n": 5_000_001}), "space.n"),
    ("law-bins-0", es_card(space={"kind": "law", "law": LAW, "n": 0}), "space.n"),
    ("law-unknown", es_card(space={"kind": "law", "law": {"name": "pareto"}, "n": 10}), "space.law.name"),
    ("law-negative-rate", es_card(space={"kind": "law", "law": {**LAW, "rate": -1.0}, "n": 10}),
     "space.law.rate"),
    ("law-string-rate", es_card(space={"kind": "law", "law": {**LAW, "rate": "1"}, "n": 10}),
     "space.law.rate"),
    ("law-unknown-parameter", es_card(space={"kind": "law", "law": {**LAW, "scale": 1.0}, "n": 10}),
     "space.law"),
    ("law-method", es_card(space={"kind": "law", "law": LAW, "n": 10, "method": "median"}), "space.method"),
    ("space-kind", es_card(space={"kind": "poisson"}), "space.kind"),
    ("prune-2", _demo(_set("space", "prune", 2.0)), "space.prune"),
    ("prune-negative", _demo(_set("space", "prune", -0.1)), "space.prune"),
    ("prune-nan", _demo(_set("space", "prune", NAN)), "space.prune"),
    ("prune-everything", _demo(_set("space", "prune", 0.9)), "space.prune"),
    ("seed-negative", _demo(_set("model", "seed", -1)), "model.seed"),
    ("seed-float", _demo(_set("model", "seed", 1.5)), "model.seed"),
    ("backend-unknown", _demo(_set("solver", "backend", "gurobi")), "solver.backend"),
    ("solver-unknown", _demo(_set("solver", "solver", "MOSEK_PLUS")), "solver.solver"),
    ("solver-not-on-backend", es_card(solver={"backend": "highs", "solver": "ECOS"}), "solver.solver"),
    ("options-list", es_card(solver={"options": [1, 2]}), "solver.options"),
    ("deeply-nested-value", _demo(_set("pool", "measure", "gamma", {"a": {"b": {"c": {"d": {"e": 1}}}}})),
     "pool.measure.gamma"),
    ("date-where-number", _demo(_set("pool", "measure", "gamma", dt.date(2024, 1, 1))), "pool.measure.gamma"),
    ("invalid-toml", "[model\nname = 'x'\n", "card"),
    ("invalid-toml-duplicate-key", "[model]\nname = 'a'\nname = 'b'\n", "card"),
    ("deeply-nested-toml", "x = " + "[" * 5000 + "]" * 5000 + "\n", "card"),
    ("deeply-nested-tables", "x = " + "{a = " * 3000 + "1" + "}" * 3000 + "\n", "card"),
]


# ------------------------------------------------------------------ good small cards
SPACES: dict[str, dict[str, Any]] = {
    "bernoulli_hits": {"kind": "bernoulli_hits", "p": [0.1, 0.2, 0.3], "loss": 1.0},
    "bernoulli_hits_tick": {"kind": "bernoulli_hits", "p": [0.1, 0.2, 0.3], "loss": [1.0, 0.5, 1.5],
                            "tick": 0.5},
    "common_shock_hits": {"kind": "common_shock_hits", "p_storm": [0.5, 0.4, 0.6],
                          "p_calm": [0.05, 0.1, 0.02], "storm_prob": 0.1, "loss": 2.0},
    "bernoulli_atoms": {"kind": "bernoulli_atoms", "p": [0.1, 0.2, 0.3], "loss": 1.0},
    "discrete": {"kind": "discrete", "values": [0.0, -1.0, -4.0], "probs": [0.7, 0.2, 0.1]},
    "samples": {"kind": "samples", "values": [0.0, -1.0, -2.0, -5.0, -1.0]},
    "law": {"kind": "law", "law": LAW, "n": 16},
    "law_mean": {"kind": "law", "law": LAW, "n": 16, "method": "mean"},
    "law_uniform": {"kind": "law", "law": {"name": "uniform", "lo": 0.0, "hi": 2.0}, "n": 8},
    "law_exponential": {"kind": "law", "law": {"name": "exponential", "rate": 2.0}, "n": 8},
    "pruned": {"kind": "bernoulli_hits", "p": [0.01] * 10, "prune": 1e-12},
}

LP_CARDS = {
    "es_expectation_samples": es_card(objective={"kind": "total_risk"}),
    "es_es_law_budget": es_card(
        space={"kind": "law", "law": LAW, "n": 12}, objective={"kind": "total_risk"},
        allocation={"set": "budget", "restrictions": [{"kind": "limited_liability", "caps": [2.5, 2.5]}]},
        agents=[{"name": "a", "measure": {"name": "es", "level": 0.1}},
                {"name": "b", "measure": {"name": "es", "level": 0.4}}]),
    "es_expectation_comonotone_hits": es_card(
        space=SPACES["common_shock_hits"], objective={"kind": "total_risk"}, allocation={"set": "comonotone"},
        agents=[{"name": "a", "measure": {"name": "expected_shortfall", "level": 0.25}},
                {"name": "b", "measure": {"name": "mean"}},
                {"name": "c", "measure": {"name": "cvar", "level": 0.05}}]),
    "es_budget_sign_atoms": es_card(
        space=SPACES["bernoulli_atoms"], objective={"kind": "total_risk"},
        allocation={"set": "budget", "restrictions": [{"kind": "sign"}]},
        agents=[{"name": "a", "measure": {"name": "es", "level": 0.3}},
                {"name": "b", "measure": {"name": "es", "level": 0.6}}]),
}

SPACE_CARDS = [es_card(space=space) for space in SPACES.values()]


# ------------------------------------------------------------------------------ fuzzing
KNOWN_KEYS = ["model", "space", "pool", "agents", "allocation", "objective", "solver", "name", "kind",
              "p", "loss", "tick", "prune", "count", "measure", "gamma", "uniform", "normal", "n", "seed",
              "set", "restrictions", "weights", "backend", "options", "law", "values", "probs"]
KNOWN_WORDS = ["entropic", "es", "expectation", "var", "maxmin", "choquet", "distortion", "eu",
               "bernoulli_hits", "common_shock_hits", "bernoulli_atoms", "discrete", "samples", "law",
               "budget", "comonotone", "anchored_comonotone", "sign", "limited_liability",
               "individual_rationality", "total_risk", "welfare", "cvxpy", "highs", "pyomo", "CLARABEL",
               "ECOS", "farmer {i}", "{i:>99999}", "{}", "pareto", ""]


def fuzz_values(*, small: bool) -> st.SearchStrategy[Any]:
    """TOML values: numbers (huge, negative, nan/inf), booleans, unicode, dates, lists, tables."""
    if small:  # what a CLI run can afford to solve
        numbers = st.one_of(st.integers(-3, 60), st.floats(-10, 10),
                            st.sampled_from([math.nan, math.inf, -0.0]))
    else:
        numbers = st.one_of(st.integers(), st.integers(-(10**400), 10**400), st.integers(-3, 60),
                            st.floats(allow_nan=True, allow_infinity=True))
    text = st.one_of(st.text(max_size=12), st.sampled_from(KNOWN_WORDS))
    scalars = st.one_of(numbers, st.booleans(), text, st.dates(), st.times(), st.datetimes())
    keys = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(min_size=1, max_size=8))
    spec = st.builds(lambda kind, lo, hi, n: {kind: [lo, hi], "n": n}, st.sampled_from(["uniform", "normal"]),
                     numbers, numbers, numbers)
    return st.recursive(
        st.one_of(scalars, spec),
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=3)),
        max_leaves=8,
    )


def card_paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (tuple of keys and indices) into a parsed card, the empty path first."""
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += card_paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += card_paths(v, (*prefix, i))
    return out


@st.composite
def mutated_card(draw: st.DrawFn, small: bool = False, others: bool = False) -> dict[str, Any]:
    """The demo card (``others``: or one of the small cards above) with 1 to 4 mutations: rescale a
    number, drop a key, replace a value, nest it in a table or a list, add a key. ``small`` keeps
    numbers small enough for a run to be solved quickly."""
    bases = [demo_dict(), *SPACE_CARDS, *LP_CARDS.values()] if others else [demo_dict()]
    card = copy.deepcopy(draw(st.sampled_from(bases)))
    values = fuzz_values(small=small)
    keys = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(min_size=1, max_size=8))
    if small:  # [solver] options have their own tests in test_cli.py
        keys = keys.filter(lambda k: k != "options")
    for _ in range(draw(st.integers(1, 3 if small else 4))):
        paths = card_paths(card)[1:]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = card
        for k in path[:-1]:
            parent = parent[k]
        key = path[-1]
        op = draw(st.sampled_from(["scale", "drop", "replace", "replace", "table", "list", "add"]))
        if op == "scale":  # a plausible edit that often keeps the card valid: a number rescaled
            old = parent[key]
            if isinstance(old, (int, float)) and not isinstance(old, bool):
                factor = draw(st.sampled_from([0.5, 0.9, 1.1, 2.0] if small else [0.0, 0.5, 2.0, -1.0, 1e6]))
                exact = int(Fraction(old) * Fraction(factor)) if isinstance(old, int) else 0
                parent[key] = old * factor if isinstance(old, float) else exact  # ints: unbounded
        elif op == "drop":
            del parent[key]
        elif op == "replace":
            parent[key] = draw(values)
        elif op == "table":
            parent[key] = {draw(keys): parent[key]}
        elif op == "list":
            parent[key] = [parent[key]]
        else:
            target = parent[key] if isinstance(parent[key], dict) else card
            target[draw(keys)] = draw(values)
    return card


def run_json(capfd: Any, tmp_path: Path, name: str, *, constraints: bool = True) -> dict[str, Any]:
    """``riskopt run`` of the bundled card ``name`` (without its ``[[constraints]]`` tables when
    ``constraints=False``) as its JSON document; the run must exit 0."""
    import json

    card = bundled(name)
    if not constraints:
        del card["constraints"]
    code, out, err = run_cli(capfd, "run", write(tmp_path / f"{name}.toml", card), "--format", "json")
    assert code == 0, err
    doc: dict[str, Any] = json.loads(out)
    return doc
