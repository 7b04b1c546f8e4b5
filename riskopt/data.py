"""Plain data helpers every layer of riskopt uses: JSON-safe conversion and run-independent views.

This module imports nothing from riskopt, so results, statuses and reports can use it from the
bottom of the import graph.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["json_object", "jsonable", "without_timings"]


def without_timings(value: Any) -> Any:
    """A JSON-like output without its wall-clock measurements (keys ending in ``_s``, ``seconds``,
    ``timings``, at any depth): what two runs of the same card and seed must agree on bit for bit."""
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items()
                if not (k.endswith("_s") or k in ("seconds", "timings"))}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


def jsonable(v: Any) -> Any:
    """Convert numpy values to JSON-safe Python (non-finite floats become ``None``)."""
    if isinstance(v, np.ndarray):
        return [jsonable(x) for x in v.tolist()] if v.ndim else jsonable(v.item())
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, Mapping):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def json_object(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-safe object (:func:`jsonable` of a mapping, typed as one)."""
    out: dict[str, Any] = jsonable(fields)
    return out
