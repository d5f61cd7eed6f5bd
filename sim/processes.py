"""Processes: the CPU cores this one may run on, and children that do not outlive their parent."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal


def allowed_cores() -> list[int] | None:
    """The CPU cores this process may run on (its affinity mask), sorted; None where the OS has no
    affinity masks (macOS, Windows)."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:
        return None


def available_cores() -> int:
    """How many CPU cores this process may run on."""
    cores = allowed_cores()
    return len(cores) if cores is not None else os.cpu_count() or 1


def die_with_parent(parent_pid: int) -> None:
    """Linux: the kernel sends this process SIGKILL when its parent dies, so a killed parent leaves no
    orphan (a Blender worker, a helper) behind. Elsewhere the end of the parent's pipe ends an idle
    child. Exits at once if the parent ``parent_pid`` already died."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)
