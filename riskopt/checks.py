"""Parameter checks shared by every public constructor: each names the field and what is allowed."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import ModelError

__all__ = ["finite", "in_unit_open", "nonnegative", "positive"]


def finite(name: str, value: Any, what: str = "a finite number") -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ModelError(name, value, what) from None
    if not np.isfinite(v):
        raise ModelError(name, value, what)
    return v


def positive(name: str, value: Any, what: str = "") -> float:
    """A finite number > 0 (``what`` says what the parameter is, e.g. 'risk aversion')."""
    allowed = f"{what}: a finite number > 0" if what else "a finite number > 0"
    v = finite(name, value, allowed)
    if v <= 0:
        raise ModelError(name, value, allowed)
    return v


def nonnegative(name: str, value: Any, what: str = "") -> float:
    allowed = f"{what}: a finite number >= 0" if what else "a finite number >= 0"
    v = finite(name, value, allowed)
    if v < 0:
        raise ModelError(name, value, allowed)
    return v


def in_unit_open(name: str, value: Any, what: str = "a level in (0, 1)") -> float:
    v = finite(name, value, what)
    if not 0 < v < 1:
        raise ModelError(name, value, what)
    return v
