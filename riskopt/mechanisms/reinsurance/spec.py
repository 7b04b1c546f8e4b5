"""The reinsurance market's input: insurers, reinsurers, their laws, and how the market is solved.

:class:`ReinsuranceSpec` is what :func:`riskopt.mechanisms.reinsurance.solve` takes and what a card
with ``mechanism = "reinsurance_market"`` reads: ``[market]`` (:class:`MarketOptions`),
``[[insurers]]`` (:class:`InsurerSpec`) and ``[[reinsurers]]`` (:class:`ReinsurerSpec`); a loss or a
belief given by its law is a table read by :class:`LawSpec`. Every field below is documented on
the generated card reference page (``docs/cards/reinsurance_market.md``)::

    [market]
    solve = "spne"                 # "spne" | "pareto" (the layer LP) | "best_response"
    bound = 5.0                    # M, an upper bound of every loss
    compare_with = "reinsurer 1"   # also the market with this reinsurer alone (Table 2)

    [[insurers]]
    name = "insurer 1"
    loss = { name = "censored_exponential", rate = 3.0, cap = 5.0 }   # or [x_1, ..., x_S]
    measure = { name = "es", level = 0.1 }                           # any Choquet risk measure

    [[reinsurers]]
    name = "reinsurer 1"
    loading = 0.15
    beliefs = { name = "censored_exponential", rate = 2.5, cap = 5.0 }

The insurers' and reinsurers' own checks that need the whole market (a bound below a loss, a
belief above the bound, a non-additive reinsurer without comonotone losses, duplicate names) are
made by :class:`~riskopt.mechanisms.reinsurance.Market`, which the card reader builds from the spec
(errors still name the TOML path: ``market.bound``, ``reinsurers[0].beliefs``, ...).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import numpy as np

from ...budget import Footprint, cells
from ...cardschema import Draws, build_measure, measure_rows
from ...checks import real
from ...constraints import Constrained, ConstraintSpec, check_constraints, constraints_option
from ...errors import ModelError
from ...laws import Discrete, Exponential, Law, Uniform, censored_exponential
from ...measures import Measure
from ...space import Scenarios
from ...spec import Checked, Context, Node, Option, Row, number_list, option, read_spec, reference

__all__ = ["CELLS", "LAWS", "MAX_CARD_AGENTS", "MAX_CELLS", "MAX_NODES", "NODES", "QUANTITIES", "InsurerSpec",
           "LawSpec", "MarketOptions", "ReinsuranceSpec", "ReinsurerSpec"]

#: uniform cells and Gauss nodes of the default layer grid (exact breakpoints are added to it)
CELLS, NODES = 256, 8
#: cards describe small markets; the Python API and benchmarks go further
MAX_CARD_AGENTS = 200
MAX_CELLS = 100_000
MAX_NODES = 64
#: peak bytes per insurer x reinsurer x layer cell (HiGHS layer LP, verification): measured 1.1 KB
#: on markets of 3-40 insurers, 1-20 reinsurers and 256-25,000 cells (4 % max error with the next)
CELL_BYTES = 1.5e3
#: peak bytes per insurer x layer cell (the insurer's retention and its cell data): measured 0.9 KB
INSURER_CELL_BYTES = 1.2e3
#: cells added to the uniform ones (exact breakpoints, kinks and quantiles of the laws), at most
EXTRA_CELLS = 64
#: every law a card may name, with its parameters
LAWS: dict[str, tuple[str, ...]] = {"censored_exponential": ("rate", "cap"), "uniform": ("lo", "hi"),
                                    "exponential": ("rate",), "discrete": ("values", "probs")}
#: how the market is solved (``market.solve``)
SOLVES = ("spne", "pareto", "best_response")
#: posted prices for ``solve = "best_response"``: every reinsurer at its own valuation (``tau``),
#: or every reinsurer at the insurer's monopoly price (``alpha``)
POSTED = ("own", "monopoly")

#: what a reinsurance constraint reads on the layer LP (``[[constraints]]``, :mod:`riskopt.constraints`).
#: Rows (``scope = "every_state"``) are layer cells: an insurer's own cells, or, for a reinsurer, every
#: insurer's cells in insurer order; ``scope = "expectation"`` weights the per-cell shares by the cell
#: integrals of ``P(X_i > z)`` (``law = "own"``: a reinsurer's own belief or capacity ``tau_ij / (1 +
#: theta_j)``; an insurer's own law is P), which makes them expected losses.
QUANTITIES = {
    "ceded": "the share of each layer cell ceded (dimensionless, in [0, 1]): an insurer's Gamma_i(z) = "
             "sum_j gamma_ij(z), a reinsurer's gamma_ij(z) on every insurer's cells; in expectation the "
             "expected ceded loss int share(z) P(X_i > z) dz = E[I(X_i)] (loss units), summed over the "
             "insurers for a reinsurer",
    "retention": "insurers only: the share of each layer cell kept, 1 - Gamma_i(z) (dimensionless); in "
                 "expectation the expected retained loss E[X_i - I_i(X_i)] (loss units)",
    "limit": "the total limit ceded, int Gamma_i dz = I_i(M) (insurer), or written, sum_i I_ij(M) "
             "(reinsurer): one number in loss units, the same in both scopes",
}
#: quantities that are one number (not a row per layer cell)
SCALAR_QUANTITIES = ("limit",)

T = TypeVar("T")


# ------------------------------------------------------------------------------ laws
@dataclass(frozen=True)
class LawSpec(Checked):
    """A probability law of a nonnegative loss, by name with its parameters (``{name = ..., ...}``).

    ``censored_exponential``: ``P(X > z) = exp(-rate z)`` on ``[0, cap)``, 0 beyond (an atom
    ``exp(-rate cap)`` at ``cap``); ``uniform`` on ``[lo, hi]``; ``exponential`` (unbounded: the
    market then needs ``market.bound``, where it is truncated); ``discrete`` (values and their
    probabilities: a :class:`~riskopt.space.Scenarios`, the one finite law).
    """

    name: Literal["censored_exponential", "uniform", "exponential", "discrete"] = option(
        help="the law", allowed=f"a law name: one of {sorted(LAWS)}")
    rate: float | None = option(None, help="the rate r of P(X > z) = exp(-r z) (censored_exponential, "
                                "exponential)", allowed="a finite number > 0", units="1 / loss")
    cap: float | None = option(None, help="where the exponential is censored (censored_exponential): "
                               "the loss never exceeds it", allowed="a finite number > 0", units="loss")
    lo: float | None = option(None, help="the lower end (uniform)", allowed="a finite number >= 0",
                              units="loss")
    hi: float | None = option(None, help="the upper end (uniform)", allowed="a finite number > lo",
                              units="loss")
    values: tuple[float, ...] | None = option(None, help="the values of the loss (discrete)",
                                              allowed="finite numbers >= 0", units="loss")
    probs: tuple[float, ...] | None = option(None, help="their probabilities (discrete)",
                                             allowed="nonnegative, summing to 1, one per value")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.name not in LAWS:
            raise ModelError("name", self.name, f"a law name: one of {sorted(LAWS)}")
        needed = LAWS[self.name]
        for key in ("rate", "cap", "lo", "hi", "values", "probs"):
            value = getattr(self, key)
            if key in needed and value is None:
                raise ModelError(key, None, "a list of numbers" if key in ("values", "probs") else "a number",
                                 detail="missing")
            if key not in needed and value is not None:
                raise ModelError(key, value, f"a parameter of '{self.name}': one of {list(needed)}",
                                 detail="unknown field")
        self.build()  # the law's own checks (rate > 0, hi > lo, probabilities), named by parameter

    def build(self) -> Law:
        """The law (:mod:`riskopt.laws`; ``discrete``: a :class:`~riskopt.space.Scenarios`)."""
        if self.name == "censored_exponential":
            return censored_exponential(_number("rate", self.rate), _number("cap", self.cap))
        if self.name == "uniform":
            return Uniform(_number("lo", self.lo), _number("hi", self.hi))
        if self.name == "exponential":
            return Exponential(_number("rate", self.rate))
        return Discrete(self.values, self.probs)


def _number(key: str, value: float | None) -> float:
    return real(key, value)  # __post_init__ requires every parameter of the law: None is not given


def _law(value: Any, path: str) -> Law:
    return read_spec(LawSpec, Node(value, path)).build()


# ------------------------------------------------------------------------------ readers
def _states(ctx: Context) -> Scenarios | None:
    market = ctx.values.get("market")
    return market.states if isinstance(market, MarketOptions) else None


def _read_loss(value: Any, path: str, ctx: Context) -> Law | np.ndarray:
    if isinstance(value, list):
        space = _states(ctx)
        if space is None:
            raise ModelError(path, value, "a law table (a list of losses per state needs market.states)")
        return number_list(value, path, space.size)
    if isinstance(value, dict):
        return _law(value, path)
    raise ModelError(path, value, "a law table {name = ..., ...} or a list of losses per state")


def _read_measure(value: Any, path: str, ctx: Context) -> Measure:
    if not isinstance(value, dict):
        raise ModelError(path, value, "a measure table {name = ..., ...}")
    draws = ctx.draws if isinstance(ctx.draws, Draws) else Draws(None)
    return build_measure(Node(value, path), draws)


def _read_beliefs(value: Any, path: str, ctx: Context) -> Law | tuple[Law, ...] | np.ndarray:
    if isinstance(value, dict):
        return _law(value, path)
    if not isinstance(value, list):
        raise ModelError(path, value, "a law table, a list of law tables (one per insurer) or a list of "
                         "probabilities per state")
    if value and all(isinstance(v, dict) for v in value):
        n = len(ctx.values.get("insurers", ()))
        if len(value) != n:
            raise ModelError(path, f"{len(value)} laws", f"one law per insurer ({n})")
        return tuple(_law(v, f"{path}[{k}]") for k, v in enumerate(value))
    space = _states(ctx)
    if space is None:
        raise ModelError(path, value, "a law table or a list of law tables (probabilities per state need "
                         "market.states)")
    return number_list(value, path, space.size)


def _read_states(value: Any, path: str, ctx: Context) -> Scenarios:
    try:
        return Scenarios(number_list(value, path))
    except ModelError as err:
        raise ModelError(path, err.value, err.allowed, detail=err.detail) from None


def _agents(cls: type[T], key: str, noun: str) -> Callable[[Any, str, Context], tuple[T, ...]]:
    """The reader of ``[[insurers]]`` / ``[[reinsurers]]``: 1 to MAX_CARD_AGENTS tables, each read by
    ``cls`` with its default name ``"<noun> k"``."""

    def read(value: Any, path: str, ctx: Context) -> tuple[T, ...]:
        if not isinstance(value, list):
            raise ModelError(path, value, f"a list of tables ([[{key}]])")
        if not 1 <= len(value) <= MAX_CARD_AGENTS:
            raise ModelError(path, f"{len(value)} {key}", f"between 1 and {MAX_CARD_AGENTS}")
        out = []
        for k, table in enumerate(value):
            node = Node(table, f"{path}[{k}]")
            name = node.take("name", str, default=f"{noun} {k + 1}")
            out.append(read_spec(cls, node, ctx, name=name))
        return tuple(out)

    return read


def _agent_rows(cls: type[Any], key: str, help_: str) -> Callable[[str], list[Row]]:
    def rows(prefix: str) -> list[Row]:
        return [Row(f"{prefix}{key}[]", "array of tables", "required", f"1 to {MAX_CARD_AGENTS} tables", "",
                    help_), *reference(cls, f"{prefix}{key}[].")]

    return rows


def _check_fields(spec: Any) -> None:
    """The ``check`` of every field's option, for specs built in Python (a card's reader checks them
    as it reads, naming the TOML path)."""
    for f in dataclasses.fields(spec):
        opt = f.metadata.get("riskopt")
        value = getattr(spec, f.name)
        if isinstance(opt, Option) and opt.check is not None and value is not None:
            try:
                ok = bool(opt.check(value))
            except (TypeError, ValueError, ArithmeticError):
                ok = False
            if not ok:
                raise ModelError(f.name, value, opt.allowed)


def _finite(lo: float, *, strict: bool) -> Callable[[Any], bool]:
    return lambda v: bool(np.isfinite(v) and (v > lo if strict else v >= lo))


# ------------------------------------------------------------------------------ agents
@dataclass(frozen=True)
class InsurerSpec:
    """An insurer: its loss (a law on ``[0, M]``, or values per state of ``market.states``) and its
    Choquet risk measure (a normalised distortion of P: es, distortion, var, expectation; or a
    choquet capacity on the market's states)."""

    name: str = option(help="the insurer's name", allowed="a non-empty name, distinct from every other "
                       "agent's", shown_default='"insurer <k>" (k = 1, 2, ... in order)')
    loss: Law | Sequence[float] | np.ndarray = option(
        help="the insurer's loss X_i >= 0: a law table, or its values per state of market.states",
        allowed="a law table or a list of losses per state", units="loss", read=_read_loss,
        rows=lambda prefix: [Row(f"{prefix}loss", "law table or list of numbers", "required",
                                 "a law table, or one loss >= 0 per state of market.states", "loss",
                                 "the insurer's loss X_i (a law, or its values per state)"),
                             *reference(LawSpec, f"{prefix}loss.")])
    measure: Measure = option(
        help="the insurer's Choquet risk measure (its capacity alpha_i prices the layers it keeps)",
        allowed="a measure table: a normalised distortion of P (es, distortion, var, expectation) or a "
                "choquet capacity on market.states", read=_read_measure,
        rows=lambda prefix: [Row(f"{prefix}measure", "measure table", "required",
                                 "es, distortion, var, expectation, or choquet (a capacity on "
                                 "market.states); the tables of <agent>.measure below", "",
                                 "the insurer's Choquet risk measure")])


@dataclass(frozen=True)
class ReinsurerSpec:
    """A reinsurer with loading ``theta_j > 0``.

    ``beliefs``: its probability for the losses (risk-neutral): one law for every insurer's loss, a
    list of laws (one per insurer), or a probability vector over ``market.states``. ``measure``: a
    non-additive Choquet risk measure instead (a distortion of P, or a capacity on the states),
    which needs comonotone losses. Neither: risk-neutral under P. ``capacity``: a limit ``K_j`` on
    the layers it may write (the Pareto layer LP).
    """

    name: str = option(help="the reinsurer's name", allowed="a non-empty name, distinct from every other "
                       "agent's", shown_default='"reinsurer <k>" (k = 1, 2, ... in order)')
    loading: float = option(help="the loading theta_j: the reinsurer values layer z of insurer i at "
                            "(1 + theta_j) tau_j(X_i > z)", allowed="a loading theta > 0",
                            check=_finite(0.0, strict=True))
    beliefs: Law | Sequence[Law] | np.ndarray | None = option(
        None, help="the reinsurer's probability of the losses (risk-neutral); none: P",
        allowed="a law table (every insurer's loss), a list of law tables (one per insurer) or a list of "
                "probabilities per state of market.states", read=_read_beliefs,
        rows=lambda prefix: [Row(f"{prefix}beliefs", "law table, list of law tables or list of numbers",
                                 "none (P)", "a law table (as insurers[].loss), one per insurer, or "
                                 "probabilities per state of market.states", "",
                                 "the reinsurer's probability of the losses (risk-neutral)")])
    measure: Measure | None = option(
        None, help="a non-additive Choquet risk measure instead of beliefs (needs market.comonotone "
        "with several insurers)", read=_read_measure,
        rows=lambda prefix: [Row(f"{prefix}measure", "measure table", "none (beliefs)",
                                 "a distortion of P or a choquet capacity (the tables of "
                                 "<agent>.measure below); not with beliefs", "",
                                 "a non-additive Choquet risk measure instead of beliefs")])
    capacity: float | None = option(
        None, help="a limit K_j on the layers it writes: sum_i I_ij(M) (capacity_weight = 'limit') or "
        "sum_i E[I_ij(X_i)] ('expected'); market.solve = 'pareto' only", allowed="a capacity K >= 0",
        units="loss", check=_finite(0.0, strict=False))


# ------------------------------------------------------------------------------ the market
@dataclass(frozen=True)
class MarketOptions(Checked):
    """How the market is solved, and what it is declared on (``[market]``)."""

    solve: Literal["spne", "pareto", "best_response"] = option(
        "spne", help="spne: the canonical SPNE (Stackelberg with one reinsurer), pointwise, checked "
        "against the Pareto LP; pareto: a Pareto optimum by the layer LP (capacity limits, VCG or dual "
        "premiums); best_response: the insurers' best responses to posted prices, verified as an "
        "equilibrium; with [[constraints]], spne and pareto solve the constrained Pareto LP",
        allowed=f"one of {list(SOLVES)}")
    bound: float | None = option(
        None, help="M, an upper bound of every loss; layers above the losses' support are worth nothing "
        "and not gridded (the result reports bound_used); an unbounded law is truncated at M",
        allowed="a finite number M > 0 above every loss (default: the largest support end)", units="loss",
        check=_finite(0.0, strict=True), shown_default="the largest end of the losses' supports")
    prices: Literal["own", "monopoly"] = option(
        "own", help="the posted prices of solve = 'best_response': each reinsurer at its own valuation "
        "tau_ij, or every reinsurer at the insurer's monopoly price alpha_i",
        allowed=f"one of {list(POSTED)} (the posted prices of solve = 'best_response')")
    comonotone: bool = option(False, help="the losses are comonotone, so that reinsurers may be "
                              "non-additive (Thm 3.8); checked on the states when losses are per state")
    compare_with: str | None = option(None, help="also solve the market with this reinsurer alone (the "
                                      "Stackelberg column of Table 2)", allowed="a reinsurer's name")
    pareto_check: bool = option(True, help="solve = 'spne': also solve the Pareto LP on [solver] (Pareto "
                                "optimality, VCG premiums)")
    premiums: Literal["vcg", "dual"] | None = option(
        None, help="solve = 'pareto': VCG premiums (the SPNE's, m more solves) or dual (competitive) "
        "prices", allowed="'vcg' or 'dual'",
        shown_default="vcg, or dual with capacity limits or [[constraints]]")
    capacity_weight: Literal["limit", "expected"] = option(
        "limit", help="what a reinsurer's capacity bounds: the limits written, sum_i I_ij(M), or the "
        "expected claims, sum_i E[I_ij(X_i)]", allowed="'limit' or 'expected'")
    cells: int = option(CELLS, help="uniform layer cells per insurer (exact breakpoints, kinks and "
                        "quantiles are added)", allowed=f"an integer number of cells in [1, {MAX_CELLS}]",
                        check=lambda c: 1 <= c <= MAX_CELLS)
    nodes: int = option(NODES, help="Gauss-Legendre nodes per cell (curves without closed-form "
                        "integrals)", allowed=f"an integer number of nodes in [1, {MAX_NODES}]",
                        check=lambda k: 1 <= k <= MAX_NODES)
    states: Scenarios | None = option(
        None, help="the probabilities of a finite space: losses (and beliefs) may then be given per "
        "state", allowed="probabilities, nonnegative and summing to 1", read=_read_states,
        rows=lambda prefix: [Row(f"{prefix}states", "list of numbers", "none",
                                 "probabilities, nonnegative and summing to 1", "",
                                 "the probabilities of a finite space: losses and beliefs may then "
                                 "be given per state")])

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_fields(self)


@dataclass(frozen=True, kw_only=True)
class ReinsuranceSpec(Constrained):
    """A reinsurance market with many insurers and many reinsurers (Andraos, Ghossoub, Zhu 2025)
    and how it is solved: the reinsurance_market mechanism."""

    market: MarketOptions = option(default_factory=MarketOptions, help="how the market is solved "
                                   "([market])", shown_default="solve = 'spne', bound from the losses")
    insurers: tuple[InsurerSpec, ...] = option(
        help="the insurers ([[insurers]])", read=_agents(InsurerSpec, "insurers", "insurer"),
        rows=_agent_rows(InsurerSpec, "insurers", "one table per insurer"))
    reinsurers: tuple[ReinsurerSpec, ...] = option(
        help="the reinsurers ([[reinsurers]])", read=_agents(ReinsurerSpec, "reinsurers", "reinsurer"),
        rows=lambda prefix: [*_agent_rows(ReinsurerSpec, "reinsurers", "one table per reinsurer")(prefix),
                             *measure_rows("<agent>.measure")])
    constraints: tuple[ConstraintSpec, ...] = constraints_option(QUANTITIES)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "insurers", tuple(self.insurers))
        object.__setattr__(self, "reinsurers", tuple(self.reinsurers))
        object.__setattr__(self, "constraints", tuple(self.constraints))
        self._check_constraints()
        if self.market.solve == "spne":
            for j, re in enumerate(self.reinsurers):
                if re.capacity is not None:
                    raise ModelError(f"reinsurers[{j}].capacity", re.capacity,
                                     "no capacity limit with market.solve = 'spne'",
                                     detail="capacity limits couple the insurers and the SPNE "
                                            "characterisation no longer applies: use solve = 'pareto' "
                                            "(the layer LP)")
        names = [re.name for re in self.reinsurers]
        if self.market.compare_with is not None and self.market.compare_with not in names:
            raise ModelError("market.compare_with", self.market.compare_with, f"one of {names}")

    def footprint(self) -> Footprint:
        """Estimated peak memory (:mod:`riskopt.budget`): every reinsurer's share of every insurer's
        layer cells (the layer LP and the SPNE's cell arrays)."""
        n, grid = len(self.insurers), self.market.cells + EXTRA_CELLS
        return (cells(CELL_BYTES, ("insurers", "reinsurers", "market.cells"), insurers=n,
                      reinsurers=len(self.reinsurers), cells=grid)
                + cells(INSURER_CELL_BYTES, ("insurers", "market.cells"), insurers=n, cells=grid))

    def _check_constraints(self) -> None:
        """The layer LP's own limits on ``[[constraints]]`` (beyond unknown names, refused by
        :func:`~riskopt.constraints.check_constraints`): retention is an insurer's; several insurers'
        rows are different layers; ``aggregate_multiple`` needs one aggregate; and the routes that
        cannot take constraints (best responses, VCG premiums, the monopoly comparison)."""
        cons = self.constraints
        check_constraints(cons, {"insurer": [i.name for i in self.insurers],
                                 "reinsurer": [r.name for r in self.reinsurers]}, QUANTITIES)
        for k, c in enumerate(cons):
            at = f"constraints[{k}]"
            many = len(c.members([i.name for i in self.insurers] if c.role == "insurer"
                                 else [r.name for r in self.reinsurers])) > 1
            if c.quantity == "retention" and c.role == "reinsurer":
                raise ModelError(f"{at}.what", c.what, "ceded or limit for a reinsurer (retention is an "
                                 "insurer's)")
            per_cell = c.quantity not in SCALAR_QUANTITIES
            if c.role == "insurer" and many and c.rows == "every_state" and per_cell:
                raise ModelError(f"{at}.insurers", list(c.members([i.name for i in self.insurers])),
                                 "one insurer for scope = 'every_state' (each insurer's layer cells are its "
                                 "own), or scope = 'expectation'")
            if c.aggregate_multiple and (c.quantity in SCALAR_QUANTITIES or (c.role == "insurer" and many)):
                raise ModelError(f"{at}.aggregate_multiple", c.aggregate_multiple,
                                 "0 here: the aggregate (the whole layer, share 1) is defined for one "
                                 "insurer's or every insurer's cells, not for limit")
        if not cons:
            return
        if self.market.solve == "best_response":
            raise ModelError("market.solve", "best_response", "'pareto' (or 'spne') with [[constraints]]",
                             detail="user constraints are written into the Pareto layer LP")
        if self.market.premiums == "vcg":
            raise ModelError("market.premiums", "vcg", "'dual' with [[constraints]]",
                             detail="the VCG identities split V* insurer by insurer and price each "
                                    "reinsurer by its marginal value in the unconstrained market; user "
                                    "constraints change both (see 'Your own constraints')")
        if self.market.compare_with is not None:
            raise ModelError("market.compare_with", self.market.compare_with, "none with [[constraints]]",
                             detail="the constraints name agents of this market, not of the monopoly")
