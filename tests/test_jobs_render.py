"""Batch jobs end to end with Blender (tiny scenes): the same scenes, bit for bit, with 1 or 2 workers,
after Ctrl-C and resume, after a worker is killed with SIGKILL mid-scene, and on Ray; a recipe that
raises is retried, reported, and the rest of the job finishes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from render_workers.cli import main
from render_workers.joblog import read_log
from render_workers.seeds import scene_seed
from sim.format import PASSES, POINT_TRACK_FIELDS
from sim.io import load_scene

pytestmark = pytest.mark.slow

SCENES = 6
NAMES = [f"scene_{k:05d}" for k in range(SCENES)]
JOB = ["--recipe", "movi-a", "--seed", "5", "--scenes", str(SCENES), "--param", "max_objects=4",
       "--resolution", "32", "--frames", "4", "--samples", "2", "--point-tracks", "8"]


def _render(out: Path, *extra: str) -> int:
    return main(["render", *JOB, "--out", str(out), *extra])


def _last_run(out: Path) -> list[dict[str, Any]]:
    records = read_log(out)
    start = max(i for i, r in enumerate(records) if r["event"] == "run_start")
    return records[start:]


def _done(records: list[dict[str, Any]]) -> set[int]:
    return {r["index"] for r in records if r["event"] == "scene_done"}


def _without_run_details(metadata: dict[str, Any]) -> dict[str, Any]:
    """Metadata minus what may differ between runs without changing an output: stage timings and
    the Cycles thread count (which follows the worker count; Cycles renders the same pixels)."""
    settings = {k: v for k, v in (metadata["render_settings"] or {}).items() if k != "threads"}
    return {**{k: v for k, v in metadata.items() if k != "timings"}, "render_settings": settings}


def _assert_same_scenes(expected: Path, actual: Path, names: list[str] = NAMES) -> None:
    """Every pass of every frame bit-identical (NaN where NaN), the same scene.json, events.json,
    point tracks and metadata (but timings and thread counts)."""
    for name in names:
        a, b = load_scene(expected / name), load_scene(actual / name)
        assert a["scene"] == b["scene"]
        assert a["events"] == b["events"], name
        assert _without_run_details(a["metadata"]) == _without_run_details(b["metadata"]), name
        for key in a["metadata"]["passes"]:
            assert key in PASSES
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"{name} {key}")
        assert set(a["point_tracks"]) == set(b["point_tracks"]) == set(POINT_TRACK_FIELDS)
        for key, array in a["point_tracks"].items():
            np.testing.assert_array_equal(array, b["point_tracks"][key], err_msg=f"{name} tracks {key}")


def _assert_no_live_workers(out: Path) -> None:
    for pid in {r["worker"] for r in read_log(out) if "worker" in r}:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The job rendered by one worker, uninterrupted."""
    out = tmp_path_factory.mktemp("reference")
    assert _render(out, "--workers", "1") == 0
    assert _done(read_log(out)) == set(range(SCENES))
    return out


def test_two_workers_render_the_same_scenes(reference, tmp_path):
    assert _render(tmp_path, "--workers", "2") == 0
    assert len({r["worker"] for r in read_log(tmp_path) if r["event"] == "scene_done"}) == 2
    _assert_same_scenes(reference, tmp_path)


def test_ctrl_c_stops_cleanly_and_resume_completes_the_same_scenes(reference, tmp_path):
    command = [sys.executable, "-m", "render_workers.cli", "render", *JOB, "--out", str(tmp_path),
               "--workers", "2"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True,  # its own group, like a terminal's job
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    while len(_done(read_log(tmp_path))) < 2 and process.poll() is None:
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground group
    output = process.communicate(timeout=60)[0]
    assert process.returncode == 130, output
    assert "interrupted: " in output and f"continue with 'scenesim resume {tmp_path}'" in output
    _assert_no_live_workers(tmp_path)
    assert not list(tmp_path.glob("*.partial"))
    missing = {k for k, name in enumerate(NAMES) if not (tmp_path / name).exists()}
    assert missing, "the job finished before Ctrl-C: nothing left to resume"

    assert main(["resume", str(tmp_path)]) == 0
    assert _done(_last_run(tmp_path)) == missing
    _assert_same_scenes(reference, tmp_path)


def test_resume_renders_only_what_is_missing(reference, tmp_path):
    out = tmp_path / "job"
    shutil.copytree(reference, out)
    for name in ("scene_00001", "scene_00004"):
        shutil.rmtree(out / name)
    (out / "scene_00004.partial").mkdir()  # left by a killed worker
    (out / "scene_00004.partial" / "depth_00000.tiff").write_bytes(b"half")
    kept = {name: (out / name / "metadata.json").stat().st_mtime_ns
            for name in NAMES if (out / name).exists()}

    assert _render(out, "--workers", "2") == 0  # the same command again resumes
    run = _last_run(out)
    assert run[0]["removed"] == ["scene_00004.partial"] and run[0]["todo"] == 2
    assert _done(run) == {1, 4}
    assert kept == {name: (out / name / "metadata.json").stat().st_mtime_ns for name in kept}
    _assert_same_scenes(reference, out)


def test_kill_9_of_a_worker_mid_scene_costs_one_attempt(reference, tmp_path):
    result: list[int] = []
    runner = threading.Thread(target=lambda: result.append(_render(tmp_path, "--workers", "2")))
    runner.start()
    victim = None
    while victim is None and runner.is_alive():
        starts = [r for r in read_log(tmp_path) if r["event"] == "scene_start" and r["index"] == 1]
        partial = tmp_path / "scene_00001.partial"
        if starts and partial.is_dir() and any(partial.glob("depth_*.tiff")):
            victim = starts[0]["worker"]
            os.kill(victim, signal.SIGKILL)
        time.sleep(0.002)
    runner.join(timeout=120)
    assert victim is not None and result == [0]
    (error,) = [r for r in read_log(tmp_path) if r["event"] == "scene_error"]
    assert error["error"].startswith("worker killed by SIGKILL") and error["retry"]
    assert not list(tmp_path.glob("*.partial"))
    _assert_same_scenes(reference, tmp_path)


RECIPE = '''
from scenes.movi_a import build as movi_a


def flaky(rng, *, bad_draw: int = -1):
    """movi-a with at most 4 objects, raising for the seed whose first draw is bad_draw."""
    if int(rng.integers(2**31)) == bad_draw:
        raise RuntimeError("injected failure")
    return movi_a(rng, max_objects=4)
'''


def test_a_recipe_that_raises_is_retried_reported_and_the_rest_finishes(tmp_path, capsys):
    recipe = tmp_path / "recipe.py"
    recipe.write_text(textwrap.dedent(RECIPE))
    bad_draw = int(np.random.default_rng(scene_seed(0, 1)).integers(2**31))  # scene 1's first draw
    out = tmp_path / "job"
    code = main(["render", "--recipe", f"{recipe}:flaky", "--param", f"bad_draw={bad_draw}", "--scenes", "3",
                 "--resolution", "32", "--frames", "3", "--samples", "1", "--workers", "2", "--retries", "1",
                 "--out", str(out)])
    assert code == 1
    err = capsys.readouterr().err
    error = f"RecipeError: recipe {recipe}:flaky failed: RuntimeError: injected failure"
    assert f"scenesim: scene_00001 failed after 2 attempts: {error}\n" in err
    assert "scenesim: incomplete: 2 of 3 scenes complete, 1 failed" in err
    records = read_log(out)
    assert [(r["index"], r["attempt"], r["retry"]) for r in records if r["event"] == "scene_error"] == [
        (1, 1, True), (1, 2, False)]
    assert _done(records) == {0, 2}
    assert [p.name for p in sorted(out.glob("scene_*"))] == ["scene_00000", "scene_00002"]
    assert main(["status", str(out)]) == 0
    assert f"failed scene_00001: {error}" in capsys.readouterr().out


def test_ray_backend_renders_the_same_scenes(reference, tmp_path):
    pytest.importorskip("ray")
    assert _render(tmp_path, "--backend", "ray", "--workers", "2") == 0
    run = _last_run(tmp_path)
    assert run[0]["backend"] == "ray" and _done(run) == set(range(SCENES))
    assert json.loads((tmp_path / "job.json").read_text()) == json.loads((reference / "job.json").read_text())
    _assert_same_scenes(reference, tmp_path)
