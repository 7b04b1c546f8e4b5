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
* ``to_dict()`` (JSON-safe), ``to_frame()`` (pandas, the ``frames`` extra), ``table()``, ``plot()``;
* ``allocation_frame()`` -- the allocation as a long (tidy) table: one row per agent and state;
* in Jupyter, a result shows itself as HTML (status, objective, the per-agent table).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, cast, runtime_checkable

import numpy as np

from .constraints import to_json
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
    """What results share: the registered mechanism name, the contract's JSON keys and ``to_frame``."""

    #: the registered mechanism name (``[model] mechanism`` in a card)
    mechanism_name: str = ""

    def contract_json(self) -> dict[str, Any]:
        """The keys every result's JSON has: ``method`` (the path that ran: ``"fast"``, ``"program"``
        or a named decomposition), ``objective_sense`` (``"min"``/``"max"``) and ``constraints``
        (``{name: {"dual": ..., "binding": ...}}``, :mod:`riskopt.constraints`)."""
        result = cast(Any, self)  # every result declares these three (tests/test_result_contract.py)
        return {"method": result.method, "objective_sense": result.objective_sense,
                "constraints": to_json(result.constraints)}

    def agent_rows(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    #: names of the allocation arrays' axes, the last one the state axis (a mechanism whose
    #: allocations are matrices, such as layer shares per counterparty, names its leading axes)
    allocation_axes: tuple[str, ...] = ("state",)

    def to_frame(self) -> Any:
        """The per-agent table as a pandas DataFrame indexed by agent name (pandas: the ``frames``
        extra); array-valued entries (allocations) are left out: ``allocation`` holds them."""
        return frame(self.agent_rows())

    def allocation_states(self, size: int) -> dict[str, np.ndarray]:
        """Columns describing the ``size`` states of the allocation (``probability`` where the result
        knows it: the allocation's space, or the state probabilities read with the prices)."""
        space = getattr(self, "allocation_space", None)
        p = getattr(space, "p", None)
        if p is None:
            p = getattr(getattr(self, "prices", None), "state_probs", None)
        if p is not None and np.ndim(p) == 1 and np.size(p) == size:
            return {"probability": np.asarray(p, dtype=float)}
        return {}

    def allocation_frame(self) -> Any:
        """The allocation as a long (tidy) pandas DataFrame: one row per agent and state, columns
        ``agent``, the state index (``state``, or the names of :attr:`allocation_axes` for matrix
        allocations), ``allocation`` and, where the result has one, ``probability`` of the state."""
        try:
            import pandas as pd
        except ImportError:
            raise ModelError("allocation_frame", None,
                             "pandas installed: pip install 'riskopt[frames]'") from None
        parts = []
        for agent, values in cast(Result, self).allocation.items():
            a = np.asarray(values, dtype=float)
            a = a.reshape(1) if a.ndim == 0 else a
            axes = (self.allocation_axes[-a.ndim:] if len(self.allocation_axes) >= a.ndim
                    else (*(f"axis{j}" for j in range(a.ndim - 1)), "state"))
            index = np.indices(a.shape).reshape(a.ndim, -1)
            columns: dict[str, Any] = {"agent": np.full(a.size, str(agent), dtype=object)}
            columns.update({name: index[j] for j, name in enumerate(axes)})
            columns["allocation"] = a.reshape(-1)
            for name, col in self.allocation_states(a.shape[-1]).items():
                columns[name] = np.asarray(col)[index[-1]]
            parts.append(pd.DataFrame(columns))
        if not parts:
            return pd.DataFrame({"agent": [], self.allocation_axes[-1]: [], "allocation": []})
        return pd.concat(parts, ignore_index=True)

    def _repr_html_(self) -> str:
        """Jupyter's rich display: status, objective and the per-agent table (HTML through pandas
        when installed, else the plain table in a ``<pre>``)."""
        result = cast(Result, self)
        status, objective = result.status, result.objective
        mechanism = self.mechanism_name or str(getattr(self, "mechanism", ""))
        head = (f"<p><b>{html.escape(type(self).__name__)}</b> ({html.escape(mechanism)}): "
                f"status <b>{html.escape(str(status))}</b>, objective "
                f"{html.escape('-' if objective is None else f'{objective:.6g}')}</p>")
        try:
            import pandas  # noqa: F401

            body = str(self.to_frame().to_html(float_format=lambda v: f"{v:.6g}"))
        except ImportError:
            body = f"<pre>{html.escape(result.table())}</pre>"
        return head + body


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
