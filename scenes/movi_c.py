"""``movi-c``: Kubric's MOVi-C with the real objects that ship with PyBullet.

3–10 pybullet_data objects (the 1000 ``random_urdfs`` and the named ones: duck, teddy, mug, …) of
the ``train`` split by default, with their own textures or colours, randomly rotated and sized,
thrown toward the centre; lit only by an environment image seen behind them (a procedural sky with
a sun, or the user's HDRI), over a floor of its ground colour; a fixed camera at a random point of a
half-sphere shell looking at the origin.
"""

from __future__ import annotations

import numpy as np

from scenes.common import shell_camera
from scenes.objects import POOLS, SPLITS, asset_pool, environment, real_object, throw
from scenes.registry import Param, register
from sim.errors import RecipeError
from sim.scene import Scene

SPAWN_REGION = ((-5.0, -5.0, 1.0), (5.0, 5.0, 5.0))
"""Where objects start (m), Kubric's; the simulator places them without overlap."""
CAMERA_SHELL = (7.0, 9.0, 4.0)
"""The camera's half-sphere shell: inner and outer radius, lowest height (m)."""

OBJECT_PARAMS = (
    Param("min_size", 0.75, "smallest largest side of an object (m)", 0.05, 5.0),
    Param("max_size", 3.0, "largest largest side of an object (m)", 0.05, 5.0),
    Param("max_speed", 4.0, "largest initial horizontal speed component before aiming (m/s)", 0.0, 20.0),
    Param("split", "train", "asset split: train (90%) or test (the held-out 10%)", choices=SPLITS),
    Param("pool", "all", "assets: all, named (duck, teddy, mug, ...) or random_urdfs", choices=POOLS),
    Param("hdri", "", "absolute path of an equirectangular environment image; empty: a procedural sky"),
    Param("hdri_strength", 1.0, "brightness factor of the environment", 0.0, 100.0),
)
"""Parameters shared with ``movi-d`` and ``movi-e``."""

PARAMS = (
    Param("min_objects", 3, "fewest objects", 1, 30),
    Param("max_objects", 10, "most objects", 1, 30),
    *OBJECT_PARAMS,
)


def check_ranges(recipe: str, **pairs: tuple[float, float]) -> None:
    """RecipeError naming the first (min, max) pair with min > max."""
    for name, (lo, hi) in pairs.items():
        if lo > hi:
            raise RecipeError(f"recipe {recipe}: min_{name}={lo} > max_{name}={hi}")


@register("movi-c", "3-10 real pybullet_data objects (train split) thrown onto the floor, lit by an "
          "environment image, random camera on a shell", PARAMS)
def build(rng: np.random.Generator, *, min_objects: int = 3, max_objects: int = 10, min_size: float = 0.75,
          max_size: float = 3.0, max_speed: float = 4.0, split: str = "train", pool: str = "all",
          hdri: str = "", hdri_strength: float = 1.0) -> Scene:
    """Objects are drawn uniformly from the pool of the split (``scenes.objects.asset_pool``), scaled
    so their largest side is uniform in [min_size, max_size], placed by the simulator in
    ``SPAWN_REGION`` without overlap and thrown toward the centre. No lamps: all light comes from the
    environment (``scenes.objects.environment``)."""
    check_ranges("movi-c", objects=(min_objects, max_objects), size=(min_size, max_size))
    assets = asset_pool(split, pool)
    background, ground = environment(rng, hdri, hdri_strength)
    n = int(rng.integers(min_objects, max_objects + 1))
    objects = [ground] + [real_object(rng, f"object_{i}", assets, min_size, max_size, SPAWN_REGION)
                          for i in range(n)]
    scene = Scene(objects=tuple(objects), camera=shell_camera(rng, *CAMERA_SHELL), lights=(),
                  background=background, seed=int(rng.integers(0, 2**31)))
    return throw(rng, scene, {o.name for o in objects[1:]}, max_speed)
