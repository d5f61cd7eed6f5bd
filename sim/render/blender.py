"""The Blender session: resetting it, running one render (imports bpy)."""

from __future__ import annotations

from pathlib import Path

import bpy

from sim.errors import RenderError


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
