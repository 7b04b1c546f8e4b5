"""The memory budget (riskopt.budget): the limit's sources, sizes, and refusals before allocation."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from riskopt import ModelError, budget
from riskopt.budget import Footprint, MemoryLimit, format_bytes, max_memory, parse_size, require


@pytest.mark.parametrize(("text", "value"), [("16G", 16 * 2**30), ("500M", 500 * 2**20),
                                             ("1.5GiB", 1.5 * 2**30), ("2e9", 2e9), ("64k", 64 * 1024),
                                             ("12", 12.0), ("none", math.inf)])
def test_parse_size_reads_binary_units(text, value):
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "-1G", "0", "1X", "G", "1e400", "nan", "1.2.3G"])
def test_parse_size_refuses_what_is_not_a_size(text):
    with pytest.raises(ModelError, match="--max-memory"):
        parse_size(text)


def test_format_bytes():
    assert format_bytes(512) == "512 B"
    assert format_bytes(2.5 * 2**30) == "2.5 GiB"
    assert format_bytes(math.inf) == "unlimited"


def _fake_proc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, available_kb: int, cgroup: str,
               files: dict[str, str]) -> None:
    """A fake /proc/meminfo, /proc/self/cgroup and /sys/fs/cgroup tree."""
    real = Path
    meminfo = tmp_path / "meminfo"
    meminfo.write_text(f"MemTotal: 99999999 kB\nMemAvailable: {available_kb} kB\n")
    cg = tmp_path / "cgroup"
    cg.write_text(cgroup)
    sysfs = tmp_path / "sys"
    for rel, text in files.items():
        (sysfs / rel).parent.mkdir(parents=True, exist_ok=True)
        (sysfs / rel).write_text(text)

    def fake(path: str | Path = ".", *rest: str) -> Path:
        text = str(path)
        if text == "/proc/meminfo":
            return meminfo
        if text == "/proc/self/cgroup":
            return cg
        if text == "/sys/fs/cgroup":
            return sysfs
        return real(path, *rest)

    monkeypatch.setattr(budget, "Path", fake)


def test_the_limit_is_the_lowest_of_ram_and_cgroup_v2(tmp_path, monkeypatch):
    _fake_proc(tmp_path, monkeypatch, available_kb=8 * 2**20, cgroup="0::/job\n",
               files={"job/memory.max": "3221225472\n", "job/memory.current": "1073741824\n"})
    found = budget.available_memory()
    assert found == MemoryLimit(2 * 2**30, "the memory cgroup's limit")  # 3 GiB limit - 1 GiB used
    monkeypatch.setattr(budget, "resident_bytes", lambda: 3e8)  # what this process holds counts too
    assert budget.current_limit().bytes == pytest.approx(3e8 + budget.SAFE_FRACTION * 2 * 2**30)


def test_a_container_sees_its_v1_cgroup_at_the_mount_root(tmp_path, monkeypatch):
    # /proc/self/cgroup lists the host's path; inside the container only the mount's root exists
    _fake_proc(tmp_path, monkeypatch, available_kb=8 * 2**20, cgroup="4:memory:/docker/abc\n",
               files={"memory/memory.limit_in_bytes": str(2**30), "memory/memory.usage_in_bytes": "0"})
    assert budget.available_memory().bytes == 2**30


def test_no_cgroup_limit_leaves_available_ram(tmp_path, monkeypatch):
    _fake_proc(tmp_path, monkeypatch, available_kb=4 * 2**20, cgroup="0::/\n4:memory:/\n",
               files={"memory.max": "max\n", "memory/memory.limit_in_bytes": "9223372036854771712"})
    assert budget.available_memory() == MemoryLimit(4 * 2**30, "available RAM")


def test_the_address_space_limit_counts(monkeypatch):
    import resource

    limit = budget.BASE_BYTES + 2**30
    monkeypatch.setattr(resource, "getrlimit", lambda which: (limit, resource.RLIM_INFINITY))
    headroom = budget._address_space_headroom()
    assert headroom is not None and headroom < budget.BASE_BYTES + 2**30  # minus this process's VmSize
    assert budget.available_memory().bytes <= headroom


def test_require_names_fields_estimate_and_limit(monkeypatch):
    monkeypatch.setattr(budget, "resident_bytes", lambda: 250e6)  # this process, counted in the estimate
    big = Footprint(40e9, ("pool.count", "space"), "5000 agents x 5001 states")
    with max_memory("4G"), pytest.raises(ModelError) as caught:
        require(big)
    text = str(caught.value)
    assert text.startswith("pool.count, space = '5000 agents x 5001 states': "
                           "expected this run to fit in 4.0 GiB")
    assert "(set by --max-memory): estimated peak memory 37.5 GiB" in text
    with max_memory("100G"):
        require(big)  # raised by the user: runs
    with max_memory("none"):
        require(Footprint(1e18, ("x",), "huge"))


def test_concurrent_copies_multiply_the_estimate(monkeypatch):
    monkeypatch.setattr(budget, "resident_bytes", lambda: 250e6)  # each worker starts as this process
    one = Footprint(1e9, ("space",), "x")
    with max_memory(4e9):
        require(one.times(2), workers=2)
        with pytest.raises(ModelError, match="4 concurrent points of x"):
            require(one.times(4), workers=4)


def test_max_memory_refuses_a_non_positive_limit():
    with pytest.raises(ModelError, match="max_memory"), max_memory(0):
        pass


def test_every_mechanism_estimates_its_cards():
    """Each card mechanism's spec says what its runs hold (riskopt.cards.run_card checks it)."""
    from _cardkit import MODELS, runnable

    from riskopt.cards import MECHANISMS, card_footprint, load_card

    seen = set()
    for path in sorted(MODELS.glob("*.toml")):
        if not runnable([path.stem]):
            continue
        card = load_card(path)
        found = card_footprint(card)
        seen.add(card.mechanism)
        assert found.bytes > 0 and found.fields and found.detail, (path.name, found)
        assert found.bytes < 2e9, (path.name, found)  # every bundled card runs on a laptop
    assert seen == set(MECHANISMS)
