"""One scene through every stage: simulate -> render -> annotate -> write (DESIGN §1).

Frames stream through: the renderer yields one frame at a time and only three frames (t−1, t, t+1,
for backward and forward flow) are held in memory, whatever the video length. Point tracks
(``settings.point_tracks`` > 0) are sampled as frames stream and get their occlusion flags in a
second pass over the written depth and segmentation, one frame at a time (``sim.tracks``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sim import annotate
from sim.io import SceneWriter
from sim.metadata import build_events, build_metadata
from sim.physics import simulate
from sim.render import RenderedFrame, render
from sim.scene import Scene
from sim.settings import RenderSettings
from sim.tracks import TrackSampler
from sim.trajectory import Trajectory
from sim.transforms import camera_to_world, intrinsics

STAGES = ("physics_s", "build_s", "rgb_render_s", "gt_render_s", "decode_s", "annotate_s", "tracks_s",
          "write_s")
"""Keys of ``SceneResult.timings``, seconds of wall time per stage."""


@dataclass
class SceneResult:
    path: Path
    timings: dict[str, float] = field(default_factory=dict)


def _windows(frames: Iterator[RenderedFrame]) -> Iterator[tuple[RenderedFrame | None, RenderedFrame,
                                                                 RenderedFrame | None]]:
    """(previous, current, next) for every frame, None past either end."""
    prev: RenderedFrame | None = None
    cur = next(frames, None)
    while cur is not None:
        nxt = next(frames, None)
        yield prev, cur, nxt
        prev, cur = cur, nxt


def run_scene(scene: Scene, settings: RenderSettings, out_dir: Path, name: str, *,
              log_path: Path | None = None, overwrite: bool = False,
              on_frame: Callable[[int], None] | None = None) -> SceneResult:
    """Simulates, renders, annotates and writes ``scene`` to ``out_dir/name`` atomically (written as
    ``name.partial`` and renamed when complete). ``on_frame(t)`` is called after frame t is written.
    Blender's console output goes to ``log_path`` (or nowhere)."""
    timings = dict.fromkeys(STAGES, 0.0)
    t0 = time.perf_counter()
    trajectory = simulate(scene)
    timings["physics_s"] = time.perf_counter() - t0

    with SceneWriter(Path(out_dir), name, overwrite=overwrite) as writer:
        tracker = TrackSampler(scene, trajectory, settings.point_tracks) if settings.point_tracks else None
        boxes, counts = _render_and_write(scene, trajectory, settings, writer, timings, log_path, on_frame,
                                          tracker)
        if tracker is not None:
            t0 = time.perf_counter()
            written = (writer.read_frame(s, ("depth", "segmentation")) for s in range(scene.frames))
            frames = ((f["depth"], f["segmentation"]) for f in written)
            writer.write_point_tracks(tracker.finish(frames), scene.frames)
            timings["tracks_s"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        metadata = build_metadata(scene, trajectory, settings, boxes_2d=boxes, visibility=counts,
                                  timings=timings)
        writer.finish(scene, metadata, build_events(scene, trajectory))
        timings["write_s"] += time.perf_counter() - t0
    return SceneResult(writer.final_path, timings)


def _render_and_write(scene: Scene, trajectory: Trajectory, settings: RenderSettings, writer: SceneWriter,
                      timings: dict[str, float], log_path: Path | None,
                      on_frame: Callable[[int], None] | None,
                      tracker: TrackSampler | None) -> tuple[list, list]:
    """Renders, annotates and writes every frame (and shows it to ``tracker``); returns per-frame 2D
    boxes and visibility."""
    K = intrinsics(scene.camera, scene.resolution)
    cam2world = camera_to_world(scene.camera, scene.frames)
    obj2world = trajectory.object_to_world()
    n_inst = len(scene.instances)
    boxes: list = []
    counts: list = []
    render_timings: dict[str, float] = {}
    for prev, cur, nxt in _windows(render(scene, trajectory, settings, log_path, render_timings)):
        t = cur.frame
        t0 = time.perf_counter()
        seg = annotate.segmentation(cur.object_index, scene)
        passes: dict[str, np.ndarray] = {
            "segmentation": seg, "depth": cur.depth, "normal": cur.normal,
            "object_coordinates": cur.object_coordinates}
        if cur.rgba is not None:
            passes["rgba"] = cur.rgba
        for direction, other, s in (("forward", nxt, t + 1), ("backward", prev, t - 1)):
            result = annotate.flow(
                cur.depth, cur.object_index,
                None if other is None else other.depth, None if other is None else other.object_index,
                K, cam2world[t], None if other is None else cam2world[s],
                obj2world[t], None if other is None else obj2world[s])
            passes[f"{direction}_flow"], passes[f"{direction}_flow_valid"], \
                passes[f"{direction}_occluded"] = result
        boxes.append(annotate.boxes_2d(seg, n_inst))
        counts.append(annotate.visibility(seg, n_inst))
        t1 = time.perf_counter()
        if tracker is not None:
            tracker.observe(t, cur.depth, cur.object_index)
            timings["tracks_s"] += time.perf_counter() - t1
            t1 = time.perf_counter()
        writer.write_frame(t, passes)
        timings["annotate_s"] += t1 - t0
        timings["write_s"] += time.perf_counter() - t1
        if on_frame is not None:
            on_frame(t)
    for key in ("build_s", "rgb_render_s", "gt_render_s", "decode_s"):
        timings[key] = render_timings.get(key, 0.0)
    return boxes, counts
