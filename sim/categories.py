"""Semantic categories: what an object is (``cube``, ``duck``, …) and the job's id table.

An object's category is ``SceneObject.category`` or, when that is None, its asset's catalogue
category (``sim.library.catalog.asset_category``: the primitive's shape, the pybullet_data object's
category, ``random_urdf``, or ``object`` for a user file).

Ids: ``RenderSettings.categories`` is the job's table, recorded in ``job.json`` and every
``metadata.json`` (``categories``: id -> name); category ``table[i]`` has id ``i + 1`` and id 0 is
the background. The default table is every catalogue category, sorted (``default_table``), so a
category has the same id in every scene of a job and in every job rendered with the default table;
a recipe that sets categories of its own needs them appended (``--categories NAME,...``), which
keeps the catalogue's ids unchanged. Deterministic and hash-free.
"""

from __future__ import annotations

import numpy as np

from sim.errors import SceneValidationError
from sim.library.catalog import asset_category, catalogue_categories
from sim.scene import CATEGORY_PATTERN, Scene, SceneObject

__all__ = ["CATEGORY_PATTERN", "default_table", "id_table", "object_category", "semantic_ids"]


def default_table() -> tuple[str, ...]:
    """The default category table: every catalogue category, sorted."""
    return catalogue_categories()


def object_category(obj: SceneObject) -> str:
    """``obj.category``, or its asset's catalogue category when that is None."""
    return obj.category if obj.category is not None else asset_category(obj.asset)


def semantic_ids(scene: Scene, table: tuple[str, ...]) -> np.ndarray:
    """uint16 (N,): per scene object its category id in ``table`` (1 + position), 0 for background
    objects. SceneValidationError names an instance whose category is not in the table."""
    ids = np.zeros(len(scene.objects), dtype=np.uint16)
    position = {name: i + 1 for i, name in enumerate(table)}
    for i, obj in enumerate(scene.objects):
        if obj.background:
            continue
        category = object_category(obj)
        if category not in position:
            raise SceneValidationError(
                f"object {obj.name!r}: category {category!r} is not in the job's category table; "
                f"add it with --categories {category} (RenderSettings.categories)")
        ids[i] = position[category]
    return ids


def id_table(table: tuple[str, ...]) -> dict[str, str]:
    """``{"1": name, …}``: the table as written to metadata.json (JSON keys are strings; 0 =
    background is implied)."""
    return {str(i + 1): name for i, name in enumerate(table)}
