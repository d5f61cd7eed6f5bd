"""``movi-e``: ``movi-d`` seen by a moving camera (Kubric's MOVi-E): the camera moves along a straight
line at constant speed, starting and ending in a half-sphere shell around the origin, and looks at
the origin or, with ``look_at_move`` > 0, at a point moving along another straight line."""

from __future__ import annotations

import numpy as np

from scenes.common import linear_camera
from scenes.movi_d import PARAMS as MOVI_D_PARAMS
from scenes.movi_d import build_with_camera
from scenes.registry import Param, register
from sim.scene import Scene

CAMERA_SHELL = (8.0, 12.0, 1.0)
"""The camera path's half-sphere shell: inner and outer radius, lowest height (m)."""

PARAMS = (
    *MOVI_D_PARAMS,
    Param("max_camera_move", 4.0, "longest camera path over the video (m)", 0.0, 20.0),
    Param("look_at_move", 0.0, "side of the cube (m) in which the look-at point moves; 0: fixed at the "
          "origin", 0.0, 10.0),
)


@register("movi-e", "movi-d seen by a camera moving along a straight line (fixed or moving look-at)", PARAMS)
def build(rng: np.random.Generator, *, max_camera_move: float = 4.0, look_at_move: float = 0.0,
          **params: object) -> Scene:
    """The ``movi-d`` scene (same parameters) with ``scenes.common.linear_camera``: a path of length
    uniform in [0, max_camera_move] m in ``CAMERA_SHELL``."""
    def camera(r: np.random.Generator, frames: int):
        return linear_camera(r, frames, max_camera_move, *CAMERA_SHELL, look_at_move=look_at_move)

    return build_with_camera(rng, camera, "movi-e", **params)  # type: ignore[arg-type]
