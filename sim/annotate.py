"""Ground truth computed from rendered depth + object ids + rigid poses, in numpy (docs/architecture.md;
conventions: docs/format.md).

Inputs per frame, as the renderer yields them: ``depth`` float32 (H, W), metres, Euclidean distance
from the camera centre along the unit ray through the pixel centre (+inf where no surface), and
``object_index`` uint16 (H, W): 0 = no surface, k >= 1 = ``scene.objects[k-1]`` (background objects
included). Poses are (N, 4, 4) object-to-world matrices of all N scene objects; cameras are 4×4
camera-to-world matrices in OpenCV axes (x right, y down, looking along +z) and ``K`` is 3×3 in
pixels, per frame (a zooming camera has a different K in every frame). Pixel (i, j) covers
[i, i+1)×[j, j+1); its centre is (i + 0.5, j + 0.5).

Nothing here imports Blender or PyBullet.
"""

from __future__ import annotations

import numpy as np

from sim.assets import bbox_corners
from sim.scene import Scene
from sim.transforms import invert_rigid, pixel_rays, project, transform_points

# --- Tolerances of the occlusion test (the one place they live) ------------------------------------
# A point carried to frame s lands in pixel q there (the pixel whose area contains its projection).
# It is *hidden* when pixel q sees a surface clearly nearer than the point:
#     depth_s[q] < dist - slack,   slack = OCCLUSION_REL_TOL * dist + OCCLUSION_ABS_TOL_M
# with dist its distance to camera s. depth_s[q] is sampled at the pixel centre, not where the point
# lands, so on a slanted surface it differs from dist by up to the depth change over that offset. If
# pixel q sees the point's own object, slack therefore also gets OCCLUSION_SLOPE_FACTOR × (per axis
# |offset from the centre| × the depth step to the neighbour on that side, or the other neighbour
# where that side shows another object). Factor 1 is the chord bound, right for surfaces whose depth
# is convex across the pixel grid (planes, spheres: nearly so); 2 is margin for curvature and the
# other-neighbour fallback. A point further than that behind its own object's surface (self-occlusion)
# is still hidden. Near silhouettes, where one pixel spans a large depth range, the test is only as
# good as the pixel grid allows.
OCCLUSION_REL_TOL = 1e-3
OCCLUSION_ABS_TOL_M = 1e-4
OCCLUSION_SLOPE_FACTOR = 2.0
MIN_CAMERA_Z_M = 1e-6
"""Points with camera-space z below this (m) are behind camera s: not projectable."""


def _check_frame(name: str, array: np.ndarray, shape: tuple[int, ...]) -> None:
    if array.shape != shape:
        raise ValueError(f"{name}: shape {array.shape}, expected {shape}")


def instance_ids(scene: Scene) -> np.ndarray:
    """uint16 (N,): per scene object its segmentation id, 0 for background objects and k for
    ``scene.instances[k-1]``."""
    ids = np.zeros(len(scene.objects), dtype=np.uint16)
    keep = np.array([not o.background for o in scene.objects], dtype=bool)
    ids[keep] = np.arange(1, keep.sum() + 1)
    return ids


def segmentation(object_index: np.ndarray, scene: Scene) -> np.ndarray:
    """uint16 (H, W) instance segmentation from the renderer's ``object_index``: 0 where no surface
    or a background object is seen, k = 1 + position of the object in ``scene.instances``."""
    if object_index.size and int(object_index.max()) > len(scene.objects):
        raise ValueError(f"object_index: value {int(object_index.max())} exceeds the scene's "
                         f"{len(scene.objects)} objects")
    return np.concatenate([np.zeros(1, dtype=np.uint16), instance_ids(scene)])[object_index]


def boxes_2d(seg: np.ndarray, n_instances: int) -> list[list[int] | None]:
    """Per instance k = 1…n_instances the box ``[xmin, ymin, xmax, ymax]`` (int pixels, pixel
    edges: a one-pixel mask at column i, row j gives [i, j, i+1, j+1]) of its visible pixels in the
    uint16 (H, W) segmentation, or None when it covers no pixel."""
    _check_ids(seg, n_instances)
    rows, cols = np.nonzero(seg)
    ids = seg[rows, cols].astype(np.intp)
    lo = np.full((n_instances + 1, 2), np.iinfo(np.intp).max)
    hi = np.full((n_instances + 1, 2), -1)
    xy = np.stack([cols, rows], axis=1)
    np.minimum.at(lo, ids, xy)
    np.maximum.at(hi, ids, xy)
    return [None if hi[k, 0] < 0 else [int(lo[k, 0]), int(lo[k, 1]), int(hi[k, 0]) + 1, int(hi[k, 1]) + 1]
            for k in range(1, n_instances + 1)]


def visibility(seg: np.ndarray, n_instances: int) -> list[int]:
    """Per instance k = 1…n_instances its visible pixel count in the uint16 (H, W) segmentation."""
    _check_ids(seg, n_instances)
    counts = np.bincount(seg.ravel(), minlength=n_instances + 1)
    return [int(c) for c in counts[1:n_instances + 1]]


def mask_boxes(masks: np.ndarray) -> list[list[int] | None]:
    """Per plane of bool (N, H, W) ``masks`` its box ``[xmin, ymin, xmax, ymax]`` (pixel edges, as
    ``boxes_2d``), or None for an empty plane."""
    out: list[list[int] | None] = []
    for mask in masks:
        cols, rows = np.flatnonzero(mask.any(axis=0)), np.flatnonzero(mask.any(axis=1))
        out.append([int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1] if cols.size else None)
    return out


def _check_ids(seg: np.ndarray, n_instances: int) -> None:
    if seg.size and int(seg.max()) > n_instances:
        raise ValueError(f"segmentation: id {int(seg.max())} exceeds n_instances = {n_instances}")


def boxes_3d(scene: Scene, obj2world: np.ndarray) -> np.ndarray:
    """float64 (n_instances, 8, 3) world corners (m) of every instance's oriented bounding box, in
    the corner order of ``sim.assets.bbox_corners``; ``obj2world`` is (N, 4, 4) for all scene
    objects (background ones included) at one frame."""
    _check_frame("obj2world", obj2world, (len(scene.objects), 4, 4))
    out = [transform_points(obj2world[i], bbox_corners(o.asset, o.scale))
           for i, o in enumerate(scene.objects) if not o.background]
    return np.array(out).reshape(len(out), 8, 3)


def _depth_steps(depth: np.ndarray, index: np.ndarray) -> np.ndarray:
    """float64 (4, H*W): per pixel the |depth step| (m) to its left, right, upper and lower
    neighbour where that neighbour sees the same object (index >= 1), NaN elsewhere."""
    height, width = depth.shape
    steps = np.full((4, height, width), np.nan)
    d = depth.astype(np.float64)
    for axis, (lo, hi) in ((1, (0, 1)), (0, (2, 3))):
        same = np.diff(index.astype(np.int32), axis=axis) == 0
        same &= (index[:, 1:] if axis == 1 else index[1:]) > 0
        with np.errstate(invalid="ignore"):  # inf - inf between two pixels that see nothing
            step = np.where(same, np.abs(np.diff(d, axis=axis)), np.nan)
        if axis == 1:
            steps[lo, :, 1:], steps[hi, :, :-1] = step, step
        else:
            steps[lo, 1:], steps[hi, :-1] = step, step
    return steps.reshape(4, -1)


def _depth_change(steps: np.ndarray, q: np.ndarray, offset_x: np.ndarray,
                  offset_y: np.ndarray) -> np.ndarray:
    """(n,) float64 estimate (m) of how much the depth seen by flat pixels ``q`` (n,) changes from
    their centres to points (``offset_x``, ``offset_y``) pixels away, from ``_depth_steps``: per axis
    |offset| × the step to the neighbour on the offset's side (the other side's where that one sees
    another object or nothing; 0 where neither sees pixel q's object)."""
    change = np.zeros(len(q))
    for offset, lo, hi in ((offset_x, 0, 1), (offset_y, 2, 3)):
        toward = offset >= 0
        near, far = steps[lo, q], steps[hi, q]
        step = np.where(toward, far, near)
        step = np.where(np.isnan(step), np.where(toward, near, far), step)
        change += np.abs(offset) * np.nan_to_num(step, nan=0.0)
    return change


def flow(depth_t: np.ndarray, index_t: np.ndarray,
         depth_s: np.ndarray | None, index_s: np.ndarray | None,
         K_t: np.ndarray, K_s: np.ndarray | None, cam2world_t: np.ndarray,
         cam2world_s: np.ndarray | None, obj2world_t: np.ndarray, obj2world_s: np.ndarray | None,
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact optical flow from frame t toward frame s (s = t+1 forward, t−1 backward).

    Each pixel of frame t that sees a surface is back-projected through its centre (``depth_t`` is
    along the unit ray), carried rigidly with its object (``index_t`` − 1 into the (N, 4, 4)
    ``obj2world_*``; static objects simply keep their pose, so background follows camera motion),
    and projected with camera s: pose ``cam2world_s`` and intrinsics ``K_s`` (frame t's rays use
    ``K_t``; the two differ when the camera zooms). Frame s missing (beyond the simulated range):
    pass None for ``depth_s``, ``index_s``, ``K_s``, ``cam2world_s`` and ``obj2world_s``.

    Returns ``(flow, valid, occluded)``:
    - flow: float32 (H, W, 2), pixels (dx, dy) = projection in frame s − pixel centre in frame t;
      NaN exactly where not valid (never zero for undefined flow).
    - valid: bool (H, W), a surface is seen, frame s exists and the point is in front of camera s
      (camera-space z > ``MIN_CAMERA_Z_M``; behind it the projection is undefined).
    - occluded: bool (H, W), the point is not seen in frame s: behind camera s, outside the image,
      or hidden by a nearer surface (rule and tolerances at the top of this module).
    """
    height, width = depth_t.shape
    _check_frame("index_t", index_t, (height, width))
    n = obj2world_t.shape[0]
    _check_frame("obj2world_t", obj2world_t, (n, 4, 4))
    flow_out = np.full((height, width, 2), np.nan, dtype=np.float32)
    valid = np.zeros((height, width), dtype=bool)
    occluded = np.zeros((height, width), dtype=bool)
    frame_s = (depth_s, index_s, K_s, cam2world_s, obj2world_s)
    if all(a is None for a in frame_s):
        return flow_out, valid, occluded
    if any(a is None for a in frame_s):
        raise ValueError("flow: depth_s, index_s, K_s, cam2world_s and obj2world_s must all be given, "
                         "or all be None for a missing frame")
    _check_frame("depth_s", depth_s, (height, width))
    _check_frame("index_s", index_s, (height, width))
    _check_frame("obj2world_s", obj2world_s, (n, 4, 4))

    index_flat = np.where(np.isfinite(depth_t), index_t, 0).ravel()
    present = np.flatnonzero(np.bincount(index_flat, minlength=n + 1)[1:]) + 1
    if present.size and present[-1] > n:
        raise ValueError(f"index_t: value {present[-1]} exceeds the {n} object poses given")
    # Per object: camera t -> object frame -> moved to its frame-s pose -> camera s.
    motion = invert_rigid(cam2world_s) @ obj2world_s @ invert_rigid(obj2world_t) @ cam2world_t
    rays, depth_flat = pixel_rays(K_t, (width, height)).reshape(-1, 3), depth_t.ravel()  # (H*W, 3)
    groups = [np.flatnonzero(index_flat == k) for k in present]  # surface pixels by object
    pix = np.concatenate(groups or [np.empty(0, dtype=np.intp)])
    obj = np.repeat(present, [len(g) for g in groups])
    points = np.concatenate([transform_points(motion[k - 1], rays[g] * depth_flat[g, None])
                             for k, g in zip(present, groups, strict=True)] or [np.empty((0, 3))])

    occluded.ravel()[pix] = True  # cleared below for points seen in frame s
    uv = project(K_s, points, MIN_CAMERA_Z_M)
    front = np.flatnonzero(np.isfinite(uv[:, 0]))
    pix, obj, points, uv = pix[front], obj[front], points[front], uv[front]
    rows, cols = np.divmod(pix, width)
    flow_out.reshape(-1, 2)[pix] = uv - np.stack([cols, rows], axis=1) - 0.5
    valid.ravel()[pix] = True

    occluded.ravel()[pix] = hidden(points, obj, depth_s, index_s, K_s)
    return flow_out, valid, occluded


def hidden(points_cam: np.ndarray, labels: np.ndarray, depth: np.ndarray, label_image: np.ndarray,
           K: np.ndarray) -> np.ndarray:
    """bool (n,): which points are not seen in a frame: behind the camera, outside the image, or
    behind a nearer surface by the occlusion rule at the top of this module.

    ``points_cam`` float64 (n, 3) in the frame's camera axes (m); ``labels`` int (n,) the surface
    each point lies on, in the labelling of ``label_image`` int (H, W) (0 = no surface); ``depth``
    float32 (H, W) Euclidean depth (m) of the frame."""
    height, width = depth.shape
    out = np.ones(len(points_cam), dtype=bool)
    u, v = project(K, points_cam, MIN_CAMERA_Z_M).T  # NaN behind the camera: never inside
    qx, qy = np.floor(u), np.floor(v)
    inside = np.flatnonzero((qx >= 0) & (qx < width) & (qy >= 0) & (qy < height))
    q = (qy[inside] * width + qx[inside]).astype(np.intp)
    dist = np.linalg.norm(np.asarray(points_cam, dtype=np.float64)[inside], axis=1)
    slack = OCCLUSION_REL_TOL * dist + OCCLUSION_ABS_TOL_M
    same = np.flatnonzero(label_image.ravel()[q] == labels[inside])
    slack[same] += OCCLUSION_SLOPE_FACTOR * _depth_change(
        _depth_steps(depth, label_image), q[same],
        u[inside][same] - qx[inside][same] - 0.5, v[inside][same] - qy[inside][same] - 0.5)
    out[inside] = depth.ravel()[q] < dist - slack
    return out
