"""Terminal-safe text: control characters in names and values are shown escaped, never obeyed.

A card's names and strings reach the terminal in tables and messages. An escape sequence in an agent
name (``"\\x1b]0;pwned\\x07"`` retitles the window, ``"\\x1b[2J"`` clears the screen), a carriage
return that overwrites a row, or a Unicode bidi override that reorders what is shown would be obeyed
by the terminal. :func:`safe` writes every such character as a visible escape (``\\x1b``,
``\\u202e``); line feeds and tabs are kept (tables are made of lines). JSON output keeps the exact
strings (``json.dumps`` escapes them itself).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

__all__ = ["SafeStream", "raw", "safe", "safe_stderr"]

# C0 controls but tab and line feed, DEL, C1 controls, and invisible format / bidi controls
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def safe(text: str) -> str:
    """``text`` with terminal control characters written as escapes (line feeds and tabs kept)."""
    return _UNSAFE.sub(_escape, text)


class SafeStream:
    """A text stream that writes :func:`safe` text to the stream it wraps."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def write(self, text: str) -> int:
        return self.stream.write(safe(text))

    def __getattr__(self, name: str) -> Any:  # flush, fileno, isatty, encoding, ...
        return getattr(self.stream, name)


def raw(stream: Any) -> Any:
    """The stream a :class:`SafeStream` wraps (a progress bar draws its own carriage returns)."""
    return stream.stream if isinstance(stream, SafeStream) else stream


@contextmanager
def safe_stderr() -> Iterator[None]:
    """Within the block, ``sys.stderr`` writes terminal-safe text (messages quote card values)."""
    import sys

    original = sys.stderr
    sys.stderr = SafeStream(original)
    try:
        yield
    finally:
        sys.stderr = original
