"""The user-facing text cites papers by authors, year and title, never by internal jargon.

README.md, the documentation sources (docs/**/*.md, without the build output and without the
generated docs/cards/) and every module of riskopt must not say "seed 000" (a paper's internal
number reads like a random seed) nor point at files outside the repository (``../shared/...``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: internal words that must not reach a reader: "seed 000".."seed 003", paths outside the repo and
#: sections of the internal specifications ("spec §9")
FORBIDDEN = re.compile(r"seed 00|shared/spec|\.\./shared|spec §", re.IGNORECASE)


def _user_facing_files() -> list[Path]:
    docs = ROOT / "docs"
    generated = {docs / "_build", docs / "cards", docs / "jupyter_execute"}
    pages = [p for p in sorted(docs.rglob("*.md")) if not any(g in p.parents for g in generated)]
    return [ROOT / "README.md", *pages, *sorted((ROOT / "riskopt").rglob("*.py"))]


def _hits(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
            for n, line in enumerate(lines, 1) if FORBIDDEN.search(line)]


def test_the_scan_covers_readme_docs_and_package() -> None:
    files = _user_facing_files()
    names = {p.relative_to(ROOT).as_posix() for p in files}
    assert "README.md" in names
    assert "docs/duality.md" in names and "docs/references.md" in names
    assert "riskopt/cli.py" in names
    assert not any(n.startswith(("docs/cards/", "docs/_build/")) for n in names)


@pytest.mark.parametrize("text", ["(seed 000, Example 1)", "Seed 003 (Niakh)",
                                  "`../shared/spec/price_and_choose.md`", "see ../shared/seeds",
                                  "the convex potential of spec §9"])
def test_the_pattern_catches_the_jargon(text: str) -> None:
    assert FORBIDDEN.search(text)


@pytest.mark.parametrize("text", ["random seed 2505", "`seed = 7`", "Ogaku (2025), Example 1",
                                  "the frozen spec dataclass"])
def test_the_pattern_leaves_ordinary_words(text: str) -> None:
    assert not FORBIDDEN.search(text)


def test_no_internal_jargon_in_readme_docs_or_package() -> None:
    hits = [hit for path in _user_facing_files() for hit in _hits(path)]
    assert not hits, "internal jargon (cite the paper by authors, year, title):\n" + "\n".join(hits)
