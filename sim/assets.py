"""Asset geometry facts shared by physics, rendering and annotation (no Blender, no PyBullet), read
from the asset library (``sim.library``), and ``validate_assets``: every file a scene needs is
loaded and checked before any simulation or rendering starts.

An asset's *canonical frame* is its own frame before ``SceneObject.scale`` (see
``sim.library.canonical``): it is centred on the visual bounding box, which fits [-1, 1]^3 with
largest side 2 (primitives: cube edge 2, sphere radius 1, cylinder radius 1 and height 2 along z).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from sim.errors import AssetError, SceneValidationError
from sim.library import AssetInfo, get_asset
from sim.scene import Background, Scene, SceneObject

IMAGE_MAGIC = {".exr": (b"\x76\x2f\x31\x01",), ".hdr": (b"#?",), ".png": (b"\x89PNG",),
               ".jpg": (b"\xff\xd8",), ".jpeg": (b"\xff\xd8",), ".tif": (b"II*\x00", b"MM\x00*"),
               ".tiff": (b"II*\x00", b"MM\x00*")}
"""The first bytes of an environment image file of each type (a cheap check against a corrupt or
mislabelled file before Blender reads it)."""


def canonical_bounds(asset: str) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi): float64 (3,) corners of the asset's visual bounding box in its canonical frame
    (canonical units; lo = −hi, largest side 2). Raises ``AssetError`` for a bad asset."""
    lo, hi = get_asset(asset).bounds
    return np.array(lo), np.array(hi)


def volume(asset: str, scale: tuple[float, float, float]) -> float:
    """Volume in m³ of the asset scaled by ``scale`` (canonical volume × sx·sy·sz)."""
    return get_asset(asset).volume * math.prod(scale)


def object_mass(obj: SceneObject) -> float:
    """Mass in kg as simulated, and as ``metadata.json`` reports it: 0 for a static or scripted object
    (PyBullet's immovable and kinematic bodies), else ``obj.mass`` or, when that is None,
    ``obj.density`` (kg/m³) × the scaled shape's volume (m³)."""
    if obj.static or obj.scripted:
        return 0.0
    return obj.mass if obj.mass is not None else obj.density * volume(obj.asset, obj.scale)


def bbox_corners(asset: str, scale: tuple[float, float, float]) -> np.ndarray:
    """(8, 3) corners of the scaled canonical bounding box in the object's frame, metres; corner
    k has x from hi if k & 1, y from hi if k & 2, z from hi if k & 4."""
    lo, hi = canonical_bounds(asset)
    lo, hi = lo * np.asarray(scale), hi * np.asarray(scale)
    return np.array([[(hi if k & 1 else lo)[0], (hi if k & 2 else lo)[1], (hi if k & 4 else lo)[2]]
                     for k in range(8)])


def scale_problem(info: AssetInfo, scale: tuple[float, float, float]) -> str | None:
    """What is wrong with ``scale`` for the asset's collision shape, or None: a sphere needs three
    equal factors, a cylinder (axis z) equal x and y factors; boxes and meshes take any scale."""
    sx, sy, sz = scale
    if info.collision_kind == "sphere" and not sx == sy == sz:
        return "three equal factors (its collision shape is a sphere)"
    if info.collision_kind == "cylinder" and sx != sy:
        return "equal x and y factors (its collision shape is a cylinder along z)"
    return None


def validate_assets(scene: Scene) -> None:
    """Loads every object's asset (``sim.library.get_asset``: files read and checked, canonical and
    collision meshes written to the cache) and checks its scale and the background image, so a
    missing or corrupt file is reported before any work starts.

    Raises ``AssetError`` (``object 'duck': asset 'file:/x.obj': file not found: /x.obj``) or
    ``SceneValidationError`` for a scale the collision shape cannot take, one line naming the object.
    """
    for i, obj in enumerate(scene.objects):
        try:
            info = get_asset(obj.asset)
        except AssetError as e:
            raise AssetError(f"object {obj.name!r}: {e}") from None
        problem = scale_problem(info, obj.scale)
        if problem is not None:
            raise SceneValidationError(f"objects[{i}].scale: got {obj.scale!r} for object {obj.name!r} "
                                       f"(asset {obj.asset}), expected {problem}")
    _check_environment(scene.background)


def _check_environment(background: Background) -> None:
    """An ``hdri`` background's image exists, is readable and starts like a file of its type."""
    if background.kind != "hdri" or background.path is None:
        return
    path = Path(background.path)
    try:
        with path.open("rb") as f:
            head = f.read(4)
    except OSError as e:
        raise AssetError(f"background.path: cannot read the environment image {path}: "
                         f"{e.strerror}") from None
    if not head.startswith(IMAGE_MAGIC[path.suffix.lower()]):
        raise AssetError(f"background.path: {path} is not a valid {path.suffix.lower()} image "
                         "(corrupt or mislabelled file)")
