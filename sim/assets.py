"""Asset geometry facts shared by physics, rendering and annotation (no Blender, no PyBullet).

An asset's *canonical frame* is its own frame before ``SceneObject.scale``: primitives span
[-1, 1]^3 there (cube edge 2, sphere radius 1, cylinder radius 1 and height 2 along z).
"""

from __future__ import annotations

import math

import numpy as np

from sim.errors import AssetError
from sim.scene import PRIMITIVES


def _primitive(asset: str) -> str:
    source, _, name = asset.partition(":")
    if source != "primitive" or name not in PRIMITIVES:
        raise AssetError(f"asset: unknown asset id {asset!r}; known: "
                         + ", ".join(f"primitive:{p}" for p in PRIMITIVES))
    return name


def canonical_bounds(asset: str) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi): the axis-aligned bounding box of the asset in its canonical frame, metres."""
    _primitive(asset)
    return -np.ones(3), np.ones(3)


def volume(asset: str, scale: tuple[float, float, float]) -> float:
    """Volume in m³ of the asset scaled by ``scale``."""
    sx, sy, sz = scale
    return {"cube": 8.0 * sx * sy * sz,
            "sphere": 4.0 / 3.0 * math.pi * sx * sy * sz,
            "cylinder": 2.0 * math.pi * sx * sy * sz}[_primitive(asset)]


def bbox_corners(asset: str, scale: tuple[float, float, float]) -> np.ndarray:
    """(8, 3) corners of the scaled canonical bounding box in the object's frame, metres; corner
    k has x from hi if k & 1, y from hi if k & 2, z from hi if k & 4."""
    lo, hi = canonical_bounds(asset)
    lo, hi = lo * np.asarray(scale), hi * np.asarray(scale)
    return np.array([[(hi if k & 1 else lo)[0], (hi if k & 2 else lo)[1], (hi if k & 4 else lo)[2]]
                     for k in range(8)])
