"""The one result contract: what every mechanism's ``solve(spec, method=...)`` returns.

Every mechanism returns a subclass of :class:`ResultBase` that satisfies the :class:`Result`
protocol (a small family sharing one base). Whatever the mechanism, a result answers the same
questions the same way:

* ``status`` -- a :class:`~riskopt.status.Status` computed from checks (never written by hand);
* ``objective`` -- the mechanism's headline value (welfare, total risk, aggregate risk, ...);
* ``agent_rows()`` -- one row per agent (name first), the per-agent table;
* ``allocation`` -- each agent's allocation by name (states, atoms or layers, as the mechanism has);
* ``prices`` -- typed prices (state prices, layer prices, the tax multiplier), or ``None``;
* ``verification`` -- the checks that decided the status beyond the solver's word;
* ``to_dict()`` (JSON-safe), ``to_frame()`` (pandas, the ``frames`` extra), ``table()``, ``plot()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .errors import ModelError
from .status import Check, Status

__all__ = ["Result", "ResultBase", "frame"]


@runtime_checkable
class Result(Protocol):
    """What every mechanism's result offers (see the module docstring)."""

    @property
    def status(self) -> Status: ...

    @property
    def objective(self) -> float | None: ...

    @property
    def allocation(self) -> Mapping[str, np.ndarray]: ...

    @property
    def verification(self) -> tuple[Check, ...]: ...

    def agent_rows(self) -> list[dict[str, Any]]: ...

    def to_dict(self) -> dict[str, Any]: ...

    def to_frame(self) -> Any: ...

    def table(self, title: str = "") -> str: ...

    def plot(self, path: str | Path, title: str = "") -> Any: ...


class ResultBase:
    """What results share: the registered mechanism name and ``to_frame``."""

    #: the registered mechanism name (``[model] mechanism`` in a card)
    mechanism_name: str = ""

    def agent_rows(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def to_frame(self) -> Any:
        """The per-agent table as a pandas DataFrame indexed by agent name (pandas: the ``frames``
        extra); array-valued entries (allocations) are left out: ``allocation`` holds them."""
        return frame(self.agent_rows())


def frame(rows: list[dict[str, Any]]) -> Any:
    """Rows (``name`` first) as a pandas DataFrame indexed by name, with a clear message when pandas
    is missing."""
    try:
        import pandas as pd
    except ImportError:
        raise ModelError("to_frame", None, "pandas installed: pip install 'riskopt[frames]'") from None
    data = [{k: v for k, v in r.items() if np.ndim(v) == 0} for r in rows]
    df = pd.DataFrame(data)
    return df.set_index("name") if "name" in df.columns else df
