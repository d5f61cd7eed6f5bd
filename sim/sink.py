"""The second half of a scene's pipeline (DESIGN §1): rendered frames in, scene directory out.

``SceneSink`` takes the frames of one scene in order, annotates each one once its successor has
arrived (flow needs frames t−1, t and t+1, so three frames are held at most), writes it, and on
``finish`` adds point tracks, metadata and events and renames the directory into place
(``sim.io.SceneWriter``: nothing half-written ever looks complete). It has no Blender in it, so it can
run beside the renderer in another process (``sim.sink_process``).
"""

from __future__ import annotations

import time
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sim import annotate
from sim.io import SceneWriter
from sim.metadata import build_events, build_metadata
from sim.render.frame import RenderedFrame
from sim.scene import Scene
from sim.settings import RenderSettings
from sim.tracks import TrackSampler
from sim.trajectory import Trajectory
from sim.transforms import camera_to_world, intrinsics

SINK_STAGES = ("annotate_s", "tracks_s", "write_s")
"""The stages a sink times (seconds of its own work)."""


@dataclass
class SceneResult:
    """The finished scene directory and the seconds spent per stage (``sim.pipeline.STAGES``)."""

    path: Path
    timings: dict[str, float] = field(default_factory=dict)


class SceneSink:
    """Annotates and writes scene ``name`` into ``out_dir`` (see the module docstring).

    Use as a context manager: ``push(frame)`` for frames 0…F−1 in order, then ``finish(timings)``
    inside the with-block; leaving the block early (or by an exception) removes the partial
    directory. An existing complete scene is replaced only with ``overwrite=True``.
    """

    def __init__(self, scene: Scene, trajectory: Trajectory, settings: RenderSettings, out_dir: Path,
                 name: str, *, overwrite: bool = False) -> None:
        self.scene, self.trajectory, self.settings = scene, trajectory, settings
        self._writer = SceneWriter(Path(out_dir), name, overwrite=overwrite)
        self._K = intrinsics(scene.camera, scene.resolution)
        self._cam2world = camera_to_world(scene.camera, scene.frames)
        self._obj2world = trajectory.object_to_world()
        self._tracker = (TrackSampler(scene, trajectory, settings.point_tracks)
                         if settings.point_tracks else None)
        self._prev: RenderedFrame | None = None
        self._cur: RenderedFrame | None = None
        self._boxes: list = []
        self._counts: list = []
        self.timings = dict.fromkeys(SINK_STAGES, 0.0)

    def __enter__(self) -> SceneSink:
        self._writer.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: types.TracebackType | None) -> None:
        self._writer.__exit__(exc_type, exc, tb)

    def push(self, frame: RenderedFrame) -> None:
        """Takes the next frame; annotates and writes the one before it."""
        expected = 0 if self._cur is None else self._cur.frame + 1
        if frame.frame != expected:
            raise ValueError(f"push: got frame {frame.frame}, expected frame {expected} (frames in order)")
        if self._cur is not None:
            self._write(self._prev, self._cur, frame)
        self._prev, self._cur = self._cur, frame

    def finish(self, timings: Mapping[str, float]) -> SceneResult:
        """Writes the last frame, point tracks, metadata (with ``timings`` of the stages before this
        one plus this sink's) and events, and renames the directory into place."""
        if self._cur is not None:
            self._write(self._prev, self._cur, None)
            self._prev = self._cur = None
        scene, writer = self.scene, self._writer
        if self._tracker is not None:
            t0 = time.perf_counter()
            written = (writer.read_frame(s, ("depth", "segmentation")) for s in range(scene.frames))
            writer.write_point_tracks(self._tracker.finish((f["depth"], f["segmentation"]) for f in written),
                                      scene.frames)
            self.timings["tracks_s"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        all_timings = {**timings, **self.timings}
        metadata = build_metadata(scene, self.trajectory, self.settings, boxes_2d=self._boxes,
                                  visibility=self._counts, timings=all_timings)
        path = writer.finish(scene, metadata, build_events(scene, self.trajectory))
        self.timings["write_s"] += time.perf_counter() - t0
        return SceneResult(path, {**timings, **self.timings})

    def _write(self, prev: RenderedFrame | None, cur: RenderedFrame, nxt: RenderedFrame | None) -> None:
        """Annotates frame ``cur`` (flow toward its neighbours, None past either end) and writes it."""
        t, scene = cur.frame, self.scene
        K, cam2world, obj2world = self._K, self._cam2world, self._obj2world
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
        n_inst = len(scene.instances)
        self._boxes.append(annotate.boxes_2d(seg, n_inst))
        self._counts.append(annotate.visibility(seg, n_inst))
        t1 = time.perf_counter()
        self.timings["annotate_s"] += t1 - t0
        if self._tracker is not None:
            self._tracker.observe(t, cur.depth, cur.object_index)
            self.timings["tracks_s"] += time.perf_counter() - t1
            t1 = time.perf_counter()
        self._writer.write_frame(t, passes)
        self.timings["write_s"] += time.perf_counter() - t1
