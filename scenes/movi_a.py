"""``movi-a``: CLEVR-like scenes in the style of Kubric's MOVi-A.

3–10 cubes, spheres and cylinders in two sizes, metal or rubber, in the eight CLEVR colours, thrown
onto a grey floor under three jittered sun lights, seen by a fixed camera looking at the origin.
"""

from __future__ import annotations

import numpy as np

from scenes.common import (
    CLEVR_COLORS_SRGB,
    CLEVR_SIZES,
    bounding_radius,
    clevr_lights,
    clevr_material,
    floor,
    sample_free_position,
)
from scenes.registry import Param, register
from sim.errors import RecipeError
from sim.scene import Background, Camera, Scene, SceneObject

SPAWN_REGION = ((-4.0, -4.0, 0.5), (4.0, 4.0, 3.0))
CAMERA_POSITION = (7.48113, -6.50764, 5.34367)

PARAMS = (
    Param("min_objects", 3, "fewest objects", 1, 30),
    Param("max_objects", 10, "most objects", 1, 30),
    Param("max_speed", 4.0, "largest initial horizontal speed component before aiming (m/s)", 0.0, 20.0),
    Param("camera_jitter", 0.0, "uniform jitter of the camera position on each axis (m)", 0.0, 3.0),
)


@register("movi-a", "CLEVR shapes (3-10 cubes, spheres, cylinders) thrown onto a grey floor", PARAMS)
def build(rng: np.random.Generator, *, min_objects: int = 3, max_objects: int = 10,
          max_speed: float = 4.0, camera_jitter: float = 0.0) -> Scene:
    """Objects start inside ``SPAWN_REGION`` without overlap; their horizontal velocity is uniform in
    [-max_speed, max_speed]² minus their (x, y) position, so they are thrown toward the centre."""
    if min_objects > max_objects:
        raise RecipeError(f"recipe movi-a: min_objects={min_objects} > max_objects={max_objects}")
    n = int(rng.integers(min_objects, max_objects + 1))
    placed: list[tuple[np.ndarray, float]] = []
    objects = [floor()]
    for i in range(n):
        shape = str(rng.choice(["cube", "sphere", "cylinder"]))
        size_name = str(rng.choice(list(CLEVR_SIZES)))
        size = CLEVR_SIZES[size_name]
        color = str(rng.choice(list(CLEVR_COLORS_SRGB)))
        kind, material = clevr_material(rng, color)
        scale = (size, size, size)
        angle = rng.uniform(0.0, 2.0 * np.pi)
        quat = (float(np.cos(angle / 2)), 0.0, 0.0, float(np.sin(angle / 2)))
        name = f"{size_name}_{color}_{kind}_{shape}_{i}"
        region = (SPAWN_REGION[0][:2] + (SPAWN_REGION[0][2] + size,), SPAWN_REGION[1])
        pos = sample_free_position(rng, bounding_radius(f"primitive:{shape}", scale), region, placed, name)
        vel = rng.uniform([-max_speed, -max_speed, 0.0], [max_speed, max_speed, 0.0]) - [pos[0], pos[1], 0.0]
        objects.append(SceneObject(
            name=name, asset=f"primitive:{shape}", scale=scale,
            position=tuple(float(v) for v in pos), quaternion=quat,
            velocity=tuple(float(v) for v in vel), material=material,
            friction=0.8 if kind == "rubber" else 0.4, restitution=0.7 if kind == "rubber" else 0.5))
    cam = np.add(CAMERA_POSITION, rng.uniform(-camera_jitter, camera_jitter, 3))
    return Scene(objects=tuple(objects), camera=Camera(positions=(tuple(float(v) for v in cam),)),
                 lights=clevr_lights(rng), background=Background(color=(0.05, 0.05, 0.05)),
                 seed=int(rng.integers(0, 2**31)))
