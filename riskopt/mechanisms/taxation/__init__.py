"""Disaster risk financing through ex-post taxation: AFPO tax layers for many regions (Niakh et al.).

Regions ``i`` with wealth ``w_i`` and losses ``X_i`` buy insurance from an insurer that can default
(capital ``K``); the residual claims ``eps_i`` (total ``S_eps = (S - K)^+``) are financed by the
government through taxes ``T_i(S_eps)`` that are Pareto optimal for the regions' disutilities
``v_i`` and actuarially fair, ``E[T_i] = E[eps_i]`` (AFPO). Spec: ``disaster_taxation.md``; card
mechanism ``"disaster_taxation"``.

``solve(spec, method=...)`` takes a :class:`LawEconomySpec` (regions facing a law of the total loss),
a :class:`StormStudySpec` (the storm study) or a :class:`LossStudySpec` (the same study on modelled
losses: a year or event loss table, or CLIMADA's impact of a hazard; :mod:`riskopt.losstables`):

* ``"fast"`` (and ``"auto"``): the AFPO weights by Newton on the convex potential of the paper (exact
  segment moments and Jacobian), verified by the fairness residual recomputed at every atom (and,
  for two CARA regions under the atom-plus-uniform law, by Proposition 4);
* ``"program"``: the declarative AFPO program (a :class:`~riskopt.program.Program`: budget, caps
  and fairness rows, plus the modeler's constraints) on the quantile-binned law (law economies) or
  on the positive atoms of the storm's residual ``S_eps`` (one per scenario with a default: a QP with
  regions x atoms variables, ~8 s at 10,000 scenarios), weights from the fairness duals and
  ``Lambda(s)`` from the budget duals, checked against the fast path on the same law;
* ``"capped_afpo_newton"`` (what ``"auto"`` runs when every constraint is a per-region cap
  constant across scenarios, or an expectation): the AFPO Newton with the caps folded into the layer
  rule, duals from KKT (:mod:`.constrained`), checked against the program in tests.

The pieces, one idea per module: :mod:`.disutility` (``phi_i = ln v_i'``, families, payment
disutilities), :mod:`.law` (laws of ``S_eps``: a finite one is a :class:`~riskopt.space.Scenarios`),
:mod:`.layers` (the PO rule for given weights and its exact moments), :mod:`.fast` (AFPO weights),
:mod:`.program` (the rule as one declarative program), :mod:`.two_region` (Proposition 4 and the
sweeps), :mod:`.storm`, :mod:`.economy`, :mod:`.schemes` (the storm study), :mod:`.studies` (the
end-to-end runs), :mod:`.result` (results), :mod:`.spec` (specs and cards), :mod:`.plots`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ...cardschema import CardMechanism
from ...constraints import require_no_constraints
from ...errors import ModelError, SolveError
from .. import Mechanism, register_mechanism
from .constrained import (
    DECOMPOSITION,
    QUANTITIES,
    CapFold,
    check_region_constraints,
    decomposition_duals,
    fold_caps,
    infeasibility,
    with_caps,
)
from .disutility import (
    ExponentialFamily,
    ExponentialPayments,
    PaymentDisutility,
    PowerFamily,
    PowerPayments,
    RegionwisePayments,
    StackedFamily,
    TaxFamily,
    UtilityFamily,
    UtilityPayments,
    payment_disutility,
    regionwise,
    taxation_family,
)
from .economy import STUDY_INSURER, DefaultableInsurer, Economy, MatrixSource, StormSource, run_economy
from .fast import METHODS as AFPO_METHODS
from .fast import AfpoResult, check_targets, relative_residual, single_thread_blas, solve_afpo
from .law import (
    ResidualLaw,
    UniformAtomLaw,
    binned,
    excess,
    nodes,
    p_zero,
    residual_law,
    truncated_mean,
)
from .layers import Moments, TaxLayers, layers, moments
from .plots import plot_layers, plot_storm
from .program import TaxationProgram, TaxView
from .result import (
    ProgramCheck,
    StudyResult,
    TaxationResult,
    TaxationResultBase,
    TaxMultiplier,
    afpo_potential,
    direct_residual,
)
from .schemes import SchemeComparison, SingleEvent, compare_schemes
from .spec import (
    CARD_SPEC,
    CARD_SUMMARY,
    MAX_CELLS,
    AfpoSpec,
    ComparisonSpec,
    LawEconomySpec,
    LossStudySpec,
    OutputSpec,
    ProgramSpec,
    RegionSpec,
    StormSpec,
    StormStudySpec,
    StudySpec,
    TaxationSpec,
    WealthSpec,
    read_card,
)
from .storm import (
    SPEC_REGIONS,
    SPEC_SCENARIOS,
    SPEC_SEED,
    BetaQuantileTable,
    StormModel,
    StormRegions,
    StormTrack,
    regions_from_csv,
    spec_instance,
    synthetic_names,
    synthetic_regions,
)
from .studies import (
    law_decomposition,
    law_economy,
    loss_table_study,
    program_check,
    program_economy,
    storm_program,
    storm_study,
    study_wealth,
)
from .two_region import (
    TwoRegionSolution,
    gamma_sweep_points,
    mu_sweep_points,
    plot_sensitivity,
    proposition4,
    sensitivity,
    sensitivity_point,
)

__all__ = [
    "AFPO_METHODS",
    "CARD",
    "DECOMPOSITION",
    "MAX_CELLS",
    "QUANTITIES",
    "SPEC_REGIONS",
    "SPEC_SCENARIOS",
    "SPEC_SEED",
    "STUDY_INSURER",
    "AfpoResult",
    "AfpoSpec",
    "BetaQuantileTable",
    "ComparisonSpec",
    "DefaultableInsurer",
    "Economy",
    "ExponentialFamily",
    "ExponentialPayments",
    "LawEconomySpec",
    "LossStudySpec",
    "MatrixSource",
    "Moments",
    "OutputSpec",
    "PaymentDisutility",
    "PowerFamily",
    "PowerPayments",
    "ProgramCheck",
    "ProgramSpec",
    "RegionSpec",
    "RegionwisePayments",
    "ResidualLaw",
    "SchemeComparison",
    "SingleEvent",
    "StackedFamily",
    "StormModel",
    "StormRegions",
    "StormSource",
    "StormSpec",
    "StormStudySpec",
    "StormTrack",
    "StudyResult",
    "StudySpec",
    "TaxFamily",
    "TaxLayers",
    "TaxMultiplier",
    "TaxView",
    "TaxationProgram",
    "TaxationResult",
    "TaxationResultBase",
    "TaxationSpec",
    "TwoRegionSolution",
    "UniformAtomLaw",
    "UtilityFamily",
    "UtilityPayments",
    "WealthSpec",
    "afpo_potential",
    "binned",
    "check_targets",
    "compare_schemes",
    "direct_residual",
    "excess",
    "gamma_sweep_points",
    "law_decomposition",
    "law_economy",
    "layers",
    "loss_table_study",
    "moments",
    "mu_sweep_points",
    "nodes",
    "p_zero",
    "payment_disutility",
    "plot_layers",
    "plot_sensitivity",
    "plot_storm",
    "program_check",
    "program_economy",
    "proposition4",
    "read_card",
    "regions_from_csv",
    "regionwise",
    "relative_residual",
    "residual_law",
    "run_economy",
    "sensitivity",
    "sensitivity_point",
    "single_thread_blas",
    "solve",
    "solve_afpo",
    "spec_instance",
    "storm_program",
    "storm_study",
    "synthetic_names",
    "synthetic_regions",
    "taxation_family",
    "truncated_mean",
]

#: the routes: the AFPO solver (``"fast"``) and the declarative program (``"program"``); ``"auto"``
#: also reaches the decomposition :data:`DECOMPOSITION` (constraints that are caps of the rule)
METHODS = ("fast", "program")


def solve(spec: TaxationSpec, *, method: str = "auto", backend: str = "cvxpy", solver: str | None = None,
          **options: Any) -> TaxationResult | StudyResult:
    """The AFPO taxation of ``spec``. ``method``: ``"auto"`` = ``"fast"`` (the AFPO solver) without
    constraints, else :data:`DECOMPOSITION` when every constraint is a per-region cap constant across
    scenarios or an expectation, else ``"program"``; or any of them by name."""
    if method not in ("auto", *METHODS, DECOMPOSITION):
        raise ModelError("method", method, f"one of {['auto', *METHODS, DECOMPOSITION]}")
    if not isinstance(spec, (LawEconomySpec, StudySpec)):
        raise ModelError("spec", type(spec).__name__, "a LawEconomySpec, a StormStudySpec or a LossStudySpec")
    if method == "fast":
        require_no_constraints(spec.constraints, method, "the AFPO solver alone has no constraint rows")
    fold = _fold(spec) if spec.constraints else None
    if method == "auto":
        method = "fast" if not spec.constraints else (DECOMPOSITION if fold is not None else "program")
    if method == DECOMPOSITION and fold is None:
        raise ModelError("method", method, "'program' or 'auto' for these constraints: the decomposition "
                         "takes per-region caps (<=, one number) and expectations, with exponential or power "
                         "disutilities")
    if isinstance(spec, LawEconomySpec):
        return _solve_law(spec, method, backend, solver, options, fold)
    return _solve_study(spec, method, backend, solver, options, fold)


def _fold(spec: LawEconomySpec | StudySpec) -> CapFold | None:
    """The constraints as caps of the layer rule (``None`` when they are not, or when the regions'
    disutility depends on the cap: utility families)."""
    if isinstance(spec, LawEconomySpec):
        names, wealth, ds = spec.names, spec.wealth, spec.disutilities
    elif isinstance(spec, LossStudySpec):
        names = spec.losses.regions
        wealth = study_wealth(spec.losses, spec.wealth.per_exposure, spec.wealth.values)
        ds = [spec.disutility]
    else:
        assert isinstance(spec, StormStudySpec)
        names, wealth = _storm_regions(spec)
        ds = [spec.disutility]
    fold = fold_caps(spec.constraints, names, wealth, np.full(len(names), np.inf))
    probe = taxation_family(ds[:1], np.zeros(1), np.ones(1))
    if fold is None or with_caps(probe, np.full(1, 0.5)) is None:
        return None
    return fold


def _storm_regions(spec: StormStudySpec) -> tuple[tuple[str, ...], np.ndarray]:
    st = spec.storm
    if st.csv is not None:
        reg = regions_from_csv(st.csv)
    else:
        assert st.synthetic is not None
        reg = synthetic_regions(st.synthetic, spec.seed if spec.seed is not None else SPEC_SEED)[0]
    return reg.names, reg.wealth


def _solve_law(spec: LawEconomySpec, method: str, backend: str, solver: str | None,
               options: dict[str, Any], fold: CapFold | None) -> TaxationResult:
    bins = None if spec.program is None else spec.program.bins
    try:
        if method == "program":
            return program_economy(spec.names, spec.wealth, spec.disutilities, spec.law, spec.expected_losses,
                                   bins=bins, method=spec.afpo.method, tol=spec.afpo.tol,
                                   grid_points=spec.output.grid, backend=backend, solver=solver,
                                   options=options, constraints=spec.constraints, fold=fold)
        if method == DECOMPOSITION:
            assert fold is not None
            return law_decomposition(spec.names, spec.wealth, spec.disutilities, spec.law,
                                     spec.expected_losses, spec.constraints, fold, method=spec.afpo.method,
                                     tol=spec.afpo.tol, grid_points=spec.output.grid)
        return law_economy(spec.names, spec.wealth, spec.disutilities, spec.law, spec.expected_losses,
                           method=spec.afpo.method, tol=spec.afpo.tol, grid_points=spec.output.grid,
                           program_bins=bins, backend=backend, solver=solver, options=options)
    except ModelError as err:  # a region's fairness target: name its card field
        if err.field.startswith("targets["):
            name = err.field[len("targets["):-1]
            if name in spec.names:
                path = f"regions[{spec.names.index(name)}].expected_loss"
                raise ModelError(path, err.value, err.allowed, detail=err.detail) from None
        raise


def _solve_study(spec: StudySpec, method: str, backend: str, solver: str | None,
                 options: dict[str, Any], fold: CapFold | None) -> StudyResult:
    caps = None if fold is None else fold.caps
    try:
        study = _loss_study(spec, caps) if isinstance(spec, LossStudySpec) else _storm(spec, caps)
    except SolveError as err:  # the folded caps leave no AFPO
        raise infeasibility(err.hint, spec.constraints) from None
    if method == "program":
        return storm_program(study, spec.disutility, spec.constraints, fold, backend=backend, solver=solver,
                             options=options)
    if method == DECOMPOSITION:
        assert fold is not None
        e = study.economy
        duals = decomposition_duals(fold, study.hybrid, e.names, e.wealth, study.hybrid.law, spec.constraints)
        return dataclasses.replace(study, method=DECOMPOSITION, constraints=duals)
    return study


def _storm(spec: StudySpec, caps: np.ndarray | None) -> StudyResult:
    assert isinstance(spec, StormStudySpec)
    st = spec.storm
    regions: int | StormRegions
    if st.csv is not None:
        regions = regions_from_csv(st.csv)
        if regions.n * st.scenarios > MAX_CELLS:
            raise ModelError("storm.scenarios", st.scenarios, f"regions x scenarios <= {MAX_CELLS:.0e}")
        if spec.constraints:  # the names are known now
            check_region_constraints(spec.constraints, regions.names)
    else:
        assert st.synthetic is not None
        regions = st.synthetic
    return storm_study(regions, st.scenarios, seed=spec.seed, insurer=spec.insurer,
                       disutility=spec.disutility,
                       streams=st.streams, premium_basis=st.premium_basis, method=spec.afpo.method,
                       tol=spec.afpo.tol, event=spec.comparison.event, tax_caps=caps, **st.model_options())


def _loss_study(spec: LossStudySpec, caps: np.ndarray | None) -> StudyResult:
    return loss_table_study(spec.losses, wealth_per_exposure=spec.wealth.per_exposure,
                            wealth=spec.wealth.values,
                            insurer=spec.insurer, disutility=spec.disutility, method=spec.afpo.method,
                            tol=spec.afpo.tol, event=spec.comparison.event, tax_caps=caps)


CARD = CardMechanism.of("disaster_taxation", CARD_SPEC, solve, CARD_SUMMARY, reader=read_card)
MECHANISM = register_mechanism(Mechanism("disaster_taxation", TaxationSpec, solve, METHODS,
                                         "AFPO tax layers of disaster residual claims (Niakh et al.)"))
