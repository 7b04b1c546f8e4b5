"""A pool's welfare optimum over C with its context: the kept atoms, the players' laws, the pruning
check and the closed forms as oracle, whichever route solved it.

:func:`pool_optimum` keeps the atoms of the law of X (:func:`.pools.keep_atoms`), builds the players'
laws (:func:`.priors.player_laws`) and calls a *route*: the log-price Newton method with closed forms
(:func:`.fast.solve_comonotone`, the default) or the conic program over C
(:func:`.program.conic_route`). Both give a :class:`~.fast.WelfareOptimum` with its KKT certificate,
which this module checks against the pruned state-price mass (re-solving with more atoms when it is
too large) and against the closed forms (:class:`ClosedFormCheck`).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import logsumexp  # type: ignore[import-untyped, unused-ignore]

from ...checks import positive
from ...errors import ModelError, RiskoptWarning
from ...space import Scenarios
from ..pareto import entropic_closed_form
from .fast import (
    WelfareOptimum,
    geometric_mean_closed_form,
    lam_and_shares,
    log_mean_exp,
    solve_comonotone,
    tilted_tail_mass,
)
from .pools import Pool, keep_atoms, lattice_steps, prune_tolerance
from .priors import PlayerLaws, player_laws
from .spec import TAIL_TOL, Beliefs

__all__ = ["CONIC_COMPARISON", "MATERIAL_MASS", "ClosedFormCheck", "PoolOptimum", "Route",
           "allocation_error", "newton_route", "pool_optimum", "price_error"]

#: a route solves the welfare program on the kept atoms under the players' laws
Route = Callable[[Pool, Beliefs, Scenarios, PlayerLaws], WelfareOptimum]
#: atoms of smaller P-mass do not pin a conic point's allocation (compared modulo constants above it)
MATERIAL_MASS = 1e-8
#: how a conic point is compared with the closed forms (:func:`price_error`, :func:`allocation_error`)
CONIC_COMPARISON = ("conic point: prices compared relative to the largest price, allocations modulo a "
                    f"constant per player on atoms of P-mass >= {MATERIAL_MASS:g} (reported, not gated: "
                    "the KKT certificate gates the point)")


def price_error(prices: np.ndarray, ref: np.ndarray, conic: bool) -> float:
    """The prices' (or densities') distance to the closed form's: relative on every atom for the
    Newton route (log space); relative to the largest for a conic point (its prices are accurate to
    the solver's tolerance in absolute terms: a 500-farmer pool's atoms of probability 1e-26 cannot
    be priced relatively by an interior point)."""
    with np.errstate(divide="ignore", invalid="ignore"):  # both 0 (underflow): no error
        if conic:
            return float(np.max(np.abs(prices - ref)) / np.max(ref))
        return float(np.max(np.where(prices == ref, 0.0, np.abs(prices / ref - 1))))


def allocation_error(F: np.ndarray, ref: np.ndarray, probs: np.ndarray, conic: bool) -> float:
    """``max |F - ref|``; for a conic point on the atoms of P-mass >= ``MATERIAL_MASS`` modulo a
    P-weighted constant per player (the cash moved across unidentified gaps, welfare-neutral)."""
    diff = F - ref
    if not conic:
        return float(np.abs(diff).max(initial=0.0))
    material = probs >= MATERIAL_MASS
    d, p = diff[:, material], probs[material]
    return float(np.abs(d - (d @ p)[:, None] / p.sum()).max(initial=0.0))


@dataclass(frozen=True)
class ClosedFormCheck:
    """The optimum against the closed forms: the proportional rule and Esscher prices under a common
    law (P, or the common all-high law of the box reading), the tilted geometric mean of the players'
    worst-case laws otherwise (``exact`` iff it is monotone; else an upper bound)."""

    lam: float
    kind: str
    welfare: float
    exact: bool
    welfare_error: float
    #: the largest of the errors relative to the problem's units (the status is gated on it when exact)
    max_relative_error: float
    welfare_product: float | None = None
    density_max_rel_error: float | None = None
    allocation_max_error: float | None = None
    note: str | None = None
    bound_kept_atoms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"lam": self.lam, "kind": self.kind, "welfare": self.welfare,
                               "exact": self.exact}
        for key in ("welfare_product", "density_max_rel_error", "allocation_max_error", "note",
                    "bound_kept_atoms"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        out["welfare_error"] = self.welfare_error
        out["max_relative_error"] = self.max_relative_error
        return out


@dataclass(frozen=True)
class PoolOptimum:
    """A pool's welfare optimum over C with its context: the law of X and its kept atoms, the
    players' laws, the closed-form check and the pruning check (state-price mass estimated on the
    pruned atoms)."""

    pool: Pool
    beliefs: Beliefs
    law: Scenarios
    atoms: Scenarios
    laws: PlayerLaws
    optimum: WelfareOptimum
    closed_form: ClosedFormCheck
    tail_mass: float
    prune: float
    notes: tuple[str, ...] = ()

    @property
    def esscher_density(self) -> np.ndarray:
        """The Esscher tilt ``exp(-lam X) / E_P[exp(-lam X)]`` of the reference law on the kept atoms
        (the state-price density under a common prior)."""
        lam, _ = lam_and_shares(self.pool.gammas)
        z = -lam * self.atoms.X
        return np.asarray(np.exp(z - logsumexp(z, b=self.atoms.p)))


def newton_route(start: np.ndarray | None = None) -> Route:
    """The fast route: closed forms, else the log-price Newton method (warm-started at ``start``)."""
    def route(pool: Pool, beliefs: Beliefs, atoms: Scenarios, laws: PlayerLaws) -> WelfareOptimum:
        return solve_comonotone(atoms.X, laws.worst, pool.gammas, atoms.p, start=start)

    return route


def pool_optimum(pool: Pool, beliefs: Beliefs | None = None, *, prune: float | None = None,
                 tail_tol: float = TAIL_TOL, start: np.ndarray | None = None,
                 route: Route | None = None, constrained: bool = False) -> PoolOptimum:
    """Welfare optimum over C of ``pool`` under ``beliefs`` (credal: the worst case on C, the all-high
    vertex). Atoms of mass below ``prune`` (default: the pool's) beyond the last heavy one are
    dropped; if the estimated state-price mass of the dropped atoms exceeds ``tail_tol`` the tolerance
    is lowered (by 1e-8, at most four times) and the pool re-solved: the check is on the *tilted*
    mass, not on P. ``route`` solves each pruned program (default: :func:`newton_route` at
    ``start``); ``constrained``: the route has user constraints, so the closed forms (which solve
    the program without them) are only an upper bound on W*."""
    beliefs = (beliefs or Beliefs.common()).checked(pool)
    positive("tail_tol", tail_tol, "the tolerance for the pruned state-price mass")
    solve = route or newton_route(start)
    notes: list[str] = []
    tol = pool.prune if prune is None else prune_tolerance(prune)
    law = pool.law()
    if law.X[0] != 0 or law.p[0] <= 0:
        raise ModelError("p", pool.p.tolist(), "hit probabilities leaving X = 0 possible (the anchor)")
    full_steps = lattice_steps(law)
    for _ in range(5):
        atoms = keep_atoms(law, tol)
        kept = lattice_steps(atoms)
        full_size = int(full_steps[-1]) + 1
        ext = min(full_size, 2 * (int(kept[-1]) + 1) + 20)
        laws = player_laws(pool, beliefs, law, atoms, extend_to=ext)
        opt = solve(pool, beliefs, atoms, laws)
        assert laws.worst_tail is not None
        tail = tilted_tail_mass(opt, kept, laws.worst_tail, full_steps, pool.unit)
        if tail <= tail_tol or atoms.size == law.size:
            break
        notes.append(f"pruning at {tol:.0e} left state-price mass {tail:.2e} > {tail_tol:.0e} on the "
                     "dropped atoms: re-solved with more atoms")
        tol = tol * 1e-8 if tol > 1e-290 else 0.0
    else:
        warnings.warn(f"prune: the pruned atoms still carry state-price mass {tail:.2e}", RiskoptWarning,
                      stacklevel=2)
    closed = closed_form_check(pool, beliefs, law, atoms, laws, opt, ext)
    if constrained:
        note = f"user constraints: the closed form ({closed.kind}) solves the program without them, an " \
               "upper bound on W*"
        closed = dataclasses.replace(closed, exact=False, note=note)
    return PoolOptimum(pool, beliefs, law, atoms, laws, opt, closed, tail, tol, tuple(notes))


def closed_form_check(pool: Pool, beliefs: Beliefs, law: Scenarios, atoms: Scenarios, laws: PlayerLaws,
                      opt: WelfareOptimum, ext: int) -> ClosedFormCheck:
    """Closed forms as oracle: proportional rule + Esscher prices (common law: P, or the common
    all-high law of the box reading), tilted geometric mean otherwise (exact iff monotone); a conic
    point is compared as far as it is identified (:data:`CONIC_COMPARISON`)."""
    lam, w = lam_and_shares(pool.gammas)
    common = beliefs.kind == "common" or (beliefs.kind == "credal" and beliefs.reading == "box")
    welfare_product = density_error = alloc_error = bound = None
    conic = opt.solution is not None
    note = None
    if beliefs.kind == "common":
        cf = entropic_closed_form(law, pool.gammas.tolist())
        with np.errstate(divide="ignore"):
            # W* = -(1/lam) log E exp(-lam X) around the mean: relative accuracy also when lam X is
            # tiny (pareto's logsumexp returns log 1 + rounding there, divided by a tiny lam)
            welfare = float(-log_mean_exp(-lam * law.X, np.log(law.p)) / lam)
        kind, exact = "proportional rule, Esscher state prices (full law, unpruned)", True
        if pool.shock is None:
            # log(1 - p + p e^a), a = lam L: log1p(p expm1(a)) for small a (relative accuracy), the
            # log-sum-exp form for large a (expm1 overflows)
            a = lam * pool.losses
            with np.errstate(over="ignore", divide="ignore"):
                terms = np.where(a <= 1.0, np.log1p(pool.p * np.expm1(np.minimum(a, 1.0))),
                                 np.logaddexp(np.log1p(-pool.p), np.log(pool.p) + a))
            welfare_product = float(-np.sum(terms) / lam)
        dens = cf.state_density[: atoms.size]
        density_error = (price_error(opt.prices, dens * atoms.p, conic) if conic  # nu_k = density_k P_k
                         else price_error(opt.density, dens, conic))
        alloc_error = allocation_error(opt.F, w[:, None] * atoms.X[None, :], atoms.p, conic)
    else:
        # the geometric mean on the kept atoms and their tail window (the laws' lattice extension)
        assert laws.worst_tail is not None
        lat = laws.worst_tail[:, : ext]
        full_steps = lattice_steps(law)
        support = full_steps[full_steps < ext]
        sub = lat[:, support]
        keep = np.all(sub > 0, axis=0)
        gm = geometric_mean_closed_form(-pool.unit * support[keep].astype(float), sub[:, keep], pool.gammas)
        S = atoms.size
        gm_kept = geometric_mean_closed_form(atoms.X, laws.worst, pool.gammas)
        kind = ("proportional rule under the common all-high law" if common else
                "tilted geometric mean of the players' worst-case laws")
        welfare, exact = gm["welfare"], gm_kept["monotone"]
        if gm_kept["monotone"]:
            nu_gm = np.exp(gm["log_prices"][:S])
            density_error = price_error(opt.prices, nu_gm / nu_gm.sum(), conic)
            alloc_error = allocation_error(opt.F, gm_kept["F"], atoms.p, conic)
        else:
            note = ("a monotonicity row binds: the geometric mean is only an upper bound "
                    f"({gm_kept['welfare']:.10g} >= W_C)")
            bound = gm_kept["welfare"]
    welfare_error = float(abs(opt.welfare - welfare))
    # the same, relative to the problem's units (what the result's status is gated on when exact)
    xs = float(np.abs(atoms.X).max(initial=0.0)) or 1.0
    rel_errors = [welfare_error / max(abs(float(welfare)), np.finfo(float).tiny)]
    if alloc_error is not None and density_error is not None:
        rel_errors += [density_error] if conic else [alloc_error / xs, density_error]
    if conic:
        note = CONIC_COMPARISON if note is None else f"{note}; {CONIC_COMPARISON}"
    max_rel = float(max(rel_errors)) if np.all(np.isfinite(rel_errors)) else float("inf")
    return ClosedFormCheck(lam, kind, welfare, exact, welfare_error, max_rel, welfare_product, density_error,
                           alloc_error, note, bound)
