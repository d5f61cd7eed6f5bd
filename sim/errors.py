"""Exception types of scenesim.

Every error a user can cause is one of these, and its message names the field, the bad value and
the allowed range or the fix, in one line. The CLI prints ``str(error)`` and exits non-zero.
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator
from pathlib import Path


class SceneSimError(Exception):
    """Base class of every error scenesim raises on purpose."""


class SceneValidationError(SceneSimError, ValueError):
    """A scene field (or a JSON scene file) has a bad value. The message names the field path."""


class OptionError(SceneSimError, ValueError):
    """A command-line option, a run option (``RunOptions``) or a job-spec field (``JobSpec``) has a
    bad value, or options that do not go together were given. The message names the option."""


class PlacementError(SceneSimError):
    """Objects could not be placed without overlapping (spawn region too small or too crowded)."""


class AssetError(SceneSimError):
    """An asset id is unknown, or an asset file is missing or unreadable."""


class RecipeError(SceneSimError):
    """A recipe name is unknown, a recipe file cannot be loaded, or a recipe parameter is bad."""


class RenderError(SceneSimError):
    """Blender failed to render or its output could not be decoded."""


class OutputError(SceneSimError):
    """A scene directory is missing, incomplete or of an unsupported format version."""


class SimulationError(SceneSimError):
    """PyBullet failed, or the simulation blew up (non-finite state)."""


class StorageError(OutputError):
    """The output file system is full (ENOSPC, EDQUOT) or read-only (EROFS): nothing can be written
    there until that changes, so a job stops at once instead of retrying scenes into it."""


_STORAGE_ERRNOS = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
                   errno.EROFS: "the file system is read-only"}


@contextlib.contextmanager
def writing(path: Path | str) -> Iterator[None]:
    """Turns an ``OSError`` saying the file system of ``path`` is full or read-only (ENOSPC, EDQUOT,
    EROFS) into a one-line ``StorageError`` naming the cause and ``path``; other errors pass as they
    are. Every write of a scene directory or a job directory goes through it."""
    try:
        yield
    except OSError as e:
        if e.errno not in _STORAGE_ERRNOS:
            raise
        raise StorageError(f"{_STORAGE_ERRNOS[e.errno]} ({errno.errorcode[e.errno]}) writing "
                           f"{e.filename or path}") from None
