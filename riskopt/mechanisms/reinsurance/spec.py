"""Model cards for the reinsurance market (``mechanism = "reinsurance_market"``).

Sections read here (``[model]`` and ``[solver]`` are read by riskopt.cards)::

    [market]
    solve = "spne"          # "spne" (Stackelberg with one reinsurer) | "pareto" (the layer LP)
    bound = 5.0             # M, an upper bound of every loss (default: the largest support end;
                            # layers above the support are worth nothing and are not gridded, the
                            # result reports bound_used; an unbounded law is truncated at M, which
                            # must leave no mass above and stay within 1e6 x its 1 - 1e-12 quantile)
    comonotone = false      # losses comonotone (non-additive reinsurers allowed, Thm 3.8)
    compare_with = "reinsurer 1"   # also solve the market with this reinsurer alone (Table 2)
    pareto_check = true     # spne: solve the Pareto LP on [solver] too (PO, VCG identities)
    premiums = "vcg"        # pareto: "vcg" | "dual"
    capacity_weight = "limit"      # "limit" | "expected"
    cells = 256             # uniform layer cells (exact breakpoints are added)
    nodes = 8               # Gauss-Legendre nodes per cell (curves without closed-form integrals)
    states = [0.5, 0.5]     # a finite space: losses are then lists of values per state

    [[insurers]]
    name = "insurer 1"
    loss = { name = "censored_exponential", rate = 3.0, cap = 5.0 }   # or [x_1, ..., x_S]
    measure = { name = "es", level = 0.1 }                           # any Choquet risk measure

    [[reinsurers]]
    name = "reinsurer 1"
    loading = 0.15
    beliefs = { name = "censored_exponential", rate = 2.5, cap = 5.0 }  # a law, a list of laws
                                                                        # (one per insurer) or of
                                                                        # probabilities per state
    measure = { name = "distortion", h = "wang", lam = 0.3 }  # instead of beliefs: non-additive
    capacity = 6.0          # a limit on the layers it writes (solve = "pareto")

Laws: ``censored_exponential`` (rate, cap), ``uniform`` (lo, hi), ``discrete`` (values, probs),
``exponential`` (rate; unbounded, so refused: the market needs M).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..cardschema import CardMechanism, Draws, Node, build_measure, number_list
from ..errors import ModelError
from ..laws import Discrete, Exponential, Law, Uniform, censored_exponential
from ..space import Scenarios
from .reinsurance_market import CELLS, NODES, Insurer, Market, Reinsurer

__all__ = ["CARD", "MarketCard", "read_card", "run_card"]

SOLVES = ("spne", "pareto", "best_response")
#: posted prices for ``solve = "best_response"``: every reinsurer at its own valuation (``tau``),
#: or every reinsurer at the insurer's monopoly price (``alpha``)
POSTED = ("own", "monopoly")
#: cards describe small markets; the Python API and benchmarks go further
MAX_CARD_AGENTS = 200
MAX_CELLS = 100_000

_LAWS = {
    "censored_exponential": (censored_exponential, ("rate", "cap")),
    "uniform": (Uniform, ("lo", "hi")),
    "exponential": (Exponential, ("rate",)),
}


@dataclass
class MarketCard:
    """The validated sections of a reinsurance-market card."""

    market: Market
    solve: str
    compare_with: str | None
    pareto_check: bool
    premiums: str | None
    capacity_weight: str
    cells: int
    nodes: int
    prices: str = "own"


def _law(node: Node) -> Law:
    name = node.take("name", str, allowed=f"a law name: one of {sorted([*_LAWS, 'discrete'])}")
    if name == "discrete":
        values = number_list(node.take("values", list), node.at("values"))
        probs = number_list(node.take("probs", list), node.at("probs"))
        node.finish()
        try:
            return Discrete(values, probs)
        except ModelError as err:
            raise err.with_prefix(node.path) from None
    if name not in _LAWS:
        raise ModelError(node.at("name"), name, f"one of {sorted([*_LAWS, 'discrete'])}")
    make, params = _LAWS[name]
    kwargs = {p: node.take(p, float, allowed="a number") for p in params}
    node.finish()
    try:
        return make(**kwargs)
    except ModelError as err:
        raise err.with_prefix(node.path) from None


def _loss(node: Node, key: str, space: Scenarios | None) -> Law | np.ndarray:
    value = node.take(key, (dict, list),
                      allowed="a law table {name = ..., ...} or a list of losses per state")
    if isinstance(value, list):
        if space is None:
            raise ModelError(node.at(key), value, "a law table (a list of losses per state needs "
                             "market.states)")
        return number_list(value, node.at(key), space.size)
    return _law(Node(value, node.at(key)))


def _measure(node: Node, key: str, draws: Draws) -> Any:
    return build_measure(Node(node.take(key, dict, allowed="a measure table {name = ..., ...}"),
                              node.at(key)), draws)


def _beliefs(node: Node, space: Scenarios | None, n: int) -> Any:
    if "beliefs" not in node.data:
        node.used.add("beliefs")
        return None
    value = node.take("beliefs", (dict, list), allowed="a law table, a list of law tables (one per "
                      "insurer) or a list of probabilities per state")
    path = node.at("beliefs")
    if isinstance(value, dict):
        return _law(Node(value, path))
    if value and all(isinstance(v, dict) for v in value):
        if len(value) != n:
            raise ModelError(path, f"{len(value)} laws", f"one law per insurer ({n})")
        return [_law(Node(v, f"{path}[{k}]")) for k, v in enumerate(value)]
    if space is None:
        raise ModelError(path, value, "a law table or a list of law tables (probabilities per state "
                         "need market.states)")
    return number_list(value, path, space.size)


def _agent_tables(root: Node, key: str) -> list[Node]:
    """The ``[[insurers]]`` or ``[[reinsurers]]`` tables, each as a Node with its TOML path."""
    raw = root.take(key, list, allowed=f"a list of tables ([[{key}]])")
    if not 1 <= len(raw) <= MAX_CARD_AGENTS:
        raise ModelError(key, f"{len(raw)} {key}", f"between 1 and {MAX_CARD_AGENTS}")
    return [Node(table, f"{key}[{k}]") for k, table in enumerate(raw)]


def read_card(root: Node, draws: Draws) -> MarketCard:
    """Read ``[market]``, ``[[insurers]]`` and ``[[reinsurers]]`` into a validated market."""
    mk = root.child("market", default=None) or Node({}, "market")
    solve = mk.take("solve", str, default="spne", allowed=f"one of {list(SOLVES)}")
    if solve not in SOLVES:
        raise ModelError(mk.at("solve"), solve, f"one of {list(SOLVES)}")
    bound = mk.take("bound", float, default=None, allowed="an upper bound M > 0 of every loss")
    prices = mk.take("prices", str, default="own", allowed=f"one of {list(POSTED)}")
    if prices not in POSTED:
        raise ModelError(mk.at("prices"), prices, f"one of {list(POSTED)} (the posted prices of "
                         "solve = 'best_response')")
    comonotone = mk.take("comonotone", bool, default=False)
    compare_with = mk.take("compare_with", str, default=None)
    pareto_check = mk.take("pareto_check", bool, default=True)
    premiums = mk.take("premiums", str, default=None, allowed="'vcg' or 'dual'")
    if premiums not in (None, "vcg", "dual"):
        raise ModelError(mk.at("premiums"), premiums, "'vcg' or 'dual'")
    capacity_weight = mk.take("capacity_weight", str, default="limit", allowed="'limit' or 'expected'")
    if capacity_weight not in ("limit", "expected"):
        raise ModelError(mk.at("capacity_weight"), capacity_weight, "'limit' or 'expected'")
    cells = mk.take("cells", int, default=CELLS, allowed=f"an integer number of cells in [1, {MAX_CELLS}]")
    if not 1 <= cells <= MAX_CELLS:
        raise ModelError(mk.at("cells"), cells, f"an integer number of cells in [1, {MAX_CELLS}]")
    nodes = mk.take("nodes", int, default=NODES, allowed="an integer number of nodes in [1, 64]")
    if not 1 <= nodes <= 64:
        raise ModelError(mk.at("nodes"), nodes, "an integer number of nodes in [1, 64]")
    states = mk.take("states", list, default=None)
    space = None
    if states is not None:
        try:
            space = Scenarios(number_list(states, mk.at("states")))
        except ModelError as err:
            raise ModelError(mk.at("states"), err.value, err.allowed, detail=err.detail) from None
    mk.finish()
    insurers = []
    for i, node in enumerate(_agent_tables(root, "insurers")):
        name = node.take("name", str, default=f"insurer {i + 1}")
        loss = _loss(node, "loss", space)
        measure = _measure(node, "measure", draws)
        node.finish()
        insurers.append(Insurer(name, loss, measure))
    reinsurers = []
    for j, node in enumerate(_agent_tables(root, "reinsurers")):
        name = node.take("name", str, default=f"reinsurer {j + 1}")
        loading = node.take("loading", float, allowed="a loading theta > 0")
        beliefs = _beliefs(node, space, len(insurers))
        measure = _measure(node, "measure", draws) if "measure" in node.data else None
        node.used.add("measure")
        capacity = node.take("capacity", float, default=None, allowed="a capacity K >= 0")
        if capacity is not None and solve == "spne":
            raise ModelError(node.at("capacity"), capacity, "no capacity limit with market.solve = 'spne'",
                             detail="capacity limits couple the insurers and the SPNE characterisation "
                                    "no longer applies: use solve = 'pareto' (the layer LP)")
        node.finish()
        reinsurers.append(Reinsurer(name, loading, beliefs, measure, capacity))
    try:
        market = Market(insurers, reinsurers, bound=bound, space=space, comonotone=comonotone)
    except ModelError as err:
        if err.field in ("bound", "comonotone"):
            raise err.with_prefix("market") from None
        raise
    if compare_with is not None and compare_with not in [r.name for r in reinsurers]:
        raise ModelError("market.compare_with", compare_with, f"one of {[r.name for r in reinsurers]}")
    return MarketCard(market, solve, compare_with, pareto_check, premiums, capacity_weight, cells, nodes,
                      prices)


def run_card(spec: MarketCard, backend: str, solver: str | None, options: dict[str, Any]):
    """Solve the card: the SPNE (with the Pareto LP check and the monopoly comparison), the Pareto
    LP, or the best responses to posted prices (``prices``: own valuations or the monopoly price),
    whose verification says whether they form an equilibrium."""
    from .reinsurance_lp import pareto

    mk = spec.market
    if spec.solve == "pareto":
        return pareto(mk, backend=backend, solver=solver, cells=spec.cells, nodes=spec.nodes,
                      premiums=spec.premiums, capacity_weight=spec.capacity_weight, **options)
    if spec.solve == "best_response":  # the insurers' responses to posted prices, verified as an SPNE
        posted = ([list(mk.tau[i]) for i in range(mk.n)] if spec.prices == "own"
                  else [[mk.alpha[i]] * mk.m for i in range(mk.n)])
        return mk.best_response(posted, cells=spec.cells, nodes=spec.nodes)
    outcome = mk.spne(cells=spec.cells, nodes=spec.nodes)
    comparison = None
    if spec.compare_with is not None:
        comparison = mk.monopoly(spec.compare_with).spne(cells=spec.cells, nodes=spec.nodes)
    checks = dict(outcome.checks)
    extra = dict(outcome.extra)
    if spec.pareto_check:
        po = pareto(mk, backend=backend, solver=solver, cells=spec.cells, nodes=spec.nodes, **options)
        gap = outcome.aggregate_risk - po.aggregate_risk
        checks["Pareto LP V*"] = po.aggregate_risk
        checks["V(SPNE) - V*"] = gap
        checks["SPNE Pareto optimal"] = bool(abs(gap) <= 1e-7 * max(1.0, abs(po.aggregate_risk)))
        checks["VCG premiums - SPNE premiums (max)"] = float(np.max(np.abs(po.premium - outcome.premium)))
        extra["pareto_lp"] = {"solver": po.extra["solver"], "layer_values": po.extra["layer_values"],
                              "vcg_surplus": po.extra.get("vcg_surplus")}
    return dataclasses.replace(outcome, checks=checks, extra=extra, comparison=comparison)


CARD = CardMechanism("reinsurance_market", read_card, run_card)
