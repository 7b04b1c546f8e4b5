"""Allowed allocations as constraint builders.

An allocation of the aggregate ``X`` among ``n`` agents is an ``(n, S)`` array ``xi`` over the states.
A *parametrisation* (:class:`Budget`, :class:`Comonotone`, :class:`AnchoredComonotone`) declares the
variables and the budget rows; *restrictions* (:class:`SignRestriction`, :class:`LimitedLiability`,
:class:`IndividualRationality`) add rows on top. Everything is written into a
:class:`ProgramBuilder` (a :class:`~riskopt.program.SharingProgram` is one) under named constraint
groups, so duals are read by meaning.

* ``Budget``: ``xi`` free, ``sum_i xi_i(s) = X(s)`` for every state (group ``"budget"``).
* ``Comonotone``: ``xi_i = f_i(X)`` with ``f_i`` nondecreasing and ``sum_i f_i = id``, written on the
  sorted atoms ``x_0 < ... < x_K`` of ``X`` as ``F[i, k] = f_i(x_k)`` with ``F[:, k] <= F[:, k+1]``
  (group ``"monotone"``) and ``sum_i F[i, k] = x_k`` (group ``"budget"``). Every comonotone
  allocation is 1-Lipschitz (``0 <= f_i' <= 1``): this *is* the no-sabotage condition on
  indemnities, so an insurer/reinsurers split of a loss is a comonotone allocation anchored at 0.
* ``AnchoredComonotone``: also ``f_i(0) = 0`` (the set C of Ogaku 2025). The anchor column is substituted
  (not a variable), so the budget row at ``X = 0`` is implied and absent: its state price is not
  determined by the program (it is completed by cash invariance when every measure is monetary).
  If 0 is not an atom of ``X`` it is added as an atom of probability 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import cvxpy as cp
import numpy as np
import scipy.sparse as sps

from .checks import finite, real_array
from .errors import ModelError

__all__ = [
    "AllocationBlock",
    "AllocationSet",
    "AnchoredComonotone",
    "Budget",
    "Comonotone",
    "IndividualRationality",
    "LimitedLiability",
    "NoSabotage",
    "ProgramBuilder",
    "Restriction",
    "SignRestriction",
]


class ProgramBuilder(Protocol):
    """What an allocation set writes into: named variables and named constraint groups over a space
    of states with probabilities ``probs``."""

    @property
    def probs(self) -> np.ndarray: ...

    def variable(self, name: str, shape: int | tuple[int, ...] = (), **attrs: Any) -> cp.Variable: ...

    def constrain(self, name: str, constraints: Iterable[cp.Constraint], meaning: str = "") -> None: ...


@dataclass
class AllocationBlock:
    """What a parametrisation built: the allocation and how its budget dual maps to states.

    ``xi`` is ``(n, S)`` over the states. For comonotone sets ``F`` is ``(n, K)`` over the sorted atoms
    ``atom_values`` (probabilities ``atom_probs``; ``state_atom[s]`` is the atom of state ``s``), and
    ``budget_atoms`` lists the atoms that have a budget row.
    """

    xi: cp.Expression
    budget_atoms: np.ndarray
    atom_values: np.ndarray
    atom_probs: np.ndarray
    state_atom: np.ndarray
    F: cp.Expression | None = None
    anchored: bool = False
    comonotone: bool = False

    def atom_prices(self, budget_dual: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Budget multipliers placed on the atoms; ``determined`` is False where no row exists."""
        psi = np.zeros(self.atom_values.size)
        determined = np.zeros(self.atom_values.size, bool)
        psi[self.budget_atoms] = np.asarray(budget_dual, float).ravel()
        determined[self.budget_atoms] = True
        return psi, determined


class AllocationSet:
    """A parametrisation of the allocations (exactly one per program)."""

    name = "allocation"
    #: every allocation in the set has xi_i X >= 0 and xi_i = 0 on {X = 0}
    implies_sign = False

    def build(self, program: ProgramBuilder, n_agents: int, aggregate: np.ndarray) -> AllocationBlock:
        raise NotImplementedError

    def describe(self) -> str:
        return self.name


class Budget(AllocationSet):
    """All allocations summing to the aggregate in every state (the set A(X) of the papers)."""

    name = "budget"

    def build(self, program: ProgramBuilder, n_agents: int, aggregate: np.ndarray) -> AllocationBlock:
        S = aggregate.size
        xi = program.variable("xi", (n_agents, S))
        program.constrain("budget", [cp.sum(xi, axis=0) == aggregate],
                          "sum_i xi_i(s) = X(s) for every state s")
        states = np.arange(S)
        return AllocationBlock(xi, states, aggregate.copy(), program.probs.copy(), states)


class Comonotone(AllocationSet):
    """``xi_i = f_i(X)``, ``f_i`` nondecreasing, ``sum_i f_i = id``; ``anchor``: ``f_i(anchor) = 0``."""

    name = "comonotone"

    def __init__(self, anchor: float | None = None):
        self.anchor = None if anchor is None else finite("anchor", anchor, "the point where every f_i is 0")

    @property
    def implies_sign(self) -> bool:  # type: ignore[override]
        return self.anchor == 0.0

    def describe(self) -> str:
        return self.name if self.anchor is None else f"{self.name}(anchor={self.anchor:g})"

    def build(self, program: ProgramBuilder, n_agents: int, aggregate: np.ndarray) -> AllocationBlock:
        values, state_atom = np.unique(aggregate, return_inverse=True)
        probs = np.bincount(state_atom, weights=program.probs, minlength=values.size)
        anchor_at = None
        if self.anchor is not None:
            pos = int(np.searchsorted(values, self.anchor))
            if pos == values.size or values[pos] != self.anchor:  # add a zero-mass atom at the anchor
                values = np.insert(values, pos, self.anchor)
                probs = np.insert(probs, pos, 0.0)
                state_atom = state_atom + (state_atom >= pos)
            anchor_at = pos
        K = values.size
        free = np.array([k for k in range(K) if k != anchor_at], dtype=int)
        F_free = program.variable("F", (n_agents, free.size))
        if anchor_at is None:
            F = F_free
        else:  # F = F_free @ E with E the 0/1 placement of free atoms: the anchor column is 0
            E = sps.csr_matrix((np.ones(free.size), (np.arange(free.size), free)), shape=(free.size, K))
            F = F_free @ E
        program.constrain("budget", [cp.sum(F_free, axis=0) == values[free]],
                          "sum_i f_i(x_k) = x_k on every atom with a budget row")
        if K > 1:
            program.constrain("monotone", [F[:, 1:] - F[:, :-1] >= 0],
                              "f_i(x_{k+1}) - f_i(x_k) >= 0 (nondecreasing shares)")
        identity = state_atom.size == K and np.array_equal(state_atom, np.arange(K))
        xi = F if identity else F[:, state_atom]
        return AllocationBlock(xi, free, values, probs, state_atom, F=F,
                               anchored=anchor_at is not None, comonotone=True)


class AnchoredComonotone(Comonotone):
    """The set C of Ogaku (2025): comonotone with ``f_i(0) = 0`` (then also sign-feasible, Lemma 1)."""

    name = "anchored_comonotone"

    def __init__(self) -> None:
        super().__init__(anchor=0.0)

    def describe(self) -> str:
        return self.name


class NoSabotage(Comonotone):
    """Indemnity contracts with no-sabotage: the loss ``X >= 0`` is split into ``I_j(X)`` with
    ``I_j(0) = 0``, ``0 <= I_j' <= 1`` for every party and ``sum_j I_j = id`` (the first agent is
    typically the insured, retaining ``X - sum`` of the others' indemnities).

    On a finite space this is exactly the comonotone set anchored at 0 (increments of every
    ``I_j`` between consecutive atoms are nonnegative and sum to the increment of X); the class
    adds the check that X is a nonnegative loss.
    """

    name = "no_sabotage"

    def __init__(self) -> None:
        super().__init__(anchor=0.0)

    def describe(self) -> str:
        return self.name

    def build(self, program: ProgramBuilder, n_agents: int, aggregate: np.ndarray) -> AllocationBlock:
        if aggregate.min() < 0:
            raise ModelError("aggregate", float(aggregate.min()),
                             "a nonnegative loss for indemnities with no-sabotage")
        return super().build(program, n_agents, aggregate)


# ------------------------------------------------------------------ restrictions
class Restriction:
    """Extra rows on an allocation (added after the parametrisation)."""

    name = "restriction"

    def build(self, program: ProgramBuilder, block: AllocationBlock, losses: cp.Expression,
              context: dict[str, Any]) -> None:
        """``losses`` is ``(n, S)``: each agent's loss (``-xi`` for gains, ``xi`` for losses)."""
        raise NotImplementedError


class SignRestriction(Restriction):
    """``xi_i X >= 0`` in every state and ``xi_i = 0`` where ``X = 0`` (Ogaku 2025's Delta_Xq)."""

    name = "sign"

    def build(self, program: ProgramBuilder, block: AllocationBlock, losses: cp.Expression,
              context: dict[str, Any]) -> None:
        if context["allocation"].implies_sign:
            return  # implied (Lemma 1); a redundant row would make the duals non-unique
        X = context["aggregate"]
        xi = block.xi
        signed = np.flatnonzero(X != 0)  # where X = 0 the row would read 0 >= 0, with any multiplier
        if signed.size:
            sign = np.sign(X[signed])
            program.constrain("sign", [cp.multiply(xi[:, signed], sign[None, :]) >= 0], "xi_i X >= 0")
        zero = np.flatnonzero(X == 0)
        if zero.size:
            program.constrain("sign_zero", [xi[:, zero] == 0], "xi_i = 0 where X = 0")


class LimitedLiability(Restriction):
    """Each agent's loss lies in ``[0, cap_i]`` (indemnity and limited liability of the taxation
    mechanism): group ``"limited_liability"``."""

    name = "limited_liability"

    def __init__(self, caps: Any):
        c = np.atleast_1d(real_array("caps", caps, "finite caps >= 0: one, or one per agent"))
        if c.ndim != 1 or np.any(~np.isfinite(c)) or np.any(c < 0):
            raise ModelError("caps", caps, "finite caps >= 0")
        self.caps = c

    def check(self, loss: np.ndarray, n: int) -> np.ndarray:
        """The caps of ``n`` agents for the aggregate loss ``loss``, or a ModelError saying why
        the set ``0 <= loss_i <= cap_i, sum_i loss_i = loss`` is empty."""
        if self.caps.size not in (1, n):
            raise ModelError("caps", f"{self.caps.size} caps", f"one cap, or one per agent ({n})")
        caps = np.broadcast_to(self.caps, (n,))
        if loss.min() < 0:
            raise ModelError("aggregate", float(loss.min()), "a nonnegative aggregate loss in every "
                             "state under limited liability (losses are split into [0, cap_i])")
        if loss.max() > caps.sum() + 1e-12:
            raise ModelError("caps", caps.tolist(), f"total capacity >= the largest aggregate loss "
                             f"{loss.max():g}", detail="the limited-liability allocation set is empty")
        return caps

    def build(self, program: ProgramBuilder, block: AllocationBlock, losses: cp.Expression,
              context: dict[str, Any]) -> None:
        X = context["aggregate"]
        caps = self.check(X if context["orientation"] == "risk" else -X, losses.shape[0])
        program.constrain("limited_liability", [losses >= 0, losses <= caps[:, None]],
                          "0 <= loss_i <= cap_i")


class IndividualRationality(Restriction):
    """Every agent is at least as well off as with its endowment: ``U_i(xi_i) >= U_i(X_i)``
    (``rho_i(xi_i) <= rho_i(X_i)`` for losses). Needs each agent's ``endowment``."""

    name = "individual_rationality"

    def build(self, program: ProgramBuilder, block: AllocationBlock, losses: cp.Expression,
              context: dict[str, Any]) -> None:
        values = context["values"]
        agents = context["agents"]
        bounds = []
        for i, agent in enumerate(agents):
            if agent.endowment is None:
                raise ModelError(f"agents[{i}].endowment", None,
                                 "an endowment for individual rationality")
            bounds.append(context["evaluate"](agent, agent.endowment))
        b = np.asarray(bounds)
        if context["orientation"] == "utility":
            program.constrain("individual_rationality", [values >= b], "U_i(xi_i) >= U_i(X_i)")
        else:
            program.constrain("individual_rationality", [values <= b], "rho_i(xi_i) <= rho_i(X_i)")
