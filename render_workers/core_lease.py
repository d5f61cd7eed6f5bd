"""Pinning a process to cores that no other scenesim process on the machine holds, for processes
whose cores nobody assigns (Ray tasks: Ray counts CPUs but does not say which).

A core is held by an exclusive ``flock`` on ``<tmp>/scenesim-cores/core-<n>.lock``, kept for the
rest of the holder's life: the kernel releases it when the process ends, however it ends, so a
crashed or killed worker frees its cores. Pinning must precede Blender's thread pool (the first
``import bpy``), whose idle threads otherwise busy-wait on the cores Cycles leaves free (README,
Performance).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import tempfile
from pathlib import Path

from sim.processes import allowed_cores

LEASE_DIR = Path(tempfile.gettempdir()) / "scenesim-cores"
_held: dict[int, int] = {}  # core -> open lock file descriptor, for this process's life


def pin_to_free_cores(count: int, lease_dir: Path = LEASE_DIR) -> frozenset[int] | None:
    """Pins this process to ``count`` cores of its affinity mask that no other process holds and
    holds them; returns them. Once pinned, later calls return the same cores. None (nothing
    changed) when bpy is already imported, the OS has no affinity masks, the process may run on
    ``count`` cores or fewer anyway, or fewer than ``count`` cores are free."""
    if _held:
        return frozenset(_held)
    cores = allowed_cores()
    if "bpy" in sys.modules or cores is None or len(cores) <= count:
        return None
    lease_dir.mkdir(parents=True, exist_ok=True)
    for core in cores:
        if len(_held) == count:
            break
        fd = os.open(lease_dir / f"core-{core}.lock", os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        _held[core] = fd
    if len(_held) < count:
        release()
        return None
    os.sched_setaffinity(0, _held)
    return frozenset(_held)


def release() -> None:
    """Gives up the cores held (the affinity mask stays as it is)."""
    for fd in _held.values():
        with contextlib.suppress(OSError):
            os.close(fd)
    _held.clear()
