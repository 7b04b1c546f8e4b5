"""Every mechanism answers ``solve(spec, method=...)`` with a result on the one contract.

For every bundled card (at the cheap sizes of tests/_cardkit.py): the card's spec solved through
``riskopt.mechanisms.solve`` gives the result ``run_card`` gives; the result satisfies the
:class:`riskopt.result.Result` protocol, its status is a computed :class:`~riskopt.status.Status`,
its per-agent table has one row per agent (``to_frame`` indexes it by name) and its JSON carries
the status (key order is each card's historical order: JSON stays byte-identical across the redesign).
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from _cardkit import CHEAP, MODELS, bundled, cheap

import riskopt.mechanisms as mech
from riskopt.cards import parse_card, run_card
from riskopt.data import without_timings
from riskopt.errors import ModelError
from riskopt.result import Result, ResultBase
from riskopt.status import Status

CARDS = sorted(p.stem for p in MODELS.glob("*.toml"))


@pytest.mark.parametrize("name", CARDS)
def test_every_card_solves_through_the_one_contract(name):
    card = parse_card(cheap(name) if name in CHEAP else bundled(name), source=name)
    result = run_card(card)
    assert isinstance(result, Result) and isinstance(result, ResultBase)
    assert isinstance(result.status, Status)
    doc = result.to_dict()
    assert doc["status"] == result.status
    json.dumps(doc, allow_nan=False)
    # the path that ran, the objective's sense and the user constraints' duals (issue 13's contract)
    assert doc["method"] == result.method and doc["objective_sense"] in ("min", "max")  # type: ignore[attr-defined]
    assert set(doc["constraints"]) == {c.name for c in card.spec.constraints}
    for entry in doc["constraints"].values():
        assert {"dual", "binding"} <= set(entry)
    rows = result.agent_rows()
    assert rows and all("name" in r for r in rows)
    frame = result.to_frame()
    assert list(frame.index) == [r["name"] for r in rows]
    for name_, alloc in result.allocation.items():
        assert name_ in frame.index and np.all(np.isfinite(np.asarray(alloc, float)))
    # the registry's solve on the card's spec is the card's run (same method: "auto")
    again = mech.solve(card.spec, method="auto", backend=card.backend, solver=card.solver, **card.options)
    assert type(again) is type(result)
    assert json.dumps(without_timings(again.to_dict()), sort_keys=True) == \
        json.dumps(without_timings(doc), sort_keys=True)


def test_every_mechanism_is_registered_with_its_methods():
    registry = mech.mechanisms()
    # the names a card's `mechanism = ...` takes; every mechanism package registers at least one
    assert sorted(registry) == ["disaster_taxation", "distortion_portfolio", "distortion_sharing",
                                "equilibrium", "pareto", "price_and_choose", "reinsurance_market"]
    packages = {m.spec.__module__.split(".")[2] for m in registry.values()}
    assert packages == {"distortion", "equilibrium", "pareto", "price_and_choose", "reinsurance", "taxation"}
    for m in registry.values():
        assert set(m.methods) <= {"fast", "program"} and m.methods
        assert m.spec.__dataclass_params__.frozen  # type: ignore[attr-defined]
        # every mechanism takes a modeler's own constraints: the field, last, and add_constraint (a
        # registered base spec without fields, such as taxation's, stands for its concrete specs)
        concrete = [m.spec] if dataclasses.fields(m.spec) else m.spec.__subclasses__()
        assert concrete
        for spec in concrete:
            assert dataclasses.fields(spec)[-1].name == "constraints", spec
            assert callable(getattr(spec, "add_constraint", None))


def test_an_unknown_method_is_refused_naming_what_is_allowed():
    card = parse_card(bundled("hurricane_pool"), source="hurricane_pool")
    with pytest.raises(ModelError, match=r"method = 'nope'"):
        mech.solve(card.spec, method="nope")
