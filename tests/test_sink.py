"""sim.sink (annotate + write a scene's frames) and sim.sink_process (the same in a helper process):
identical directories either way, errors raised in the caller with nothing half-written, a dead
helper replaced. Synthetic frames, no Blender."""

from __future__ import annotations

import json
import os
import signal
import time

import numpy as np
import pytest

from sim import sink_process
from sim.errors import OutputError
from sim.frame import RenderedFrame
from sim.io import load_scene
from sim.settings import RenderSettings
from sim.sink import SceneSink
from sim.sink_process import SinkProcess
from tests.synthetic_scenes import make_scene, rendered_frame, still_trajectory

SCENE = make_scene(frames=4)
SETTINGS = RenderSettings(point_tracks=16)


def rendered(t: int) -> RenderedFrame:
    return rendered_frame(SCENE, t)


def write(sink_class, tmp_path, name="scene_00000", frames=None):
    with sink_class(SCENE, still_trajectory(SCENE), SETTINGS, tmp_path, name) as sink:
        for frame in frames if frames is not None else [rendered(t) for t in range(SCENE.frames)]:
            sink.push(frame)
        return sink.finish({"physics_s": 0.5})


def test_helper_process_writes_the_same_scene_as_in_process(tmp_path):
    here = write(SceneSink, tmp_path / "here")
    there = write(SinkProcess, tmp_path / "there")
    assert there.path == tmp_path / "there" / "scene_00000"
    assert set(there.timings) >= {"physics_s", "annotate_s", "write_s", "tracks_s"}
    assert there.timings["physics_s"] == 0.5 and there.timings["write_s"] > 0
    a, b = load_scene(here.path), load_scene(there.path)
    for key in ("scene", "events", "point_tracks"):
        assert repr(a[key]) == repr(b[key]), key
    meta_a, meta_b = (json.loads((p / "metadata.json").read_text()) for p in (here.path, there.path))
    assert {**meta_a, "timings": None} == {**meta_b, "timings": None}
    for name in meta_a["passes"]:
        assert np.array_equal(a[name], b[name], equal_nan=a[name].dtype.kind == "f"), name
    assert sorted(os.listdir(tmp_path / "there")) == ["scene_00000"]


@pytest.mark.parametrize("sink_class", [SceneSink, SinkProcess])
def test_a_bad_frame_raises_in_the_caller_and_leaves_nothing(tmp_path, sink_class):
    frames = [rendered(t) for t in range(SCENE.frames)]
    frames[1] = RenderedFrame(1, {**frames[1], "depth": frames[1]["depth"][:-1]})  # wrong shape
    with pytest.raises((OutputError, ValueError), match="depth"):
        write(sink_class, tmp_path, frames=frames)
    assert os.listdir(tmp_path) == []
    assert write(sink_class, tmp_path).path.is_dir()  # the same sink kind works on afterwards


def test_frames_out_of_order_name_the_problem(tmp_path):
    frames = [rendered(0), rendered(2)]
    with pytest.raises(ValueError, match="got frame 2, expected frame 1"):
        write(SceneSink, tmp_path, frames=frames)
    with pytest.raises(OutputError, match="ValueError: push: got frame 2, expected frame 1"):
        write(SinkProcess, tmp_path, frames=frames + [rendered(3)])
    assert os.listdir(tmp_path) == []


def test_an_exception_in_the_caller_removes_the_partial_directory(tmp_path):
    sink = SinkProcess(SCENE, still_trajectory(SCENE), SETTINGS, tmp_path, "s")
    with pytest.raises(KeyError), sink:
        sink.push(rendered(0))
        raise KeyError("renderer failed")
    assert os.listdir(tmp_path) == []


def test_a_killed_helper_is_an_error_and_is_replaced(tmp_path):
    write(SinkProcess, tmp_path, "first")
    helper = sink_process._helper
    with pytest.raises(OutputError, match="helper process died"), \
            SinkProcess(SCENE, still_trajectory(SCENE), SETTINGS, tmp_path, "second") as sink:
        assert sink_process._helper is helper  # reused across scenes
        sink.push(rendered(0))
        time.sleep(0.5)  # the helper has begun the scene: second.partial exists
        os.kill(helper.process.pid, signal.SIGKILL)
        helper.process.wait()
        for t in range(1, SCENE.frames):
            sink.push(rendered(t))
        sink.finish({})
    assert sorted(os.listdir(tmp_path)) == ["first"]
    assert write(SinkProcess, tmp_path, "third").path.is_dir()
    assert sink_process._helper is not helper


@pytest.mark.slow
def test_run_scene_writes_the_same_files_with_and_without_the_helper(tmp_path, capsys):
    from render_workers.job import JobSpec
    from sim.pipeline import run_scene

    scene = JobSpec(out=tmp_path, recipe="movi-a", resolution=(16, 12), frames=3).scene(0)
    settings = RenderSettings(samples=2)
    calls: list[tuple[int, int]] = []
    paths = [run_scene(scene, settings, tmp_path / "False", "s", helper=False,
                       progress=lambda done, total: calls.append((done, total))).path,
             run_scene(scene, settings, tmp_path / "True", "s", helper=True, progress=True).path]
    assert calls == [(1, 3), (2, 3), (3, 3)]  # the frame-progress hook, once per rendered frame
    bar = capsys.readouterr().err  # progress=True: a tqdm bar of frames on stderr
    assert "s: 100%" in bar and "3/3" in bar
    a, b = (load_scene(p) for p in paths)
    for name in json.loads((paths[0] / "metadata.json").read_text())["passes"]:
        assert np.array_equal(a[name], b[name], equal_nan=a[name].dtype.kind == "f"), name
