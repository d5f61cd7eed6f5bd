"""``movi-d``: Kubric's MOVi-D with the real objects that ship with PyBullet.

10–20 *static* objects (``static_k``) are dropped and settled by a pre-simulation
(``sim.physics.settle``); their rest poses, at zero velocity, start the scene. Then 1–3 *dynamic*
objects (``dynamic_k``) are thrown at them from above. The static objects are ordinary rigid bodies
at rest: a dynamic object may push them. Objects, background and camera as in ``movi-c``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from scenes.common import shell_camera
from scenes.movi_c import CAMERA_SHELL, OBJECT_PARAMS, check_ranges
from scenes.objects import asset_pool, environment, real_object, throw
from scenes.registry import Param, register
from sim.errors import PlacementError, RecipeError, SimulationError
from sim.physics import settle
from sim.scene import Camera, Scene

STATIC_SPAWN_REGION = ((-7.0, -7.0, 0.0), (7.0, 7.0, 10.0))
DYNAMIC_SPAWN_REGION = ((-5.0, -5.0, 1.0), (5.0, 5.0, 5.0))
"""Where the static and the dynamic objects start (m), Kubric's; the simulator places them
without overlap (a static object's region starts at its bounding radius above the floor)."""
SETTLE_DRAWS = 4
"""Draws of static objects tried before giving up: a draw fails when its pile does not come to
rest or settles with two objects interpenetrating more than the simulator accepts."""

PARAMS = (
    Param("min_static", 10, "fewest static objects", 0, 40),
    Param("max_static", 20, "most static objects", 0, 40),
    Param("min_dynamic", 1, "fewest thrown objects", 0, 10),
    Param("max_dynamic", 3, "most thrown objects", 0, 10),
    *OBJECT_PARAMS,
)

CameraFn = Callable[[np.random.Generator, int], Camera]
"""(rng, frames) -> the scene's camera."""


def build_with_camera(rng: np.random.Generator, camera: CameraFn, recipe: str, *, min_static: int,
                      max_static: int, min_dynamic: int, max_dynamic: int, min_size: float, max_size: float,
                      max_speed: float, split: str, pool: str, hdri: str, hdri_strength: float) -> Scene:
    """The ``movi-d`` scene with the camera from ``camera`` (``movi-e`` moves it)."""
    check_ranges(recipe, static=(min_static, max_static), dynamic=(min_dynamic, max_dynamic),
                 size=(min_size, max_size))
    assets = asset_pool(split, pool)
    background, ground = environment(rng, hdri, hdri_strength)
    frames = Scene().frames
    scene = Scene(objects=(ground,), camera=camera(rng, frames), lights=(), background=background)
    for _ in range(SETTLE_DRAWS):
        statics = []
        for i in range(int(rng.integers(min_static, max_static + 1))):
            obj = real_object(rng, f"static_{i}", assets, min_size, max_size, STATIC_SPAWN_REGION)
            (x0, y0, z0), hi = STATIC_SPAWN_REGION
            lift = float(np.max(np.abs(obj.scale)) * np.sqrt(3.0))
            statics.append(dataclasses.replace(obj, spawn_region=((x0, y0, z0 + lift), hi)))
        dynamics = [real_object(rng, f"dynamic_{i}", assets, min_size, max_size, DYNAMIC_SPAWN_REGION)
                    for i in range(int(rng.integers(min_dynamic, max_dynamic + 1)))]
        seeds = rng.integers(0, 2**31, size=2)
        try:
            pile = settle(dataclasses.replace(scene, objects=(ground, *statics), seed=int(seeds[0])))
            full = dataclasses.replace(pile, objects=pile.objects + tuple(dynamics), seed=int(seeds[1]))
            return throw(rng, full, {o.name for o in dynamics}, max_speed)
        except (PlacementError, SimulationError):
            continue
    raise RecipeError(f"recipe {recipe}: no pile of static objects settled in {SETTLE_DRAWS} draws; "
                      "use fewer or smaller static objects")


@register("movi-d", "10-20 real objects settled at rest, 1-3 more thrown at them; environment light, "
          "random camera on a shell", PARAMS)
def build(rng: np.random.Generator, *, min_static: int = 10, max_static: int = 20, min_dynamic: int = 1,
          max_dynamic: int = 3, min_size: float = 0.75, max_size: float = 3.0, max_speed: float = 4.0,
          split: str = "train", pool: str = "all", hdri: str = "", hdri_strength: float = 1.0) -> Scene:
    """See the module docstring; the camera is fixed at a random point of ``CAMERA_SHELL``."""
    return build_with_camera(
        rng, lambda r, _: shell_camera(r, *CAMERA_SHELL), "movi-d", min_static=min_static,
        max_static=max_static, min_dynamic=min_dynamic, max_dynamic=max_dynamic, min_size=min_size,
        max_size=max_size, max_speed=max_speed, split=split, pool=pool, hdri=hdri,
        hdri_strength=hdri_strength)
