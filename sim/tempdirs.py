"""Temporary directories named after the process that owns them, so none outlives a crash.

Every temporary directory scenesim makes is ``<system temp dir>/scenesim-<pid>-<kind>-<random>``,
``pid`` being the process responsible for deleting it: the job driver for a pool worker's private
``TMPDIR`` (deleted when the worker ends, however it ends), the rendering process for Blender's
per-scene output folder. A process killed with SIGKILL cannot clean up, so the next job run (and
``remove_stale``) deletes the directories whose owner no longer exists.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

_OWNED = re.compile(r"scenesim-(\d+)-")


def prefix(kind: str) -> str:
    """``scenesim-<this pid>-<kind>-``: the name prefix of this process's temporary directories."""
    return f"scenesim-{os.getpid()}-{kind}-"


def make(kind: str, parent: Path | None = None) -> Path:
    """Creates ``scenesim-<this pid>-<kind>-XXXXXXXX`` in ``parent`` (default: the system temp dir)."""
    return Path(tempfile.mkdtemp(prefix=prefix(kind), dir=parent))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale(parent: Path | None = None) -> list[str]:
    """Deletes the ``scenesim-<pid>-…`` directories in ``parent`` (default: the system temp dir) whose
    process ``pid`` is gone; returns their names. Directories of live processes are left alone."""
    root = Path(parent) if parent is not None else Path(tempfile.gettempdir())
    removed = []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return removed
    for entry in entries:
        match = _OWNED.match(entry.name)
        if match and entry.is_dir(follow_symlinks=False) and not _alive(int(match.group(1))):
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(entry.name)
    return sorted(removed)


def use_as_tmpdir(path: Path) -> None:
    """Makes ``path`` this process's temporary directory (``TMPDIR`` for Blender and for child
    processes, ``tempfile`` for Python). Call it before importing bpy: Blender reads ``TMPDIR`` once,
    at start-up, and puts its own ``blender_*`` session folder there."""
    os.environ["TMPDIR"] = str(path)
    tempfile.tempdir = str(path)
