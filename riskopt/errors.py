"""Typed errors and warnings.

Every user mistake raises :class:`ModelError` naming the field, the value received and what is
allowed; a solver that stops short raises :class:`SolveError` carrying its status, the backend and a
hint. The CLI turns both into one line and exit code 2.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ModelError", "RiskoptError", "RiskoptWarning", "SolveError", "describe"]


def describe(value: Any, limit: int = 60) -> str:
    """Short repr of a received value for error messages (arrays summarised, long text cut)."""
    try:
        import numpy as np

        if isinstance(value, np.ndarray) and value.size > 6:
            return f"array of shape {value.shape}"
    except ImportError:  # pragma: no cover - numpy is a hard dependency
        pass
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class RiskoptError(Exception):
    """Base class of every riskopt error."""


class ModelError(RiskoptError, ValueError):
    """Invalid model input: names the field, the value received and what is allowed.

    ``ModelError("level", 1.5, "a tail probability in (0, 1)")`` reads
    ``level = 1.5: expected a tail probability in (0, 1)``. ``with_prefix`` lets a caller that
    knows where the value came from (a model card path such as ``agents[2].measure``) say so.
    """

    def __init__(self, field: str, value: Any = None, allowed: str = "", *, detail: str = ""):
        self.field = field
        self.value = value
        self.allowed = allowed
        self.detail = detail
        super().__init__(self._message())

    def _message(self) -> str:
        head = self.field if self.value is None else f"{self.field} = {describe(self.value)}"
        parts = [head]
        if self.allowed:
            parts.append(f"expected {self.allowed}")
        if self.detail:
            parts.append(self.detail)
        return ": ".join(parts)

    def with_prefix(self, prefix: str) -> ModelError:
        """The same error with ``prefix`` prepended to the field path."""
        if not prefix:
            return self
        sep = "" if self.field.startswith("[") else "."
        return ModelError(f"{prefix}{sep}{self.field}", self.value, self.allowed, detail=self.detail)


class SolveError(RiskoptError, RuntimeError):
    """A solve that did not reach an optimum: carries ``status``, ``backend``, ``solver``, ``hint``."""

    def __init__(self, status: str, *, backend: str = "", solver: str = "", hint: str = "",
                 solution: Any = None):
        self.status = status
        self.backend = backend
        self.solver = solver
        self.hint = hint
        self.solution = solution
        where = "/".join(p for p in (backend, solver) if p)
        msg = f"solve ended with status '{status}'" + (f" ({where})" if where else "")
        if hint:
            msg += f": {hint}"
        super().__init__(msg)


class RiskoptWarning(UserWarning):
    """Something was changed or approximated on the user's behalf (normalised, repaired, pruned)."""
