"""An agent: a name, a preference measure and (optionally) an endowment over the states."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .checks import real_array
from .errors import ModelError
from .measures.base import Measure

__all__ = ["Agent"]


@dataclass(frozen=True)
class Agent:
    """A participant: a name, a preference measure and (optionally) an endowment over the states."""

    name: str
    measure: Measure
    endowment: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ModelError("agent.name", self.name, "a non-empty string")
        if not isinstance(self.measure, Measure):
            raise ModelError(f"agents['{self.name}'].measure", self.measure, "a riskopt measure")
        if self.endowment is not None:
            e = real_array(f"agents['{self.name}'].endowment", self.endowment, "finite values, one per state")
            if e.ndim != 1 or not np.all(np.isfinite(e)):
                raise ModelError(f"agents['{self.name}'].endowment", e, "finite values, one per state")
            object.__setattr__(self, "endowment", e)
