"""What the renderer returns per frame (plain numpy, no Blender)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RenderedFrame:
    """One rendered frame; H, W = scene.resolution[1], scene.resolution[0]; row 0 is the image top.

    frame: frame number t in 0…F−1.
    rgba: uint8 (H, W, 4) sRGB ('Standard' view transform, alpha 255), or None when
        ``RenderSettings.rgb`` is False.
    depth: float32 (H, W) metres, Euclidean distance from the camera centre to the surface seen
        through the pixel centre; +inf where no surface.
    normal: float32 (H, W, 3) unit surface normal in world axes; 0 where no surface.
    object_index: uint16 (H, W): 0 = no surface, k ≥ 1 = ``scene.objects[k-1]`` (every object,
        background ones included; ``sim.annotate`` maps these to instance ids).
    object_coordinates: float32 (H, W, 3) surface point in the object's canonical frame mapped to
        [0, 1] by ``sim.assets.canonical_bounds`` ((p − lo) / (hi − lo)); 0 where no surface.

    Every ground-truth pass is the exact value at the pixel centre (one un-filtered sample), never a
    blend across object edges.
    """

    frame: int
    rgba: np.ndarray | None
    depth: np.ndarray
    normal: np.ndarray
    object_index: np.ndarray
    object_coordinates: np.ndarray
