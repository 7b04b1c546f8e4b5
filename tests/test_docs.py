"""Every Python example in README.md and docs/ runs as written (so no example can rot).

Docs pages hold ``{code-cell} ipython3`` cells (executed again when the site is built) or plain
``python`` blocks; both are run here, each page's cells in one namespace, in order, in the page's
folder (as the docs build runs them).
"""

import re
from pathlib import Path

import pytest
from _cardkit import HAS_CLIMADA

ROOT = Path(__file__).resolve().parents[1]
FILES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"```(?:python|\{code-cell\} ipython3)\n(.*?)```", re.S)
PAGES = [(f, FENCE.findall(f.read_text())) for f in FILES]
PAGES = [(f, cells) for f, cells in PAGES if cells]


@pytest.mark.parametrize(("path", "cells"), PAGES, ids=[str(p.relative_to(ROOT)) for p, _ in PAGES])
def test_page_runs(path, cells, capsys, monkeypatch):
    if path.name.startswith("florida_") and not HAS_CLIMADA:
        pytest.skip("needs the climada extra (the docs build shows the page unexecuted, docs/conf.py)")
    monkeypatch.chdir(path.parent)  # as the docs build runs a page: relative paths start at its folder
    namespace = {"__name__": "__docs__"}
    for i, code in enumerate(cells):
        code = "\n".join(line for line in code.splitlines() if not line.startswith(":"))  # cell options
        exec(compile(code, f"{path.name}[{i}]", "exec"), namespace)


def test_there_are_examples():
    assert sum(len(cells) for _, cells in PAGES) >= 6
