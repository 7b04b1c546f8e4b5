"""Model cards: a TOML file that says *what* (never code) -> validated objects -> a mechanism run.

Every card has a ``[model]`` table (``name``, ``mechanism``, ``description``, ``seed``) and a
``[solver]`` table (``backend``, ``solver``, ``options``); the other sections belong to the mechanism
named in ``[model]`` and are read by that mechanism's card reader (the ``"pareto"`` mechanism reads
``[[agents]]``/``[pool]``, ``[space]``, ``[allocation]`` and ``[objective]``). See
``docs/model_cards.md`` for every field, default and allowed value.

A mechanism joins the card format by exposing ``CARD = CardMechanism(name, reader, runner)`` (or a
tuple ``CARDS``) in its package under ``riskopt/mechanisms/`` (found automatically):
``reader(root: Node, draws: Draws) -> spec`` validates its sections (usually
:func:`riskopt.spec.read_spec` on the mechanism's spec), ``runner(spec, backend, solver, options)``
returns a :class:`~riskopt.result.Result`.

Every error is a :class:`~riskopt.errors.ModelError` whose field is the TOML path, e.g.
``agents[2].measure.gamma = -1: expected risk aversion: a finite number > 0``.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import mechanisms
from .budget import Footprint, require
from .cardschema import (
    MAX_AGENTS,
    MAX_STATES,
    CardMechanism,
    Draws,
    Node,
    SolverChoice,
    model_rows,
    read_solver,
    solver_rows,
)
from .errors import ModelError
from .spec import Row, reference

__all__ = [
    "MAX_AGENTS",
    "MAX_STATES",
    "MECHANISMS",
    "Card",
    "CardMechanism",
    "CardPoint",
    "bundled_card",
    "bundled_names",
    "card_footprint",
    "load_card",
    "parse_card",
    "read_card_data",
    "reference_page",
    "reference_rows",
    "resolve_card",
    "run_card",
    "set_path",
]


def _discover() -> dict[str, CardMechanism]:
    """Every ``CARD`` (or tuple ``CARDS``) exposed by a module or package of ``riskopt.mechanisms``."""
    found = {}
    for info in pkgutil.iter_modules(mechanisms.__path__):
        module = importlib.import_module(f"{mechanisms.__name__}.{info.name}")
        cards = [getattr(module, "CARD", None), *getattr(module, "CARDS", ())]
        for card in cards:
            if isinstance(card, CardMechanism):
                found[card.name] = card
    return found


MECHANISMS: dict[str, CardMechanism] = _discover()


@dataclass
class Card:
    """A parsed, validated model card: metadata, the mechanism's spec and the solver choice.

    The fields of the mechanism's spec are reachable on the card itself (``card.space``,
    ``card.agents`` for a Pareto card).
    """

    name: str
    mechanism: str
    description: str
    seed: int | None
    spec: Any
    solver_choice: SolverChoice
    source: str = ""
    #: the unit of the card's amounts (losses, allocations, premiums, taxes), e.g. "EUR m"; "" if unsaid
    units: str = ""

    @property
    def backend(self) -> str:
        return self.solver_choice.backend

    @property
    def solver(self) -> str | None:
        return self.solver_choice.solver

    @property
    def options(self) -> dict[str, Any]:
        return self.solver_choice.options

    def __getattr__(self, key: str) -> Any:
        spec = self.__dict__.get("spec")
        if spec is None or key.startswith("_"):
            raise AttributeError(key)
        return getattr(spec, key)


def parse_card(data: Mapping[str, Any], source: str = "") -> Card:
    """Validate a card given as a mapping (a parsed TOML document)."""
    root = Node(data, "")
    model = root.child("model")
    name = model.take("name", str, default=Path(source).stem or "model")
    mechanism = model.take("mechanism", str, default="pareto")
    if mechanism not in MECHANISMS:
        raise ModelError(model.at("mechanism"), mechanism, f"one of {sorted(MECHANISMS)}")
    description = model.take("description", str, default="")
    seed = model.take("seed", int, default=None, allowed="an integer seed >= 0")
    if seed is not None and seed < 0:
        raise ModelError(model.at("seed"), seed, "an integer seed >= 0")
    units = model.take("units", str, default="", allowed="a unit label for the card's amounts, e.g. 'EUR m'")
    if len(units) > 40 or not units.isprintable():
        raise ModelError(model.at("units"), units, "a printable unit label of at most 40 characters")
    model.finish()
    spec = MECHANISMS[mechanism].reader(root, Draws(seed, folder=Path(source).parent if source else None))
    solver = read_solver(root)
    root.finish()
    return Card(name, mechanism, description, seed, spec, solver, source, units)


def load_card(path: str | Path) -> Card:
    """Read and validate a TOML model card (a path, or the name of a bundled card)."""
    data, source = read_card_data(path)
    return parse_card(data, source=source)


#: the largest card file read (a 5,000,000-state discrete card written out is ~60 MiB)
MAX_CARD_BYTES = 64 * 2**20


def read_card_data(path: str | Path) -> tuple[dict[str, Any], str]:
    """The parsed TOML document of a card (a path or a bundled name, see :func:`resolve_card`) and
    its source path."""
    p, _ = resolve_card(path)
    if not p.is_file():  # a device (/dev/zero), a FIFO or a folder would be read without end
        raise ModelError("card", str(path), "a regular file (not a device, pipe or folder)")
    try:
        with p.open("rb") as handle:  # bounded read: a file that grows is not followed
            raw = handle.read(MAX_CARD_BYTES + 1)
        if len(raw) > MAX_CARD_BYTES:
            raise ModelError("card", str(path), f"a card of at most {MAX_CARD_BYTES // 2**20} MiB",
                             detail="larger cards: put the data in the law or scenario generator fields")
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ModelError("card", str(path), "a readable UTF-8 TOML file", detail=str(err)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ModelError("card", str(path), "valid TOML", detail=str(err)) from None
    except RecursionError:
        raise ModelError("card", str(path), "a TOML document of reasonable nesting depth") from None
    return data, str(p)


def resolve_card(ref: str | Path) -> tuple[Path, str]:
    """The file a card reference names, and a note (``""`` when nothing was ambiguous).

    A path that exists relative to the current directory wins (the note says so when it shadows a
    bundled card of the same name); else a bundled card name (``hurricane_pool``); else a path whose
    file is not here but whose file name is a bundled card's (``models/hurricane_pool.toml`` run
    outside the repository) is that bundled card, and the note says so. Otherwise a
    :class:`~riskopt.errors.ModelError` suggests the closest names (bundled cards, TOML files in the
    named folder).
    """
    text = str(ref)
    try:
        return _resolve_card(text)
    except ModelError:
        raise
    except (OSError, ValueError) as err:  # a name too long for the file system, a NUL byte
        raise ModelError("card", text, "an existing TOML file or a bundled card name (riskopt list)",
                         detail=getattr(err, "strerror", None) or str(err)) from None


def _resolve_card(text: str) -> tuple[Path, str]:
    p = Path(text)
    own_name = p.name == text  # no folder given: it may also name a bundled card
    if p.exists():
        bundled = bundled_card(text) if own_name else None
        if bundled is not None and bundled.resolve() != p.resolve():
            return p, (f"using {text} from the current directory, not the bundled card "
                       f"'{_stem(text)}' ({bundled})")
        return p, ""
    if own_name:
        bundled = bundled_card(text)
        if bundled is not None:
            local = Path(f"{text}.toml")
            if local.is_file() and local.resolve() != bundled.resolve():
                return bundled, (f"using the bundled card '{text}' ({bundled}), not {local} from the "
                                 f"current directory (riskopt run {local} reads that one)")
            return bundled, ""
    elif p.suffix == ".toml" and (bundled := bundled_card(p.name)) is not None:
        return bundled, (f"{text} is not in the current directory ({Path.cwd()}); using the bundled "
                         f"card '{_stem(p.name)}' ({bundled})")
    raise ModelError("card", text, "an existing TOML file or a bundled card name (riskopt list)",
                     detail="file not found" + _did_you_mean(p))


def _stem(name: str) -> str:
    return name[:-5] if name.endswith(".toml") else name


def bundled_names() -> list[str]:
    """The names of the cards shipped with riskopt (``riskopt list`` shows them)."""
    from importlib import resources

    try:
        files = resources.files("riskopt.models").iterdir()
    except ModuleNotFoundError:  # pragma: no cover - models not installed
        return []
    return sorted(f.name[:-5] for f in files if f.name.endswith(".toml"))


def _did_you_mean(p: Path) -> str:
    """``"; did you mean 'hurricane_pool'?"`` for the closest bundled names or TOML files beside
    ``p`` (difflib), else ``""``."""
    import difflib

    stem = _stem(p.name)
    names = {n: n for n in bundled_names()}
    folder = p.parent
    if str(folder) not in ("", ".") and folder.is_dir():
        names.update({f.stem: str(f) for f in sorted(folder.glob("*.toml"))[:1000]})
    elif folder.is_dir():
        names.update({f.stem: f.name for f in sorted(folder.glob("*.toml"))[:1000]})
    close = difflib.get_close_matches(stem, list(names), n=3, cutoff=0.6)
    return "; did you mean " + " or ".join(repr(names[c]) for c in close) + "?" if close else ""


def bundled_card(name: str) -> Path | None:
    """Path of a card shipped with riskopt (``hurricane_pool`` or ``hurricane_pool.toml``)."""
    from importlib import resources

    stem = name[:-5] if name.endswith(".toml") else name
    if "/" in stem or "\\" in stem:
        return None
    try:
        candidate = resources.files("riskopt.models") / f"{stem}.toml"
    except ModuleNotFoundError:  # pragma: no cover - models not installed
        return None
    return Path(str(candidate)) if candidate.is_file() else None


def card_footprint(card: Card) -> Footprint:
    """The estimated peak memory of running ``card`` (:mod:`riskopt.budget`): its spec's
    ``footprint()``."""
    found: Footprint = card.spec.footprint()
    return found


def run_card(card: Card, *, backend: str | None = None, solver: str | None = None) -> Any:
    """Run the card's mechanism (command-line overrides win) once its estimated memory fits the
    budget (:func:`riskopt.budget.require`); returns the mechanism's result."""
    chosen_backend, chosen_solver, options = card.solver_choice.resolve(backend, solver)
    require(card_footprint(card), what=f"the card '{card.name}'")
    try:
        return MECHANISMS[card.mechanism].runner(card.spec, chosen_backend, chosen_solver, options)
    except ModelError as err:  # a backend refusing the card's [solver] options: name the card field
        if options and err.field.split(".")[0] == "options":
            raise err.with_prefix("solver") from None
        raise


_PATH = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")
_PATH_FULL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\[\d+\]|\.[A-Za-z_][A-Za-z0-9_]*)*")


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Set ``value`` at a TOML path such as ``pool.measure.gamma`` or ``agents[1].measure.level``
    (in place; every container on the way must exist)."""
    if not _PATH_FULL.fullmatch(path):
        raise ModelError("sweep path", path, "a TOML path such as pool.measure.gamma or agents[0].name")
    tokens = [(m.group(1), m.group(2)) for m in _PATH.finditer(path)]
    node: Any = data
    for depth, (key, index) in enumerate(tokens):
        last = depth == len(tokens) - 1
        where = path if last else "the path"
        if key is not None:
            if not isinstance(node, dict) or (not last and key not in node):
                raise ModelError("sweep path", path, f"an existing table field ({where})")
            if last:
                node[key] = value
            else:
                node = node[key]
        else:
            i = int(index)
            if not isinstance(node, list) or i >= len(node):
                raise ModelError("sweep path", path, "an existing list entry")
            if last:
                node[i] = value
            else:
                node = node[i]


@dataclass(frozen=True)
class CardPoint:
    """Sweep task for a model card: set the point's TOML paths, validate, run, summarise.

    Picklable (it carries the parsed TOML document), so it runs on processes and dask workers.
    Each point rebuilds its program: card fields can change any structure. Programs whose knobs are
    Parameters re-solve without recompiling through :class:`riskopt.sweep.Compiled` in Python.
    """

    data: dict[str, Any]
    source: str = ""
    backend: str | None = None
    solver: str | None = None
    max_agent_columns: int = 20

    def __call__(self, point: dict[str, Any]) -> dict[str, Any]:
        import copy

        data = copy.deepcopy(self.data)
        for path, value in point.items():
            set_path(data, path, value)
        card = parse_card(data, source=self.source)
        result = run_card(card, backend=self.backend, solver=self.solver)
        out = result.to_dict()
        row: dict[str, Any] = {"status": result.status}
        row.update({k: v for k, v in out.items() if isinstance(v, (int, float, str))
                    and k not in ("status", "status_meaning")})
        solver = out.get("solver") or {}
        row.update({f"solver.{k}": solver[k] for k in ("compile_s", "solve_s", "iterations") if k in solver})
        agents = out.get("agents") or []
        if len(agents) <= self.max_agent_columns:
            for a in agents:
                row.update({f"{a.get('name')}.{k}": v for k, v in a.items()
                            if k != "name" and isinstance(v, (int, float))})
        return row


def reference_rows(mechanism: str) -> list[Row]:
    """Every key a card of ``mechanism`` accepts: ``[model]``, the mechanism's spec, ``[solver]``."""
    card = MECHANISMS[mechanism]
    if card.spec is None:
        raise ModelError("mechanism", mechanism, "a mechanism whose card is read from a spec")
    return [*model_rows(), *reference(card.spec), *solver_rows()]


def reference_page(mechanism: str) -> str:
    """The generated card reference page of a mechanism (markdown; built with the docs)."""
    card = MECHANISMS[mechanism]
    lines = [f"# `{mechanism}` cards", "",
             f"{card.summary}" if card.summary else "",
             "",
             "Generated from the mechanism's spec (its field metadata is what the card reader uses: one "
             "declaration, so this page and the reader cannot disagree). Paths are TOML paths; `[]` "
             "marks an array of tables; `<agent>.measure` stands for `agents[].measure` and "
             "`pool.measure`.", "",
             "| key | type | default | allowed | help |", "|---|---|---|---|---|"]
    for r in reference_rows(mechanism):
        help_ = r.help + (f" ({r.units})" if r.units else "")
        default = f"`{r.default}`" if r.default not in ("required", "") else r.default
        cells = [f"`{r.path}`", r.kind, default, r.allowed, help_]
        lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    return "\n".join(lines + constraint_examples(mechanism)) + "\n"


def constraint_examples(mechanism: str) -> list[str]:
    """Markdown lines showing the ``[[constraints]]`` tables of the bundled ``*_constrained`` cards
    of ``mechanism`` (the example the card reference gives for user constraints)."""
    lines: list[str] = []
    for name in bundled_names():
        if not name.endswith("_constrained"):
            continue
        path = bundled_card(name)
        if path is None:
            continue
        text = path.read_text(encoding="utf-8")
        if tomllib.loads(text).get("model", {}).get("mechanism") != mechanism:
            continue
        start = text.find("\n[[constraints]]")  # the first table (a comment may name it too)
        tables = text[start:] if start >= 0 else ""
        lines += ["", f"## Your own constraints: `{name}`", "",
                  f"From the bundled card `{name}` (`riskopt run {name} --format json`: each constraint's "
                  "dual and whether it binds under `\"constraints\"`):", "", "```toml", tables.strip(), "```"]
    return lines
