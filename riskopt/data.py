"""Plain data helpers every layer of riskopt uses: JSON-safe conversion, run-independent views and
atomic file writes (a reader never sees a half-written file).

This module imports nothing from riskopt, so results, statuses and reports can use it from the
bottom of the import graph.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import stat
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["atomic_path", "json_object", "jsonable", "pinned_threads", "without_timings", "write_atomic"]


def without_timings(value: Any) -> Any:
    """A JSON-like output without its wall-clock measurements (keys ending in ``_s``, ``seconds``,
    ``timings``, at any depth): what two runs of the same card and seed must agree on bit for bit."""
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items()
                if not (k.endswith("_s") or k in ("seconds", "timings"))}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


#: the environment variables native libraries read for their thread count when they load
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


@contextlib.contextmanager
def pinned_threads() -> Iterator[None]:
    """Run the block with the BLAS/LAPACK and OpenMP thread pools at one thread, so its floating
    point results do not depend on the core count or on ``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS``
    (``riskopt run --reproducible``).

    A multithreaded BLAS splits the sums of a product or a factorisation by thread count: the storm
    card's copula (``eigh``, ``cholesky``, ``factor @ g.T``) then differs in the last bits, and
    thousands of output values with it. threadpoolctl pins the libraries already loaded; the
    ``*_NUM_THREADS`` variables, set to 1 for the block, pin those loaded during it (and child
    processes). Everything is restored on exit. HiGHS's own ``threads`` option is not needed: its
    LP simplex runs serially, and the bundled cards give the same bits with 1, 2 or 4 threads.
    """
    from threadpoolctl import threadpool_limits

    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    os.environ.update(dict.fromkeys(THREAD_VARIABLES, "1"))
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


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
    work) that replaces ``path`` (``os.replace``) once the block succeeds; removed on failure.

    Only regular files are replaced: an existing ``path`` that is a device, a pipe or a socket
    (``/dev/null``, ``/dev/full``, ``/dev/stdout``, a FIFO) is yielded itself and written in place
    (a rename would put a regular file where the device was, for root even ``/dev/null``); a folder
    is an :class:`IsADirectoryError`. A symbolic link to a file is followed: the file is replaced,
    the link kept."""
    target = Path(path)
    try:
        mode = os.stat(target).st_mode  # follows symbolic links
    except FileNotFoundError:
        mode = None
    if mode is not None and stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(target))
    if mode is not None:
        resolved = Path(os.path.realpath(target))
        # a device or a pipe, or a file reached only through a descriptor (/dev/stdout redirected
        # to a file removed since): written in place
        if not stat.S_ISREG(mode) or not resolved.exists():
            yield target
            return
        target = resolved
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
