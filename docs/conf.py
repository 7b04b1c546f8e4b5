"""Sphinx configuration: MyST-NB pages executed at build time, API reference from docstrings."""

project = "riskopt"
author = "the riskopt developers"
copyright = "2026, the riskopt developers"

extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.mathjax"]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "jupyter_execute"]
source_suffix = {".md": "myst-nb"}

# every page with code cells is executed on every build: an example cannot rot
nb_execution_mode = "force"
nb_execution_raise_on_error = True
nb_execution_timeout = 600
nb_merge_streams = True


def _missing(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is None


# the pages on CLIMADA's hazard data need the climada extra: without it they are shown, not executed
nb_execution_excludepatterns = ["florida_*.md"] if _missing("climada") else []
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": False}
napoleon_numpy_docstring = False
napoleon_google_docstring = False
nitpicky = False
suppress_warnings = ["myst.xref_missing"]

html_theme = "alabaster"
html_title = "riskopt"
html_static_path = ["_static"]
html_css_files = ["custom.css"]  # long code lines wrap instead of being cut off


# ------------------------------------------------------------------ generated card references
def _write_card_references(app) -> None:
    """docs/cards/<mechanism>.md from each mechanism's spec, at every build (riskopt.cards)."""
    from pathlib import Path

    from riskopt.cards import MECHANISMS, reference_page

    out = Path(app.srcdir) / "cards"
    out.mkdir(exist_ok=True)
    for name, card in sorted(MECHANISMS.items()):
        if card.spec is not None:
            text = reference_page(name)
            path = out / f"{name}.md"
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                path.write_text(text, encoding="utf-8")


def setup(app):
    app.connect("builder-inited", _write_card_references)
