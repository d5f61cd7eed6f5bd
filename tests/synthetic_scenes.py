"""Scene directories built from synthetic arrays through ``SceneWriter`` (no Blender), for the tests
of the readers of rendered data (preview, COCO export, dataset)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from sim import annotate
from sim.format import PASSES
from sim.frame import RenderedFrame
from sim.io import SceneWriter
from sim.metadata import build_metadata
from sim.scene import Camera, Scene, SceneObject
from sim.trajectory import Trajectory


def make_scene(frames: int = 3, resolution: tuple[int, int] = (12, 8), seed: int = 0) -> Scene:
    """A floor (background) and three instances: cube, sphere, cube."""
    return Scene(objects=(SceneObject("floor", scale=(5.0, 5.0, 0.1), static=True, background=True),
                          SceneObject("box", position=(0.0, 0.0, 1.0)),
                          SceneObject("ball", asset="primitive:sphere", position=(2.0, 0.0, 1.0)),
                          SceneObject("crate", position=(-2.0, 0.0, 1.0))),
                 camera=Camera(positions=((0.0, -8.0, 3.0),), look_at=((0.0, 0.0, 0.5),)),
                 resolution=resolution, frames=frames, seed=seed)


def still_trajectory(scene: Scene) -> Trajectory:
    f, n = scene.frames, len(scene.objects)
    pos = np.array([[o.position for o in scene.objects]] * f, dtype=np.float64)
    quat = np.array([[o.quaternion for o in scene.objects]] * f, dtype=np.float64)
    return Trajectory(pos, quat, np.zeros((f, n, 3)), np.zeros((f, n, 3)))


def rendered_frame(scene: Scene, t: int) -> RenderedFrame:
    """Every render output of frame t, as the renderer yields them: the floor (object 1) below row 5,
    the box (object 2, instance 1) in front moving one column per frame, random depths; amodal
    masks: the box's one row taller than its visible part."""
    width, height = scene.resolution
    rng = np.random.default_rng(t)
    index = np.zeros((height, width), dtype=np.uint16)
    index[5:] = 1
    index[2:5, 1 + t:4 + t] = 2
    depth = np.where(index > 0, rng.uniform(7.0, 9.0, (height, width)), np.inf).astype(np.float32)
    normal = np.where(index[..., None] > 0, [0.0, 0.0, 1.0], 0.0).astype(np.float32)
    coords = np.where(index[..., None] > 0, rng.uniform(0, 1, (height, width, 3)), 0.0).astype(np.float32)
    rgba = rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
    amodal = index[None] == 1 + np.flatnonzero([not o.background for o in scene.objects])[:, None, None]
    amodal[0, 2:6, 1 + t:4 + t] = True  # the box's hidden part: one more row, behind the floor
    return RenderedFrame(t, {"rgba": rgba, "depth": depth, "normal": normal, "object_index": index,
                             "object_coordinates": coords, "amodal": amodal})


def frame_passes(scene: Scene, t: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Every pass of frame t: instance 1 a block moving one column per frame, instance 2 a fixed
    block, instance 3 never visible; no surface (depth +inf, flow NaN) in the top row."""
    width, height = scene.resolution
    seg = np.zeros((height, width), dtype=np.uint16)
    seg[2:5, 1 + t:4 + t] = 1
    seg[5:7, 7:10] = 2
    amodal = seg[None] == np.arange(1, len(scene.instances) + 1)[:, None, None]
    amodal[0, 2:6, 1 + t:4 + t] = True  # instance 1 has a hidden part: one more row
    out: dict[str, np.ndarray] = {"segmentation": seg, "amodal": amodal}
    for name, spec in PASSES.items():
        if name in out:
            continue
        shape = spec.shape(height, width, len(scene.instances))
        if spec.dtype is np.bool_:
            out[name] = rng.random(shape) < 0.5
        elif spec.dtype is np.float32:
            out[name] = rng.uniform(0.5, 9.0, shape).astype(np.float32)
        else:
            out[name] = rng.integers(0, 256, shape, dtype=spec.dtype)
    out["depth"][0] = np.inf
    for name in ("forward_flow", "backward_flow"):
        out[name][0] = np.nan
    return out


def write_synthetic_scene(out_dir: Path, name: str = "scene_00000", *, frames: int = 3,
                          point_tracks: int = 0, seed: int = 0,
                          adjust: Callable[[dict[str, np.ndarray]], None] | None = None,
                          ) -> tuple[Path, list[dict[str, np.ndarray]]]:
    """Writes a synthetic scene directory; returns its path and the arrays written per frame.
    ``adjust`` may change each frame's passes (in place) before they are annotated and written."""
    scene = make_scene(frames, seed=seed)
    rng = np.random.default_rng(seed)
    written = [frame_passes(scene, t, rng) for t in range(frames)]
    for passes in written if adjust else ():
        adjust(passes)
    n = len(scene.instances)
    amodal = all("amodal" in p for p in written)
    meta = build_metadata(scene, still_trajectory(scene), None,
                          boxes_2d=[annotate.boxes_2d(p["segmentation"], n) for p in written],
                          visibility=[annotate.visibility(p["segmentation"], n) for p in written],
                          amodal_boxes_2d=[annotate.mask_boxes(p["amodal"]) for p in written]
                          if amodal else None,
                          amodal_visibility=[p["amodal"].sum(axis=(1, 2)).tolist() for p in written]
                          if amodal else None)
    with SceneWriter(out_dir, name) as writer:
        for t, passes in enumerate(written):
            writer.write_frame(t, passes)
        if point_tracks:
            width, height = scene.resolution
            tracks = rng.uniform(0, [width, height], (point_tracks, frames, 2)).astype(np.float32)
            writer.write_point_tracks({
                "query_frame": rng.integers(0, frames, point_tracks, dtype=np.int32),
                "object_index": rng.integers(0, len(scene.objects), point_tracks, dtype=np.int32),
                "object_point": rng.normal(size=(point_tracks, 3)),
                "tracks": tracks, "occluded": rng.random((point_tracks, frames)) < 0.3}, frames)
        path = writer.finish(scene, meta, [])
    return path, written
