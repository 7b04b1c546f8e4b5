"""Hypothesis profiles: ``dev`` (default) explores new random examples on every run; ``ci``
(``HYPOTHESIS_PROFILE=ci``, set by ``.ci/run``) is derandomized so that a landing never depends on
the draw -- failures found while developing are pinned with ``@example`` in the test itself."""

import os

from hypothesis import settings

settings.register_profile("dev", print_blob=True)
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def pytest_terminal_summary(terminalreporter) -> None:
    """The number of fuzz cases run (tests/test_fuzz_cards.py counts them), in the summary."""
    import sys

    fuzz = sys.modules.get("test_fuzz_cards")
    counts = getattr(fuzz, "FUZZ_COUNTS", None)
    if counts:
        by_kind: dict[str, int] = {}
        for (kind, _), k in counts.items():
            by_kind[kind] = by_kind.get(kind, 0) + k
        shown = ", ".join(f"{kind} {k}" for kind, k in sorted(by_kind.items()))
        terminalreporter.write_line(f"fuzz cases: {shown}")
