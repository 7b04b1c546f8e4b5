"""The small protocols the core's layers talk through, so that nothing below the program imports it.

A :class:`~riskopt.program.Program` has named variables and named constraint groups over one cvxpy
problem (:class:`NamedProgram`); a :class:`~riskopt.program.SharingProgram` adds agents, an
allocation block, weights and an orientation (:class:`SharingModel`). Prices
(:mod:`riskopt.duals`), KKT systems (:mod:`riskopt.kkt`), degeneracy checks
(:mod:`riskopt.degeneracy`) and solutions (:mod:`riskopt.solution`) read these, not the classes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import cvxpy as cp
import numpy as np

from .agent import Agent
from .allocation import AllocationBlock
from .space import Scenarios

__all__ = ["ConstraintGroup", "NamedProgram", "SharingModel"]


@dataclass(frozen=True)
class ConstraintGroup:
    """Constraints that share a meaning (one dual per row, read back under ``name``)."""

    name: str
    constraints: tuple[cp.Constraint, ...]
    meaning: str = ""


class NamedProgram(Protocol):
    """A program of named variables and constraint groups over one cvxpy problem."""

    @property
    def name(self) -> str: ...

    @property
    def sense(self) -> str: ...

    @property
    def variables(self) -> Mapping[str, cp.Variable]: ...

    @property
    def groups(self) -> Mapping[str, ConstraintGroup]: ...

    @property
    def problem(self) -> cp.Problem: ...


class SharingModel(NamedProgram, Protocol):
    """A risk-sharing program: agents, the allocation block, weights and orientation."""

    @property
    def space(self) -> Scenarios: ...

    @property
    def agents(self) -> Sequence[Agent]: ...

    @property
    def block(self) -> AllocationBlock: ...

    @property
    def weights(self) -> cp.Parameter: ...

    @property
    def orientation(self) -> str: ...

    @property
    def linear_rows(self) -> Mapping[int, np.ndarray]: ...

    @property
    def probs(self) -> np.ndarray: ...

    def evaluate(self, agent: Agent, x: np.ndarray) -> float: ...
