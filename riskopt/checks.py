"""Parameter checks shared by every public constructor: each names the field and what is allowed.

:func:`real` and :func:`real_array` are the type checks at the edge of the Python API: a number is an
``int``, a ``float`` or a numpy real scalar (not a bool, a string, a complex number or a container),
an array is a (nested) list or numpy array of such numbers; anything else -- a string, a dict, None, a
ragged list, complex or object entries -- is a :class:`ModelError` naming the field, never a raw
numpy error or a complex number silently cut to its real part. :func:`integer` and :func:`generator`
do the same for counts and random seeds.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from .errors import ModelError

__all__ = ["finite", "generator", "in_unit_open", "integer", "nonnegative", "positive", "real", "real_array"]


def real(name: str, value: Any, what: str = "a number") -> float:
    """``value`` as a float when it is a real number (a 0-d real array counts), else a ModelError."""
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ModelError(name, value, what)
    try:
        return float(value)
    except (OverflowError, TypeError, ValueError):  # an integer beyond the float range
        raise ModelError(name, value, what) from None


def real_array(name: str, value: Any, what: str = "an array of numbers", *, ndim: int | None = None
               ) -> np.ndarray:
    """``value`` as a float array when it is a (nested) list or array of real numbers (``ndim``
    dimensions when given; a bare number has none), else a ModelError. Values are not checked; a bare
    bool is refused (a bool array counts as 0/1)."""
    if value is None or isinstance(value, (str, bytes, Mapping, bool, np.bool_)):
        raise ModelError(name, value, what)
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError, OverflowError):  # ragged nesting, unconvertible entries
        raise ModelError(name, value, what) from None
    if raw.dtype.kind not in "biuf" or (ndim is not None and raw.ndim != ndim):
        raise ModelError(name, value, what)
    return np.asarray(raw, float)


def integer(name: str, value: Any, what: str = "an integer") -> int:
    """``value`` as an int when it is an integer (not a bool, not a float), else a ModelError."""
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iu":
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ModelError(name, value, what)
    return int(value)


def generator(name: str, seed: Any) -> np.random.Generator:
    """``numpy.random.default_rng(seed)``, with a ModelError for what numpy cannot seed from."""
    if isinstance(seed, (bool, np.bool_)):
        raise ModelError(name, seed, "an integer seed >= 0, None or a numpy Generator")
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError):
        raise ModelError(name, seed, "an integer seed >= 0, None or a numpy Generator") from None


def finite(name: str, value: Any, what: str = "a finite number") -> float:
    v = real(name, value, what)
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
