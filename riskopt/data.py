"""Plain data helpers every layer of riskopt uses: JSON-safe conversion, run-independent views and
atomic file writes (a reader never sees a half-written file).

This module imports nothing from riskopt, so results, statuses and reports can use it from the
bottom of the import graph.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["atomic_path", "json_object", "jsonable", "without_timings", "write_atomic"]


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


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path in ``path``'s folder (same suffix, so writers that read the suffix still
    work) that replaces ``path`` (``os.replace``) once the block succeeds; removed on failure."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=target.suffix, dir=target.parent or ".")
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would make outputs private
        yield Path(tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_atomic(path: str | Path, content: str | bytes) -> Path:
    """Write ``content`` (text as UTF-8) to ``path`` atomically: a temporary file in the same folder,
    then ``os.replace``."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
