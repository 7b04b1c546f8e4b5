"""Duals -> economics: the sign convention, and state prices from the budget rows.

**Sign convention** (cvxpy's; every backend is normalised to it). Constraints are written with the
data on the right: ``lhs <= rhs``, ``lhs >= rhs`` or ``lhs == rhs``. For ``minimise f`` the
Lagrangian is

    L = f + sum_r y_r (lhs_r - rhs_r)      for <= and == rows,
    L = f + sum_r y_r (rhs_r - lhs_r)      for >= rows,

with ``y_r >= 0`` on inequalities; ``maximise W`` is ``minimise -W``. Hence the dual of a row is
the *marginal improvement of the optimal value per unit relaxation*: ``y = -df*/d rhs`` on ``<=``
and ``==`` rows of a minimisation, ``y = dW*/d rhs`` on ``<=`` and ``==`` rows of a maximisation,
and the opposite sign on ``>=`` rows. Inequality duals are >= 0 in both senses.

**State prices (Borch).** The budget row ``sum_i xi_i(s) = X(s)`` has one multiplier per state (per
atom of ``X`` for comonotone sets). The price of one more unit of aggregate in state ``s`` is
``psi_s = dW*/dX(s) = y_s`` for a welfare maximisation over gains, and ``psi_s = df*/dX(s) = -y_s``
for a total-risk minimisation over losses: in both cases the cost of a unit claim on state ``s``.
The **state-price density** is ``psi_s / (P(s) sum_t psi_t)``, normalised so that ``E_P[d] = 1``.

Where a budget row is absent (the anchor ``X = 0`` of an anchored comonotone set) the program does
not determine that price. If every measure is cash-invariant and the welfare weights are equal to
``w``, prices sum to ``w`` (adding a sure unit to ``X`` adds ``w`` to the optimum), which completes
it: ``psi_anchor = w - sum_{other atoms} psi``. Otherwise the density is reported only where
determined (``determined`` mask) and the note says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .data import jsonable
from .protocols import SharingModel

__all__ = ["PRICE_TOLERANCE", "Prices", "RowUniqueness", "state_prices", "value_derivative"]


def value_derivative(sense: str, dual: Any, *, row: str = "==") -> np.ndarray:
    """The one sign rule: ``d (optimal value) / d rhs`` of rows written ``lhs <row> rhs`` from their
    duals in cvxpy's convention (module docstring). ``sense`` is the program's ("min" or "max");
    ``row`` is ``"=="``/``"<="`` (the same rule) or ``">="`` (the opposite sign).

    For a minimisation ``y = -df*/d rhs``; for a maximisation ``y = dW*/d rhs``. A layer LP that
    minimises total risk prices a layer at ``df*/d width = -y``; a welfare maximisation prices a
    state at ``dW*/dX(s) = y``: every mechanism reads its prices through this function.
    """
    if sense not in ("min", "max"):
        raise ValueError(f"sense must be 'min' or 'max', not {sense!r}")
    if row not in ("==", "<=", ">="):
        raise ValueError(f"row must be '==', '<=' or '>=', not {row!r}")
    y = np.asarray(dual, float)
    sign = (1.0 if sense == "max" else -1.0) * (-1.0 if row == ">=" else 1.0)
    return sign * y


#: relative accuracy a state price must be certified to (``Prices.certified``)
PRICE_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Prices:
    """State prices read from the budget duals.

    Per state of the space (in its order): ``state_prices[s]`` (the cost of a unit claim paid in
    state ``s``), ``state_density[s]`` (normalised so that ``E_P[d] = 1``) and ``determined[s]``.
    Per atom of ``X`` (sorted ascending; the rows of a comonotone program): ``atom_values``,
    ``atom_probs``, ``atom_prices`` and ``atom_density``. An atom's price is split among its states in
    proportion to their probabilities, so the density is constant on an atom.

    How far to trust them, per state: ``accuracy[s]`` estimates the price's *relative* error (the
    worst relative KKT residual of the equations that fix it,
    :meth:`riskopt.kkt.KKTSystem.price_accuracy`, plus the normalising sum's for the density; NaN
    where the program cannot estimate it) and ``certified[s]`` says it is within
    :data:`PRICE_TOLERANCE` (never for a price known not to be unique). ``unique[s]`` says whether
    the program determines the price at all (False: an LP whose optimal duals form a face, or a
    curved program whose active restriction rows span the budget row; then ``lower[s]``/``upper[s]``
    bound every optimal price; None: not known). ``state_density`` is None where it is undefined:
    some price not determined, or prices summing to 0 (the note says which).
    """

    state_prices: np.ndarray | None = None
    state_density: np.ndarray | None = None
    determined: np.ndarray | None = None
    state_probs: np.ndarray | None = None
    atom_values: np.ndarray | None = None
    atom_probs: np.ndarray | None = None
    atom_prices: np.ndarray | None = None
    atom_density: np.ndarray | None = None
    accuracy: np.ndarray | None = None
    unique: np.ndarray | None = None
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def certified(self) -> np.ndarray | None:
        """Per state: the price is determined, not known to be non-unique (a price the program
        leaves free in an interval has no value to be accurate to) and its relative accuracy is
        within PRICE_TOLERANCE."""
        if self.accuracy is None or self.determined is None:
            return None
        with np.errstate(invalid="ignore"):
            out: np.ndarray = self.determined & (self.accuracy <= PRICE_TOLERANCE)
        if self.unique is not None:
            out = out & np.array([not (u is False or u is np.False_) for u in self.unique], bool)
        return out

    @property
    def all_unique(self) -> bool | None:
        """True if every determined state's price is unique, False if one is not, None if unknown."""
        if self.unique is None:
            return None
        u = [x for x, d in zip(self.unique, self.determined if self.determined is not None else
                               np.ones(len(self.unique), bool), strict=True) if d]
        if any(x is False or x is np.False_ for x in u):
            return False
        return True if all(x is True or x is np.True_ for x in u) else None

    def to_dict(self) -> dict[str, Any]:

        out: dict[str, Any] = {"note": self.note}
        if self.state_prices is not None:
            det = self.determined if self.determined is not None else np.ones(self.state_prices.size, bool)

            def masked(values: np.ndarray | None) -> list[Any] | None:
                if values is None:
                    return None
                return [jsonable(v) if d else None for v, d in zip(values, det, strict=True)]

            out["state_prices"] = masked(self.state_prices)
            out["state_density"] = masked(self.state_density)
            out["accuracy"] = masked(self.accuracy)
            cert = self.certified
            out["certified"] = None if cert is None else jsonable(cert)
            out["unique"] = self.all_unique
            if self.lower is not None and self.upper is not None:
                out["lower"] = masked(self.lower)
                out["upper"] = masked(self.upper)
            out["atoms"] = {"values": jsonable(self.atom_values),
                            "probabilities": jsonable(self.atom_probs),
                            "prices": jsonable(self.atom_prices),
                            "density": jsonable(self.atom_density)}
        out.update({k: jsonable(v) for k, v in self.extra.items()})
        return out


@dataclass(frozen=True)
class RowUniqueness:
    """What the program knows about the uniqueness of each budget row's multiplier.

    ``unique[r]``: True, False or None (unknown). For LPs, ``lower``/``upper`` bound the
    multiplier over every optimal dual (:func:`riskopt.degeneracy.price_intervals`), in the rows'
    own sign convention.
    """

    unique: list[bool | None]
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None
    note: str = ""
    #: the intervals come from a computation independent of the solver's duals (an LP's optimal dual
    #: set by HiGHS, :mod:`riskopt.degeneracy`): the solver's duals must lie in them
    independent: bool = False

    def dual_error(self, dual: np.ndarray | None, floor: float = 0.0) -> float | None:
        """How far ``dual`` (the budget rows' duals, in the intervals' units) lies outside independent
        intervals, relative to the dual scale: the largest finite end or dual, at least ``floor`` (the
        data's own dual scale, e.g. the largest weight: an interval [0, 0] does not make a dual of
        -4e-190 an error of 100%); None if not checkable."""
        if not self.independent or self.lower is None or self.upper is None or dual is None:
            return None
        y = np.ravel(np.asarray(dual, float))
        if y.size != self.lower.size:
            return None
        with np.errstate(invalid="ignore"):
            outside = np.maximum(self.lower - y, 0.0) + np.maximum(y - self.upper, 0.0)
        ends = np.concatenate([self.lower, self.upper, y])
        scale = max(float(np.max(np.abs(ends[np.isfinite(ends)]), initial=0.0)), floor)
        worst = float(np.max(np.nan_to_num(outside, nan=np.inf), initial=0.0))
        return 0.0 if worst == 0.0 else worst / max(scale, np.finfo(float).tiny)


def _normalisable(psi: np.ndarray, total: float) -> bool:
    """Can the prices be normalised to a density: a finite sum that is not 0 to the rounding of the
    sum (all prices 0, or a cancellation of prices of both signs down to a few ulps)?"""
    if not np.all(np.isfinite(psi)) or not math.isfinite(total):
        return False
    return bool(abs(total) > 4 * psi.size * np.finfo(float).eps * float(np.abs(psi).sum()))


def state_prices(program: SharingModel, budget_dual: np.ndarray | None,
                 budget_accuracy: np.ndarray | None = None,
                 uniqueness: RowUniqueness | None = None) -> Prices:
    """Read Borch state prices and their density from a solved sharing program.

    ``budget_accuracy`` (one entry per budget row) is the relative accuracy of each row's
    multiplier; it is carried to the atoms and states (an anchor price completed by cash invariance
    inherits the absolute error of the prices it is completed from). ``uniqueness`` says which
    rows' multipliers are unique and, for LPs, the interval of every optimal one: an atom's
    interval is split among its states like its price, and the anchor's is completed by cash
    invariance too (``w - sum`` of the others' upper and lower ends: an outer bound).
    """
    if budget_dual is None:
        return Prices(note="the program has no budget row")
    block = program.block
    psi, determined = block.atom_prices(budget_dual)
    psi = value_derivative(program.sense, psi)
    acc = np.full(psi.size, np.nan)
    if budget_accuracy is not None:
        acc[block.budget_atoms] = budget_accuracy
    unique = np.full(psi.size, None, dtype=object)
    lo = hi = None
    if uniqueness is not None:
        unique[block.budget_atoms] = uniqueness.unique
        if uniqueness.lower is not None and uniqueness.upper is not None:
            ends = np.sort(np.vstack([value_derivative(program.sense, uniqueness.lower),
                                      value_derivative(program.sense, uniqueness.upper)]), axis=0)
            lo, hi = psi.copy(), psi.copy()
            lo[block.budget_atoms], hi[block.budget_atoms] = ends[0], ends[1]
    notes = []
    missing = ~determined
    weights = np.asarray(program.weights.value, float)
    if missing.any():
        monetary = all(a.measure.monetary for a in program.agents)
        if monetary and np.allclose(weights, weights[0]) and missing.sum() == 1:
            psi[missing] = weights[0] - psi[determined].sum()
            with np.errstate(divide="ignore", invalid="ignore"):
                err = float(np.abs(psi[determined]) @ acc[determined])
                acc[missing] = (err + 4 * np.finfo(float).eps * abs(weights[0])) / abs(psi[missing])
            known = [u for u in unique[determined]]
            unique[missing] = (True if all(u is True for u in known)
                               else False if any(u is False for u in known) else None)
            if lo is not None and hi is not None:
                lo[missing] = weights[0] - hi[determined].sum()
                hi[missing] = weights[0] - lo[determined].sum()
            determined = determined | missing
            notes.append("the anchor atom has no budget row; its price is completed by cash "
                         "invariance (prices sum to the common weight)")
        else:
            notes.append("the anchor atom has no budget row and the measures are not all monetary "
                         "with equal weights: its price is not determined")
    probs = block.atom_probs
    atom_density = None
    total = float(psi.sum())
    if determined.all() and _normalisable(psi, total):
        with np.errstate(divide="ignore", invalid="ignore"):
            atom_density = np.where(probs > 0, psi / (total * probs), 0.0)
            # the density also carries the error of the normalising sum
            weighted = np.where(psi != 0, np.abs(psi) * np.nan_to_num(acc, nan=np.inf), 0.0)
            acc = acc + float(weighted.sum()) / abs(total)
    elif determined.all():
        notes.append(f"the state prices sum to {total:.3g} (to rounding, 0): the density psi / (P sum psi) "
                     "is undefined and not reported")
    else:
        notes.append("the density needs every atom's price; see state_prices")
    idx = block.state_atom
    p_states = program.probs
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(probs[idx] > 0, p_states / probs[idx], 0.0)
    if uniqueness is not None and uniqueness.note:
        notes.append(uniqueness.note)
    with np.errstate(invalid="ignore"):
        lower = None if lo is None else lo[idx] * share
        upper = None if hi is None else hi[idx] * share
    return Prices(state_prices=psi[idx] * share,
                  state_density=None if atom_density is None else atom_density[idx],
                  determined=determined[idx] & (p_states > 0), state_probs=p_states,
                  atom_values=block.atom_values, atom_probs=probs, atom_prices=psi,
                  atom_density=atom_density, accuracy=None if budget_accuracy is None else acc[idx],
                  unique=None if uniqueness is None else unique[idx], lower=lower, upper=upper,
                  note="; ".join(notes))
