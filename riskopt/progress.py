"""Progress bars on stderr for long pieces of work (tqdm), silent off a terminal or when quiet.

Every long loop in riskopt (sweeps, storm generation, SPNE verification of large menus, benchmark
runs) reports through :func:`bar`. A bar shows only when stderr is a terminal and nothing asked for
quiet: :func:`quiet` (``riskopt ... --quiet``) silences every bar opened inside it, and sweeps run
their tasks quietly on the workers so that bars never interleave.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Never

from tqdm import tqdm

from .terminal import raw

__all__ = ["bar", "enabled", "quiet"]

_QUIET: ContextVar[bool] = ContextVar("riskopt_progress_quiet", default=False)


@contextmanager
def quiet(on: bool = True) -> Iterator[None]:
    """No progress bar inside the block (when ``on``)."""
    token = _QUIET.set(on or _QUIET.get())
    try:
        yield
    finally:
        _QUIET.reset(token)


def enabled(show: bool | None = None) -> bool:
    """Whether a bar shows: ``show`` when given, else stderr is a terminal and nothing asked for quiet."""
    if show is not None:
        return show
    if _QUIET.get():
        return False
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def bar(total: int, desc: str, *, unit: str = "it", show: bool | None = None,
        delay: float = 0.5) -> tqdm[Never]:
    """A progress bar of ``total`` steps on stderr (disabled unless :func:`enabled`), drawn once the
    work has taken ``delay`` seconds (quick work shows nothing); call ``.update(n)`` as work completes
    and ``.close()`` (or use it as a context manager)."""
    cols, rows = _screen()
    return tqdm(None, total=total, desc=desc, unit=unit, file=raw(sys.stderr), disable=not enabled(show),
                leave=False, mininterval=0.2, delay=delay, ncols=cols, nrows=rows)


def _screen() -> tuple[int, int]:
    """The terminal's columns and lines, 80 x 24 where it reports none (as a fresh pseudo-terminal
    does: tqdm would then print nothing)."""
    try:
        size = os.get_terminal_size(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):
        return 80, 24
    return size.columns or 80, size.lines or 24
