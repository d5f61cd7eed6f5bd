"""One scene through every stage: simulate -> render -> annotate -> write (docs/architecture.md).

Frames stream through: the renderer yields one frame at a time into a ``sim.sink.SceneSink``, which
holds three frames at most (t−1, t, t+1, for backward and forward flow) whatever the video length.
With two or more cores to run on, the sink runs in a helper process (``sim.sink_process``), so
frame t is annotated and written while Blender renders frame t+1; the files are the same either way.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from tqdm import tqdm

from sim import sink_process
from sim.categories import semantic_ids
from sim.io import CameraSetWriter
from sim.metadata import build_camera_set_metadata, build_events
from sim.passes import check_scene
from sim.physics import simulate
from sim.processes import available_cores
from sim.render import render, resolve_device
from sim.render.frames import TIMING_KEYS
from sim.scene import Scene
from sim.settings import RenderSettings
from sim.sink import SINK_STAGES, SceneResult, SceneSink
from sim.sink_process import SinkProcess
from sim.trajectory import Trajectory

STAGES = ("physics_s", *TIMING_KEYS, *SINK_STAGES)
"""Keys of ``SceneResult.timings``: seconds per stage. With the sink in its helper process its
stages overlap rendering, so the stages can add up to more than the wall time."""

__all__ = ["STAGES", "FrameProgress", "SceneResult", "run_scene"]

FrameProgress = Callable[[int, int], None]
"""``hook(done, total)``: called after each rendered frame with the frames rendered so far (1…total)
and the total: the scene's frames times its cameras."""


def run_scene(scene: Scene, settings: RenderSettings, out_dir: Path, name: str, *,
              log_path: Path | None = None, overwrite: bool = False,
              helper: bool | None = None, progress: bool | FrameProgress = False) -> SceneResult:
    """Simulates, renders, annotates and writes ``scene`` to ``out_dir/name`` atomically (written as
    ``name.partial`` and renamed when complete). Blender's console output goes to ``log_path`` (or
    nowhere). ``helper``: annotate and write in the helper process (True), in this one (False), or
    the helper when this process may run on 2 or more cores of a POSIX system (None; a pool worker
    pinned to one core does everything itself). ``settings.device`` ``auto`` is resolved first
    (``RenderError`` for a device Cycles does not see, before anything renders); the metadata's
    render settings name the device that rendered. ``progress``: True shows a bar of frames rendered
    on stderr; a ``FrameProgress`` hook is called after each frame (the CLI's workers report with one).

    A scene of several cameras is simulated once and rendered by each camera in turn into
    ``out_dir/name/<camera>/``, a complete scene directory per camera (``sim.io.CameraSetWriter``);
    the timings add up the cameras' stages (and the frame progress counts every camera's frames)."""
    semantic_ids(scene, settings.categories)  # a category outside the table fails before any work
    check_scene(scene, settings.passes)  # e.g. disparity without a stereo pair fails before any work
    settings = dataclasses.replace(settings, device=resolve_device(settings.device))  # metadata: the one used
    timings = dict.fromkeys(STAGES, 0.0)
    t0 = time.perf_counter()
    trajectory = simulate(scene)
    timings["physics_s"] = time.perf_counter() - t0
    use_helper = sink_process.AVAILABLE and available_cores() >= 2 if helper is None else helper
    total = scene.frames * len(scene.cameras)
    with _frame_hook(progress, name, total) as hook:
        if len(scene.cameras) == 1:
            return _run_view(scene, trajectory, settings, Path(out_dir), name, timings, log_path, overwrite,
                             use_helper, _frames_done(hook, 0, total))
        with CameraSetWriter(Path(out_dir), name, overwrite=overwrite) as writer:
            for k, camera in enumerate(scene.camera_names):
                view = _run_view(scene.view(camera), trajectory, settings, writer.partial_path, camera,
                                 dict(timings), log_path, False, use_helper,
                                 _frames_done(hook, k * scene.frames, total))
                for key, seconds in view.timings.items():
                    if key != "physics_s":
                        timings[key] = timings.get(key, 0.0) + seconds
            path = writer.finish(scene, build_camera_set_metadata(scene, settings, timings),
                                 build_events(scene, trajectory))
        return SceneResult(path, timings)


def _run_view(scene: Scene, trajectory: Trajectory, settings: RenderSettings, out_dir: Path, name: str,
              timings: dict[str, float], log_path: Path | None, overwrite: bool,
              use_helper: bool, on_frame: Callable[[int], None] | None) -> SceneResult:
    """Renders ``scene`` with its ``camera`` and writes it to ``out_dir/name``; ``timings`` holds the
    stages before rendering (the result's timings add the rest); ``on_frame(t)`` after each frame."""
    sink_class = SinkProcess if use_helper else SceneSink
    render_timings: dict[str, float] = {}
    with sink_class(scene, trajectory, settings, out_dir, name, overwrite=overwrite) as sink:
        for frame in render(scene, trajectory, settings, log_path, render_timings):
            sink.push(frame)
            if on_frame is not None:
                on_frame(frame.frame)
        return sink.finish({**timings, **render_timings})


def _frames_done(hook: FrameProgress | None, before: int, total: int) -> Callable[[int], None] | None:
    """What a view calls with each rendered frame index t: ``hook(before + t + 1, total)``."""
    if hook is None:
        return None

    def on_frame(t: int) -> None:
        hook(before + t + 1, total)
    return on_frame


@contextlib.contextmanager
def _frame_hook(progress: bool | FrameProgress, name: str, frames: int) -> Iterator[FrameProgress | None]:
    """The hook ``run_scene`` calls per frame: the user's, a tqdm bar's (``progress=True``) or None."""
    if progress is not True:
        yield progress or None
        return
    with tqdm(total=frames, desc=name, unit="frame", dynamic_ncols=True) as bar:
        def advance(done: int, total: int) -> None:
            bar.update(done - bar.n)

        yield advance
