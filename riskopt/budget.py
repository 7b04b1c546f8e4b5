"""The memory budget: estimate what a run will hold before allocating it, refuse what will not fit.

A card's footprint is estimated from its parsed spec (agents x states, scenarios x regions, grid
cells, sweep points) with per-mechanism formulas calibrated on measured peak resident memory
(``docs/reliability.md`` gives the measurements). The run is refused with one line naming the card
fields, the estimate and the limit (:class:`~riskopt.errors.ModelError`, exit 2) when

.. math::  \\text{estimate} > \\text{limit} = f \\cdot \\min(\\text{MemAvailable},\\;
           \\text{cgroup limit} - \\text{cgroup usage},\\; \\text{RLIMIT\\_AS} - \\text{VmSize})

with the safe fraction :data:`SAFE_FRACTION` of the memory actually available to this process, unless
the user sets the limit (``--max-memory 16G``, or :func:`max_memory` in Python). Estimates are of
peak resident memory including the interpreter and its libraries (:data:`BASE_BYTES`).
"""

from __future__ import annotations

import contextlib
import math
import os
import re
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelError

__all__ = ["BASE_BYTES", "SAFE_FRACTION", "SHARING_ENTRY_BYTES", "Footprint", "MemoryLimit",
           "available_memory", "cells", "current_limit", "format_bytes", "max_memory", "parse_size",
           "require", "resident_bytes"]

#: the part of the memory available to this process a run may plan to use by default
SAFE_FRACTION = 0.7
#: resident memory of a process that imported riskopt (Python, numpy, scipy, cvxpy and every solver
#: cvxpy finds: measured 123 MB, 281 MB with MOSEK and Xpress installed), where it cannot be read
BASE_BYTES = 300e6
#: peak bytes per agent x state entry of a sharing program (cvxpy + Clarabel with exponential cones,
#: certificate and polish included): measured 4.1-5.0 KB on hurricane pools of 100-1,000 farmers
SHARING_ENTRY_BYTES = 6e3


@dataclass(frozen=True)
class Footprint:
    """Estimated peak memory of one run: ``bytes``, the card ``fields`` that set it and a ``detail``
    such as ``"2000 agents x 2001 states"``."""

    bytes: float
    fields: tuple[str, ...]
    detail: str

    def __add__(self, other: Footprint) -> Footprint:
        """Both parts' bytes and fields; the larger part's detail (what a reader should change)."""
        fields = tuple(dict.fromkeys((*self.fields, *other.fields)))
        detail = self.detail if self.bytes >= other.bytes else other.detail
        return Footprint(self.bytes + other.bytes, fields, detail)

    def times(self, copies: int) -> Footprint:
        """``copies`` of this run at once (points of a sweep on concurrent workers)."""
        if copies == 1:
            return self
        return Footprint(copies * self.bytes, self.fields, f"{copies} concurrent points of {self.detail}")


def cells(per_cell: float, fields: tuple[str, ...], **dims: int) -> Footprint:
    """``per_cell`` bytes for each cell of the product of ``dims``: ``cells(6e3, ("agents", "space"),
    agents=100, states=401)`` is 100 x 401 entries of an allocation matrix (detail
    ``"100 agents x 401 states"``)."""
    count = math.prod(int(v) for v in dims.values())
    return Footprint(per_cell * count, fields, " x ".join(f"{int(v)} {k}" for k, v in dims.items()))


@dataclass(frozen=True)
class MemoryLimit:
    """A memory limit in bytes and where it comes from (``"available RAM"``, ``"--max-memory"``...)."""

    bytes: float
    source: str


def _meminfo_available() -> float | None:
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return None
    match = re.search(r"^MemAvailable:\s+(\d+)\s+kB", text, re.MULTILINE)
    return float(match.group(1)) * 1024 if match else None


def _ram_available() -> float | None:
    found = _meminfo_available()
    if found is not None:
        return found
    with contextlib.suppress(ValueError, OSError, AttributeError):  # not Linux: free physical pages
        return float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    return None  # pragma: no cover - a platform without either


def _read_number(path: Path) -> float | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return float(text) if text.isdigit() else None  # "max" (v2) means no limit


def _cgroup_headroom() -> float | None:
    """Limit minus usage of this process's memory cgroup (v2, else v1); None without a limit."""
    root = Path("/sys/fs/cgroup")
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        hierarchy, _, rest = line.partition(":")
        controllers, _, rel = rest.partition(":")
        if hierarchy == "0" and controllers == "":  # v2 unified hierarchy
            mount, names = root, ("memory.max", "memory.current")
        elif "memory" in controllers.split(","):
            mount, names = root / "memory", ("memory.limit_in_bytes", "memory.usage_in_bytes")
        else:
            continue
        # a container sees its own cgroup at the mount's root, where the listed path does not exist
        for folder in (mount / rel.lstrip("/"), mount):
            cap = _read_number(folder / names[0])
            if cap is not None:
                if cap >= 2**60:  # v1 writes 'no limit' as a huge number
                    break
                return max(cap - (_read_number(folder / names[1]) or 0.0), 0.0)
    return None


def _address_space_headroom() -> float | None:
    """``ulimit -v`` (RLIMIT_AS) minus this process's current virtual size; None when unlimited."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    size = 0.0
    with contextlib.suppress(OSError):
        match = re.search(r"^VmSize:\s+(\d+)\s+kB", Path("/proc/self/status").read_text(), re.MULTILINE)
        size = float(match.group(1)) * 1024 if match else 0.0
    return max(float(soft) - size, 0.0)


def available_memory() -> MemoryLimit:
    """The memory actually available to this process: the lowest of the available RAM
    (``MemAvailable``), the memory cgroup's headroom and the address-space limit's headroom."""
    found = [(v, s) for v, s in ((_ram_available(), "available RAM"),
                                 (_cgroup_headroom(), "the memory cgroup's limit"),
                                 (_address_space_headroom(), "the address-space limit (ulimit -v)"))
             if v is not None]
    if not found:  # pragma: no cover - nothing readable: no refusal on a guess
        return MemoryLimit(math.inf, "unknown (not checked)")
    value, source = min(found)
    return MemoryLimit(value, source)


#: the source of a limit the user set
USER_LIMIT = "--max-memory"
_LIMIT: ContextVar[MemoryLimit | None] = ContextVar("riskopt_memory_limit", default=None)


def current_limit() -> MemoryLimit:
    """The limit in force on the memory of the run, this process included: the one set by
    :func:`max_memory`, else what this process holds now plus :data:`SAFE_FRACTION` of
    :func:`available_memory` (which does not count what this process holds)."""
    chosen = _LIMIT.get()
    if chosen is not None:
        return chosen
    free = available_memory()
    held = resident_bytes()
    return MemoryLimit(held + SAFE_FRACTION * free.bytes,
                       f"{format_bytes(held)} held + {SAFE_FRACTION:.0%} of {format_bytes(free.bytes)} "
                       f"free ({free.source})")


@contextlib.contextmanager
def max_memory(limit: float | str | None) -> Iterator[None]:
    """Within the block runs may plan up to ``limit`` bytes (a number, or a size such as ``"16G"``;
    ``"none"`` turns the check off; ``None`` keeps the default)."""
    if limit is None:
        yield
        return
    value = parse_size(limit) if isinstance(limit, str) else float(limit)
    if not value > 0:
        raise ModelError("max_memory", limit, "a size > 0 such as 16G, 500M or 2e9, or 'none'")
    token = _LIMIT.set(MemoryLimit(value, USER_LIMIT))
    try:
        yield
    finally:
        _LIMIT.reset(token)


_UNITS = {"": 1, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_size(text: str) -> float:
    """``"16G"``, ``"500M"``, ``"1.5GiB"``, ``"2e9"`` -> bytes (binary units); ``"none"`` -> inf."""
    allowed = "a size such as 16G, 500M, 1.5GiB or 2e9 (bytes), or 'none'"
    cleaned = str(text).strip()
    if cleaned.lower() in ("none", "unlimited", "inf"):
        return math.inf
    match = re.fullmatch(r"([0-9.eE+]+)\s*([KMGT]?)(?:i?B)?", cleaned, re.IGNORECASE)
    if match is None:
        raise ModelError("--max-memory", text, allowed)
    try:
        value = float(match.group(1)) * _UNITS[match.group(2).upper()]
    except ValueError:
        raise ModelError("--max-memory", text, allowed) from None
    if not (value > 0 and math.isfinite(value)):
        raise ModelError("--max-memory", text, allowed)
    return value


def format_bytes(value: float) -> str:
    """``2.5e9`` -> ``"2.3 GiB"``."""
    if not math.isfinite(value):
        return "unlimited"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def resident_bytes() -> float:
    """This process's resident memory now (``VmRSS``), or :data:`BASE_BYTES` where unreadable."""
    with contextlib.suppress(OSError):
        match = re.search(r"^VmRSS:\s+(\d+)\s+kB", Path("/proc/self/status").read_text(), re.MULTILINE)
        if match:
            return float(match.group(1)) * 1024
    return BASE_BYTES


def require(footprint: Footprint, *, workers: int = 0, what: str = "this run") -> None:
    """Refuse (:class:`ModelError`) when ``footprint`` plus this process as it is now (and
    ``workers`` worker processes of the same size) would exceed :func:`current_limit`."""
    need = resident_bytes() * (1 + workers) + footprint.bytes
    limit = current_limit()
    if need <= limit.bytes:
        return
    how = ("set by --max-memory" if limit.source == USER_LIMIT
           else f"{limit.source}; raise it with --max-memory SIZE")
    raise ModelError(", ".join(footprint.fields), footprint.detail,
                     f"{what} to fit in {format_bytes(limit.bytes)} ({how})",
                     detail=f"estimated peak memory {format_bytes(need)}")
