"""render_workers.core_lease: processes pin themselves to cores no other one holds; a core is free
again when its holder ends."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sim.processes import allowed_cores

CORES = allowed_cores() or []
CHILD = """
import json, os, sys
from pathlib import Path
from render_workers.core_lease import pin_to_free_cores
cores = pin_to_free_cores(1, Path(sys.argv[1]))
print(json.dumps([sorted(cores) if cores is not None else None, sorted(os.sched_getaffinity(0))]), flush=True)
sys.stdin.read()  # holds the core until the test closes stdin
"""


def _start(lease_dir) -> tuple[subprocess.Popen, list[int] | None, list[int]]:
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(lease_dir)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    leased, mask = json.loads(child.stdout.readline())
    return child, leased, mask


def _stop(child: subprocess.Popen) -> None:
    child.stdin.close()
    child.wait(timeout=30)


@pytest.mark.skipif(len(CORES) < 2, reason="needs 2 or more cores")
def test_processes_take_distinct_cores_and_a_core_frees_when_its_holder_ends(tmp_path):
    holders = [_start(tmp_path) for _ in CORES]
    assert sorted(leased[0] for _, leased, _ in holders) == CORES  # one core each, all distinct
    assert all(mask == leased for _, leased, mask in holders)  # pinned to the core held
    extra, leased, mask = _start(tmp_path)
    assert leased is None and mask == CORES  # none free: left unpinned
    _stop(extra)
    first, first_leased, _ = holders.pop(0)
    first.kill()  # however a holder ends, its core is free again
    first.wait()
    again, leased, _ = _start(tmp_path)
    assert leased == first_leased
    for child, _, _ in [*holders, (again, None, None)]:
        _stop(child)


def test_nothing_is_pinned_after_blender_is_loaded_or_when_all_cores_are_asked(tmp_path, monkeypatch):
    from render_workers import core_lease

    monkeypatch.setitem(sys.modules, "bpy", object())
    assert core_lease.pin_to_free_cores(1, tmp_path) is None
    monkeypatch.delitem(sys.modules, "bpy")
    assert core_lease.pin_to_free_cores(max(1, len(CORES)), tmp_path) is None
    assert not list(tmp_path.iterdir())
