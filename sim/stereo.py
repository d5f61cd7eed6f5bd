"""Stereo rigs: a rectified pair of cameras and the disparity between them (numpy, no Blender).

A rig is two cameras named ``left`` and ``right`` with the same intrinsics and, at every frame, the
same orientation (parallel optical axes), their centres ``baseline_m`` apart along the cameras'
x axis (OpenCV axes: x right, y down, looking along +z): right = left + baseline × x
(``stereo_rig`` builds one from a camera with ``Camera.rig_offset_m``). A surface point at planar
depth z (metres along the optical axis) is then seen on the same image row in both views, at
columns x_left and x_right with

    disparity = x_left − x_right = fx × baseline / z  (pixels, ≥ 0 in front of the rig).

The ``disparity`` pass holds that value for every pixel of either view: in the left image the
point seen at column x is at x − disparity in the right image; in the right image, at x + disparity
in the left image. Where no surface is seen (z = +inf) the disparity is 0, its limit at infinity.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from sim.errors import SceneValidationError
from sim.scene import Camera, Scene
from sim.transforms import camera_to_world, intrinsics

RIG_NAMES = ("left", "right")
RECTIFIED_TOL = 1e-6
"""Relative tolerance of ``rectified_baseline``'s checks (rotations, offset direction, K)."""


def stereo_rig(camera: Camera, baseline_m: float) -> tuple[Camera, Camera]:
    """The rectified pair ``(left, right)`` centred on ``camera``: copies of it named ``left`` and
    ``right`` whose centres are moved by ∓ baseline_m / 2 along its x axis (``Camera.rig_offset_m``),
    so they keep its orientation, intrinsics and path whatever the number of frames."""
    if isinstance(baseline_m, bool) or not isinstance(baseline_m, (int, float)) or not 0 < baseline_m <= 100:
        raise SceneValidationError(f"baseline_m: got {baseline_m!r}, expected metres in (0, 100]")
    x, y, z = camera.rig_offset_m
    left, right = (dataclasses.replace(camera, name=name, rig_offset_m=(x + sign * baseline_m, y, z))
                   for name, sign in zip(RIG_NAMES, (-0.5, 0.5), strict=True))
    return left, right


def with_stereo_rig(scene: Scene, baseline_m: float) -> Scene:
    """``scene`` with its camera replaced by ``stereo_rig(scene.camera, baseline_m)``."""
    if len(scene.cameras) != 1:
        raise SceneValidationError(f"stereo_baseline: the scene already has cameras "
                                   f"{', '.join(scene.camera_names)}; a rig replaces one camera")
    return dataclasses.replace(scene, cameras=stereo_rig(scene.camera, baseline_m))


def rectified_baseline(scene: Scene) -> float:
    """The baseline (m, > 0) between ``scene.camera`` and its stereo partner, the scene's other camera.
    Raises SceneValidationError unless the scene has exactly two cameras forming a rectified pair
    (same K, same orientation every frame, centres offset along the camera x axis by a constant
    baseline)."""
    if len(scene.cameras) != 2:
        raise SceneValidationError("disparity: needs a rectified stereo pair (a recipe's stereo_baseline "
                                   "parameter, or sim.stereo.stereo_rig); "
                                   f"the scene has {len(scene.cameras)}")
    me, other = scene.cameras
    where = f"disparity: cameras {me.name!r} and {other.name!r}"
    if not np.allclose(intrinsics(me, scene.resolution, scene.frames),
                       intrinsics(other, scene.resolution, scene.frames), rtol=RECTIFIED_TOL, atol=0):
        raise SceneValidationError(f"{where} have different intrinsics; a rectified pair shares K")
    a, b = camera_to_world(me, scene.frames), camera_to_world(other, scene.frames)
    if not np.allclose(a[:, :3, :3], b[:, :3, :3], atol=RECTIFIED_TOL):
        raise SceneValidationError(f"{where} are not parallel (different orientations); use stereo_rig")
    offset = np.einsum("fij,fi->fj", a[:, :3, :3], b[:, :3, 3] - a[:, :3, 3])  # in camera axes
    baseline = offset[:, 0]
    scale = max(float(np.abs(baseline).max()), 1e-12)
    if (np.abs(offset[:, 1:]).max() > RECTIFIED_TOL * scale or np.ptp(baseline) > RECTIFIED_TOL * scale
            or scale <= 1e-12):
        raise SceneValidationError(f"{where} are not offset along the camera x axis by a constant "
                                   "baseline; use stereo_rig")
    return float(np.abs(baseline).mean())


def disparity(z_depth: np.ndarray, fx: float, baseline_m: float) -> np.ndarray:
    """float32 (H, W) disparity in pixels, fx × baseline_m / z_depth (see the module docstring);
    ``z_depth`` float (H, W) planar depth in metres, +inf where no surface (disparity 0)."""
    with np.errstate(divide="ignore"):
        return (fx * baseline_m / z_depth.astype(np.float64)).astype(np.float32)
