"""Rigid transforms and the pinhole camera, in numpy (no Blender, no PyBullet).

Conventions (docs/format.md): quaternions (w, x, y, z), unit, object-to-world. Camera axes are OpenCV's:
x right, y down, the camera looks along +z. Pixel (i, j) covers [i, i+1)×[j, j+1); its centre is
(i + 0.5, j + 0.5). ``K`` is 3×3 in pixels. All lengths in metres.
"""

from __future__ import annotations

import functools

import numpy as np

from sim.scene import Camera, Keyframe

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


def slerp(q0: np.ndarray, q1: np.ndarray, w: np.ndarray | float) -> np.ndarray:
    """Spherical linear interpolation of (..., 4) unit quaternions (w, x, y, z) at weights ``w``
    in [0, 1] (broadcast against the leading axes), along the shorter arc; unit results."""
    q0, q1 = np.asarray(q0, np.float64), np.asarray(q1, np.float64)
    w = np.asarray(w, np.float64)[..., None]
    dot = np.sum(q0 * q1, axis=-1, keepdims=True)
    q1 = np.where(dot < 0, -q1, q1)
    dot = np.clip(np.abs(dot), 0.0, 1.0)
    angle = np.arccos(dot)
    sin = np.sin(angle)
    small = sin < 1e-9  # (nearly) equal rotations: linear interpolation is exact enough
    safe = np.where(small, 1.0, sin)
    a = np.where(small, 1.0 - w, np.sin((1.0 - w) * angle) / safe)
    b = np.where(small, w, np.sin(w * angle) / safe)
    q = a * q0 + b * q1
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def _interpolate_path(values: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For an (n, ...) per-frame path and fractional frame ``times`` (T,): the entries before and
    after each time and the weight of the later one; times outside [0, n−1] hold the end entries."""
    tau = np.clip(np.asarray(times, np.float64), 0.0, len(values) - 1)
    i0 = np.floor(tau).astype(np.intp)
    i1 = np.minimum(i0 + 1, len(values) - 1)
    return values[i0], values[i1], tau - i0


def _path_at(points: tuple, velocity: tuple, times: np.ndarray) -> np.ndarray:
    """(T, 3) points of a per-frame path (linear between frames) or of one entry moving at
    ``velocity`` per frame, at fractional frame ``times``."""
    pts = np.asarray(points, np.float64)
    if len(pts) > 1:
        a, b, w = _interpolate_path(pts, times)
        return a + (b - a) * w[:, None]
    return pts[0] + np.asarray(times, np.float64)[:, None] * np.asarray(velocity, np.float64)


def focal_lengths_at(camera: Camera, times: np.ndarray) -> np.ndarray:
    """(T,) focal lengths (mm) at fractional frame ``times`` (linear between frames)."""
    focal = np.atleast_1d(np.asarray(camera.focal_length_mm, np.float64))
    a, b, w = _interpolate_path(focal, times)
    return a + (b - a) * w


def intrinsics_at(camera: Camera, resolution: tuple[int, int], times: np.ndarray) -> np.ndarray:
    """(T, 3, 3) K in pixels at fractional frame ``times`` for an image of (width, height):
    fx = focal/sensor_width × width, fy = ``camera.fy_over_fx`` × fx, principal point
    (cx, cy) = ``camera.principal_point`` × (width, height), no skew."""
    width, height = resolution
    fx = focal_lengths_at(camera, times) / camera.sensor_width_mm * width
    K = np.zeros((len(fx), 3, 3))
    K[:, 0, 0], K[:, 1, 1] = fx, fx * camera.fy_over_fx
    K[:, 0, 2], K[:, 1, 2] = camera.principal_point[0] * width, camera.principal_point[1] * height
    K[:, 2, 2] = 1.0
    return K


def intrinsics(camera: Camera, resolution: tuple[int, int], frames: int | None = None) -> np.ndarray:
    """K in pixels (see ``intrinsics_at``): 3×3 of frame 0 when ``frames`` is None, else
    (frames, 3, 3), one per frame 0…frames−1."""
    if frames is None:
        return intrinsics_at(camera, resolution, np.zeros(1))[0]
    return intrinsics_at(camera, resolution, np.arange(frames, dtype=np.float64))


def camera_to_world_at(camera: Camera, times: np.ndarray) -> np.ndarray:
    """(T, 4, 4) camera-to-world matrices in OpenCV camera axes at fractional frame ``times``:
    positions (and look-at points) linear between frames, quaternions slerped; a per-frame path
    holds its first / last entry outside its frames, a single moving entry keeps moving. The
    camera's ``rig_offset_m`` moves its centre in its own axes (the orientation is the pose's)."""
    times = np.asarray(times, np.float64)
    out = np.zeros((len(times), 4, 4))
    out[:, :3, 3] = _path_at(camera.positions, camera.velocity, times)
    out[:, 3, 3] = 1.0
    if camera.quaternions is not None:
        q = np.asarray(camera.quaternions, np.float64)
        a, b, w = _interpolate_path(q, times)
        out[:, :3, :3] = quat_to_matrix(slerp(a, b, w))
    else:
        targets = _path_at(camera.look_at or ((0.0, 0.0, 0.0),), camera.look_at_velocity, times)
        for k in range(len(times)):
            out[k, :3, :3] = look_at_rotation(out[k, :3, 3], targets[k])
    out[:, :3, 3] += out[:, :3, :3] @ np.asarray(camera.rig_offset_m, np.float64)
    return out


def camera_to_world(camera: Camera, frames: int) -> np.ndarray:
    """(frames, 4, 4) camera-to-world matrices in OpenCV camera axes, one per frame (the camera's
    ``rig_offset_m`` applied in its own axes)."""
    return camera_to_world_at(camera, np.arange(frames, dtype=np.float64))


def keyframed_pose(keyframes: tuple[Keyframe, ...], times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A scripted object's pose at fractional frame ``times`` (T,): float64 positions (T, 3) m
    (linear between keyframes) and unit quaternions (T, 4) (w, x, y, z; slerp); before the first
    and after the last keyframe the pose is held."""
    key_t = np.array([k.time for k in keyframes])
    pos = np.array([k.position for k in keyframes])
    quat = np.array([k.quaternion for k in keyframes])
    times = np.asarray(times, np.float64)
    if len(keyframes) == 1:
        return np.repeat(pos, len(times), axis=0), np.repeat(quat, len(times), axis=0)
    i1 = np.clip(np.searchsorted(key_t, times, side="right"), 1, len(key_t) - 1)
    i0 = i1 - 1
    w = np.clip((times - key_t[i0]) / (key_t[i1] - key_t[i0]), 0.0, 1.0)
    return pos[i0] + (pos[i1] - pos[i0]) * w[:, None], slerp(quat[i0], quat[i1], w)


def keyframed_velocity(keyframes: tuple[Keyframe, ...], times: np.ndarray, frame_rate: float,
                       ) -> tuple[np.ndarray, np.ndarray]:
    """The velocity of ``keyframed_pose`` just after each of the fractional frame ``times`` (T,):
    linear (T, 3) m/s and angular (T, 3) rad/s in world axes, constant between two keyframes and 0
    outside the keyframes' time span."""
    key_t = np.array([k.time for k in keyframes])
    i0 = np.searchsorted(key_t, np.asarray(times, np.float64), side="right") - 1
    moving = (i0 >= 0) & (i0 < len(key_t) - 1)
    a, b = np.clip(i0, 0, len(key_t) - 1), np.clip(i0 + 1, 0, len(key_t) - 1)
    pos = np.array([k.position for k in keyframes])
    quat = np.array([k.quaternion for k in keyframes])
    seconds = np.where(moving, key_t[b] - key_t[a], 1.0) / frame_rate
    linear = (pos[b] - pos[a]) / seconds[:, None]
    angular = rotation_rate(quat[a], quat[b], seconds)
    return linear * moving[:, None], angular * moving[:, None]


def rotation_rate(q0: np.ndarray, q1: np.ndarray, seconds: np.ndarray | float) -> np.ndarray:
    """(..., 3) angular velocity (rad/s, world axes) turning (..., 4) unit quaternions ``q0`` into
    ``q1`` at a constant rate in ``seconds`` (along the shorter arc, as ``slerp``)."""
    q0, q1 = np.asarray(q0, np.float64), np.asarray(q1, np.float64)
    q1 = np.where(np.sum(q0 * q1, axis=-1, keepdims=True) < 0, -q1, q1)
    delta = quat_multiply(q1, q0 * [1.0, -1.0, -1.0, -1.0])  # world-axes rotation from q0 to q1
    sin = np.linalg.norm(delta[..., 1:], axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(sin, delta[..., :1])
    axis = delta[..., 1:] / np.where(sin > 0, sin, 1.0)
    return axis * angle / np.asarray(seconds, np.float64)[..., None]


def quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product of (..., 4) quaternions (w, x, y, z): the rotation b, then a."""
    aw, ax, ay, az = np.moveaxis(np.asarray(a, np.float64), -1, 0)
    bw, bx, by, bz = np.moveaxis(np.asarray(b, np.float64), -1, 0)
    return np.stack([aw * bw - ax * bx - ay * by - az * bz, aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx, aw * bz + ax * by - ay * bx + az * bw], axis=-1)


def invert_rigid(m: np.ndarray) -> np.ndarray:
    """Inverse of (..., 4, 4) rigid transforms."""
    out = np.zeros_like(m)
    r_t = np.swapaxes(m[..., :3, :3], -1, -2)
    out[..., :3, :3] = r_t
    out[..., :3, 3] = -np.einsum("...ij,...j->...i", r_t, m[..., :3, 3])
    out[..., 3, 3] = 1.0
    return out


def transform_points(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Applies 4×4 rigid (or affine) transforms to (..., 3) points: one (4, 4) matrix for all of
    them, or (..., 4, 4) matrices broadcast against the points' leading axes (one per point)."""
    m = np.asarray(m, dtype=np.float64)
    if m.ndim == 2:
        return points @ m[:3, :3].T + m[:3, 3]
    return np.einsum("...ij,...j->...i", m[..., :3, :3], points) + m[..., :3, 3]


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


def project(K: np.ndarray, points_cam: np.ndarray, min_z: float = 0.0) -> np.ndarray:
    """(..., 3) points in camera axes -> float64 (..., 2) pixel coordinates (x, y) under the 3×3
    ``K``; NaN for points with camera-space z <= ``min_z`` (m; behind the camera, not projectable)."""
    points_cam = np.asarray(points_cam, dtype=np.float64)
    uvw = points_cam @ np.asarray(K, dtype=np.float64).T
    z = uvw[..., 2:3]
    front = points_cam[..., 2:3] > min_z
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(front, uvw[..., :2] / np.where(front, z, 1.0), np.nan)
