"""Building blocks of the recipes with real objects (``movi-c``, ``movi-d``, ``movi-e``): the pool of
pybullet_data assets of a split, objects drawn from it with their own textures or colours, objects
thrown toward the centre, and the environment-lit background (a procedural or user HDRI).

All sizes in metres, angles in radians, colours linear RGB. Randomness only from the ``rng`` passed in.
"""

from __future__ import annotations

import os
from dataclasses import replace

import numpy as np

from scenes.common import floor, metal_or_rubber, random_hue_color, srgb_to_linear
from scenes.environment import Sky, environment_map
from sim.errors import RecipeError
from sim.library import get_asset, list_assets
from sim.physics import place
from sim.scene import Background, Material, Scene, SceneObject, Vec3

POOLS = ("all", "named", "random_urdfs")
"""``all`` pybullet_data assets of the split, only the ``named`` ones (duck, teddy, mug, …), or
only the 1000 procedurally generated ``random_urdfs``."""
SPLITS = ("train", "test")


def asset_pool(split: str, pool: str) -> list[str]:
    """Sorted pybullet asset ids of ``split`` (``train``: 90 %, ``test``: the held-out 10 %) in ``pool``."""
    ids = list_assets(source="pybullet", split=split)
    if pool == "named":
        ids = [i for i in ids if "random_urdfs" not in i]
    elif pool == "random_urdfs":
        ids = [i for i in ids if "random_urdfs" in i]
    if not ids:
        raise RecipeError(f"no pybullet asset in split {split!r} and pool {pool!r}")
    return ids


def random_rotation(rng: np.random.Generator) -> tuple[float, float, float, float]:
    """A uniformly random unit quaternion (w, x, y, z) (normalised 4D Gaussian), w ≥ 0."""
    q = rng.normal(size=4)
    q = q / np.linalg.norm(q) * (1.0 if q[0] >= 0 else -1.0)
    return tuple(float(v) for v in q)  # type: ignore[return-value]


def asset_material(rng: np.random.Generator, asset: str) -> Material:
    """The asset's own look: white (its image texture's colours unchanged) if it has a texture, its
    URDF/MTL colour (read as sRGB) if it has one, else a random-hue CLEVR metal or rubber."""
    info = get_asset(asset)
    if info.texture_path is not None:
        return Material(color=(1.0, 1.0, 1.0), roughness=0.6)
    if info.color is not None:
        rgb = srgb_to_linear(tuple(round(255 * c) for c in info.color[:3]))  # type: ignore[arg-type]
        return Material(color=rgb, roughness=0.6)
    return metal_or_rubber(rng, random_hue_color(rng))[1]


def real_object(rng: np.random.Generator, name: str, assets: list[str], min_size: float, max_size: float,
                region: tuple[Vec3, Vec3]) -> SceneObject:
    """An asset drawn uniformly from ``assets``, scaled uniformly so its largest side is uniform in
    [min_size, max_size] m, randomly rotated, to be placed by the simulator in ``region``."""
    asset = str(rng.choice(assets))
    half = float(rng.uniform(min_size, max_size)) / 2.0  # the canonical largest side is 2
    return SceneObject(name=name, asset=asset, scale=(half, half, half), quaternion=random_rotation(rng),
                       material=asset_material(rng, asset), spawn_region=region)


def throw(rng: np.random.Generator, scene: Scene, names: set[str], max_speed: float) -> Scene:
    """Places every object with a spawn region (``sim.physics.place``), then gives each object of
    ``names`` a horizontal velocity uniform in [−max_speed, max_speed]² minus its (x, y) position,
    so it is thrown toward the centre (Kubric's MOVi)."""
    placed = place(scene)
    objects = []
    for obj in placed.objects:
        if obj.name in names:
            v = rng.uniform((-max_speed, -max_speed), (max_speed, max_speed)) - np.asarray(obj.position[:2])
            obj = replace(obj, velocity=(float(v[0]), float(v[1]), 0.0))
        objects.append(obj)
    return replace(placed, objects=tuple(objects))


def environment(rng: np.random.Generator, hdri: str, strength: float) -> tuple[Background, SceneObject]:
    """An ``hdri`` background and a matching floor. ``hdri`` = "" draws a procedural sky
    (``scenes.environment``: the sun at a random azimuth and 20–70° high, slightly varied sky
    colours) whose floor takes the sky's ground colour; otherwise the image at that absolute path
    (checked before rendering by ``sim.assets.validate_assets``) over a grey floor."""
    if hdri:
        if not os.path.isabs(os.path.expanduser(hdri)):
            raise RecipeError(f"parameter hdri={hdri!r}: give an absolute path (it is rebuilt on workers)")
        path, ground = os.path.expanduser(hdri), (0.3, 0.3, 0.3)
    else:
        tint = rng.uniform(0.85, 1.15, size=3)
        sky = Sky(sun_azimuth=float(rng.uniform(0, 2 * np.pi)), sun_elevation=float(rng.uniform(0.35, 1.2)),
                  zenith=tuple(float(c) for c in np.clip(np.multiply(Sky.zenith, tint), 0, 1)),
                  ground=tuple(float(c) for c in np.clip(np.multiply(Sky.ground, tint[::-1]), 0, 1)))
        path, ground = str(environment_map(sky)), sky.ground
    return Background(kind="hdri", path=path, strength=strength), floor(color=ground)
