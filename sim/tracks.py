"""Long-range point tracks: points sampled on visible surfaces, carried by their object's rigid pose.

N query points per scene (``RenderSettings.point_tracks``). Each gets a query frame drawn uniformly
from 0…F−1; in that frame it is the surface point seen through the centre of a random pixel that
sees a surface (an instance with probability ``INSTANCE_SHARE`` when the frame shows both
instances and background surfaces such as the floor). Its position in its object's frame is then
fixed, so its position in every frame follows exactly from the object's pose and the camera (never
from chained flow). Randomness: ``numpy.random.default_rng([scene.seed, SEED_TAG])``, so the same
scene gives the same points.

Streaming (only a few frames in memory; docs/architecture.md). The pipeline calls ``observe`` with each
frame's rendered depth and object index as frames stream, which fixes the points whose query frame
it is. A point sampled in frame t also needs an occlusion flag in frames s < t, whose depth has
already been written and dropped, so the flags are decided in a second pass, ``finish``, over the
written depth and segmentation (one frame decoded at a time, about one file read per pass and
frame: small beside rendering). Positions need no pass: they come from the poses.

Occlusion follows the flow's rule (``sim.annotate``: tolerances and the slope allowance for a
point on the surface seen by its pixel). The written segmentation merges background objects into
id 0, so for the slope allowance all background surfaces count as one surface; that only widens
the tolerance where two background objects meet.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from sim import annotate
from sim.scene import Camera, Scene
from sim.trajectory import Trajectory
from sim.transforms import camera_to_world, intrinsics, invert_rigid, pixel_rays, project, transform_points

SEED_TAG = 0x7472_6163  # "trac": keeps the track stream apart from the scene's other random streams
INSTANCE_SHARE = 0.5
"""Probability that a point lies on an instance when its query frame shows instances and background."""


class TrackSampler:
    """Samples and tracks ``count`` points of one scene; see the module docstring.

    Call ``observe(t, depth, object_index)`` for t = 0…F−1 in order, then ``finish(frames)``.
    ``camera``: the camera that rendered the frames (default ``scene.camera``).
    """

    def __init__(self, scene: Scene, trajectory: Trajectory, count: int,
                 camera: Camera | None = None) -> None:
        self.scene = scene
        self.count = count
        camera = scene.camera if camera is None else camera
        self._rng = np.random.default_rng([scene.seed, SEED_TAG])
        self._due = np.bincount(self._rng.integers(0, scene.frames, count), minlength=scene.frames)
        self._K = intrinsics(camera, scene.resolution, scene.frames)  # (F, 3, 3)
        self._cam2world = camera_to_world(camera, scene.frames)
        self._obj2world = trajectory.object_to_world()  # (F, N, 4, 4)
        self._next = 0
        self._carried = 0  # points due in frames that showed no surface, sampled in the next that does
        self._samples: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (frame, object, point)

    def observe(self, t: int, depth: np.ndarray, object_index: np.ndarray) -> None:
        """Samples the points whose query frame is ``t`` from the rendered frame: ``depth`` float32
        (H, W) Euclidean metres (+inf = no surface), ``object_index`` uint16 (H, W), 0 = none,
        k = ``scene.objects[k-1]``."""
        if t != self._next:
            raise ValueError(f"observe: got frame {t}, expected frame {self._next} (frames in order)")
        self._next += 1
        want = self._carried + int(self._due[t])
        surface = np.flatnonzero(np.isfinite(depth).ravel() & (object_index.ravel() > 0))
        if want == 0 or surface.size == 0:
            self._carried = want
            return
        self._carried = 0
        ids = annotate.instance_ids(self.scene)[object_index.ravel()[surface] - 1]
        groups = [g for g in (surface[ids > 0], surface[ids == 0]) if g.size]
        n_first = self._rng.binomial(want, INSTANCE_SHARE) if len(groups) == 2 else want
        pixels = np.concatenate([self._rng.choice(g, size=n, replace=n > g.size)
                                 for g, n in zip(groups, (n_first, want - n_first), strict=False)])
        rays = pixel_rays(self._K[t], self.scene.resolution).reshape(-1, 3)[pixels]
        world = transform_points(self._cam2world[t], rays * depth.ravel()[pixels, None].astype(np.float64))
        objects = object_index.ravel()[pixels].astype(np.intp) - 1
        local = transform_points(invert_rigid(self._obj2world[t, objects]), world)  # (n, 4, 4) poses
        self._samples.append((np.full(len(pixels), t), objects, local))

    def _points(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not self._samples:
            return np.zeros(0, np.intp), np.zeros(0, np.intp), np.zeros((0, 3))
        frames, objects, local = (np.concatenate(parts) for parts in zip(*self._samples, strict=True))
        return frames, objects, local

    def camera_points(self, s: int) -> np.ndarray:
        """float64 (n, 3): every sampled point in camera s's axes (m), carried by its object's pose."""
        _, objects, local = self._points()
        return transform_points(invert_rigid(self._cam2world[s]),
                                transform_points(self._obj2world[s, objects], local))

    def finish(self, frames: Iterable[tuple[np.ndarray, np.ndarray]]) -> dict[str, np.ndarray]:
        """The arrays of ``sim.format.POINT_TRACK_FIELDS``. ``frames`` yields, for s = 0…F−1 in
        order, frame s's written (depth float32 (H, W), segmentation uint16 (H, W)). Points whose
        frames never showed a surface are left out (N is smaller only then)."""
        if self._next != self.scene.frames:
            raise ValueError(f"finish: observed {self._next} of {self.scene.frames} frames")
        query, objects, local = self._points()
        n, n_frames = len(query), self.scene.frames
        labels = annotate.instance_ids(self.scene)[objects].astype(np.int32) + 1
        tracks = np.full((n, n_frames, 2), np.nan, dtype=np.float32)
        occluded = np.ones((n, n_frames), dtype=bool)
        seen = 0
        for s, (depth, seg) in enumerate(frames):
            cam = self.camera_points(s)
            tracks[:, s] = project(self._K[s], cam, annotate.MIN_CAMERA_Z_M)
            label_image = np.where(np.isfinite(depth), seg.astype(np.int32) + 1, 0)
            occluded[:, s] = annotate.hidden(cam, labels, depth, label_image, self._K[s])
            seen += 1
        if seen != n_frames:
            raise ValueError(f"finish: got {seen} frames, expected {n_frames}")
        return {"query_frame": query.astype(np.int32), "object_index": objects.astype(np.int32),
                "object_point": local, "tracks": tracks, "occluded": occluded}
