"""File and I/O faults (issue 18): what riskopt reads and writes when the file system says no.

Cards read from a folder, a FIFO (no hang), a device (/dev/zero, /dev/null), a file that cannot be read
(/proc/self/mem, a chmod 000 file), a file beyond the size limit, invalid UTF-8, NUL bytes, a symlink
loop, names too long, and every bundled card cut at several byte offsets. Outputs (``--output``,
``--plot``, ``riskopt sweep --out``) written to a folder, a missing folder, /dev/full (the write
fails), /dev/null (fine), a read-only folder, a FIFO with a reader, a name too long, an unknown figure
type, and over an existing file while the file system refuses the write (``RLIMIT_FSIZE`` in a
subprocess, ``SIGXFSZ`` ignored: the write fails with EFBIG part-way).

Contract: exit 2 (0 where the action is fine: /dev/null, a FIFO with a reader), one line on stderr
naming the field (``card``, ``--output``, ``--plot``, ``--out``), nothing on stdout on an error,
existing files byte-identical, no temporary file left in the target folder, no hang. Each case is
counted in ``FUZZ_COUNTS`` under ``io`` (tests/conftest.py prints the counts).

Devices are reached through a symbolic link in the test's folder when the suite runs as root: a
regression that renamed a file over the target would then replace the link, not the system's
/dev/full or /dev/null.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import stat
import subprocess
import sys
import threading
import time
import tomllib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _cardkit import CHEAP, MODELS, cheap, dumps, run_cli, write

from riskopt import ModelError
from riskopt.cards import set_path

#: io cases run, per (kind, case): printed in the session summary (tests/conftest.py)
FUZZ_COUNTS: Counter[tuple[str, str]] = Counter()
ROOT = os.geteuid() == 0
#: the card every output case solves: a closed form, 10 ms
CARD = "buhlmann_equilibrium"
GRID = "agents[0].measure.gamma=0.3,0.4"
#: a card read or a refusal that takes longer than this hangs
READ_LIMIT_S = 5
#: a subprocess (1.5 s of imports, then the run)
SUBPROCESS_LIMIT_S = 120
CARDS = sorted(p.stem for p in MODELS.glob("*.toml"))


def count(case: str) -> None:
    FUZZ_COUNTS["io", case] += 1


def refused(code: int, out: str, err: str, field: str) -> str:
    """Exit 2, nothing on stdout, one line on stderr: ``riskopt: error: FIELD = ...``."""
    lines = err.splitlines()
    assert code == 2 and out == "", (code, out, err)
    assert len(lines) == 1 and lines[0].startswith(f"riskopt: error: {field} = "), err
    return lines[0]


def leftovers(folder: Path, *expected: str) -> list[str]:
    """Files in ``folder`` other than ``expected`` (temporary files of an atomic write start with a dot)."""
    return sorted(p.name for p in folder.iterdir() if p.name not in expected)


@pytest.fixture
def card(tmp_path: Path) -> Path:
    """The cheap output card, in a folder of its own (``tmp_path / "in"``)."""
    folder = tmp_path / "in"
    folder.mkdir()
    return write(folder / "card.toml", cheap(CARD))


def device(tmp_path: Path, target: str, name: str) -> str:
    """``target`` itself, or (as root) a symbolic link ``tmp_path / name`` to it."""
    if not ROOT:
        return target
    link = tmp_path / name
    link.symlink_to(target)
    return str(link)


# ----------------------------------------------------------------------------- reading a card
def _fifo(tmp: Path) -> str:
    os.mkfifo(tmp / "card.toml")
    return str(tmp / "card.toml")


def _sized(tmp: Path, size: int, head: bytes = b"") -> str:
    path = tmp / "big.toml"
    with path.open("wb") as fh:
        fh.write(head)
        fh.truncate(size)  # the rest: a hole of NUL bytes (sparse: nothing written)
    return str(path)


def _comment_65mib(tmp: Path) -> str:
    path = tmp / "big.toml"
    line = b"# " + b"x" * 1021 + b"\n"
    card = dumps(cheap(CARD)).encode()
    path.write_bytes(card + line * (65 * 1024))
    return str(path)


def _folder(path: Path) -> str:
    path.mkdir()
    return str(path)


def _unreadable(tmp: Path) -> str:
    path = write(tmp / "card.toml", cheap(CARD))
    path.chmod(0)
    return str(path)


def _bytes(data: bytes) -> Callable[[Path], str]:
    def make(tmp: Path) -> str:
        (tmp / "card.toml").write_bytes(data)
        return str(tmp / "card.toml")
    return make


def _bundled_with(insert: bytes, where: float = 0.5) -> Callable[[Path], str]:
    """The bundled card's bytes with ``insert`` at a fraction of its length (at a line start)."""
    raw = (MODELS / f"{CARD}.toml").read_bytes()
    cut = raw.index(b"\n", int(len(raw) * where)) + 1 if where else 0
    return _bytes(raw[:cut] + insert + raw[cut:])


def _symlink(target: Callable[[Path], str]) -> Callable[[Path], str]:
    def make(tmp: Path) -> str:
        (tmp / "link.toml").symlink_to(target(tmp))
        return str(tmp / "link.toml")
    return make


def _loop(tmp: Path) -> str:
    (tmp / "a.toml").symlink_to(tmp / "b.toml")
    (tmp / "b.toml").symlink_to(tmp / "a.toml")
    return str(tmp / "a.toml")


BUHLMANN = (MODELS / f"{CARD}.toml").read_text(encoding="utf-8")
CARD_FAULTS: dict[str, Callable[[Path], str]] = {
    "folder": lambda tmp: str(tmp),
    "folder-named-toml": lambda tmp: _folder(tmp / "dir.toml"),
    "fifo": _fifo,
    "dev-zero": lambda tmp: "/dev/zero",
    "dev-null": lambda tmp: "/dev/null",
    "dev-urandom": lambda tmp: "/dev/urandom",
    "proc-self-mem": lambda tmp: "/proc/self/mem",  # a 'regular' file whose read fails (EIO)
    "proc-self-status": lambda tmp: "/proc/self/status",  # readable, not TOML
    "65MiB-sparse": lambda tmp: _sized(tmp, 65 * 2**20),
    "65MiB-toml-comments": _comment_65mib,
    "unreadable": _unreadable,
    "invalid-utf8-ff": _bundled_with(b"# \xff\n"),
    "invalid-utf8-lone-continuation": _bundled_with(b"# \x80\n"),
    "invalid-utf8-cut-sequence": _bundled_with(b"# \xc3\n"),
    "invalid-utf8-overlong": _bundled_with(b"# \xc0\xaf\n"),
    "invalid-utf8-surrogate": _bundled_with(b"# \xed\xa0\x80\n"),
    "invalid-utf8-in-a-string": _bundled_with(b'x = "\xff"\n', 0),
    "latin-1": _bytes(BUHLMANN.encode("latin-1")),  # Buhlmann's u-umlaut as one byte
    "utf-16": _bytes(BUHLMANN.encode("utf-16")),
    "utf-8-bom": _bytes(BUHLMANN.encode("utf-8-sig")),
    "nul-in-a-comment": _bundled_with(b"# \x00\n"),
    "nul-in-a-string": _bundled_with(b'x = "a\x00b"\n', 0),
    "nul-first": _bundled_with(b"\x00", 0),
    "nul-last": _bytes(BUHLMANN.encode() + b"\x00"),
    "only-nul": _bytes(b"\x00" * 4096),
    "symlink-loop": _loop,
    "symlink-dangling": _symlink(lambda tmp: str(tmp / "nowhere.toml")),
    "symlink-to-folder": _symlink(lambda tmp: str(tmp)),
    "symlink-to-dev-zero": _symlink(lambda tmp: "/dev/zero"),
    "symlink-to-fifo": _symlink(_fifo),
    "name-too-long": lambda tmp: str(tmp / ("a" * 300 + ".toml")),
    "path-too-long": lambda tmp: str(tmp / ("d/" * 2100 + "card.toml")),
    "through-a-file": lambda tmp: str(write(tmp / "card.toml", cheap(CARD)) / "x.toml"),
    "empty-name": lambda tmp: "",
}


@pytest.mark.parametrize("case", CARD_FAULTS)
def test_a_card_that_cannot_be_read_is_refused_naming_the_card(case, capfd, tmp_path, monkeypatch):
    if case == "unreadable" and ROOT:
        pytest.skip("root reads a chmod 000 file")
    monkeypatch.chdir(tmp_path)
    path = CARD_FAULTS[case](tmp_path)
    count(f"card {case}")
    unblock = threading.Timer(READ_LIMIT_S, _unblock_fifos, [tmp_path])  # a reader stuck on a FIFO
    unblock.start()
    try:
        t0 = time.perf_counter()
        code, out, err = run_cli(capfd, "run", path, "--format", "json")
        elapsed = time.perf_counter() - t0
    finally:
        unblock.cancel()
    refused(code, out, err, "card")
    assert elapsed < READ_LIMIT_S, elapsed


def _unblock_fifos(folder: Path) -> None:
    for p in folder.iterdir():
        if stat.S_ISFIFO(p.lstat().st_mode):
            with contextlib.suppress(OSError):  # no reader: nothing is blocked
                os.close(os.open(p, os.O_WRONLY | os.O_NONBLOCK))


#: where each bundled card is cut (fractions of its length in bytes; 0 leaves an empty file)
CUTS = [0.0, 0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95, -1]


def truncated(name: str, where: float) -> bytes:
    raw = (MODELS / f"{name}.toml").read_bytes()
    return raw[:-1] if where == -1 else raw[:int(len(raw) * where)]


@pytest.mark.parametrize("where", CUTS)
@pytest.mark.parametrize("name", CARDS)
def test_a_truncated_card_is_refused_or_runs(name, where, capfd, tmp_path):
    """A bundled card cut at a byte offset (mid-line, mid-string, mid-UTF-8 sequence): one error line,
    or (when what is left is a valid card) a run with the cheap sizes (``CHEAP``) exits 0 or 3."""
    data = truncated(name, where)
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        doc = None
    path = tmp_path / "card.toml"
    if not doc:  # not TOML, or nothing left (an empty file)
        path.write_bytes(data)
    else:  # valid TOML (a cut inside a comment or at a line end): the bundled sizes made cheap
        for field, value in CHEAP.get(name, {}).items():
            with contextlib.suppress(ModelError):  # the field was cut off
                set_path(doc, field, value)
        path.write_text(dumps(doc), encoding="utf-8")
    count(f"truncated {name} {where}")
    code, out, err = run_cli(capfd, "run", path, "--format", "json", "--reproducible")
    lines = [line for line in err.splitlines() if not line.startswith("riskopt: warning: ")]
    assert code in (0, 2, 3) and "Traceback" not in err, err
    if code == 2:
        assert out == "" and len(lines) == 1 and lines[0].startswith("riskopt: error: "), err
        if doc is None:  # not UTF-8 or not TOML: the card itself is named
            assert lines[0].startswith("riskopt: error: card = "), err
    else:
        assert out.count("\n") == 1 and len(lines) == (code == 3), err


# ------------------------------------------------------------------------------ writing outputs
def _output_case(flag: str, make: Callable[[Path], str], expect: int = 2) -> dict[str, Any]:
    """``flag`` (``--output`` or ``--plot``) given the path ``make(folder)``; the exit expected."""
    return {"flag": flag, "make": make, "expect": expect}


def _read_only(tmp: Path, name: str) -> str:
    folder = tmp / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    return str(folder / name)


OUTPUT_FAULTS: dict[str, dict[str, Any]] = {
    "output-folder": _output_case("--output", lambda tmp: str(tmp)),
    "output-folder-named-json": _output_case("--output", lambda tmp: _folder(tmp / "x.json")),
    "output-missing-folder": _output_case("--output", lambda tmp: str(tmp / "missing" / "x.json")),
    "output-dev-full": _output_case("--output", lambda tmp: device(tmp, "/dev/full", "full.json")),
    "output-dev-null": _output_case("--output", lambda tmp: device(tmp, "/dev/null", "null.json"), expect=0),
    "output-read-only-folder": _output_case("--output", lambda tmp: _read_only(tmp, "x.json")),
    "output-in-proc": _output_case("--output", lambda tmp: "/proc/riskopt-fuzz.json"),  # even for root
    "output-through-a-file": _output_case("--output", lambda tmp: str(write(tmp / "f", "x") / "x.json")),
    "output-name-too-long": _output_case("--output", lambda tmp: str(tmp / ("a" * 300 + ".json"))),
    "output-symlink-loop": _output_case("--output", lambda tmp: _loop(tmp)),
    "plot-folder": _output_case("--plot", lambda tmp: str(tmp)),
    "plot-folder-named-png": _output_case("--plot", lambda tmp: _folder(tmp / "x.png")),
    "plot-missing-folder": _output_case("--plot", lambda tmp: str(tmp / "missing" / "x.png")),
    "plot-dev-full": _output_case("--plot", lambda tmp: "/dev/full"),  # no figure type: refused first
    "plot-dev-full-png": _output_case("--plot", lambda tmp: _link(tmp, "/dev/full", "full.png")),
    "plot-dev-full-pdf": _output_case("--plot", lambda tmp: _link(tmp, "/dev/full", "full.pdf")),
    "plot-dev-null-svg": _output_case("--plot", lambda tmp: _link(tmp, "/dev/null", "null.svg"), expect=0),
    "plot-read-only-folder": _output_case("--plot", lambda tmp: _read_only(tmp, "x.png")),
    "plot-in-proc": _output_case("--plot", lambda tmp: "/proc/riskopt-fuzz.png"),
    "plot-unknown-type": _output_case("--plot", lambda tmp: str(tmp / "x.xyz")),
    "plot-json-type": _output_case("--plot", lambda tmp: str(tmp / "x.json")),
    "plot-no-type": _output_case("--plot", lambda tmp: str(tmp / "x")),
    "plot-name-too-long": _output_case("--plot", lambda tmp: str(tmp / ("a" * 300 + ".png"))),
}


#: cases whose fix belongs to riskopt/cli.py (reported to the lead): expected failures until then


def _link(tmp: Path, target: str, name: str) -> str:
    (tmp / name).symlink_to(target)
    return str(tmp / name)


@pytest.mark.parametrize("case", sorted(OUTPUT_FAULTS))
def test_an_output_that_cannot_be_written_is_refused_naming_the_flag(case, card, capfd, tmp_path):
    spec = OUTPUT_FAULTS[case]
    if "read-only" in case and ROOT:
        pytest.skip("root writes into a read-only folder")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = spec["make"](out_dir)
    before = sorted(p.name for p in out_dir.iterdir())
    count(case)
    code, out, err = run_cli(capfd, "run", card, "--format", "json", spec["flag"], target)
    if spec["expect"] == 2:
        refused(code, out, err, spec["flag"])
    else:
        assert code == 0 and err.splitlines() == [f"riskopt: wrote {target}"], (code, err)
    assert leftovers(out_dir, *before) == []
    assert leftovers(card.parent, "card.toml") == []
    for name in ("full.json", "null.json", "full.png", "full.pdf", "null.svg"):  # links stay links
        assert not (out_dir / name).exists() or (out_dir / name).is_symlink()
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode) and stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_output_to_a_fifo_with_a_reader_writes_through_it(card, capfd, tmp_path):
    """``--output`` to a named pipe (``>(gzip > x.gz)`` is /dev/fd/63): the result goes through the
    pipe, which stays a pipe (never replaced by a regular file)."""
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    count("output-fifo-with-a-reader")
    try:
        code, out, err = run_cli(capfd, "run", card, "--format", "json", "--output", fifo)
    finally:
        _unblock_fifos(tmp_path)
        reader.join(READ_LIMIT_S)
    assert code == 0 and out == "" and err == f"riskopt: wrote {fifo}\n", (code, err)
    assert got and got[0].startswith(b'{"') and stat.S_ISFIFO(fifo.lstat().st_mode)


def test_output_through_a_symlink_replaces_the_file_and_keeps_the_link(card, capfd, tmp_path):
    real = tmp_path / "results" / "run.json"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "latest.json"
    link.symlink_to(real)
    count("output-through-a-symlink")
    code, out, err = run_cli(capfd, "run", card, "--format", "json", "--output", link)
    assert code == 0 and out == "", err
    assert link.is_symlink() and real.read_text().startswith('{"')
    assert leftovers(real.parent, "run.json") == []
    assert leftovers(tmp_path, "in", "latest.json", "results") == []


def test_a_failing_figure_writes_no_output_either(card, capfd, tmp_path):
    """``--plot`` fails (after the solve): the ``--output`` file is not written (nothing partial)."""
    output = tmp_path / "out.json"
    count("plot-fails-output-not-written")
    code, out, err = run_cli(capfd, "run", card, "--format", "json", "--output", output,
                             "--plot", _link(tmp_path, "/dev/full", "full.png"))
    refused(code, out, err, "--plot")
    assert not output.exists()


# ----------------------------------------------------- a write that fails part-way (RLIMIT_FSIZE)
#: ``riskopt argv`` for each argv of a JSON list, in one process (the imports, 1.5 s, paid once):
#: [exit code, stdout, stderr] for each, as JSON on stdout
DRIVER = """
import contextlib, io, json, sys
from riskopt.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
    results.append([code, out.getvalue(), err.getvalue()])
print(json.dumps(results))
"""
#: files may not grow beyond this in the subprocess: every output below is larger
MAX_FILE_BYTES = 512
#: case -> (flag, existing file, argv before the flag)
LIMITED = {
    "output-json": ("--output", "keep.json", ["run", "card.toml", "--format", "json"]),
    "output-csv": ("--output", "keep.csv", ["run", "card.toml", "--format", "csv", "--all"]),
    "plot-png": ("--plot", "keep.png", ["run", "card.toml"]),
    "plot-pdf": ("--plot", "keep.pdf", ["run", "card.toml"]),
    "plot-svg": ("--plot", "keep.svg", ["run", "card.toml"]),
    "sweep-csv": ("--out", "keep.csv", ["sweep", "card.toml", "--grid", GRID, "--quiet"]),
}


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, bytes, list[Any]]]:
    """Every ``LIMITED`` case run in one subprocess whose files may not grow beyond
    ``MAX_FILE_BYTES`` (a write beyond fails with EFBIG; SIGXFSZ, which would kill the process,
    ignored), each in a folder of its own holding the card and an existing file of 3,000 random
    bytes: case -> (folder, the existing file's bytes, [exit code, stdout, stderr])."""
    import matplotlib.font_manager  # noqa: F401 - its cache written here: the subprocess could not

    folders, old, argvs = {}, {}, []
    for case, (flag, name, argv) in LIMITED.items():
        folder = tmp_path_factory.mktemp(case)
        write(folder / "card.toml", cheap(CARD))
        old[case] = os.urandom(3000)
        (folder / name).write_bytes(old[case])
        folders[case] = folder
        argvs.append([str(folder / a) if a == "card.toml" else a for a in argv] + [flag, str(folder / name)])

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_FILE_BYTES, MAX_FILE_BYTES))

    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(argvs)], env=env, preexec_fn=limit,
                          capture_output=True, text=True, timeout=SUBPROCESS_LIMIT_S)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    results = json.loads(proc.stdout)
    return {case: (folders[case], old[case], result) for case, result in zip(LIMITED, results, strict=True)}


#: cases whose fix belongs to riskopt/cli.py or riskopt/sweep.py (reported to the lead)


@pytest.mark.parametrize("case", sorted(LIMITED))
def test_a_write_failing_part_way_leaves_the_existing_file_byte_identical(case, limited):
    flag, name, _ = LIMITED[case]
    folder, old, (code, out, err) = limited[case]
    count(f"limited {case}")
    assert (folder / name).read_bytes() == old
    journal = [name + ".partial.jsonl"] if flag == "--out" else []  # kept on purpose: --resume
    assert leftovers(folder, "card.toml", name, *journal) == []
    refused(code, out, err, flag)
    assert "File too large" in err


# ---------------------------------------------------------------------------- riskopt sweep --out
SWEEP_FAULTS: dict[str, Callable[[Path], str]] = {
    "out-folder": lambda tmp: str(tmp),
    "out-folder-named-csv": lambda tmp: _folder(tmp / "x.csv"),
    "out-missing-folder": lambda tmp: str(tmp / "missing" / "x.csv"),
    "out-dev-full": lambda tmp: "/dev/full",  # no .csv/.jsonl: refused first
    "out-dev-full-csv": lambda tmp: _link(tmp, "/dev/full", "full.csv"),
    "out-dev-full-jsonl": lambda tmp: _link(tmp, "/dev/full", "full.jsonl"),
    "out-in-proc": lambda tmp: "/proc/riskopt-fuzz.csv",
    "out-unknown-type": lambda tmp: str(tmp / "x.txt"),
    "out-name-too-long": lambda tmp: str(tmp / ("a" * 300 + ".csv")),
}
#: cases whose fix belongs to riskopt/cli.py or riskopt/sweep.py (reported to the lead)


@pytest.mark.parametrize("case", sorted(SWEEP_FAULTS))
def test_a_sweep_output_that_cannot_be_written_is_refused_naming_out(case, card, capfd, tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = SWEEP_FAULTS[case](out_dir)
    before = sorted(p.name for p in out_dir.iterdir())
    count(f"sweep {case}")
    code, out, err = run_cli(capfd, "sweep", card, "--grid", GRID, "--out", target, "--quiet")
    refused(code, out, err, "--out")
    journal = Path(target).name + ".partial.jsonl"  # kept on purpose: --resume continues from it
    assert leftovers(out_dir, *before, journal) == []
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
