"""Per-scene seeds: a function of (job seed, scene index) only, fixed forever (resumed and extended
jobs depend on it), distinct across scenes and jobs."""

from __future__ import annotations

from render_workers.seeds import scene_name, scene_seed


def test_scene_seeds_are_pinned():
    # Changing these values would make a resumed job render different scenes than it started with.
    assert scene_seed(0, 0) == 8069282889424829228
    assert scene_seed(0, 17) == 8291434066886260049
    assert scene_seed(123, 0) == 3252112843033045759


def test_scene_seeds_are_distinct_and_in_range():
    seeds = {scene_seed(job, k) for job in range(4) for k in range(500)}
    assert len(seeds) == 2000
    assert all(0 <= s < 2**63 for s in seeds)


def test_scene_seed_does_not_depend_on_other_scenes():
    late = scene_seed(7, 42)
    assert [scene_seed(7, k) for k in range(50)][42] == late == scene_seed(7, 42)


def test_scene_names_sort_like_indices():
    names = [scene_name(k) for k in (0, 9, 10, 99999)]
    assert names == ["scene_00000", "scene_00009", "scene_00010", "scene_99999"] == sorted(names)
