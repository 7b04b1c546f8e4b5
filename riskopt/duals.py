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

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .program import SharingProgram

__all__ = ["Prices", "state_prices"]


@dataclass(frozen=True)
class Prices:
    """State prices read from the budget duals.

    Per state of the space (in its order): ``state_prices[s]`` (the cost of a unit claim paid in
    state ``s``), ``state_density[s]`` (normalised so that ``E_P[d] = 1``) and ``determined[s]``.
    Per atom of ``X`` (sorted ascending; the rows of a comonotone program): ``atom_values``,
    ``atom_probs``, ``atom_prices`` and ``atom_density``. An atom's price is split among its states in
    proportion to their probabilities, so the density is constant on an atom.
    """

    state_prices: np.ndarray | None = None
    state_density: np.ndarray | None = None
    determined: np.ndarray | None = None
    state_probs: np.ndarray | None = None
    atom_values: np.ndarray | None = None
    atom_probs: np.ndarray | None = None
    atom_prices: np.ndarray | None = None
    atom_density: np.ndarray | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from .solution import jsonable

        out: dict[str, Any] = {"note": self.note}
        if self.state_prices is not None:
            det = self.determined

            def masked(values: np.ndarray | None) -> list | None:
                if values is None:
                    return None
                return [jsonable(v) if d else None for v, d in zip(values, det, strict=True)]

            out["state_prices"] = masked(self.state_prices)
            out["state_density"] = masked(self.state_density)
            out["atoms"] = {"values": jsonable(self.atom_values),
                            "probabilities": jsonable(self.atom_probs),
                            "prices": jsonable(self.atom_prices),
                            "density": jsonable(self.atom_density)}
        out.update({k: jsonable(v) for k, v in self.extra.items()})
        return out


def state_prices(program: SharingProgram, budget_dual: np.ndarray | None) -> Prices:
    """Read Borch state prices and their density from a solved sharing program."""
    if budget_dual is None:
        return Prices(note="the program has no budget row")
    block = program.block
    psi, determined = block.atom_prices(budget_dual)
    if program.sense == "min":
        psi = -psi
    notes = []
    missing = ~determined
    weights = np.asarray(program.weights.value, float)
    if missing.any():
        monetary = all(a.measure.monetary for a in program.agents)
        if monetary and np.allclose(weights, weights[0]) and missing.sum() == 1:
            psi[missing] = weights[0] - psi[determined].sum()
            determined = determined | missing
            notes.append("the anchor atom has no budget row; its price is completed by cash "
                         "invariance (prices sum to the common weight)")
        else:
            notes.append("the anchor atom has no budget row and the measures are not all monetary "
                         "with equal weights: its price is not determined")
    probs = block.atom_probs
    atom_density = None
    if determined.all():
        with np.errstate(divide="ignore", invalid="ignore"):
            atom_density = np.where(probs > 0, psi / (psi.sum() * probs), 0.0)
    else:
        notes.append("the density needs every atom's price; see state_prices")
    idx = block.state_atom
    p_states = program.probs
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(probs[idx] > 0, p_states / probs[idx], 0.0)
    return Prices(state_prices=psi[idx] * share,
                  state_density=None if atom_density is None else atom_density[idx],
                  determined=determined[idx] & (p_states > 0), state_probs=p_states,
                  atom_values=block.atom_values, atom_probs=probs, atom_prices=psi,
                  atom_density=atom_density, note="; ".join(notes))
