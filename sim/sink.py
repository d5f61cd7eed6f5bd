"""The second half of a scene's pipeline (docs/architecture.md): rendered frames in, scene directory out.

``SceneSink`` takes the frames of one scene in order (``sim.frame.RenderedFrame``: render output name
-> array), computes the chosen passes of each one once its successor has arrived (the pass
functions of ``sim.passes`` may read frames t−1, t and t+1, so three frames are held at most),
writes them, and on
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
from sim.frame import RenderedFrame
from sim.io import SceneWriter
from sim.metadata import build_events, build_metadata
from sim.passes import FrameContext, SceneContext, required_outputs
from sim.scene import Scene
from sim.settings import RenderSettings
from sim.tracks import TrackSampler
from sim.trajectory import Trajectory

_TRACK_PASSES = ("depth", "segmentation")
"""What the point tracks' second pass over the frames reads: from the written files, or held in
memory when the job does not write them."""
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
        self._context = SceneContext.build(scene, trajectory, settings.categories)
        outputs = required_outputs(settings.passes, settings.point_tracks > 0)
        self._annotate, self._amodal = "object_index" in outputs, "amodal" in outputs
        self._writer = SceneWriter(Path(out_dir), name, overwrite=overwrite)
        self._tracker = (TrackSampler(scene, trajectory, settings.point_tracks)
                         if settings.point_tracks else None)
        self._held: list[dict[str, np.ndarray]] = []  # what point tracks need but is not written
        self._prev: RenderedFrame | None = None
        self._cur: RenderedFrame | None = None
        self._boxes: list = []
        self._counts: list = []
        self._amodal_boxes: list = []
        self._amodal_counts: list = []
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
            written = [p for p in _TRACK_PASSES if p in self.settings.passes]
            frames = ({**self._held[s], **writer.read_frame(s, written)} for s in range(scene.frames))
            writer.write_point_tracks(self._tracker.finish((f["depth"], f["segmentation"]) for f in frames),
                                      scene.frames)
            self.timings["tracks_s"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        all_timings = {**timings, **self.timings}
        metadata = build_metadata(scene, self.trajectory, self.settings,
                                  boxes_2d=self._boxes if self._annotate else None,
                                  visibility=self._counts if self._annotate else None,
                                  amodal_boxes_2d=self._amodal_boxes if self._amodal else None,
                                  amodal_visibility=self._amodal_counts if self._amodal else None,
                                  timings=all_timings)
        path = writer.finish(scene, metadata, build_events(scene, self.trajectory))
        self.timings["write_s"] += time.perf_counter() - t0
        return SceneResult(path, {**timings, **self.timings})

    def _write(self, prev: RenderedFrame | None, cur: RenderedFrame, nxt: RenderedFrame | None) -> None:
        """Computes the chosen passes of frame ``cur`` (neighbours None past either end) and writes
        them; collects its 2D boxes and visibility for the metadata."""
        t0 = time.perf_counter()
        ctx = FrameContext(self._context, prev, cur, nxt, cur.frame)
        passes = {name: ctx.value(name) for name in self.settings.passes}
        if self._annotate:
            seg, n_inst = ctx.value("segmentation"), len(self.scene.instances)
            self._boxes.append(annotate.boxes_2d(seg, n_inst))
            self._counts.append(annotate.visibility(seg, n_inst))
        if self._amodal:
            masks = cur["amodal"]
            self._amodal_boxes.append(annotate.mask_boxes(masks))
            self._amodal_counts.append([int(c) for c in masks.sum(axis=(1, 2))])
        t1 = time.perf_counter()
        self.timings["annotate_s"] += t1 - t0
        if self._tracker is not None:
            self._tracker.observe(cur.frame, cur["depth"], cur["object_index"])
            self._held.append({p: ctx.value(p) for p in _TRACK_PASSES if p not in self.settings.passes})
            self.timings["tracks_s"] += time.perf_counter() - t1
            t1 = time.perf_counter()
        self._writer.write_frame(cur.frame, passes)
        self.timings["write_s"] += time.perf_counter() - t1
