"""The job spec and the job directory: job.json round trip, refusing a changed spec on resume,
--restart, leftovers, the lock, what is missing."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest

from render_workers import jobdir
from render_workers.job import JOB_FILE, JobSpec
from render_workers.seeds import scene_seed
from scenes import get_recipe
from sim.errors import OptionError, OutputError, RecipeError
from sim.settings import RenderSettings


def _spec(out: Path, **changes) -> JobSpec:
    fields = {"recipe": "movi-a", "params": {"max_objects": 4}, "seed": 3, "scenes": 5,
              "resolution": (64, 48), "frames": 6, "settings": RenderSettings(samples=8, denoise=False)}
    return JobSpec(out=out, **{**fields, **changes})


def test_job_json_round_trip(tmp_path):
    spec = _spec(tmp_path)
    data = json.loads(spec.to_json())
    assert data["scenesim_job"] == 1 and "out" not in data and data["settings"]["threads"] == 0
    assert JobSpec.from_dict(data, tmp_path) == spec


def test_scene_k_comes_from_the_derived_seed_with_overrides(tmp_path):
    spec = _spec(tmp_path)
    scene = spec.scene(2)
    expected = get_recipe("movi-a")(scene_seed(3, 2), {"max_objects": 4})
    assert scene.objects == expected.objects
    assert (scene.resolution, scene.frames) == ((64, 48), 6)
    assert spec.scene(2) == scene != spec.scene(3)


@pytest.mark.parametrize(("changes", "message"), [
    ({"scenes": 0}, "scenes: got 0, expected an integer in [1, 100000]"),
    ({"seed": -1}, "seed: got -1, expected an integer in [0, 2^63)"),
    ({"resolution": (0, 10)}, "resolution: got (0, 10), expected (width, height) in [1, 8192]"),
    ({"frames": 0}, "frames: got 0, expected an integer in [1, 100000]"),
    ({"settings": RenderSettings(threads=2)}, "settings.threads: a job spec leaves threads at 0"),
    ({"params": {"x": float("nan")}}, "params: {'x': nan} are not JSON values"),
])
def test_bad_specs_are_refused_with_the_field(tmp_path, changes, message):
    with pytest.raises(OptionError, match="^" + re.escape(message)):
        _spec(tmp_path, **changes)


def test_validate_checks_recipe_and_params_before_work(tmp_path):
    with pytest.raises(RecipeError, match="unknown recipe 'nope'"):
        _spec(tmp_path, recipe="nope").validate()
    with pytest.raises(RecipeError, match="max_objects=99 is outside"):
        _spec(tmp_path, params={"max_objects": 99}).validate()


def test_recipe_file_paths_are_stored_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = argparse.Namespace(scene=None, recipe="mine.py:build", out=Path("out"), param=[("n", 2)], seed=0,
                              scenes=2, resolution=None, frames=None, samples=None, no_denoise=True,
                              gt_only=False)
    spec = JobSpec.from_args(args)
    assert spec.recipe == f"{tmp_path}/mine.py:build"
    assert spec.params == {"n": 2} and spec.settings.denoise is False


def test_prepare_writes_then_accepts_the_same_spec(tmp_path):
    spec = _spec(tmp_path)
    assert jobdir.prepare(spec, restart=False) == []
    assert jobdir.load_job(tmp_path) == spec
    assert jobdir.prepare(_spec(tmp_path), restart=False) == []


def test_a_changed_spec_is_refused_naming_each_difference(tmp_path):
    jobdir.prepare(_spec(tmp_path), restart=False)
    changed = _spec(tmp_path, scenes=6, settings=RenderSettings(samples=16, denoise=False))
    with pytest.raises(OutputError) as e:
        jobdir.prepare(changed, restart=False)
    assert str(e.value) == (f"{tmp_path} holds a different job (scenes: 5 -> 6; settings.samples: 8 -> 16); "
                            f"continue it with 'scenesim resume {tmp_path}', or pass --restart to delete its "
                            "scenes and start over")
    assert jobdir.load_job(tmp_path) == _spec(tmp_path)


def test_restart_deletes_the_old_job_only(tmp_path, complete_scene):
    jobdir.prepare(_spec(tmp_path), restart=False)
    complete_scene(tmp_path / "scene_00000")
    (tmp_path / "notes.txt").write_text("mine")
    changed = _spec(tmp_path, seed=4)
    jobdir.prepare(changed, restart=True)
    assert jobdir.load_job(tmp_path) == changed
    assert sorted(p.name for p in tmp_path.iterdir()) == [JOB_FILE, "notes.txt"]


def test_scene_directories_without_job_json_are_refused(tmp_path, complete_scene):
    complete_scene(tmp_path / "scene_00000")
    with pytest.raises(OutputError, match="has scene directories .* but no job.json"):
        jobdir.prepare(_spec(tmp_path), restart=False)


def test_leftovers_are_removed_and_only_missing_scenes_remain(tmp_path, complete_scene):
    spec = _spec(tmp_path)
    jobdir.prepare(spec, restart=False)
    complete_scene(tmp_path / "scene_00001")
    complete_scene(tmp_path / "scene_00003")
    (tmp_path / "scene_00002.partial").mkdir()
    (tmp_path / "scene_00003.replaced.partial").mkdir()
    (tmp_path / "other.partial").mkdir()  # not ours: kept
    assert jobdir.prepare(spec, restart=False) == ["scene_00002.partial", "scene_00003.replaced.partial"]
    assert (tmp_path / "other.partial").is_dir()
    assert jobdir.missing(spec) == [0, 2, 4]


def test_one_run_at_a_time(tmp_path):
    assert jobdir.running_pid(tmp_path) is None
    with jobdir.locked(tmp_path):
        assert jobdir.running_pid(tmp_path) is not None
        with pytest.raises(OutputError, match="another scenesim run .* is rendering this job"):
            with jobdir.locked(tmp_path):
                pass
    assert jobdir.running_pid(tmp_path) is None


def test_load_job_refuses_a_directory_without_a_job(tmp_path):
    with pytest.raises(OutputError, match="no job.json, not a scenesim job directory"):
        jobdir.load_job(tmp_path)
    (tmp_path / JOB_FILE).write_text("{not json")
    with pytest.raises(OutputError, match="job.json: cannot be read"):
        jobdir.load_job(tmp_path)
