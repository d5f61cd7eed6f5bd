"""Building blocks shared by the recipes: CLEVR palette and materials, random-hue materials, floor,
lights, placement, and cameras (a fixed position sampled on a half-sphere shell, or a linear move
with a fixed or moving look-at, as in Kubric's MOVi).

All sizes in metres, angles in radians, colours linear RGB. Randomness only from the ``rng`` passed in.
"""

from __future__ import annotations

import colorsys
import math

import numpy as np

from sim.errors import PlacementError
from sim.library import get_asset
from sim.scene import Camera, Light, Material, SceneObject, Vec3

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


def random_hue_color(rng: np.random.Generator, saturation: float = 1.0,
                     value: float = 1.0) -> tuple[float, float, float]:
    """Linear RGB of the sRGB colour with a uniform random hue and the given HSV saturation and value."""
    rgb = colorsys.hsv_to_rgb(float(rng.uniform()), saturation, value)
    return srgb_to_linear(tuple(round(255 * c) for c in rgb))  # type: ignore[arg-type]


def clevr_material(rng: np.random.Generator, color: str) -> tuple[str, Material]:
    """A CLEVR material of the given colour: ``metal`` or ``rubber``, chosen by ``rng``."""
    return metal_or_rubber(rng, srgb_to_linear(CLEVR_COLORS_SRGB[color]))


def metal_or_rubber(rng: np.random.Generator, rgb: tuple[float, float, float]) -> tuple[str, Material]:
    """CLEVR's two materials for a linear RGB colour: ``metal`` (metallic, roughness 0.2) or
    ``rubber`` (dielectric, roughness 0.7), chosen by ``rng``."""
    kind = str(rng.choice(["metal", "rubber"]))
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


def bounding_radius(asset: str, scale: tuple[float, float, float]) -> float:
    """Radius (m) of a sphere around the object's origin that contains the scaled asset, visual mesh
    and collision shape: exact for analytic spheres and cylinders, else through the farthest
    corner of their bounding boxes."""
    info = get_asset(asset)
    s = np.asarray(scale)
    center, half = np.abs(info.collision_center) * s, np.asarray(info.collision_half_extents) * s
    if info.collision_kind == "sphere":
        return float(np.linalg.norm(center) + half[0])
    if info.collision_kind == "cylinder":
        return float(np.linalg.norm(center) + math.hypot(half[0], half[2]))
    visual = np.max(np.abs(info.bounds), axis=0) * s
    return float(max(np.linalg.norm(visual), np.linalg.norm(center + half)))


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


def sample_shell_point(rng: np.random.Generator, inner: float, outer: float, min_z: float = 0.0,
                       attempts: int = 10_000) -> np.ndarray:
    """(3,) point uniform in the volume of the upper half-sphere shell inner ≤ |p| ≤ outer (m)
    around the origin, above the plane z = ``min_z`` (rejection sampling, as Kubric's
    ``sample_point_in_half_sphere_shell``). ValueError if the region is (nearly) empty."""
    for _ in range(attempts if min_z < outer else 0):
        p = rng.uniform((-outer, -outer, min_z), (outer, outer, outer))
        if inner <= np.linalg.norm(p) <= outer:
            return p
    raise ValueError(f"no point of the shell {inner}-{outer} m lies above z = {min_z} m")


def shell_camera(rng: np.random.Generator, inner: float = 7.0, outer: float = 9.0, min_z: float = 4.0,
                 look_at: Vec3 = (0.0, 0.0, 0.0), focal_length_mm: float = 35.0) -> Camera:
    """A fixed camera at a random point of the half-sphere shell (``sample_shell_point``) looking at
    ``look_at`` (MOVi-B/C/D's ``fixed_random`` camera)."""
    position = sample_shell_point(rng, inner, outer, min_z)
    return Camera(focal_length_mm=focal_length_mm, positions=(_vec(position),), look_at=(look_at,))


def linear_camera(rng: np.random.Generator, frames: int, max_move: float, inner: float = 8.0,
                  outer: float = 12.0, min_z: float = 1.0, look_at: Vec3 = (0.0, 0.0, 0.0),
                  look_at_move: float = 0.0, focal_length_mm: float = 35.0) -> Camera:
    """A camera moving at constant velocity along a straight line, as MOVi-E's ``linear_movement``.

    The start is uniform in the half-sphere shell (``sample_shell_point``), the direction uniform on
    the unit sphere, the length uniform in [0, ``max_move``] m over ``frames`` frames (from frame 0
    to frame frames − 1); both ends lie in the shell (resampled until they do). The camera looks at
    ``look_at`` throughout if ``look_at_move`` is 0, else at a point moving at constant velocity
    between two points uniform in the cube of side ``look_at_move`` m centred on ``look_at``. The
    motion is stored as velocities (m per frame), so rendering more or fewer frames extends or
    shortens the same straight path."""
    length = rng.uniform(0.0, max_move)
    for _ in range(10_000):
        start = sample_shell_point(rng, inner, outer, min_z)
        direction = rng.normal(size=3)
        end = start + length * direction / np.linalg.norm(direction)
        if inner <= np.linalg.norm(end) <= outer and end[2] >= min_z:
            break
    else:
        raise ValueError(f"no straight move of {length:.2f} m stays in the camera shell")
    aim = np.asarray(look_at, dtype=float) + rng.uniform(-look_at_move / 2, look_at_move / 2, size=(2, 3))
    if look_at_move == 0:
        aim[:] = look_at
    steps = max(frames - 1, 1)
    return Camera(focal_length_mm=focal_length_mm, positions=(_vec(start),),
                  velocity=_vec((end - start) / steps), look_at=(_vec(aim[0]),),
                  look_at_velocity=_vec((aim[1] - aim[0]) / steps))


def _vec(v: np.ndarray) -> Vec3:
    return tuple(float(x) for x in v)  # type: ignore[return-value]
