"""The two end-to-end runs of the taxation mechanism: a law economy and the storm study.

* :func:`law_economy`: AFPO of regions without an insurer under a given law of the total loss, by
  the fast path (with Proposition 4 attached when it applies and, with ``program_bins``, the
  declarative program on the binned law as a cross-check);
* :func:`program_economy`: the same economy by the declarative program on the quantile-binned law
  (``solve(spec, method="program")``), checked against the fast path on that same law;
* :func:`law_decomposition`: the economy with the modeler's per-region caps folded into the rule
  (the decomposition of :mod:`.constrained`);
* :func:`storm_study`: the storm study of the paper (regions, scenarios, insurer, both AFPO rules, the
  scheme comparison and one event); :func:`storm_program`: its hybrid rule by the program on the
  positive atoms of ``S_eps``;
* :func:`loss_table_study`: the same study on modelled losses (a year loss table, or an event loss
  table simulated to years: :mod:`riskopt.losstables`), the regions' wealth proportional to their
  exposure values.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...checks import integer, real_array
from ...constraints import ConstraintSpec
from ...errors import ModelError
from ...losstables import LossTable
from ...solution import Solution
from ...space import Scenarios
from .constrained import DECOMPOSITION, CapFold, decomposition_duals, infeasibility, with_caps
from .disutility import ExponentialPayments, PaymentDisutility, TaxFamily, taxation_family
from .economy import (
    STUDY_INSURER,
    DefaultableInsurer,
    Economy,
    MatrixSource,
    Runner,
    StormSource,
    run_economy,
)
from .fast import DEFAULT_METHOD, DEFAULT_TOL, AfpoResult, check_targets, relative_residual, solve_afpo
from .law import ResidualLaw, UniformAtomLaw, binned, nodes, size
from .layers import layers
from .program import TaxationProgram
from .result import (
    GRID_POINTS,
    ProgramCheck,
    StudyResult,
    TaxationResult,
    TaxMultiplier,
    direct_residual,
)
from .storm import SPEC_REGIONS, SPEC_SCENARIOS, SPEC_SEED, StormModel, StormRegions, synthetic_regions
from .two_region import TwoRegionSolution, proposition4

__all__ = ["PROGRAM_TOL", "law_decomposition", "law_economy", "loss_table_study", "program_check",
           "program_economy", "storm_program", "storm_study", "study_wealth"]

#: the program route's fairness allowance: its weights come from solver duals (accurate to ~1e-10),
#: so the rule they imply is fair to ~1e-9 relative; the check allows 1e3 times that (1e-6)
PROGRAM_TOL = 1e-9


def _family(names: Sequence[str], wealth: Any,
            disutilities: Sequence[PaymentDisutility]) -> tuple[tuple[str, ...], np.ndarray, TaxFamily]:
    names = tuple(str(x) for x in names)
    allowed = f"finite wealth, one per region ({len(names)})"
    w = real_array("wealth", wealth, allowed)
    if w.shape != (len(names),) or not np.all(np.isfinite(w)):
        raise ModelError("wealth", wealth, allowed)
    return names, w, taxation_family(list(disutilities), np.zeros(len(names)), w)


def _closed_form(names: tuple[str, ...], w: np.ndarray, disutilities: Sequence[PaymentDisutility],
                 law: ResidualLaw, targets: np.ndarray) -> TwoRegionSolution | None:
    """Proposition 4 when it applies: two exponential regions under ``p0 delta_0 + (1 - p0) U[0, W]``."""
    ds = list(disutilities)
    if (len(names) == 2 and isinstance(law, UniformAtomLaw)
            and all(isinstance(d, ExponentialPayments) and type(d) is ExponentialPayments for d in ds)
            and abs(law.upper - w.sum()) <= 1e-12 * w.sum()):
        g = [d.tolerance for d in ds if isinstance(d, ExponentialPayments)]
        return proposition4(w[0], w[1], g[0], g[1], law.p_zero, targets[0], targets[1])
    return None


def law_economy(names: Sequence[str], wealth: Any, disutilities: Sequence[PaymentDisutility],
                law: ResidualLaw, expected_losses: Any, *, method: str = DEFAULT_METHOD,
                tol: float = DEFAULT_TOL, grid_points: int = GRID_POINTS, program_bins: int | None = None,
                backend: str = "cvxpy", solver: str | None = None, options: dict[str, Any] | None = None,
                **afpo_options: Any) -> TaxationResult:
    """AFPO of regions without an insurer (``pi = 0``, caps ``w_i``, targets ``E[X_i]``) under a law of
    the total loss. Attaches Proposition 4 when it applies (two exponential regions, the uniform
    law) and, with ``program_bins``, the declarative program's answer on the quantile-binned law
    (compared with the fast path on the same binned law)."""
    names, w, fam = _family(names, wealth, disutilities)
    if integer("grid_points", grid_points, "a number of s points >= 2") < 2:
        raise ModelError("grid_points", grid_points, "a number of s points >= 2")
    expected_losses = real_array("expected_losses", expected_losses, "one expected loss per region")
    res = solve_afpo(fam, law, expected_losses, method=method, tol=tol, names=names, **afpo_options)
    verified, _ = direct_residual(res)
    closed = _closed_form(names, w, disutilities, law, res.targets)
    prog = None
    if program_bins is not None:
        prog = program_check(fam, law, res.targets, names, bins=program_bins, backend=backend, solver=solver,
                             options=options or {}, method=method, tol=tol)
    return TaxationResult(names, w, res, verified, grid_points, closed, prog)


def _finite(law: ResidualLaw, bins: int | None) -> Scenarios:
    """The finite law the program runs on: the law itself when it is finite with at most ``bins``
    positive atoms, else its quantile bins."""
    if isinstance(law, Scenarios) and (bins is None or size(law) <= bins):
        return law
    if bins is None:
        raise ModelError("program.bins", None, "a number of quantile bins: the program needs a finite law",
                         detail="missing")
    return binned(law, bins)


def _run_program(family: TaxFamily, law: Scenarios, targets: np.ndarray, names: Sequence[str],
                 backend: str, solver: str | None, options: dict[str, Any],
                 constraints: Sequence[ConstraintSpec] = (), wealth: Any = None
                 ) -> tuple[Solution, float, TaxationProgram]:
    prog = TaxationProgram(family, law, targets=targets, names=names)
    if constraints:
        prog.add_constraints(constraints, wealth)
    t0 = time.perf_counter()
    sol = prog.solve(backend=backend, solver=solver, **options)  # raises unless usable
    return sol, time.perf_counter() - t0, prog


def _optimal_value(sol: Solution) -> float:
    """The program's optimal value (a usable solve has one)."""
    assert sol.objective is not None
    return float(sol.objective)


def _capped(family: TaxFamily, fold: CapFold | None) -> TaxFamily:
    """The family whose layer rule is the constrained rule (caps folded), else ``family``."""
    capped = None if fold is None else with_caps(family, np.minimum(family.caps, fold.caps))
    return family if capped is None else capped


def _program_afpo(family: TaxFamily, law: Scenarios, targets: np.ndarray, sol: Solution,
                  seconds: float) -> AfpoResult:
    """The rule of the program's weights (fairness duals) as an :class:`AfpoResult`."""
    a = np.log(np.asarray(sol.extra["alpha"], float))
    ET = np.asarray(sol.extra["expected_tax"], float)
    return AfpoResult(family, law, targets, a, layers(family, a), ET, relative_residual(ET, targets),
                      int(sol.solver.iterations or 0), sol.status.ok, "program", seconds,
                      zero_target=targets <= 0, tol=PROGRAM_TOL,
                      note=f"{sol.solver.backend}/{sol.solver.solver}: {sol.status}")


def _compare(sol: Solution, seconds: float, fast: AfpoResult, law: Scenarios) -> ProgramCheck:
    alpha = np.asarray(sol.extra["alpha"], float)
    lam_fast = fast.rule.lam(nodes(law)[0])
    return ProgramCheck(sol.solver.backend, sol.solver.solver, sol.status, size(law), alpha,
                        float(np.max(np.abs(alpha - fast.alpha))),
                        float(np.max(np.abs(np.asarray(sol.extra["Lambda"]) / lam_fast - 1))),
                        sol.extra["fairness_residual"], seconds, sol.solver.compile_s, sol.solver.solve_s)


def program_check(family: TaxFamily, law: ResidualLaw, targets: np.ndarray, names: Sequence[str], *,
                  bins: int, backend: str = "cvxpy", solver: str | None = None,
                  options: dict[str, Any] | None = None, method: str = DEFAULT_METHOD,
                  tol: float = DEFAULT_TOL) -> ProgramCheck:
    """The declarative AFPO program on the binned law vs the fast path on the same binned law."""
    finite = _finite(law, bins)
    fast = solve_afpo(family, finite, targets, method=method, tol=tol, names=names)
    sol, seconds, _ = _run_program(family, finite, targets, names, backend, solver, options or {})
    return _compare(sol, seconds, fast, finite)


def program_economy(names: Sequence[str], wealth: Any, disutilities: Sequence[PaymentDisutility],
                    law: ResidualLaw, expected_losses: Any, *, bins: int | None = None,
                    method: str = DEFAULT_METHOD, tol: float = DEFAULT_TOL, grid_points: int = GRID_POINTS,
                    backend: str = "cvxpy", solver: str | None = None,
                    options: dict[str, Any] | None = None, constraints: Sequence[ConstraintSpec] = (),
                    fold: CapFold | None = None) -> TaxationResult:
    """The law economy by the declarative program (``method="program"``): the AFPO program on the
    finite law (quantile bins of ``law`` when it is continuous or has more than ``bins`` atoms). The
    weights are read from the fairness duals, ``Lambda`` at the atoms from the budget duals; the rule
    those weights give is checked for fairness at every atom, and the fast path (``method``,
    ``tol``) is run on the same finite law for comparison. ``constraints`` (the modeler's) are rows of
    the program; when they are caps of the rule (``fold``) the comparison is with the capped AFPO
    (the decomposition), otherwise the rule is the program's table (its fairness residual is the
    program's, and no comparison is made)."""
    names, w, fam = _family(names, wealth, disutilities)
    finite = _finite(law, bins)
    targets = check_targets(fam, finite, expected_losses, names)
    sol, seconds, prog = _run_program(fam, finite, targets, names, backend, solver, options or {},
                                      constraints, w)
    rule_family = _capped(fam, fold)
    afpo = _program_afpo(rule_family, finite, targets, sol, seconds)
    multiplier = TaxMultiplier(nodes(finite)[0], np.asarray(sol.extra["Lambda"], float),
                               "the program's budget duals: d f*/d s_k / p_k (duals.value_derivative)")
    check = None
    if constraints and fold is None:
        verified = float(sol.extra["fairness_residual"])
    else:
        verified, _ = direct_residual(afpo)
        fast = solve_afpo(rule_family, finite, targets, method=method, tol=tol, names=names)
        check = _compare(sol, seconds, fast, finite)
    return TaxationResult(names, w, afpo, verified, grid_points, None, check, method="program",
                          multiplier=multiplier, value=_optimal_value(sol),
                          constraints=prog.constraint_duals(sol))


def law_decomposition(names: Sequence[str], wealth: Any, disutilities: Sequence[PaymentDisutility],
                      law: ResidualLaw, expected_losses: Any, constraints: Sequence[ConstraintSpec],
                      fold: CapFold, *, method: str = DEFAULT_METHOD, tol: float = DEFAULT_TOL,
                      grid_points: int = GRID_POINTS) -> TaxationResult:
    """The law economy with the modeler's per-region caps folded into the rule: the AFPO Newton of
    the capped family on the law itself (exact for continuous laws), duals from KKT
    (:func:`~.constrained.decomposition_duals`; rows: the law's positive atoms, or its quadrature
    nodes for a continuous law). Caps that leave no fair rule: ``SolveError`` (``infeasible``)."""
    names, w, fam = _family(names, wealth, disutilities)
    targets = check_targets(fam, law, expected_losses, names)  # the card's own errors first
    try:
        res = solve_afpo(_capped(fam, fold), law, targets, method=method, tol=tol, names=names)
    except ModelError as err:
        raise infeasibility(f"the per-scenario tax caps leave no AFPO rule: {err}", constraints) from None
    verified, _ = direct_residual(res)
    duals = decomposition_duals(fold, res, names, w, law, constraints)
    return TaxationResult(names, w, res, verified, grid_points, method=DECOMPOSITION, constraints=duals)


def storm_program(study: StudyResult, disutility: PaymentDisutility, constraints: Sequence[ConstraintSpec],
                  fold: CapFold | None, *, backend: str = "cvxpy", solver: str | None = None,
                  options: dict[str, Any] | None = None) -> StudyResult:
    """The storm study's hybrid rule by the declarative program on the positive atoms of ``S_eps``
    (regions x atoms variables), with the modeler's constraints as rows. ``study`` is the fast run
    (the capped AFPO when the constraints are caps of the rule): its hybrid weights are replaced by
    the program's and compared with them; the pure-sharing rule and the scheme comparison are the
    fast run's (``comparison_note`` says so when the constraints are more than caps)."""
    e = study.economy
    h = study.hybrid
    assert isinstance(h.law, Scenarios)
    fam = taxation_family([disutility] * len(e.names), e.premiums, e.caps)
    sol, seconds, prog = _run_program(fam, h.law, h.targets, e.names, backend, solver, options or {},
                                      constraints, e.wealth)
    afpo = _program_afpo(h.family, h.law, h.targets, sol, seconds)
    verified = dict(study.verified)
    check, note = None, ""
    if constraints and fold is None:
        verified["hybrid"] = float(sol.extra["fairness_residual"])
        note = ("the scheme comparison and the event use the unconstrained AFPO layer rule: the "
                "constraints are more than per-region caps (their rule is the program's table)")
    else:
        verified["hybrid"] = direct_residual(afpo)[0]
        check = _compare(sol, seconds, h, h.law)
    return dataclasses.replace(study, economy=dataclasses.replace(e, hybrid=afpo), verified=verified,
                               method="program", value=_optimal_value(sol),
                               constraints=prog.constraint_duals(sol), program=check, comparison_note=note)


# ----------------------------------------------------------------------------------- storm
def storm_study(regions: int | StormRegions = SPEC_REGIONS, scenarios: int = SPEC_SCENARIOS, *,
                seed: int | None = SPEC_SEED, insurer: DefaultableInsurer | None = None,
                disutility: PaymentDisutility | None = None, streams: str = "single",
                runner: Runner | None = None, premium_basis: str = "sample", method: str = DEFAULT_METHOD,
                tol: float = DEFAULT_TOL, event: str | int = "median_default", block: int | None = None,
                verify: bool = True, tax_caps: Any = None, **model_options: Any) -> StudyResult:
    """The storm study end to end: regions (synthetic stand-in, or given), scenarios,
    insurer (default :data:`~.economy.STUDY_INSURER`: ``theta = 0.3``, ``K = 1000``), both AFPO rules
    and the scheme comparison.

    ``streams="single"`` follows the paper's draw order exactly (in memory, serial);
    ``streams="blocks"`` draws each block from its own seeded generator, lets ``runner`` (e.g.
    ``riskopt.sweep.Dask()``) spread the blocks and gives identical numbers on any runner.
    ``tax_caps`` caps the hybrid taxes in every scenario (:func:`~.economy.run_economy`).
    """
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    rng = None
    if isinstance(regions, StormRegions):
        reg = regions
    else:
        reg, rng = synthetic_regions(regions, seed if seed is not None else SPEC_SEED)
    model = StormModel(reg, **model_options)
    timings["model"] = time.perf_counter() - t0
    ins = insurer if insurer is not None else STUDY_INSURER
    disp = disutility if disutility is not None else ExponentialPayments()
    t0 = time.perf_counter()
    source: MatrixSource | StormSource
    if streams == "single":
        X = model.generate(scenarios, rng if rng is not None else np.random.default_rng(seed), block=block)
        source = MatrixSource(X, validate=False)  # drawn by the model: finite and >= 0
    elif streams == "blocks":
        if seed is None:
            raise ModelError("seed", None, "an integer seed for streams = 'blocks'")
        source = StormSource(model, scenarios, int(seed), block or model.default_block())
    else:
        raise ModelError("storm.streams", streams, "'single' or 'blocks'")
    timings["scenarios"] = time.perf_counter() - t0
    a, b = model.shape_a, model.beta_b
    sd = reg.wealth * np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    eco = run_economy(source, reg.names, reg.wealth, insurer=ins, disutility=disp,
                      premium_basis=premium_basis, expected_losses=model.expected_losses(), loss_sd=sd,
                      runner=runner, method=method, tol=tol, event=event, tax_caps=tax_caps)
    verified = _verified(eco, timings) if verify else {}
    return StudyResult(eco, reg, model, scenarios, seed, verified, timings)


def loss_table_study(table: LossTable, *, wealth_per_exposure: float | None = None, wealth: Any = None,
                     insurer: DefaultableInsurer | None = None, disutility: PaymentDisutility | None = None,
                     method: str = DEFAULT_METHOD, tol: float = DEFAULT_TOL,
                     event: str | int = "median_default",
                     verify: bool = True, tax_caps: Any = None) -> StudyResult:
    """The storm study's economy on modelled losses: region ``r`` loses ``table.losses[r, s]`` in year
    ``s`` (probability ``table.probs[s]``), its wealth is ``wealth_per_exposure * exposure[r]`` (or
    ``wealth`` given directly), the insurer charges from the sample's moments, and both AFPO rules and
    the scheme comparison follow (:func:`~.economy.run_economy`). Region centroids, when the table
    records them (``info["centroids"]``: name -> (lat, lon), as CLIMADA's groups do), place the regions on
    the study's map (else they sit at the origin).
    """
    t0 = time.perf_counter()
    w = study_wealth(table, wealth_per_exposure, wealth)
    reg = StormRegions(tuple(table.regions), w, _map_points(table))
    source = MatrixSource(table.losses, table.probs, validate=False)  # LossTable checked its losses
    timings = {"scenarios": time.perf_counter() - t0}
    eco = run_economy(source, reg.names, reg.wealth,
                      insurer=insurer if insurer is not None else STUDY_INSURER,
                      disutility=disutility if disutility is not None else ExponentialPayments(),
                      premium_basis="sample", method=method, tol=tol, event=event, tax_caps=tax_caps)
    verified = _verified(eco, timings) if verify else {}
    seed = table.info.get("seed")
    return StudyResult(eco, reg, None, int(table.probs.size), None if seed is None else int(seed), verified,
                       timings, losses=_provenance(table))


def study_wealth(table: LossTable, wealth_per_exposure: float | None, wealth: Any) -> np.ndarray:
    """The regions' wealth: ``wealth_per_exposure * table.exposure``, or ``wealth`` (one per region)."""
    n = len(table.regions)
    if (wealth is None) == (wealth_per_exposure is None):
        raise ModelError("wealth", None, "exactly one of wealth (one per region) or wealth_per_exposure")
    if wealth is not None:
        w = real_array("wealth", wealth, f"{n} finite wealths > 0")
        if w.shape != (n,):
            raise ModelError("wealth", f"{w.size} values", f"one wealth per region ({n})")
        return w
    share = real_array("wealth_per_exposure", wealth_per_exposure, "a share of the exposure value > 0")
    if share.ndim or not (np.isfinite(share) and share > 0):
        raise ModelError("wealth_per_exposure", wealth_per_exposure, "a share of the exposure value > 0")
    if table.exposure is None:
        raise ModelError("wealth_per_exposure", float(share), "a loss table with exposure values per region",
                         detail="the table has none: give wealth per region instead")
    return float(share) * np.asarray(table.exposure, float)


def _verified(eco: Economy, timings: dict[str, float]) -> dict[str, float]:
    """Both AFPO rules' fairness residuals, recomputed at every atom (the time in ``timings``)."""
    assert eco.hybrid is not None and eco.pure is not None
    t0 = time.perf_counter()
    verified = {"hybrid": direct_residual(eco.hybrid)[0], "pure": direct_residual(eco.pure)[0]}
    timings["verify"] = time.perf_counter() - t0
    return verified


def _map_points(table: LossTable) -> np.ndarray:
    """``(lon, lat)`` per region from ``info["centroids"]`` (name -> (lat, lon)), else zeros."""
    centroids = table.info.get("centroids")
    xy = np.zeros((len(table.regions), 2))
    if isinstance(centroids, dict) and all(r in centroids for r in table.regions):
        xy[:] = [(float(centroids[r][1]), float(centroids[r][0])) for r in table.regions]
    return xy


def _provenance(table: LossTable) -> dict[str, Any]:
    """What the result keeps of the table's ``info``: where the losses come from, not per-region data."""
    keep = ("source", "units", "events", "years", "seed", "view", "secondary", "rate_sum",
            "p_no_event_poisson", "simulated_events_per_year", "simulated_p_no_event", "unseen_years",
            "citation")
    return {k: table.info[k] for k in keep if k in table.info}
