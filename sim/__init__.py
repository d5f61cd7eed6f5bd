"""scenesim's core: scene model, physics, rendering, annotation and output.

The public API is re-exported here and imported on first use (``import sim`` stays cheap; bpy is
imported only when rendering starts)::

    from sim import Scene, SceneObject, Keyframe, Material, Camera, Light, Background, RenderSettings
    from sim import simulate, render, run_scene, load_scene
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Scene": "sim.scene", "SceneObject": "sim.scene", "Material": "sim.scene", "Camera": "sim.scene",
    "Keyframe": "sim.scene",
    "Light": "sim.scene", "Background": "sim.scene", "RenderSettings": "sim.settings",
    "Trajectory": "sim.trajectory", "simulate": "sim.physics", "render": "sim.render",
    "run_scene": "sim.pipeline", "load_scene": "sim.io", "PASSES": "sim.passes", "RenderedFrame": "sim.frame",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'sim' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
