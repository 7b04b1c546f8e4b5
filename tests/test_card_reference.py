"""The generated card references cover every field of every bundled card.

Each mechanism documents its card through its spec's field metadata (riskopt.spec), which is also
what its card reader uses; the reference is built from it at every documentation build
(``docs/conf.py``). This test walks every key of every bundled card and finds it in the reference.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest
from _cardkit import MODELS

from riskopt.cards import MECHANISMS, reference_page, reference_rows

CARDS = sorted(MODELS.glob("*.toml"))


def _leaves(value: Any, path: str) -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _leaves(v, f"{path}.{k}" if path else k)]
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [leaf for i, v in enumerate(value) for leaf in _leaves(v, f"{path}[{i}]")]
    return [(path, value)]


def _documented(path: str, documented: set[str]) -> bool:
    """A card key is documented by its own row, by a row of an enclosing key (a measure's
    parameters, a random spec {uniform = [...]} inside a value), or as a measure parameter."""
    general = re.sub(r"\[\d+\]", "[]", path)
    parts = general.split(".")
    for k in range(len(parts), 0, -1):
        if ".".join(parts[:k]) in documented:
            return True
    measure = re.search(r"\.measure\.(\w+)", general)
    return bool(measure and f"<agent>.measure.{measure.group(1)}" in documented)


@pytest.mark.parametrize("card", CARDS, ids=[c.stem for c in CARDS])
def test_every_field_of_every_bundled_card_is_in_its_reference(card):
    data = tomllib.loads(card.read_text(encoding="utf-8"))
    mechanism = data["model"].get("mechanism", "pareto")
    if MECHANISMS[mechanism].spec is None:
        pytest.skip(f"{mechanism} is not read from a spec yet")
    rows = reference_rows(mechanism)
    documented = {re.sub(r" \(kind = .*\)$", "", r.path) for r in rows}
    missing = [p for p, _ in _leaves(data, "") if not _documented(p, documented)]
    assert not missing, f"{card.name}: undocumented keys {missing}"
    assert all(r.help for r in rows)  # every documented key says what it is


def test_reference_pages_render_as_markdown_tables():
    for name, card in MECHANISMS.items():
        if card.spec is None:
            continue
        page = reference_page(name)
        table = [line for line in page.splitlines() if line.startswith("|")]
        cells = [len(re.findall(r"(?<!\\)\|", line)) for line in table]  # unescaped separators
        assert len(table) > 4 and set(cells) == {6}, name
