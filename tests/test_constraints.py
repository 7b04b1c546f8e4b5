"""The constraint vocabulary (riskopt.constraints): what a [[constraints]] table may say, the
errors that name its field, and the rows it writes (sums, coefficients, multiples of X)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from _cardkit import bundled, run_cli, write

import riskopt as ro
from riskopt.constraints import ROLE_KEYS, ConstraintSpec, allowed_quantities, check_constraints
from riskopt.errors import ModelError
from riskopt.mechanisms import pareto

BASE: dict[str, Any] = {"name": "c", "what": "allocation", "sense": "<=", "agent": "a"}
ROLES = {"agent": ["a", "b", "c"]}
QUANTITIES = {"allocation": "per state"}


@pytest.mark.parametrize(("change", "field"), [
    ({"agents": ("b",)}, "agents"),                                  # two 'who' keys
    ({"agent": None}, "agent"),                                      # none
    ({"what": "expected_allocation", "scope": "every_state"}, "scope"),
    ({"law": "own"}, "law"),                                         # a law without an expectation
    ({"scope": "expectation", "rhs": (1.0, 2.0)}, "rhs"),            # per-row rhs on one row
    ({"what": "share_of_aggregate", "aggregate_multiple": 1.0}, "aggregate_multiple"),
])
def test_spec_refuses_contradictions(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ModelError) as err:
        ConstraintSpec(**{**BASE, **change})
    assert err.value.field == field


@pytest.mark.parametrize(("constraints", "field"), [
    ([{}, {}], "constraints[1].name"),                                # duplicate names
    ([{"agent": "z"}], "constraints[0].agent"),
    ([{"agent": None, "region": "a"}], "constraints[0].region"),     # a role the mechanism lacks
    ([{"what": "tax"}], "constraints[0].what"),
    ([{"agent": None, "agents": ("a", "b"), "coefficients": (1.0,)}], "constraints[0].coefficients"),
    ([{"agent": None, "agents": ("a", "a")}], "constraints[0].agents"),
])
def test_check_names_the_field(constraints: list[dict[str, Any]], field: str) -> None:
    specs = [ConstraintSpec(**{**BASE, **c}) for c in constraints]
    with pytest.raises(ModelError) as err:
        check_constraints(specs, ROLES, QUANTITIES)
    assert err.value.field == field


def test_quantities_offered() -> None:
    assert allowed_quantities(QUANTITIES) == ["allocation", "expected_allocation", "share_of_aggregate"]
    c = ConstraintSpec(**{**BASE, "what": "expected_allocation"})
    assert (c.rows, c.quantity) == ("expectation", "allocation")
    assert ConstraintSpec(**{**BASE, "agent": None, "agents": "all"}).members(["a", "b"]) == ("a", "b")


def _spec(**constraint: Any) -> pareto.ParetoSpec:
    pool = ro.Scenarios([0.5, 0.3, 0.2], {"X": [0.0, -1.0, -3.0]})
    agents = tuple(ro.Agent(n, ro.measures.Entropic(g)) for n, g in (("a", 1.0), ("b", 2.0), ("c", 4.0)))
    return pareto.ParetoSpec(agents=agents, space=pool, constraints=(ConstraintSpec(**constraint),))


def test_linear_combination_and_multiple_of_the_aggregate_hold_at_the_optimum() -> None:
    """xi_a - 2 xi_b <= 0.1 + 0.2 X in every state, and E_P[xi_a + xi_b] >= 0.8 E_P[X]."""
    sol = pareto.solve(_spec(name="combo", agents=("a", "b"), coefficients=(1.0, -2.0), what="allocation",
                             sense="<=", rhs=0.1, aggregate_multiple=0.2))
    xa, xb = sol.allocation["a"], sol.allocation["b"]
    X = np.array([0.0, -1.0, -3.0])
    slack = 0.1 + 0.2 * X - (xa - 2 * xb)
    assert np.all(slack >= -1e-9)  # the solver's feasibility tolerance, polished
    # the same numbers, re-added
    np.testing.assert_allclose(sol.constraints["combo"].slack, slack, atol=1e-12)
    sol = pareto.solve(_spec(name="mean", agents=("a", "b"), what="expected_allocation", sense=">=",
                             rhs=0.0, aggregate_multiple=0.8))
    p = np.array([0.5, 0.3, 0.2])
    assert p @ (sol.allocation["a"] + sol.allocation["b"]) >= 0.8 * (p @ X) - 1e-9
    assert sol.constraints["mean"].binds  # unconstrained a and b hold 6/7 of X: the floor binds


CONSTRAINED_CARDS = ["pareto_constrained", "price_and_choose_constrained", "reinsurance_constrained",
                     "distortion_constrained", "taxation_constrained"]


@pytest.mark.parametrize("card_name", CONSTRAINED_CARDS)
@pytest.mark.parametrize("mistake", ["who", "what", "sense"])
def test_a_bad_constraint_exits_2_naming_its_toml_path(tmp_path: Any, capfd: Any, card_name: str,
                                                       mistake: str) -> None:
    """On every mechanism's constrained card: an unknown member, quantity or sense is one line on
    stderr naming ``constraints[0].<key>``, exit 2, nothing on stdout."""
    card = bundled(card_name)
    table = card["constraints"][0]
    key = {"who": next(k for k in ROLE_KEYS if k in table), "what": "what", "sense": "sense"}[mistake]
    table[key] = {"who": "nobody", "what": "no_such_quantity", "sense": "<"}[mistake]
    code, out, err = run_cli(capfd, "run", write(tmp_path / "bad.toml", card))
    assert code == 2 and out == "" and f"constraints[0].{key}" in err and len(err.strip().splitlines()) == 1
