"""The Blender session: silencing its output, resetting it, running one render (imports bpy)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import bpy

from sim.errors import RenderError


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
        target = os.open(log_path if log_path is not None else os.devnull,
                         os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError as e:
        raise RenderError(f"log_path: cannot open {log_path} for writing ({e.strerror}); "
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


def reset() -> None:
    """Empties Blender (factory settings, no objects) so a worker process can render many scenes."""
    bpy.ops.wm.read_factory_settings(use_empty=True)


def render_still(scene: bpy.types.Scene, path: Path) -> None:
    """Renders the current frame of ``scene`` and writes it to ``path`` in the scene's output format.

    Raises RenderError when Blender fails or writes no file."""
    scene.render.filepath = str(path)
    try:
        bpy.ops.render.render(write_still=True, scene=scene.name)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0].removeprefix("Error: ") if str(e).strip() else repr(e)
        raise RenderError(f"Blender failed to render scene {scene.name!r} to {path}: {first}") from None
    if not path.is_file():
        raise RenderError(f"Blender wrote no image for scene {scene.name!r} at {path}; see the render log")
