"""Hypothesis profiles: ``dev`` (default) explores new random examples on every run; ``ci``
(``HYPOTHESIS_PROFILE=ci``, set by ``.ci/run``) is derandomized so that a landing never depends on
the draw -- failures found while developing are pinned with ``@example`` in the test itself."""

import os

from hypothesis import settings

settings.register_profile("dev", print_blob=True)
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def pytest_terminal_summary(terminalreporter) -> None:
    """The number of fuzz cases run, in the summary: each tests/test_fuzz_*.py module counts them in
    its ``FUZZ_COUNTS`` (a Counter of (kind, case))."""
    import sys

    found = {id(c): c for name, m in list(sys.modules.items())
             if name.startswith("test_fuzz") and (c := getattr(m, "FUZZ_COUNTS", None))}
    if found:
        by_kind: dict[str, int] = {}
        for counts in found.values():
            for (kind, _), k in counts.items():
                by_kind[kind] = by_kind.get(kind, 0) + k
        shown = ", ".join(f"{kind} {k}" for kind, k in sorted(by_kind.items()))
        terminalreporter.write_line(f"fuzz cases: {shown} (total {sum(by_kind.values())})")
