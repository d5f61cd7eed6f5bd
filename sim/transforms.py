"""Rigid transforms and the pinhole camera, in numpy (no Blender, no PyBullet).

Conventions (DESIGN §3): quaternions (w, x, y, z), unit, object-to-world. Camera axes are OpenCV's:
x right, y down, the camera looks along +z. Pixel (i, j) covers [i, i+1)×[j, j+1); its centre is
(i + 0.5, j + 0.5). ``K`` is 3×3 in pixels. All lengths in metres.
"""

from __future__ import annotations

import functools

import numpy as np

from sim.scene import Camera

UP = np.array([0.0, 0.0, 1.0])


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """(..., 4) unit quaternions (w, x, y, z) -> (..., 3, 3) rotation matrices."""
    q = np.asarray(q, dtype=np.float64)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    m = np.empty(q.shape[:-1] + (3, 3))
    m[..., 0, 0] = 1 - 2 * (y * y + z * z)
    m[..., 0, 1] = 2 * (x * y - w * z)
    m[..., 0, 2] = 2 * (x * z + w * y)
    m[..., 1, 0] = 2 * (x * y + w * z)
    m[..., 1, 1] = 1 - 2 * (x * x + z * z)
    m[..., 1, 2] = 2 * (y * z - w * x)
    m[..., 2, 0] = 2 * (x * z - w * y)
    m[..., 2, 1] = 2 * (y * z + w * x)
    m[..., 2, 2] = 1 - 2 * (x * x + y * y)
    return m


def matrix_to_quat(m: np.ndarray) -> np.ndarray:
    """(3, 3) rotation matrix -> (4,) unit quaternion (w, x, y, z) with w >= 0."""
    m = np.asarray(m, dtype=np.float64)
    trace = np.trace(m)
    if trace > 0:
        s = 2.0 * np.sqrt(trace + 1.0)
        q = [0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
    else:
        i = int(np.argmax(np.diag(m)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * np.sqrt(1.0 + m[i, i] - m[j, j] - m[k, k])
        q = [0.0, 0.0, 0.0, 0.0]
        q[0] = (m[k, j] - m[j, k]) / s
        q[1 + i] = 0.25 * s
        q[1 + j] = (m[j, i] + m[i, j]) / s
        q[1 + k] = (m[k, i] + m[i, k]) / s
    q = np.array(q)
    q /= np.linalg.norm(q)
    return q if q[0] >= 0 else -q


def pose_matrix(position: np.ndarray, quaternion: np.ndarray) -> np.ndarray:
    """(..., 3) positions and (..., 4) quaternions -> (..., 4, 4) object-to-world matrices."""
    position = np.asarray(position, dtype=np.float64)
    m = np.zeros(position.shape[:-1] + (4, 4))
    m[..., :3, :3] = quat_to_matrix(quaternion)
    m[..., :3, 3] = position
    m[..., 3, 3] = 1.0
    return m


def look_at_rotation(position: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Camera-to-world rotation (3×3, columns = OpenCV camera x, y, z axes in world) of a camera at
    ``position`` looking at ``target`` with +Z up (+Y up when looking straight up or down)."""
    forward = np.asarray(target, float) - np.asarray(position, float)
    forward /= np.linalg.norm(forward)
    up = UP if abs(forward @ UP) < 1 - 1e-9 else np.array([0.0, 1.0, 0.0])
    right = np.cross(forward, up)
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    return np.stack([right, down, forward], axis=1)


def intrinsics(camera: Camera, resolution: tuple[int, int]) -> np.ndarray:
    """3×3 K in pixels for an image of (width, height): fx = fy = focal/sensor_width × width,
    principal point at the image centre (width/2, height/2)."""
    width, height = resolution
    f = camera.focal_length_mm / camera.sensor_width_mm * width
    return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])


def camera_to_world(camera: Camera, frames: int) -> np.ndarray:
    """(frames, 4, 4) camera-to-world matrices in OpenCV camera axes, one per frame (the camera's
    ``rig_offset_m`` applied in its own axes)."""
    out = np.zeros((frames, 4, 4))
    for t in range(frames):
        pos = np.array(camera.position_at(t))
        rotation = look_at_rotation(pos, np.array(camera.look_at_at(t)))
        out[t, :3, :3] = rotation
        out[t, :3, 3] = pos + rotation @ np.array(camera.rig_offset_m)
        out[t, 3, 3] = 1.0
    return out


def invert_rigid(m: np.ndarray) -> np.ndarray:
    """Inverse of (..., 4, 4) rigid transforms."""
    out = np.zeros_like(m)
    r_t = np.swapaxes(m[..., :3, :3], -1, -2)
    out[..., :3, :3] = r_t
    out[..., :3, 3] = -np.einsum("...ij,...j->...i", r_t, m[..., :3, 3])
    out[..., 3, 3] = 1.0
    return out


def transform_points(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Applies a 4×4 transform to (..., 3) points."""
    return points @ m[:3, :3].T + m[:3, 3]


def pixel_rays(K: np.ndarray, resolution: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) unit ray directions in camera axes through every pixel centre. Computed once per
    (K, resolution) and shared by later calls, so the array is read-only."""
    return _pixel_rays(tuple(np.asarray(K, dtype=np.float64).ravel().tolist()),
                       (int(resolution[0]), int(resolution[1])))


@functools.lru_cache(maxsize=8)
def _pixel_rays(k: tuple[float, ...], resolution: tuple[int, int]) -> np.ndarray:
    K = np.array(k).reshape(3, 3)
    width, height = resolution
    xs = (np.arange(width) + 0.5 - K[0, 2]) / K[0, 0]
    ys = (np.arange(height) + 0.5 - K[1, 2]) / K[1, 1]
    d = np.stack(np.broadcast_arrays(xs[None, :], ys[:, None], np.ones((height, 1))), axis=-1)
    rays = d / np.linalg.norm(d, axis=-1, keepdims=True)
    rays.flags.writeable = False
    return rays


def project(K: np.ndarray, points_cam: np.ndarray) -> np.ndarray:
    """(..., 3) points in camera axes -> (..., 2) pixel coordinates (x, y); z must be > 0."""
    uvw = points_cam @ K.T
    return uvw[..., :2] / uvw[..., 2:3]
