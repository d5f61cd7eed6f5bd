"""``movi-b``: Kubric's MOVi-B with our procedural shapes.

3–10 objects of the eight ``primitive:`` shapes (cube, sphere, cylinder, cone, capsule, torus, gear,
torus knot), randomly rotated and sized, each CLEVR metal or rubber of a random hue, thrown toward
the centre over a floor of a random colour, which is also the background colour; CLEVR's three
jittered sun lights; a fixed camera at a random point of a half-sphere shell looking at the origin.
"""

from __future__ import annotations

import numpy as np

from scenes.common import clevr_lights, floor, metal_or_rubber, random_hue_color, shell_camera
from scenes.objects import random_rotation, throw
from scenes.registry import Param, register
from sim.errors import RecipeError
from sim.library.sources import PRIMITIVES
from sim.scene import Background, Scene, SceneObject

SPAWN_REGION = ((-4.0, -4.0, 0.5), (4.0, 4.0, 3.0))
"""Where objects start (m), as in ``movi-a``; the simulator places them without overlap."""
CAMERA_SHELL = (7.0, 9.0, 4.0)
"""The camera's half-sphere shell: inner and outer radius, lowest height (m)."""

PARAMS = (
    Param("min_objects", 3, "fewest objects", 1, 30),
    Param("max_objects", 10, "most objects", 1, 30),
    Param("min_size", 0.7, "smallest largest side of an object (m)", 0.05, 5.0),
    Param("max_size", 1.4, "largest largest side of an object (m)", 0.05, 5.0),
    Param("max_speed", 4.0, "largest initial horizontal speed component before aiming (m/s)", 0.0, 20.0),
)


@register("movi-b", "3-10 procedural shapes (8 kinds) of random hues and sizes, random floor colour, "
          "random camera on a shell", PARAMS)
def build(rng: np.random.Generator, *, min_objects: int = 3, max_objects: int = 10, min_size: float = 0.7,
          max_size: float = 1.4, max_speed: float = 4.0) -> Scene:
    """Objects are uniformly rotated, scaled uniformly so their largest side is uniform in
    [min_size, max_size] m (movi-a's small and large CLEVR sizes at the ends), placed by the
    simulator in ``SPAWN_REGION`` without overlap and thrown toward the centre; the floor and the
    background share one random hue (HSV saturation 0.5 and value 0.6 in sRGB)."""
    if min_objects > max_objects or min_size > max_size:
        raise RecipeError(f"recipe movi-b: min_objects={min_objects} > max_objects={max_objects} or "
                          f"min_size={min_size} > max_size={max_size}")
    n = int(rng.integers(min_objects, max_objects + 1))
    backdrop = random_hue_color(rng, saturation=0.5, value=0.6)
    objects = [floor(color=backdrop)]
    for i in range(n):
        shape = str(rng.choice(PRIMITIVES))
        size = float(rng.uniform(min_size, max_size)) / 2.0  # the canonical largest side is 2
        kind, material = metal_or_rubber(rng, random_hue_color(rng))
        objects.append(SceneObject(
            name=f"{kind}_{shape}_{i}", asset=f"primitive:{shape}", scale=(size, size, size),
            quaternion=random_rotation(rng), material=material, spawn_region=SPAWN_REGION,
            friction=0.8 if kind == "rubber" else 0.4, restitution=0.7 if kind == "rubber" else 0.5))
    scene = Scene(objects=tuple(objects), camera=shell_camera(rng, *CAMERA_SHELL), lights=clevr_lights(rng),
                  background=Background(color=backdrop, strength=0.5), seed=int(rng.integers(0, 2**31)))
    return throw(rng, scene, {o.name for o in objects[1:]}, max_speed)
