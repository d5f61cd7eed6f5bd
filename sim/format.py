"""The output format, defined once: imported by the writer, the loader, the tests and
``render_workers.format_doc`` (which generates docs/format.md from it).

A scene directory holds ``scene.json``, ``metadata.json``, ``events.json`` and, per frame t, one file
per pass named ``{pass}_{t:05d}.{ext}``: the passes the job chose (``RenderSettings.passes``), each
declared in the pass registry ``PASSES`` (``sim.passes``: name, dtype, shape, encoding,
description). PNG passes are written with imageio; float passes are float32 TIFF (lossless, zlib
with the floating-point predictor, readable with ``imageio.v3.imread`` or ``tifffile`` when
imagecodecs is installed, and with libtiff); masks are 8-bit PNG (0 or 255); per-instance masks
(``amodal``) are bit-packed planes in a compressed ``.npz`` (the pass's description says how).
Optionally (``RenderSettings.point_tracks`` > 0) ``point_tracks.npz`` holds long-range point tracks
(``POINT_TRACK_FIELDS``; ``numpy.load`` reads it).

A scene of several cameras (``Scene.cameras``) is a directory holding its own ``scene.json`` (every
camera), ``metadata.json`` (``cameras``: their names in scene order; no per-frame data) and
``events.json``, plus one complete scene directory per camera, named after it, laid out as above
(its ``scene.json`` is the scene seen by that camera: ``Scene.view``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.passes import DEFAULT_PASSES, PASSES, PassSpec

__all__ = ["CONVENTIONS", "DEFAULT_PASSES", "FORMAT_HISTORY", "FORMAT_VERSION", "PARTIAL_SUFFIX", "PASSES",
           "POINT_TRACKS_FILE", "POINT_TRACK_FIELDS", "PassSpec", "TrackField"]
FORMAT_VERSION = "1.3"
"""The version written into ``metadata.json``; ``FORMAT_HISTORY`` says what each version changed."""
FORMAT_HISTORY = {
    "1.0": "first version",
    "1.1": "the optional `point_tracks.npz`",
    "1.2": "float TIFFs compressed with the floating-point predictor (TIFF predictor 3; libtiff reads "
           "it, tifffile needs imagecodecs): half the size",
    "1.3": "only the passes a job chose are written (`metadata.json` `passes`); the `z_depth` and "
           "`semantic` passes, the category table (`metadata.json` `categories`, id -> name) and each "
           "instance's resolved `category`; the `disparity` pass of stereo pairs; multi-camera scene "
           "directories (one directory per camera, the camera's name in `metadata.json` `camera.name`); "
           "the opt-in `amodal` pass (bit-packed `amodal_NNNNN.npz`; per instance `amodal_bbox_2d`, "
           "`amodal_visibility`, `visible_fraction`); `metadata.json` and `events.json` without "
           "indentation",
}
"""Every format version, oldest first (the last is ``FORMAT_VERSION``), and what it changed;
``sim.io`` reads every one of them the same way."""
PARTIAL_SUFFIX = ".partial"


CONVENTIONS = {
    "world": "right-handed, metres, +Z up",
    "time": "frame t shows the state at t / frame_rate seconds; physics at step_rate steps/s",
    "pixel_coordinates": "(x, y) = (column, row), origin at the top-left image corner; pixel (i, j) "
                         "covers [i, i+1) x [j, j+1), its centre is (i + 0.5, j + 0.5)",
    "camera_intrinsics": "K 3x3 in pixels, OpenCV: x right, y down, camera looks along +z; "
                         "K_per_frame (F x 3 x 3) instead of K when it changes over frames (zoom)",
    "camera_extrinsics": "world_to_camera 4x4 per frame in OpenCV camera axes; also camera "
                         "position (m) and quaternion (w, x, y, z, camera-to-world) per frame",
    "cameras": "a scene of several cameras has one scene directory per camera, named after it; "
               "its metadata.json lists them under cameras; physics is simulated once for all",
    "disparity": "rectified stereo pairs (cameras left and right, right = left + baseline along "
                 "camera x): disparity = fx * baseline / z_depth pixels >= 0, the left view's point "
                 "at column x is at x - disparity in the right view; 0 where no surface",
    "quaternions": "(w, x, y, z), unit, object-to-world rotation",
    "object_poses": "per instance per frame: position (m), quaternion, object_to_world 4x4, "
                    "linear velocity (m/s), angular velocity (rad/s, world axes)",
    "segmentation": "0 = background; k >= 1 = instances[k-1]; order = the scene's object order "
                    "with background objects left out",
    "semantic": "0 = background; k >= 1 = category categories[str(k)] of the job's table (the same "
                "category has the same id in every scene of a job)",
    "depth": "depth: Euclidean distance from the camera centre (m); z_depth: the same point's distance "
             "along the optical axis (camera z, m) = depth x cos(angle between the pixel ray and the "
             "axis); both +inf where no surface",
    "amodal": "optional; per instance per frame the full silhouette as if nothing occluded it: the "
              "pixels whose centre ray hits the instance when it is alone in the scene (inside the "
              "image); amodal_bbox_2d as bbox_2d, amodal_visibility its pixel count, visible_fraction "
              "= visibility / amodal_visibility (null where the amodal mask is empty)",
    "flow": "(dx, dy) pixels; forward = pos(t+1) - pos(t), backward = pos(t-1) - pos(t); invalid "
            "where undefined (NaN, and the *_flow_valid mask is false), never silently zero",
    "bbox_2d": "per instance per frame [xmin, ymin, xmax, ymax] pixels covering the visible mask "
               "(pixel edges: a one-pixel mask at (i, j) gives [i, j, i+1, j+1]), or null",
    "bbox_3d": "per instance per frame, 8 world-space corners (m) of the oriented bounding box",
    "visibility": "per instance per frame, visible pixel count",
    "point_tracks": "optional point_tracks.npz: N points sampled at pixel centres of surfaces seen in "
                    "random query frames, carried by their object's rigid pose to every frame: tracks "
                    "(N, F, 2) pixels (x, y), NaN behind the camera; occluded (N, F) where hidden "
                    "behind a nearer surface (the flow occlusion rule), outside the image or behind "
                    "the camera",
    "motion_blur": "scene.shutter > 0: rgba is blurred over a shutter interval of that fraction of "
                   "the frame interval, centred on the frame time; every other pass is unblurred, "
                   "exact at the frame time",
    "collisions": "events.json: per (frame, instance a, instance b), 0 = background; contact "
                  "position (m), normal (unit, from b toward a), peak normal force (N)",
}


POINT_TRACKS_FILE = "point_tracks.npz"


@dataclass(frozen=True)
class TrackField:
    """One array of ``point_tracks.npz``: dtype and shape in symbols (N points, F frames)."""

    name: str
    dtype: type
    dims: tuple[str | int, ...]
    description: str


POINT_TRACK_FIELDS: dict[str, TrackField] = {f.name: f for f in (
    TrackField("query_frame", np.int32, ("N",),
               "int32 (N,): the frame in which the point was sampled on a visible surface"),
    TrackField("object_index", np.int32, ("N",),
               "int32 (N,): index into scene.objects of the object the point lies on (background "
               "objects such as the floor included); its segmentation id is 0 for a background "
               "object, else 1 + its position in scene.instances"),
    TrackField("object_point", np.float64, ("N", 3),
               "float64 (N, 3): the point in its object's frame (the frame object_to_world maps "
               "to world), metres"),
    TrackField("tracks", np.float32, ("N", "F", 2),
               "float32 (N, F, 2): pixel position (x, y) per frame; at the query frame the centre "
               "of the pixel it was sampled at; NaN where the point is behind the camera"),
    TrackField("occluded", np.bool_, ("N", "F"),
               "bool (N, F): hidden behind a nearer surface (decided against the rendered depth), "
               "outside the image or behind the camera"),
)}
