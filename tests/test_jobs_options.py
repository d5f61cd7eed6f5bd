"""RunOptions: Cycles threads per worker and the cores each local worker is pinned to."""

from __future__ import annotations

import pytest

from render_workers import options as options_module
from render_workers.options import RunOptions
from sim import processes


def _set_cores(monkeypatch, cores):
    for module in (processes, options_module):
        monkeypatch.setattr(module, "allowed_cores", lambda: cores)


@pytest.fixture
def eight_cores(monkeypatch):
    _set_cores(monkeypatch, [0, 1, 2, 3, 8, 9, 10, 11])


def test_workers_split_the_cores_into_disjoint_pinned_shares(eight_cores):
    opts = RunOptions(workers=4)
    assert opts.worker_threads() == 2
    shares = [opts.worker_cores(slot) for slot in range(4)]
    assert shares == [{0, 1}, {2, 3}, {8, 9}, {10, 11}]


def test_one_thread_workers_get_a_core_each_until_there_are_more_workers_than_cores(eight_cores):
    assert [RunOptions(workers=8).worker_cores(slot) for slot in (0, 7)] == [{0}, {11}]
    assert RunOptions(workers=10).worker_threads() == 1
    assert RunOptions(workers=10).worker_cores(0) is None


def test_explicit_threads_pinned_only_while_they_fit(eight_cores):
    assert RunOptions(workers=2, threads=3).worker_cores(1) == {3, 8, 9}
    assert RunOptions(workers=2, threads=8).worker_cores(0) is None  # oversubscribed: the OS shares


def test_single_worker_ray_and_no_affinity_are_not_pinned(eight_cores, monkeypatch):
    assert RunOptions(workers=1).worker_cores(0) is None
    assert RunOptions(backend="ray", workers=2).worker_cores(0) is None
    _set_cores(monkeypatch, None)
    assert RunOptions(workers=2).worker_cores(0) is None
