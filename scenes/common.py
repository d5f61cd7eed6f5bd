"""Building blocks shared by the recipes: CLEVR palette and materials, floor, lights, placement.

All sizes in metres, colours linear RGB. Randomness only from the ``rng`` passed in.
"""

from __future__ import annotations

import math

import numpy as np

from sim.errors import PlacementError
from sim.scene import Light, Material, SceneObject

CLEVR_COLORS_SRGB = {
    "gray": (87, 87, 87), "red": (173, 35, 35), "blue": (42, 75, 215), "green": (29, 105, 20),
    "brown": (129, 74, 25), "purple": (129, 38, 192), "cyan": (41, 208, 208), "yellow": (255, 238, 51),
}
CLEVR_SIZES = {"small": 0.35, "large": 0.7}
"""Half-extent (cube), radius (sphere, cylinder) in metres, as in CLEVR."""

FLOOR_HALF_EXTENT = 30.0
FLOOR_THICKNESS = 0.5


def srgb_to_linear(rgb255: tuple[int, int, int]) -> tuple[float, float, float]:
    """8-bit sRGB -> linear RGB in [0, 1] (the sRGB transfer function)."""
    c = np.asarray(rgb255, dtype=np.float64) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return tuple(float(v) for v in lin)  # type: ignore[return-value]


def clevr_material(rng: np.random.Generator, color: str) -> tuple[str, Material]:
    """A CLEVR material of the given colour: ``metal`` or ``rubber``, chosen by ``rng``."""
    kind = str(rng.choice(["metal", "rubber"]))
    rgb = srgb_to_linear(CLEVR_COLORS_SRGB[color])
    if kind == "metal":
        return kind, Material(color=rgb, roughness=0.2, metallic=1.0)
    return kind, Material(color=rgb, roughness=0.7, metallic=0.0)


def floor(color: tuple[float, float, float] = (0.2, 0.2, 0.2), friction: float = 0.3,
          restitution: float = 0.5) -> SceneObject:
    """A static background slab whose top face is the plane z = 0."""
    return SceneObject(
        name="floor", asset="primitive:cube",
        scale=(FLOOR_HALF_EXTENT, FLOOR_HALF_EXTENT, FLOOR_THICKNESS / 2),
        position=(0.0, 0.0, -FLOOR_THICKNESS / 2), material=Material(color=color, roughness=0.9),
        friction=friction, restitution=restitution, static=True, background=True)


def clevr_lights(rng: np.random.Generator, jitter: float = 0.5) -> tuple[Light, ...]:
    """CLEVR's key, fill and back sun lights, positions jittered by up to ``jitter`` m."""
    base = (("key", (6.4, -2.9, 6.0), 2.5), ("fill", (-4.7, -4.0, 4.0), 0.8),
            ("back", (-1.2, 5.2, 6.3), 1.0))
    return tuple(
        Light(kind="sun", position=tuple(float(v) for v in np.add(pos, rng.uniform(-jitter, jitter, 3))),
              look_at=(0.0, 0.0, 0.0), intensity=strength)
        for _, pos, strength in base)


def bounding_radius(shape: str, scale: tuple[float, float, float]) -> float:
    """Radius (m) of a sphere around the object's centre that contains the scaled primitive."""
    sx, sy, sz = scale
    if shape == "sphere":
        return sx
    if shape == "cylinder":
        return math.hypot(sx, sz)
    return math.sqrt(sx * sx + sy * sy + sz * sz)


def sample_free_position(rng: np.random.Generator, radius: float,
                         region: tuple[tuple[float, float, float], tuple[float, float, float]],
                         placed: list[tuple[np.ndarray, float]], name: str,
                         attempts: int = 500) -> np.ndarray:
    """A position in ``region`` (min, max corners, m) whose bounding sphere of ``radius`` clears
    every (centre, radius) in ``placed``; appends it to ``placed``. PlacementError if none found."""
    lo, hi = np.asarray(region[0], float), np.asarray(region[1], float)
    for _ in range(attempts):
        p = rng.uniform(lo, hi)
        if all(np.linalg.norm(p - c) >= radius + r for c, r in placed):
            placed.append((p, radius))
            return p
    raise PlacementError(f"object {name}: no free place for radius {radius:.2f} m in region "
                         f"{region} after {attempts} attempts; use fewer or smaller objects")
