"""The MOVi recipes (movi-b … movi-e) and their camera helpers: valid, deterministic scenes with
object counts in the documented ranges and no initial overlap; the asset split; movi-d's settled
objects at rest; movi-e's straight camera path; parameter validation."""

from __future__ import annotations

import dataclasses
import inspect
from functools import cache

import numpy as np
import pytest

from scenes import get_recipe, recipes
from scenes.common import linear_camera, sample_shell_point, shell_camera
from sim.assets import validate_assets
from sim.errors import AssetError, RecipeError
from sim.library import is_held_out
from sim.library.sources import PRIMITIVES
from sim.physics import simulate
from sim.scene import Scene

SEEDS = (0, 1, 2)
COUNTS = {"movi-b": {"": (3, 10)}, "movi-c": {"": (3, 10)},
          "movi-d": {"static_": (10, 20), "dynamic_": (1, 3)},
          "movi-e": {"static_": (10, 20), "dynamic_": (1, 3)},
          "movi-f": {"static_": (10, 20), "dynamic_": (1, 3)}}
"""Documented instance counts per name prefix."""


@cache
def built(recipe: str, seed: int) -> Scene:
    return get_recipe(recipe)(seed)


def mean_speeds(scene: Scene, traj) -> np.ndarray:
    """(F − 1, N) mean speed (m/s) of each object between consecutive frames."""
    return np.linalg.norm(np.diff(traj.positions, axis=0), axis=-1) * scene.frame_rate


def test_recipes_are_registered_with_their_signature_defaults():
    assert set(COUNTS) | {"movi-a"} <= set(recipes())
    for name in COUNTS:
        recipe = recipes()[name]
        signature = inspect.signature(recipe.build).parameters
        for p in recipe.params:
            if p.name in signature:  # movi-e passes movi-d's parameters through **params
                assert signature[p.name].default == p.default, (name, p.name)
        assert recipe.description


@pytest.mark.parametrize("recipe", sorted(COUNTS))
def test_scenes_are_valid_deterministic_and_counted(recipe: str):
    scenes = [built(recipe, seed) for seed in SEEDS]
    for seed, scene in zip(SEEDS, scenes, strict=True):
        assert get_recipe(recipe)(seed) == scene
        assert Scene.from_json(scene.to_json()) == scene
        for prefix, (lo, hi) in COUNTS[recipe].items():
            n = sum(o.name.startswith(prefix) for o in scene.instances)
            assert lo <= n <= hi, (recipe, seed, prefix, n)
        assert len(scene.objects) == len(scene.instances) + 1 and scene.objects[0].background
        assert all(o.spawn_region is None for o in scene.objects)
        validate_assets(scene)
        simulate(dataclasses.replace(scene, frames=1))  # raises PlacementError on any overlap
        moving = [o for o in scene.instances if not o.name.startswith("static_")]
        assert all(np.linalg.norm(o.velocity) > 0 for o in moving)
        assert all(o.position[2] > 0 for o in scene.instances)
    assert len({s.to_json() for s in scenes}) == len(SEEDS)


def test_movi_b_uses_every_kind_of_shape_and_hue():
    scenes = [built("movi-b", seed) for seed in SEEDS] + [get_recipe("movi-b")(seed) for seed in range(3, 8)]
    shapes = {o.asset.removeprefix("primitive:") for s in scenes for o in s.instances}
    assert shapes == set(PRIMITIVES)
    colors = np.array([o.material.color for s in scenes for o in s.instances])
    assert len(np.unique(colors.round(3), axis=0)) > 20
    for s in scenes:
        assert s.background.kind == "color" and s.background.color == s.objects[0].material.color
    assert len({s.background.color for s in scenes}) == len(scenes)
    assert len({s.camera.positions for s in scenes}) == len(scenes)


def test_movi_c_draws_from_the_requested_split():
    params = {"min_objects": 10, "max_objects": 10}
    movi_c = get_recipe("movi-c")
    train = [o.asset for seed in SEEDS for o in movi_c(seed, params).instances]
    test = [o.asset for seed in SEEDS for o in movi_c(seed, {**params, "split": "test"}).instances]
    assert not any(is_held_out(a) for a in train) and all(is_held_out(a) for a in test)
    named = movi_c(0, {**params, "pool": "named"}).instances
    assert all("random_urdfs" not in o.asset for o in named)
    scene = built("movi-c", 0)
    assert scene.background.kind == "hdri" and scene.lights == ()
    for o in scene.instances:  # largest side in [0.75, 3] m
        assert 0.375 <= o.scale[0] <= 1.5 and o.scale[0] == o.scale[1] == o.scale[2]


@pytest.mark.parametrize("recipe", ["movi-d", "movi-e"])
def test_movi_d_static_objects_are_at_rest_before_the_throw(recipe: str):
    """After the pre-simulation the static objects start at zero velocity, and without the thrown
    objects they stay where they are."""
    for seed in SEEDS[:2]:
        scene = built(recipe, seed)
        statics = [o for o in scene.objects if o.name.startswith("static_")]
        assert all(o.velocity == (0, 0, 0) and o.angular_velocity == (0, 0, 0) for o in statics)
        still = dataclasses.replace(scene, objects=(scene.objects[0], *statics))
        traj = simulate(still)
        assert mean_speeds(still, traj)[:, 1:].max() < 0.05
        np.testing.assert_allclose(traj.positions[-1], traj.positions[0], atol=0.01)
        dynamics = [o for o in scene.objects if o.name.startswith("dynamic_")]
        assert min(o.position[2] for o in dynamics) >= 1.0  # thrown from the dynamic spawn region


def test_movi_e_camera_moves_along_a_straight_line_in_its_shell():
    for seed in SEEDS:
        camera = built("movi-e", seed).camera
        start, velocity = np.array(camera.positions[0]), np.array(camera.velocity)
        end = start + 23 * velocity
        assert np.linalg.norm(end - start) <= 4.0 + 1e-9
        for p in (start, end):
            assert 8.0 - 1e-9 <= np.linalg.norm(p) <= 12.0 + 1e-9 and p[2] >= 1.0
        assert camera.look_at == ((0.0, 0.0, 0.0),) and camera.look_at_velocity == (0.0, 0.0, 0.0)
    assert len({built("movi-e", s).camera.velocity for s in SEEDS}) == len(SEEDS)
    short = dataclasses.replace(built("movi-e", 0), frames=4)  # a --frames override keeps the path
    np.testing.assert_allclose(short.camera.position_at(3), built("movi-e", 0).camera.position_at(3))


def test_linear_camera_with_a_moving_look_at():
    rng = np.random.default_rng(4)
    camera = linear_camera(rng, frames=10, max_move=3.0, look_at=(0.0, 0.0, 1.0), look_at_move=2.0)
    aims = np.array([camera.look_at_at(t) for t in range(10)])
    assert np.abs(aims - (0.0, 0.0, 1.0)).max() <= 1.0 + 1e-9
    steps = np.diff(aims, axis=0)
    np.testing.assert_allclose(steps, np.broadcast_to(steps[0], steps.shape), atol=1e-12)  # constant velocity
    assert np.linalg.norm(steps[0]) > 0


def test_shell_sampling_stays_in_the_shell():
    rng = np.random.default_rng(0)
    points = np.array([sample_shell_point(rng, 7.0, 9.0, 4.0) for _ in range(500)])
    radii = np.linalg.norm(points, axis=1)
    assert (radii >= 7.0).all() and (radii <= 9.0).all() and (points[:, 2] >= 4.0).all()
    assert points[:, 0].min() < -3 and points[:, 0].max() > 3  # all around, not one side
    camera = shell_camera(rng, look_at=(0.0, 0.0, 0.5))
    assert camera.look_at == ((0.0, 0.0, 0.5),) and 7.0 <= np.linalg.norm(camera.positions[0]) <= 9.0
    with pytest.raises(ValueError, match="no point of the shell"):
        sample_shell_point(rng, 7.0, 9.0, 10.0)


def test_parameters_are_validated(tmp_path):
    with pytest.raises(RecipeError, match="parameter split='val' is not one of train, test"):
        get_recipe("movi-c")(0, {"split": "val"})
    with pytest.raises(RecipeError, match="parameter pool='gso' is not one of all, named, random_urdfs"):
        get_recipe("movi-d")(0, {"pool": "gso"})
    with pytest.raises(RecipeError, match="min_static=5 > max_static=4"):
        get_recipe("movi-d")(0, {"min_static": 5, "max_static": 4})
    with pytest.raises(RecipeError, match="min_size=2.0 > max_size=1.0"):
        get_recipe("movi-c")(0, {"min_size": 2.0, "max_size": 1.0})
    with pytest.raises(RecipeError, match=r"max_camera_move=50.0 is outside \[0.0, 20.0\]"):
        get_recipe("movi-e")(0, {"max_camera_move": 50.0})
    with pytest.raises(RecipeError, match="hdri='sky.exr': give an absolute path"):
        get_recipe("movi-c")(0, {"hdri": "sky.exr"})
    with pytest.raises(AssetError, match="background.path: cannot read the environment image"):
        get_recipe("movi-c")(0, {"hdri": str(tmp_path / "sky.exr")})  # its placement validates the scene


def test_movi_f_is_movi_e_with_a_random_shutter():
    shutters = [built("movi-f", s).shutter for s in SEEDS]
    assert all(0.0 <= v <= 1.0 for v in shutters) and len(set(shutters)) == len(SEEDS)
    for seed in SEEDS:
        assert dataclasses.replace(built("movi-f", seed), shutter=0.0) == built("movi-e", seed)
    assert get_recipe("movi-f")(0, {"min_shutter": 0.4, "max_shutter": 0.4}).shutter == 0.4
    with pytest.raises(RecipeError, match="min_shutter=0.9 > max_shutter=0.5"):
        get_recipe("movi-f")(0, {"min_shutter": 0.9, "max_shutter": 0.5})
