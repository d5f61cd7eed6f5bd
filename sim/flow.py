"""Optical flow between any two frames of a written scene directory.

``between(scene_dir, t, s)`` returns ``(flow, valid, occluded)`` from frame t to frame s, for any
frames t, s of the scene (s < t, s = t and s > t + 1 included), with the conventions of the stored
flow (``sim.format``): flow float32 (H, W, 2) pixels (dx, dy) = position in frame s − pixel centre
in frame t of the surface point seen at the pixel centre, NaN where not valid; valid bool (H, W):
a surface is seen and the point is in front of camera s; occluded bool (H, W): it is hidden in
frame s, out of view or behind camera s.

It runs the code that computed the stored flow (``sim.annotate.flow``, its occlusion rule and
tolerances) on what the scene directory stores: depth of frames t and s, K (per frame when the
camera zooms), the per-frame camera pose and object poses of ``metadata.json``; of a multi-camera
scene, those of one camera's view. So ``between(t, t + 1)`` equals the stored
``forward_flow``, ``forward_flow_valid`` and ``forward_occluded`` of frame t bit for bit (and
``between(t, t − 1)`` the backward ones).

The flow needs to know which scene object each pixel shows. Instances come from the segmentation.
Background objects (segmentation 0) cannot be told apart there, so a scene needs at most one
background object (every built-in recipe has one: the floor), or the stored ``object_index`` pass
when it has more; otherwise ``OutputError`` says so. Nothing here imports Blender.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from sim.annotate import flow as annotate_flow
from sim.errors import OutputError
from sim.io import camera_directory, read_metadata, read_pass
from sim.metadata import camera_intrinsics

FlowResult = tuple[np.ndarray, np.ndarray, np.ndarray]
"""(flow float32 (H, W, 2), valid bool (H, W), occluded bool (H, W)), see the module docstring."""


def _object_poses(metadata: dict[str, Any], frames: int) -> np.ndarray:
    """float64 (F, N, 4, 4) object-to-world of all N scene objects, instances and background objects
    placed at their ``object_index``."""
    objects = metadata["instances"] + metadata["background_objects"]
    poses = np.zeros((frames, len(objects), 4, 4))
    for obj in objects:
        poses[:, int(obj["object_index"])] = np.asarray(obj["object_to_world"], dtype=np.float64)
    return poses


def _camera_poses(metadata: dict[str, Any]) -> np.ndarray:
    """float64 (F, 4, 4) camera-to-world in OpenCV axes: the transpose of ``world_to_camera``'s
    rotation and the stored camera position (both exact, so these are the matrices the sink used)."""
    camera = metadata["camera"]
    world_to_camera = np.asarray(camera["world_to_camera"], dtype=np.float64)
    cam2world = np.zeros_like(world_to_camera)
    cam2world[:, :3, :3] = np.swapaxes(world_to_camera[:, :3, :3], -1, -2)
    cam2world[:, :3, 3] = np.asarray(camera["position"], dtype=np.float64)
    cam2world[:, 3, 3] = 1.0
    return cam2world


class SceneFlow:
    """The geometry of scene directory ``scene_dir`` (``metadata.json`` read once) for flow between
    any two of its frames; ``between(t, s)`` decodes the two frames it needs. ``camera``: the view
    of a multi-camera scene (``sim.io.camera_directory``); ``metadata``: that view directory's
    ``metadata.json`` when the caller has read it (``scene_dir`` is then the view directory).

    Raises ``OutputError`` when the scene lacks the depth or segmentation pass, or has several
    background objects and no ``object_index`` pass (module docstring).
    """

    def __init__(self, scene_dir: Path, metadata: dict[str, Any] | None = None,
                 camera: str | None = None) -> None:
        self.path = Path(scene_dir) if metadata is not None else camera_directory(scene_dir, camera)
        metadata = read_metadata(self.path) if metadata is None else metadata
        scene = metadata["scene"]
        self.frames, self.resolution = int(scene["frames"]), tuple(scene["resolution"])
        passes = metadata.get("passes", [])
        self._labels = "object_index" if "object_index" in passes else "segmentation"
        for needed in ("depth", self._labels):
            if needed not in passes:
                raise OutputError(f"{self.path}: flow between frames needs the {needed!r} pass, and the "
                                  f"scene has only {', '.join(passes)}; render it with {needed!r}")
        background = metadata["background_objects"]
        if self._labels == "segmentation" and len(background) > 1:
            names = ", ".join(o["name"] for o in background)
            raise OutputError(f"{self.path}: {len(background)} background objects ({names}) share "
                              "segmentation id 0, so the flow cannot tell which one a pixel shows; "
                              "render it with the 'object_index' pass")
        self.K = camera_intrinsics(metadata)  # (F, 3, 3): a zooming camera has one per frame
        self.cam2world = _camera_poses(metadata)
        self.obj2world = _object_poses(metadata, self.frames)
        # segmentation id -> 1 + scene object index; id 0 -> the one background object (or none)
        lookup = [int(background[0]["object_index"]) + 1 if background else 0]
        lookup += [int(o["object_index"]) + 1 for o in metadata["instances"]]
        self._to_object = np.array(lookup, dtype=np.uint16)

    def _check_frame(self, name: str, t: int) -> int:
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not 0 <= t < self.frames:
            raise OutputError(f"{name}: got {t!r}, expected a frame index in [0, {self.frames - 1}] "
                              f"of {self.path.name}")
        return int(t)

    def read(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Frame t's depth float32 (H, W) m and object index uint16 (H, W) (0 = no surface, k =
        scene.objects[k−1]; the renderer's labelling, rebuilt from the segmentation)."""
        t = self._check_frame("frame", t)
        depth = read_pass(self.path, "depth", t, self.resolution)
        labels = read_pass(self.path, self._labels, t, self.resolution)
        if self._labels == "object_index":
            return depth, labels
        if labels.size and int(labels.max()) >= len(self._to_object):
            raise OutputError(f"{self.path}: segmentation id {int(labels.max())} in frame {t}, but "
                              f"metadata has {len(self._to_object) - 1} instances; the scene is damaged")
        return depth, np.where(np.isfinite(depth), self._to_object[labels], 0).astype(np.uint16)

    def between(self, t: int, s: int, frame_t: tuple[np.ndarray, np.ndarray] | None = None,
                frame_s: tuple[np.ndarray, np.ndarray] | None = None) -> FlowResult:
        """Flow from frame t to frame s (module docstring). ``frame_t``/``frame_s``: their
        ``read`` result when the caller has it already (it is read otherwise)."""
        t, s = self._check_frame("t", t), self._check_frame("s", s)
        depth_t, index_t = self.read(t) if frame_t is None else frame_t
        depth_s, index_s = self.read(s) if frame_s is None else frame_s
        return annotate_flow(depth_t, index_t, depth_s, index_s, self.K[t], self.K[s], self.cam2world[t],
                             self.cam2world[s], self.obj2world[t], self.obj2world[s])


def between(scene_dir: Path, t: int, s: int, camera: str | None = None) -> FlowResult:
    """``(flow, valid, occluded)`` from frame ``t`` to frame ``s`` of the scene directory
    ``scene_dir`` (the module docstring gives the conventions), seen by ``camera`` (required for a
    multi-camera scene, as in ``load_scene``); ``OutputError`` for a frame outside the scene or a
    scene the flow cannot be exact for."""
    return SceneFlow(scene_dir, camera=camera).between(t, s)
