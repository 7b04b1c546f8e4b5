"""The taxation mechanism's input: a law economy or the storm study (``mechanism = "disaster_taxation"``).

Two specs share the base :class:`TaxationSpec` and the ``[afpo]`` section:

* :class:`LawEconomySpec` (``[[regions]]``, ``[law]``, ``[output]``, ``[program]``): regions without an
  insurer facing a given law of the total loss;
* :class:`StormStudySpec` (``[storm]``, ``[insurer]``, ``[disutility]``, ``[comparison]``): the storm
  study of the paper

A card has exactly one of ``[storm]`` and ``[[regions]]`` (:func:`read_card`). Every field's default is
written once: in these dataclasses, or (``shown_default`` notes where) in the function or model the
field is handed to (:func:`~.studies.storm_study`, :class:`~.storm.StormModel`,
:class:`~.storm.StormTrack`, :data:`~.economy.STUDY_INSURER`).
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ...budget import SHARING_ENTRY_BYTES, Footprint, cells
from ...cardschema import MAX_AGENTS, MAX_STATES, Draws, loss_table_rows, read_loss_table
from ...constraints import Constrained, ConstraintSpec, constraints_option
from ...errors import ModelError
from ...losstables import LossTable
from ...space import Scenarios
from ...spec import Checked, Context, Node, Row, number_list, option, read_spec
from .constrained import QUANTITIES, check_region_constraints, fold_caps
from .disutility import ExponentialPayments, PaymentDisutility, payment_disutility
from .economy import STUDY_INSURER, DefaultableInsurer
from .fast import METHODS, solve_afpo
from .law import ResidualLaw, UniformAtomLaw, residual_law
from .storm import StormModel, StormTrack, regions_from_csv, synthetic_names
from .studies import law_economy, storm_study

__all__ = ["CARD_SPEC", "CARD_SUMMARY", "MAX_CELLS", "AfpoSpec", "ComparisonSpec", "LawEconomySpec",
           "LossStudySpec", "OutputSpec", "ProgramSpec", "RegionSpec", "StormSpec", "StormStudySpec",
           "StudySpec",
           "TaxationSpec", "WealthSpec", "read_card"]

#: a card may not ask for more than this many loss values (regions x scenarios): about 4 GB
MAX_CELLS = 500_000_000
#: peak bytes per region x scenario of the storm study (losses, taxes, the four schemes): measured
#: 9-14 B on 212 x 100,000-400,000 and 2,000 x 50,000
STORM_CELL_BYTES = 24.0
#: peak bytes per pair of regions (the copula's correlation, its factor and eigendecomposition):
#: measured 41 B
COPULA_PAIR_BYTES = 64.0
#: peak bytes per region (its Beta quantile table and AFPO layer): measured 0.16 MB
REGION_BYTES = 0.25e6
#: peak bytes per value of a finite law (the AFPO rule's sorted law and tail sums): measured 128 B,
#: with :data:`REGION_BYTES` per region (not regions x values)
LAW_VALUE_BYTES = 192.0
#: peak bytes per region x scenario (or bin) of the declarative taxation program (cvxpy, one power or
#: exponential cone per entry: like a sharing program's entries)
PROGRAM_CELL_BYTES = SHARING_ENTRY_BYTES


def _default(fn: Callable[..., Any], name: str) -> Any:
    """The default of parameter ``name`` of ``fn``, or of field ``name`` of the dataclass ``fn``:
    where the default is written."""
    if dataclasses.is_dataclass(fn):
        f = next(f for f in dataclasses.fields(fn) if f.name == name)
        return f.default
    return inspect.signature(fn).parameters[name].default


def _finite(lo: float, hi: float | None = None, *, open_lo: bool = False) -> Callable[[Any], bool]:
    def check(x: Any) -> bool:
        ok = bool(np.isfinite(x)) and (x > lo if open_lo else x >= lo)
        return ok and (hi is None or x <= hi)
    return check


# ------------------------------------------------------------------------------- shared parts
def _read_disutility(value: Any, path: str, ctx: Context) -> PaymentDisutility:
    node = Node(value, path)
    name = node.take("name", str, allowed="'exponential', 'power' or a utility name (cara, crra, ...)")
    params = {k: v for k, v in node.data.items() if k != "name"}
    node.used.update(params)
    for k, v in params.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ModelError(node.at(k), v, "a number")
    try:
        return payment_disutility(name, **{k: float(v) for k, v in params.items()})
    except ModelError as err:
        raise err.with_prefix(node.path) from None
    except TypeError as err:
        raise ModelError(node.path, node.data, f"the parameters of the disutility '{name}'",
                         detail=str(err)) from None


def _disutility_rows(path: str, default: str = "required") -> list[Row]:
    return [Row(path, "table", default, "{name = ..., parameters}", "",
                "how a region values a payment l: exponential (tolerance g: v(l) = g exp(l/g)), power "
                "(p, shift b: u(x) = (b + x)^p, v(l) = -u(w - l)) or a registered utility (cara with "
                "gamma, crra with eta and shift: v(l) = -u(w - l))")]


def _disutility_reference(prefix: str) -> list[Row]:
    return _disutility_rows(prefix + "disutility")


def _study_disutility_reference(prefix: str) -> list[Row]:
    return _disutility_rows(prefix + "disutility", ExponentialPayments().describe())


@dataclass(frozen=True)
class AfpoSpec(Checked):
    """How the AFPO weights are found (``[afpo]``)."""

    method: Literal["newton", "fixed_point", "algorithm2"] = option(
        _default(solve_afpo, "method"), help="Newton on the convex potential, the damped fixed "
        "point, or the paper's Algorithm 2", allowed=" or ".join(f"'{m}'" for m in METHODS))
    tol: float = option(_default(solve_afpo, "tol"),
                        help="relative fairness tolerance max_i |E[T_i] - e_i| / e_i",
                        allowed="a relative tolerance in (0, 1)",
                        check=lambda t: bool(np.isfinite(t)) and 0 < t < 1)


#: how the [afpo] section's default is shown
_AFPO_DEFAULT = f"{AfpoSpec().method}, tol {AfpoSpec().tol:g}"


@dataclass(frozen=True)
class TaxationSpec(Constrained):
    """The base of the taxation specs (what :func:`riskopt.mechanisms.solve` dispatches on); both take
    the modeler's ``constraints`` on the regions' taxes (:mod:`.constrained`)."""


# ----------------------------------------------------------------------------- law economies
@dataclass(frozen=True, kw_only=True)
class RegionSpec(Checked):
    """One region of a law economy (``[[regions]]``)."""

    name: str | None = option(None, help="the region's name", shown_default='"region {k}"',
                              allowed="distinct names")
    wealth: float = option(help="the region's wealth w_i (its tax-bearing capacity: no insurer)",
                           allowed="a finite wealth > 0", check=_finite(0.0, open_lo=True))
    expected_loss: float = option(help="the fairness target E[X_i]", allowed="a finite expected loss >= 0",
                                  check=_finite(0.0))
    disutility: PaymentDisutility = option(help="the disutility of payments", read=_read_disutility,
                                           rows=_disutility_reference)


def _read_law(value: Any, path: str, ctx: Context) -> ResidualLaw:
    node = Node(value, path)
    kind = node.take("kind", str, allowed="'atom_uniform', 'samples' or 'discrete'")
    law: ResidualLaw
    if kind == "atom_uniform":
        p0 = node.take("p0", float, allowed="a probability of no loss in [0, 1)")
        regions = ctx.values.get("regions", ())
        total = float(sum(r.wealth for r in regions))  # the default top of the support
        law = UniformAtomLaw(p0, node.take("upper", float, default=total))
    elif kind in ("samples", "discrete"):
        values = number_list(node.take("values", list), node.at("values"))
        if not 1 <= values.size <= MAX_STATES:
            raise ModelError(node.at("values"), f"{values.size} values", f"between 1 and {MAX_STATES} values")
        probs = None
        if kind == "discrete":
            probs = number_list(node.take("probs", list), node.at("probs"), values.size)
        law = residual_law(values, probs, field=node.at("values"))
    else:
        raise ModelError(node.at("kind"), kind, "'atom_uniform', 'samples' or 'discrete'")
    node.finish()
    return law


def _law_rows(path: str) -> list[Row]:
    return [Row(f"{path}.kind", 'one of "atom_uniform", "samples", "discrete"', "required", "", "",
                "the law of the total loss S"),
            Row(f'{path}.p0 (kind = "atom_uniform")', "number", "required", "in [0, 1)", "",
                "P(S = 0); else S is uniform on [0, upper]"),
            Row(f'{path}.upper (kind = "atom_uniform")', "number", "the total wealth", "> 0", "",
                "the top of the support"),
            Row(f'{path}.values (kind = "samples" or "discrete")', "list of numbers", "required",
                f"1 to {MAX_STATES} finite values >= 0", "", "equally likely samples, or the atoms"),
            Row(f'{path}.probs (kind = "discrete")', "list of numbers", "required",
                "one per value, summing to 1", "", "the atoms' probabilities")]


@dataclass(frozen=True)
class OutputSpec(Checked):
    """What the result reports (``[output]``)."""

    grid: int = option(_default(law_economy, "grid_points"), help="points s of the reported tax table",
                       allowed="a number of s points in [2, 10000]", check=lambda g: 2 <= g <= 10_000)


@dataclass(frozen=True)
class ProgramSpec(Checked):
    """The declarative program on the quantile-binned law (``[program]``)."""

    bins: int = option(help="quantile bins of the law the program runs on", allowed="a number of quantile "
                       "bins in [1, 5000]", check=lambda b: 1 <= b <= 5000)


@dataclass(frozen=True, kw_only=True)
class LawEconomySpec(TaxationSpec):
    """Regions without an insurer facing a law of the total loss: caps ``w_i``, targets ``E[X_i]``."""

    afpo: AfpoSpec = option(default_factory=AfpoSpec, help="how the AFPO weights are found",
                            shown_default=_AFPO_DEFAULT)
    regions: tuple[RegionSpec, ...] = option(help="the regions, one table each ([[regions]])",
                                             allowed=f"1 to {MAX_AGENTS} region tables")
    law: ResidualLaw = option(help="the law of the total loss S (a Scenarios or UniformAtomLaw in Python)",
                              read=_read_law, rows=lambda prefix: _law_rows(prefix + "law"))
    output: OutputSpec = option(default_factory=OutputSpec, help="what the result reports",
                                shown_default=f"a {OutputSpec().grid}-point tax table")
    program: ProgramSpec | None = option(None, help="also solve the declarative program on quantile bins "
                                         "(the fast path's cross-check; the bins of method='program')")
    constraints: tuple[ConstraintSpec, ...] = constraints_option(QUANTITIES)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.law, (Scenarios, UniformAtomLaw)):
            raise ModelError("law", type(self.law).__name__, "a finite law (a Scenarios) or a UniformAtomLaw")
        n = len(self.regions)
        if not 1 <= n <= MAX_AGENTS:
            raise ModelError("regions", f"{n} regions", f"between 1 and {MAX_AGENTS} regions")
        seen: set[str] = set()
        for i, name in enumerate(self.names):
            if name in seen:
                raise ModelError(f"regions[{i}].name", name, "distinct region names",
                                 detail="duplicated region name")
            seen.add(name)
        check_region_constraints(self.constraints, self.names)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(r.name if r.name is not None else f"region {i + 1}" for i, r in enumerate(self.regions))

    @property
    def wealth(self) -> np.ndarray:
        return np.asarray([r.wealth for r in self.regions])

    @property
    def expected_losses(self) -> np.ndarray:
        return np.asarray([r.expected_loss for r in self.regions])

    @property
    def disutilities(self) -> list[PaymentDisutility]:
        return [r.disutility for r in self.regions]

    def footprint(self) -> Footprint:
        """Estimated peak memory (:mod:`riskopt.budget`): the AFPO rule's arrays over the law's values
        (a finite law's, else the tax table's grid) and per region, and the program on its quantile
        bins."""
        values = self.law.size if isinstance(self.law, Scenarios) else self.output.grid
        found = (cells(LAW_VALUE_BYTES, ("law",), values=values)
                 + cells(REGION_BYTES, ("regions",), region_tables=len(self.regions)))
        if self.program is None:
            return found
        return found + cells(PROGRAM_CELL_BYTES, ("regions", "program.bins"), regions=len(self.regions),
                             bins=self.program.bins)


# ----------------------------------------------------------------------------------- storm
def _read_track(node: Node, path: str, ctx: Context) -> StormTrack:
    given: dict[str, Any] = {}
    raw = node.take("track", list, default=None)
    if raw is not None:
        if len(raw) != 2:
            raise ModelError(node.at("track"), raw, "two points [[x0, y0], [x1, y1]]")
        pts = [number_list(p, node.at(f"track[{j}]"), 2) for j, p in enumerate(raw)]
        given["start"], given["end"] = (tuple(float(v) for v in pts[0]), tuple(float(v) for v in pts[1]))
    unit = node.take("length_unit", float, default=None)
    if unit is not None:
        given["unit"] = unit
    return StormTrack(**given)


def _track_rows(prefix: str) -> list[Row]:
    t = StormTrack()
    return [Row(f"{prefix}track", "two points [[x0, y0], [x1, y1]]", repr([list(t.start), list(t.end)]),
                "", "degrees", "the straight storm track"),
            Row(f"{prefix}length_unit", "number", repr(t.unit), "> 0", "degrees", "the unit of the distance "
                "d_i of a centroid to the track")]


@dataclass(frozen=True, kw_only=True)
class StormSpec(Checked):
    """The synthetic storm (``[storm]``)."""

    csv: str | None = option(None, help="regions from a CSV (name, wealth, x, y) instead of synthetic ones")
    regions: int | None = option(None, help="the number of synthetic regions",
                                 shown_default=f"{_default(storm_study, 'regions')} (none with csv)",
                                 allowed="a number of synthetic regions in [2, 20000]",
                                 check=lambda n: 2 <= n <= 20_000)
    scenarios: int = option(_default(storm_study, "scenarios"), help="equally likely scenarios",
                            allowed=f"a number of scenarios in [1, {MAX_STATES}]",
                            check=lambda n: 1 <= n <= MAX_STATES)
    track: StormTrack = option(default_factory=StormTrack, help="the storm track", whole=True,
                               read=_read_track, rows=_track_rows)
    beta_b: float = option(_default(StormModel, "beta_b"), help="the Beta shape b of the destruction rates",
                           allowed="a positive Beta shape", check=_finite(0.0, open_lo=True))
    psd: Literal["repair", "raise"] = option(
        _default(StormModel, "psd"), help="a copula correlation that is not positive semidefinite: repaired "
        "(with a warning) or refused", allowed="'repair' or 'raise'")
    streams: Literal["single", "blocks"] = option(
        _default(storm_study, "streams"), help="one generator in a fixed draw order, or seeded blocks "
        "(any runner, same numbers)", allowed="'single' or 'blocks'")
    factor_rank: int | None = option(_default(StormModel, "factor_rank"), help="a low-rank copula factor "
                                     "(omit it for the exact factor)", allowed="a positive rank (omit it for "
                                     "the exact factor)", check=lambda k: k >= 1)
    quantile_step: float = option(_default(StormModel, "quantile_step"), help="the grid step of the Beta "
                                  "quantile table", allowed="a grid step in (0, 0.1]",
                                  check=_finite(0.0, 0.1, open_lo=True))
    premium_basis: Literal["sample", "expected"] = option(
        _default(storm_study, "premium_basis"), help="premiums from the sample's moments or the model's "
        "exact ones", allowed="'sample' or 'expected'")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.csv is not None and self.regions is not None:
            raise ModelError("regions", self.regions,
                             "either regions (synthetic) or csv (your regions), not both")
        n = self.synthetic
        if n is not None and n * self.scenarios > MAX_CELLS:
            raise ModelError("scenarios", self.scenarios, f"regions x scenarios <= {MAX_CELLS:.0e}")

    @property
    def synthetic(self) -> int | None:
        """The number of synthetic regions (``None`` with ``csv``)."""
        if self.csv is not None:
            return None
        return self.regions if self.regions is not None else int(_default(storm_study, "regions"))

    def model_options(self) -> dict[str, Any]:
        return {"track": self.track, "beta_b": self.beta_b, "psd": self.psd, "factor_rank": self.factor_rank,
                "quantile_step": self.quantile_step}


_INSURER_KEYS = ("theta", "eta", "capital", "own_capital")


def _read_insurer(value: Any, path: str, ctx: Context) -> DefaultableInsurer:
    """Keys given override the study's insurer; ``own_capital`` replaces its ``capital``."""
    node = Node(value, path)
    given: dict[str, Any] = {}
    for key in _INSURER_KEYS:
        v = node.take(key, float, default=None)
        if v is not None:
            given[key] = v
    if "surplus_shares" in node.data:
        shares = node.take("surplus_shares", (float, list))
        given["surplus_shares"] = number_list(shares, node.at("surplus_shares")) if isinstance(shares, list) \
            else shares
    node.finish()
    if "own_capital" in given and "capital" not in given:
        given["capital"] = None
    try:
        return dataclasses.replace(STUDY_INSURER, **given)
    except ModelError as err:  # the insurer names its fields insurer.*
        raise ModelError(err.field if err.field.startswith(path) else f"{path}.{err.field}", err.value,
                         err.allowed, detail=err.detail) from None


def _insurer_rows(prefix: str) -> list[Row]:
    d = STUDY_INSURER
    p = prefix + "insurer"
    return [Row(f"{p}.theta", "number", repr(d.theta), ">= 0", "",
                "safety loading: pi_i = (1 + theta) E[X_i] + eta sd[X_i]"),
            Row(f"{p}.eta", "number", repr(d.eta), ">= 0", "", "standard-deviation loading"),
            Row(f"{p}.capital", "number", repr(d.capital), ">= the premium income", "", "total capital K"),
            Row(f"{p}.own_capital", "number", "none", ">= 0", "", "own capital k0 instead: K = k + k0"),
            Row(f"{p}.surplus_shares", "number or list", repr(d.surplus_shares), "shares >= 0 summing to at "
                "most 1", "", "shares s_i of the surplus k - S paid back when S < k")]


def _read_event(value: Any, path: str, ctx: Context) -> str | int:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ModelError(path, value, "'median_default', 'largest' or a scenario index")
    if isinstance(value, str) and value not in ("median_default", "largest"):
        raise ModelError(path, value, "'median_default', 'largest' or a scenario index")
    return value


@dataclass(frozen=True)
class ComparisonSpec(Checked):
    """The scheme comparison's single event (``[comparison]``)."""

    event: str | int = option(_default(storm_study, "event"), help="the scenario shown in detail: the "
                              "default scenario with the median total loss, the largest, or an index",
                              allowed="'median_default', 'largest' or a scenario index", read=_read_event)


@dataclass(frozen=True, kw_only=True)
class StudySpec(TaxationSpec):
    """The sections every study shares: an insurer that can default, AFPO taxation of its residual
    claims, the comparison of the four schemes, and the modeler's constraints on the taxes."""

    afpo: AfpoSpec = option(default_factory=AfpoSpec, help="how the AFPO weights are found",
                            shown_default=_AFPO_DEFAULT)
    insurer: DefaultableInsurer = option(default_factory=lambda: STUDY_INSURER, help="the insurer",
                                         read=_read_insurer, rows=_insurer_rows,
                                         shown_default=f"theta = {STUDY_INSURER.theta}, "
                                                       f"K = {STUDY_INSURER.capital}")
    disutility: PaymentDisutility = option(default_factory=ExponentialPayments,
                                           help="the disutility of payments", read=_read_disutility,
                                           rows=_study_disutility_reference,
                                           shown_default=ExponentialPayments().describe())
    comparison: ComparisonSpec = option(default_factory=ComparisonSpec, help="the scheme comparison",
                                        shown_default=f"event {ComparisonSpec().event!r}")
    constraints: tuple[ConstraintSpec, ...] = constraints_option(QUANTITIES)


@dataclass(frozen=True, kw_only=True)
class StormStudySpec(StudySpec):
    """The storm study of the paper: regions, scenarios, an insurer that can default, AFPO taxation of
    its residual claims, and the comparison of the four schemes."""

    storm: StormSpec = option(default_factory=StormSpec, help="the synthetic storm",
                              shown_default=f"{StormSpec().synthetic} regions, "
                                            f"{StormSpec().scenarios} scenarios")
    seed: int | None = option(_default(storm_study, "seed"), card=False,
                              help="the storm's seed (a card's [model] seed)")

    def __post_init__(self) -> None:
        super().__post_init__()
        n = self.storm.synthetic
        shares = np.asarray(self.insurer.surplus_shares, float)
        if n is not None and shares.ndim == 1 and shares.size not in (1, n):  # csv: counted at run time
            raise ModelError("insurer.surplus_shares", f"{shares.size} shares",
                             f"one share, or one per region ({n})")
        event = self.comparison.event
        if isinstance(event, int) and not 0 <= event < self.storm.scenarios:
            raise ModelError("comparison.event", event, f"a scenario index in [0, {self.storm.scenarios})")
        if n is not None:  # csv regions: checked when the file is read
            check_region_constraints(self.constraints, synthetic_names(n))

    def footprint(self) -> Footprint:
        """Estimated peak memory (:mod:`riskopt.budget`): the regions x scenarios losses and taxes
        of the study, and the declarative program on them when the constraints are not caps."""
        st = self.storm
        n = st.synthetic if st.synthetic is not None else regions_from_csv(st.csv or "").n
        fields = ("storm.regions" if st.csv is None else "storm.csv", "storm.scenarios")
        found = (cells(STORM_CELL_BYTES, fields, regions=n, scenarios=st.scenarios)
                 + cells(COPULA_PAIR_BYTES, fields[:1], regions=n, pairs_with=n)
                 + cells(REGION_BYTES, fields[:1], region_tables=n))
        if not self.constraints or fold_caps(self.constraints, synthetic_names(n) if st.csv is None
                                             else regions_from_csv(st.csv).names, np.ones(n),
                                             np.full(n, np.inf)) is not None:
            return found
        return found + cells(PROGRAM_CELL_BYTES, ("constraints", *fields), program_regions=n,
                             program_scenarios=st.scenarios)


# ------------------------------------------------------------------------------ modelled losses
@dataclass(frozen=True)
class WealthSpec(Checked):
    """The regions' wealth in a study on modelled losses (``[wealth]``): proportional to their
    exposure values, or given one per region."""

    per_exposure: float | None = option(None, help="wealth w_i = per_exposure x exposure value of region i",
                                        allowed="a share > 0", check=lambda v: v is None or v > 0)
    values: tuple[float, ...] | None = option(None, help="one wealth per region, in the table's region order",
                                              allowed="finite wealths > 0",
                                              read=lambda v, path, ctx: tuple(number_list(v, path)))

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.per_exposure is None) == (self.values is None):
            # named relative to the section (read_spec prefixes "wealth."): wealth.per_exposure
            raise ModelError("per_exposure", self.per_exposure, "exactly one of per_exposure or values",
                             detail="both given" if self.values is not None else "neither given")


@dataclass(frozen=True, kw_only=True)
class LossStudySpec(StudySpec):
    """The storm study's economy on modelled losses: a year loss table, or an event loss table (a
    file, or CLIMADA's impact of a hazard on exposures) simulated to years (``[losses]``,
    :mod:`riskopt.losstables`); the regions' wealth from ``[wealth]``."""

    losses: LossTable = option(help="the modelled losses: a [losses] table of a year_loss_table, "
                                    "event_loss_table or climada kind (like a [space] of those kinds)",
                               read=lambda v, path, ctx: read_loss_table(Node(v, path), ctx),
                               rows=loss_table_rows)
    wealth: WealthSpec = option(help="the regions' wealth")

    def __post_init__(self) -> None:
        super().__post_init__()
        n = len(self.losses.regions)
        if self.wealth.values is not None and len(self.wealth.values) != n:
            raise ModelError("wealth.values", f"{len(self.wealth.values)} values", f"one per region ({n})")
        if self.wealth.per_exposure is not None and self.losses.exposure is None:
            raise ModelError("wealth.per_exposure", self.wealth.per_exposure, "a loss table with exposure "
                             "values per region", detail="give wealth.values instead")
        event = self.comparison.event
        if isinstance(event, int) and not 0 <= event < self.losses.probs.size:
            raise ModelError("comparison.event", event, f"a year index in [0, {self.losses.probs.size})")
        check_region_constraints(self.constraints, self.losses.regions)

    def footprint(self) -> Footprint:
        """Estimated peak memory (:mod:`riskopt.budget`): the study's regions x years (the table is
        in memory already), and the program on them when the constraints are not caps."""
        n, years = len(self.losses.regions), int(self.losses.probs.size)
        found = (cells(STORM_CELL_BYTES, ("losses",), regions=n, scenarios=years)
                 + cells(REGION_BYTES, ("losses",), region_tables=n))
        ones = np.ones(n)
        if not self.constraints or fold_caps(self.constraints, self.losses.regions, ones,
                                             np.full(n, np.inf)) is not None:
            return found
        return found + cells(PROGRAM_CELL_BYTES, ("constraints", "losses"), program_regions=n,
                             program_scenarios=years)


# ------------------------------------------------------------------------------------ cards
def _card_spec() -> type[Any]:
    """The card's reference: every section of both kinds (a card holds one kind's sections), made
    from the two specs' own fields (their declarations, defaults and help are not repeated)."""
    fields: list[tuple[str, Any, Any]] = []
    seen: set[str] = set()
    for cls in (LawEconomySpec, StormStudySpec, LossStudySpec):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.name in seen:
                continue
            seen.add(f.name)
            copy: Any = dataclasses.field(metadata=f.metadata)
            if f.default is not dataclasses.MISSING:
                copy = dataclasses.field(default=f.default, metadata=f.metadata)
            elif f.default_factory is not dataclasses.MISSING:
                copy = dataclasses.field(default_factory=f.default_factory, metadata=f.metadata)
            fields.append((f.name, hints[f.name], copy))
    return dataclasses.make_dataclass("DisasterTaxationCard", fields, frozen=True, kw_only=True)


#: the documentation of a disaster_taxation card (riskopt.cards.reference_rows): both kinds' sections
CARD_SPEC = _card_spec()
#: what the generated card reference says first
CARD_SUMMARY = ("Disaster risk financing through ex-post taxation (Niakh, Charpentier, Hillairet, Ratz). "
                "A card is a law economy "
                "([[regions]], [law], optionally [output] and [program]) or the storm study ([storm], "
                "optionally [insurer], [disutility] and [comparison]); both read [afpo] and take "
                "[[constraints]] on the regions' taxes (what = \"tax\" or \"tax_share_of_wealth\", per "
                "scenario with a default or in expectation).")


def read_card(root: Node, draws: Draws) -> LawEconomySpec | StormStudySpec | LossStudySpec:
    """``[[regions]]`` + ``[law]`` (a law economy), ``[storm]`` (the storm study) or ``[losses]`` +
    ``[wealth]`` (the study on modelled losses); the seed of a storm card is the card's ``[model]
    seed`` (default: the paper's)."""
    kinds = [k for k in ("storm", "regions", "losses") if k in root.data]
    if len(kinds) != 1:
        raise ModelError("storm", None, "exactly one of [storm] (the storm study), [[regions]] with [law] "
                         "or [losses] with [wealth] (a study on modelled losses)",
                         detail=f"found {kinds}" if kinds else "")
    context = Context(draws)
    if kinds[0] == "storm":
        given = {} if draws.seed is None else {"seed": draws.seed}
        return read_spec(StormStudySpec, root, context, finish=False, **given)
    if kinds[0] == "losses":
        return read_spec(LossStudySpec, root, context, finish=False)
    return read_spec(LawEconomySpec, root, context, finish=False)
