"""Solver output never reaches stdout: C-level stdout is redirected while a solver runs.

highspy prints a banner on the C-level stdout (file descriptor 1) whenever a ``Highs`` object is
constructed, and Pyomo's and cvxpy's HiGHS interfaces construct one per solve; stdout is where
riskopt writes its results (``riskopt run CARD --format json`` must parse) and stderr carries one
line per outcome. :func:`quiet_stdout` points fd 1 elsewhere for the duration: to ``/dev/null`` for
chatter (riskopt reports the status itself), or to stderr when the user asked the solver to talk
(``verbose=True``). C and Python buffers are flushed on both sides, so nothing changes stream or
order.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from collections.abc import Iterator
from typing import Any, Literal

__all__ = ["new_highs", "quiet_stdout"]


@contextlib.contextmanager
def quiet_stdout(target: Literal["devnull", "stderr"] = "devnull") -> Iterator[None]:
    """Send C-level stdout (fd 1) to ``/dev/null`` (or stderr) for the duration."""
    try:
        libc: Any = ctypes.CDLL(None)
    except OSError:  # pragma: no cover - no C library to flush (exotic platforms)
        libc = None
    sys.stdout.flush()
    if libc is not None:
        libc.fflush(None)
    try:
        saved = os.dup(1)
    except OSError:  # pragma: no cover - no fd 1 at all: nothing to protect
        yield
        return
    sink = os.open(os.devnull, os.O_WRONLY) if target == "devnull" else 2
    try:
        os.dup2(sink, 1)
        yield
    finally:
        if libc is not None:
            libc.fflush(None)
        os.dup2(saved, 1)
        os.close(saved)
        if sink != 2:
            os.close(sink)


def new_highs() -> Any:
    """A silent ``highspy.Highs`` (its construction banner discarded, ``output_flag`` off)."""
    import highspy

    with quiet_stdout():
        h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    return h
