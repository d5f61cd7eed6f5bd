"""Keeping native libraries' console output (Blender, PyBullet) out of the user's terminal."""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from sim.errors import OutputError, writing


def _flush_all() -> None:
    """Flushes Python's and the C library's buffered stdout/stderr (Blender prints through both)."""
    sys.stdout.flush()
    sys.stderr.flush()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).fflush(None)


@contextlib.contextmanager
def quiet_output(log_path: Path | None) -> Iterator[None]:
    """Sends everything written to file descriptors 1 and 2 (Blender's ``Fra:``/``Mem:`` lines, its
    log and warnings) to ``log_path`` (appended) or to the null device, restoring both after. This
    is process-wide: other threads' console output is redirected too while it is active."""
    try:
        with writing(log_path or os.devnull):  # a full or read-only file system: StorageError
            target = os.open(log_path if log_path is not None else os.devnull,
                             os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError as e:
        raise OutputError(f"log_path: cannot open {log_path} for writing ({e.strerror}); "
                          "give a path in an existing, writable directory") from None
    _flush_all()
    saved = os.dup(1), os.dup(2)
    try:
        os.dup2(target, 1)
        os.dup2(target, 2)
        yield
    finally:
        _flush_all()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, target):
            os.close(fd)
