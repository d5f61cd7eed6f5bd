"""Recipes: registry, parameter validation, determinism, user recipe files."""

import itertools
import textwrap

import numpy as np
import pytest

from scenes import get_recipe, recipes
from scenes.common import bounding_radius
from sim.errors import RecipeError
from sim.scene import Scene


def test_movi_a_is_registered_and_deterministic():
    assert "movi-a" in recipes()
    recipe = get_recipe("movi-a")
    for seed in range(5):
        scene = recipe(seed)
        assert scene == recipe(seed)
        assert Scene.from_json(scene.to_json()) == scene
        assert 3 <= len(scene.instances) <= 10
    assert recipe(0) != recipe(1)


def test_movi_a_objects_do_not_overlap_and_are_thrown():
    for seed in range(10):
        scene = get_recipe("movi-a")(seed)
        objs = scene.instances
        for a, b in itertools.combinations(objs, 2):
            gap = np.linalg.norm(np.subtract(a.position, b.position))
            assert gap >= bounding_radius(a.asset, a.scale) + bounding_radius(b.asset, b.scale)
        for o in objs:
            assert o.position[2] - o.scale[2] >= 0.5 - 1e-9  # above the floor
        assert any(np.linalg.norm(o.velocity) > 0.1 for o in objs)


def test_parameters_are_validated():
    recipe = get_recipe("movi-a")
    scene = recipe(3, {"min_objects": 4, "max_objects": 4})
    assert len(scene.instances) == 4
    with pytest.raises(RecipeError, match="unknown parameter 'n_objects'"):
        recipe(0, {"n_objects": 4})
    with pytest.raises(RecipeError, match=r"max_objects=99 is outside \[1, 30\]"):
        recipe(0, {"max_objects": 99})
    with pytest.raises(RecipeError, match="max_speed='fast' must be a float"):
        recipe(0, {"max_speed": "fast"})
    with pytest.raises(RecipeError, match="min_objects=5 > max_objects=4"):
        recipe(0, {"min_objects": 5, "max_objects": 4})
    with pytest.raises(RecipeError, match="unknown recipe 'movi-z'"):
        get_recipe("movi-z")


def test_user_recipe_from_file(tmp_path):
    path = tmp_path / "my_recipe.py"
    path.write_text(textwrap.dedent("""
        from sim.scene import Scene, SceneObject

        def build(rng, n=2):
            '''Cubes in a row.'''
            return Scene(objects=tuple(SceneObject(f"c{i}", position=(3.0 * i, 0.0, 1.0))
                                       for i in range(n)))

        def broken(rng):
            return 1 / 0
    """))
    scene = get_recipe(f"{path}:build")(0, {"n": 3})
    assert [o.name for o in scene.objects] == ["c0", "c1", "c2"]
    with pytest.raises(RecipeError, match="unknown parameter 'm'"):
        get_recipe(f"{path}:build")(0, {"m": 3})
    with pytest.raises(RecipeError, match="ZeroDivisionError"):
        get_recipe(f"{path}:broken")(0)
    with pytest.raises(RecipeError, match="has no function 'nope'"):
        get_recipe(f"{path}:nope")
    with pytest.raises(RecipeError, match="does not exist"):
        get_recipe(f"{tmp_path}/missing.py:build")
