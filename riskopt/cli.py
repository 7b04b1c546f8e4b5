"""Command line: ``riskopt run CARD``, ``riskopt demo``, ``riskopt list``.

User errors (a bad card, an unknown backend, a failed solve) print one line on stderr and exit 2;
an internal error prints one line with a hint to report it and exits 1. Output files are written
only after a successful solve.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Sequence
from typing import NoReturn

from .errors import ModelError, RiskoptError, RiskoptWarning, SolveError

__all__ = ["main"]

DEMO_CARD = "hurricane_pool"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2 (argparse prints usage + 2 lines)
        print(f"riskopt: error: {message} (see riskopt --help)", file=sys.stderr)
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="riskopt", description="Risk sharing and insurance mechanism design: solve model cards.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, help_ in (("run", "solve a model card (TOML file or bundled card name)"),
                        ("demo", f"solve the bundled demo card ({DEMO_CARD})")):
        s = sub.add_parser(name, help=help_)
        if name == "run":
            s.add_argument("card", help="path to a TOML model card, or a bundled card name")
        s.add_argument("--backend", help="cvxpy | highs | pyomo (default: the card's)")
        s.add_argument("--solver", help="solver name, e.g. CLARABEL, ECOS, SCS, HIGHS")
        s.add_argument("--format", choices=("table", "json"), default="table")
        s.add_argument("--plot", metavar="FILE", help="write a figure (PNG/PDF/SVG) of the result")
    sub.add_parser("list", help="registered measures, backends and solvers, and bundled cards")
    return p


def _run(card_ref: str, args: argparse.Namespace, *, title: str = "") -> int:
    from .cards import load_card, run_card

    if args.plot:
        _check_plot_path(args.plot)  # before the solve, which may be long
    card = load_card(card_ref)
    result = run_card(card, backend=args.backend, solver=args.solver)
    if args.plot:
        try:
            result.plot(args.plot, title=card.name)
        except OSError as err:
            raise ModelError("--plot", args.plot, "a writable file", detail=str(err)) from None
    if args.format == "json":
        out = result.to_dict()
        out["model"] = {"name": card.name, "source": card.source, "seed": card.seed}
        print(json.dumps(out, allow_nan=False))
    else:
        print(result.table(title=title or f"{card.name} ({card.source})"))
    return 0


def _check_plot_path(path: str) -> None:
    from pathlib import Path

    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        raise ModelError("--plot", path, "matplotlib installed: pip install 'riskopt[plots]'") from None
    kinds = sorted(FigureCanvasBase.get_supported_filetypes())
    p = Path(path)
    if p.suffix.lower().lstrip(".") not in kinds:
        raise ModelError("--plot", path, f"a file name ending in one of {kinds}")
    if not p.parent.is_dir():
        raise ModelError("--plot", path, "a file in an existing directory")


def _list() -> int:
    import cvxpy as cp

    from .backends import backends
    from .cards import MECHANISMS
    from .measures import registry

    print("measures:   " + ", ".join(sorted(registry())))
    print("backends:   " + ", ".join(f"{n} ({'/'.join(sorted(c.cones - {'zero', 'nonneg'})) or 'LP'})"
                                     for n, c in sorted(backends().items())))
    print("solvers:    " + ", ".join(sorted(cp.installed_solvers())) + " (cvxpy); HIGHS (highs, pyomo)")
    print("mechanisms: " + ", ".join(sorted(MECHANISMS)))
    from importlib import resources

    bundled = resources.files("riskopt.models").iterdir()
    cards = sorted(p.name[:-5] for p in bundled if p.name.endswith(".toml"))
    print("cards:      " + ", ".join(cards))
    return 0


def _one_line(text: str) -> str:
    """Messages may quote card text (keys, values, solver output) holding line breaks."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``riskopt`` command."""
    args = _parser().parse_args(argv)
    # warnings are collected and printed as one line after a success (an error line stands alone)
    with warnings.catch_warnings(record=True) as caught:
        code = _main(args)
    messages = list(dict.fromkeys(_one_line(str(w.message)) for w in caught))
    if code == 0 and messages:
        print("riskopt: warning: " + "; ".join(messages), file=sys.stderr)
    return code


def _main(args: argparse.Namespace) -> int:
    try:
        if args.command == "list":
            return _list()
        if args.command == "demo":
            return _run(DEMO_CARD, args, title="riskopt demo: a hurricane pool of 50 farmers")
        return _run(args.card, args)
    except (ModelError, SolveError, RiskoptError, RiskoptWarning) as err:  # RiskoptWarning: -W error
        print(f"riskopt: error: {_one_line(str(err))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # pragma: no cover
        print("riskopt: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        print(_one_line(f"riskopt: internal error: {type(err).__name__}: {err} "
                        "(please report this with the card that caused it)"), file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
