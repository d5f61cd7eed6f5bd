"""sim.annotate on analytic scenes: spheres and a floor slab ray-cast through pixel centres by
``tests.raycast``, so depth and object ids are exact and no renderer is needed."""

from __future__ import annotations

import numpy as np
import pytest

from sim import annotate
from sim.scene import Camera, Scene, SceneObject
from sim.transforms import camera_to_world, intrinsics, pose_matrix
from tests import raycast

RES = (48, 32)  # (width, height): not square, so a transposed axis shows up


def quat_z(angle: float) -> np.ndarray:
    return np.array([np.cos(angle / 2), 0.0, 0.0, np.sin(angle / 2)])


def make_scene(camera: Camera, n_spheres: int, frames: int = 2) -> Scene:
    """scene.objects = [floor (background, top face at z = 0), sphere_0, sphere_1, …]."""
    floor = SceneObject("floor", asset="primitive:cube", scale=(20.0, 20.0, 0.01),
                        position=(0.0, 0.0, -0.01), static=True, background=True)
    spheres = [SceneObject(f"sphere_{i}", asset="primitive:sphere", scale=(0.5, 0.5, 0.5))
               for i in range(n_spheres)]
    return Scene(objects=(floor, *spheres), camera=camera, resolution=RES, frames=frames)


def ray_cast(scene: Scene, cam2world: np.ndarray, obj2world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(depth float32 (H, W), object_index uint16 (H, W)) of the analytic ray caster."""
    frame = raycast.render(scene, cam2world, obj2world)
    return frame["depth"], frame["index"]


def poses(positions: list, quaternions: list | None = None) -> np.ndarray:
    """(N, 4, 4) object-to-world; the floor (object 1) sits at its scene position."""
    pos = np.array([[0.0, 0.0, -0.01], *positions])
    quats = np.array([[1.0, 0, 0, 0]] + (quaternions or [[1.0, 0, 0, 0]] * len(positions)))
    return pose_matrix(pos, quats)


def reproject(point_w: np.ndarray, cam2world: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(n, 3) world points -> (n, 2) pixel (x, y) with the pinhole formula written out."""
    rel = (point_w - cam2world[:3, 3]) @ cam2world[:3, :3]
    return np.stack([K[0, 0] * rel[:, 0] / rel[:, 2] + K[0, 2],
                     K[1, 1] * rel[:, 1] / rel[:, 2] + K[1, 2]], axis=1)


def world_points(depth: np.ndarray, cam2world: np.ndarray, K: np.ndarray) -> np.ndarray:
    height, width = depth.shape
    u, v = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    d = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], axis=-1)
    d = d @ cam2world[:3, :3].T
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    return cam2world[:3, 3] + d * depth[..., None].astype(np.float64)


OBLIQUE = Camera(positions=((0.5, -5.0, 2.5),), look_at=((0.0, 0.0, 1.5),))  # sees the sky too


def test_static_scene_has_zero_flow_and_no_occlusion():
    scene = make_scene(OBLIQUE, 1)
    K, cams = intrinsics(scene.camera, RES), camera_to_world(scene.camera, 2)
    obj = poses([[0.2, 0.3, 0.5]])
    depth, index = ray_cast(scene, cams[0], obj)
    assert (index == 0).any() and (index == 1).any() and (index == 2).any()
    f, valid, occ = annotate.flow(depth, index, depth, index, K, K, cams[0], cams[1], obj, obj)
    np.testing.assert_array_equal(valid, index > 0)
    np.testing.assert_allclose(f[valid], 0.0, atol=1e-4)
    assert np.isnan(f[~valid]).all()
    assert not occ.any()


def test_moving_sphere_flow_matches_reprojection():
    scene = make_scene(OBLIQUE, 1)
    K, cams = intrinsics(scene.camera, RES), camera_to_world(scene.camera, 2)
    c0, c1 = np.array([0.0, 0.0, 0.5]), np.array([0.3, 0.1, 0.7])
    q0, q1 = quat_z(0.0), quat_z(0.4)
    obj_t, obj_s = poses([c0], [q0]), poses([c1], [q1])
    depth_t, index_t = ray_cast(scene, cams[0], obj_t)
    depth_s, index_s = ray_cast(scene, cams[1], obj_s)
    f, valid, occ = annotate.flow(depth_t, index_t, depth_s, index_s, K, K, cams[0], cams[1], obj_t, obj_s)

    on_sphere = index_t == 2
    p = world_points(depth_t, cams[0], K)[on_sphere]
    rz = lambda a: np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])  # noqa: E731
    moved = (p - c0) @ rz(0.4).T + c1  # rotate 0.4 rad about z around the centre, then translate
    rows, cols = np.nonzero(on_sphere)
    expected = reproject(moved, cams[1], K) - np.stack([cols + 0.5, rows + 0.5], axis=1)
    assert on_sphere.sum() > 30
    np.testing.assert_allclose(f[on_sphere], expected, atol=0.01)
    assert np.abs(expected).max() > 2.0  # the motion is visible
    floor = index_t == 1
    np.testing.assert_allclose(f[floor & ~occ], 0.0, atol=1e-3)  # static camera: static floor
    assert occ[floor].any()  # the sphere moved over some of the floor


def test_camera_translation_over_floor_is_a_homography():
    camera = Camera(positions=((0.0, -6.0, 2.0), (0.4, -5.5, 2.1)), look_at=((0.0, 0.0, 0.0),) * 2)
    scene = make_scene(camera, 0)
    K, cams = intrinsics(camera, RES), camera_to_world(camera, 2)
    obj = poses([])
    depth_t, index_t = ray_cast(scene, cams[0], obj)
    depth_s, index_s = ray_cast(scene, cams[1], obj)
    f, valid, occ = annotate.flow(depth_t, index_t, depth_s, index_s, K, K, cams[0], cams[1], obj, obj)

    rel = np.linalg.inv(cams[1]) @ cams[0]  # camera t -> camera s
    n_cam = cams[0][:3, :3].T @ np.array([0.0, 0.0, 1.0])  # floor normal in camera t
    d = -cams[0][2, 3]  # n_cam . X = d for floor points X in camera t
    H = K @ (rel[:3, :3] + np.outer(rel[:3, 3], n_cam) / d) @ np.linalg.inv(K)
    rows, cols = np.nonzero(index_t == 1)
    pix = np.stack([cols + 0.5, rows + 0.5, np.ones(len(rows))], axis=1) @ H.T
    expected = pix[:, :2] / pix[:, 2:] - np.stack([cols + 0.5, rows + 0.5], axis=1)
    np.testing.assert_array_equal(valid, index_t == 1)
    np.testing.assert_allclose(f[rows, cols], expected, atol=0.01)
    width, height = RES
    land = pix[:, :2] / pix[:, 2:]
    outside = (land[:, 0] < 0) | (land[:, 0] >= width) | (land[:, 1] < 0) | (land[:, 1] >= height)
    assert outside.any() and not outside.all()
    np.testing.assert_array_equal(occ[rows, cols], outside)  # a lone floor never hides itself


def test_camera_sliding_over_floor_looking_down():
    h, dx = 3.0, 0.25
    camera = Camera(positions=((0.0, 0.0, h), (dx, 0.0, h)), look_at=((0.0, 0.0, 0.0), (dx, 0.0, 0.0)))
    scene = make_scene(camera, 0)
    K, cams = intrinsics(camera, RES), camera_to_world(camera, 2)
    obj = poses([])
    depth_t, index_t = ray_cast(scene, cams[0], obj)
    depth_s, index_s = ray_cast(scene, cams[1], obj)
    f, valid, _ = annotate.flow(depth_t, index_t, depth_s, index_s, K, K, cams[0], cams[1], obj, obj)
    assert valid.all()
    # Looking down with +Y up in the image, image x is world +X: the floor slides left.
    np.testing.assert_allclose(f[..., 0], -K[0, 0] * dx / h, atol=1e-3)
    np.testing.assert_allclose(f[..., 1], 0.0, atol=1e-3)


def bilinear(field: np.ndarray, ok: np.ndarray, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear sample of (H, W, C) ``field`` at (n, 2) pixel coordinates; usable where the four
    surrounding pixel centres are ``ok``."""
    height, width = ok.shape
    g = xy - 0.5
    x0, y0 = np.floor(g[:, 0]).astype(int), np.floor(g[:, 1]).astype(int)
    inside = (x0 >= 0) & (y0 >= 0) & (x0 + 1 < width) & (y0 + 1 < height)
    x0, y0 = np.clip(x0, 0, width - 2), np.clip(y0, 0, height - 2)
    wx, wy = (g[:, 0] - x0)[:, None], (g[:, 1] - y0)[:, None]
    corners = [(y0, x0, (1 - wx) * (1 - wy)), (y0, x0 + 1, wx * (1 - wy)),
               (y0 + 1, x0, (1 - wx) * wy), (y0 + 1, x0 + 1, wx * wy)]
    usable = inside & np.all([ok[r, c] for r, c, _ in corners], axis=0)
    value = sum(w * np.nan_to_num(field[r, c]) for r, c, w in corners)
    return value, usable


def erode(mask: np.ndarray) -> np.ndarray:
    """``mask`` and its four neighbours."""
    out = mask.copy()
    out[1:] &= mask[:-1]
    out[:-1] &= mask[1:]
    out[:, 1:] &= mask[:, :-1]
    out[:, :-1] &= mask[:, 1:]
    return out


def test_forward_and_backward_flow_agree():
    camera = Camera(positions=((0.3, -2.5, 1.5), (0.4, -2.4, 1.45)), look_at=((0.0, 0.0, 0.4),) * 2)
    scene = make_scene(camera, 1)
    K, cams = intrinsics(camera, RES), camera_to_world(camera, 2)
    obj_t, obj_s = poses([[0.0, 0.0, 0.5]], [quat_z(0.0)]), poses([[0.2, 0.1, 0.6]], [quat_z(0.3)])
    depth_t, index_t = ray_cast(scene, cams[0], obj_t)
    depth_s, index_s = ray_cast(scene, cams[1], obj_s)
    fwd, fwd_ok, fwd_occ = annotate.flow(depth_t, index_t, depth_s, index_s, K, K, cams[0], cams[1],
                                         obj_t, obj_s)
    bwd, bwd_ok, bwd_occ = annotate.flow(depth_s, index_s, depth_t, index_t, K, K, cams[1], cams[0],
                                         obj_s, obj_t)

    rows, cols = np.nonzero(fwd_ok & ~fwd_occ)
    land = np.stack([cols + 0.5, rows + 0.5], axis=1) + fwd[rows, cols]
    # fwd(p) + bwd(p + fwd(p)) = 0, with bwd interpolated between pixel centres: exact but for the
    # interpolation error, which grows near a sphere's silhouette (flow changes fast there), so the
    # backward flow is sampled one pixel away from any edge.
    for k, atol in ((1, 1e-3), (2, 0.05)):
        sel = index_t[rows, cols] == k
        back, usable = bilinear(bwd, erode(bwd_ok & ~bwd_occ & (index_s == k)), land[sel])
        assert usable.sum() > 100
        residual = fwd[rows[sel], cols[sel]][usable] + back[usable]
        np.testing.assert_allclose(residual, 0.0, atol=atol)
        assert np.abs(back[usable]).max() > 1.0  # the motion is visible


def test_occlusion_when_a_sphere_passes_in_front_of_another():
    scene = make_scene(OBLIQUE, 2)
    K, cams = intrinsics(scene.camera, RES), camera_to_world(scene.camera, 2)
    back = [0.0, 0.5, 0.5]
    obj_t = poses([back, [2.0, -2.0, 1.3]])
    obj_s = poses([back, [0.5, -2.0, 1.3]])
    depth_t, index_t = ray_cast(scene, cams[0], obj_t)
    depth_s, index_s = ray_cast(scene, cams[1], obj_s)
    f, valid, occ = annotate.flow(depth_t, index_t, depth_s, index_s, K, K, cams[0], cams[1], obj_t, obj_s)
    # Static camera and back sphere: a back-sphere point lands in its own pixel and is hidden exactly
    # where that pixel sees the front sphere in frame s.
    on_back = index_t == 2
    np.testing.assert_array_equal(occ[on_back], index_s[on_back] == 3)
    assert 0 < occ[on_back].sum() < on_back.sum()
    np.testing.assert_allclose(f[on_back], 0.0, atol=1e-4)
    assert valid[on_back].all()


def test_missing_frame_is_invalid_and_nan_not_zero():
    scene = make_scene(OBLIQUE, 1)
    K, cams = intrinsics(scene.camera, RES), camera_to_world(scene.camera, 2)
    obj = poses([[0.0, 0.0, 0.5]])
    depth, index = ray_cast(scene, cams[0], obj)
    f, valid, occ = annotate.flow(depth, index, None, None, K, None, cams[0], None, obj, None)
    assert f.shape == (RES[1], RES[0], 2) and f.dtype == np.float32
    assert np.isnan(f).all() and not valid.any() and not occ.any()
    with pytest.raises(ValueError, match="all be None"):
        annotate.flow(depth, index, depth, None, K, K, cams[0], cams[1], obj, obj)


def test_points_behind_the_other_camera_are_invalid_and_occluded():
    camera = Camera(positions=((0.0, -5.0, 2.0),), look_at=((0.0, 0.0, 0.0),))
    scene = make_scene(camera, 1)
    K, cams = intrinsics(camera, RES), camera_to_world(camera, 2)
    turned = cams[1].copy()
    turned[:3, :3] = cams[1][:3, :3] @ np.diag([-1.0, 1.0, -1.0])  # looks the other way
    obj = poses([[0.0, 0.0, 0.5]])
    depth, index = ray_cast(scene, cams[0], obj)
    f, valid, occ = annotate.flow(depth, index, depth, index, K, K, cams[0], turned, obj, obj)
    assert not valid.any() and np.isnan(f).all()
    np.testing.assert_array_equal(occ, index > 0)


def test_segmentation_maps_objects_to_instances():
    objs = (SceneObject("floor", background=True), SceneObject("a"), SceneObject("wall", background=True),
            SceneObject("b"))
    scene = Scene(objects=objs, resolution=(5, 1), frames=1)
    object_index = np.array([[0, 1, 2, 3, 4]], dtype=np.uint16)
    seg = annotate.segmentation(object_index, scene)
    assert seg.dtype == np.uint16
    np.testing.assert_array_equal(seg, [[0, 0, 1, 0, 2]])
    with pytest.raises(ValueError, match="object_index"):
        annotate.segmentation(object_index + 1, scene)


def test_boxes_and_visibility_of_a_hand_made_segmentation():
    seg = np.zeros((6, 8), dtype=np.uint16)
    seg[1:4, 2:5] = 1  # rows 1-3, columns 2-4
    seg[5, 7] = 3  # one pixel at column 7, row 5
    seg[0, 0] = 1
    assert annotate.boxes_2d(seg, 3) == [[0, 0, 5, 4], None, [7, 5, 8, 6]]
    assert annotate.visibility(seg, 3) == [10, 0, 1]
    assert annotate.boxes_2d(seg, 4)[3] is None
    with pytest.raises(ValueError, match="n_instances"):
        annotate.visibility(seg, 2)


def test_boxes_3d_of_a_unit_cube():
    objs = (SceneObject("floor", background=True), SceneObject("cube", scale=(0.5, 0.5, 0.5)))
    scene = Scene(objects=objs, frames=1)
    identity = np.stack([np.eye(4)] * 2)
    corners = annotate.boxes_3d(scene, identity)
    assert corners.shape == (1, 8, 3)
    expected = np.array([[x, y, z] for z in (-0.5, 0.5) for y in (-0.5, 0.5) for x in (-0.5, 0.5)])
    np.testing.assert_allclose(corners[0], expected)
    moved = poses([[1.0, 2.0, 3.0]], [quat_z(np.pi / 2)])  # +x -> +y, +y -> -x
    corners = annotate.boxes_3d(scene, moved)
    np.testing.assert_allclose(corners[0], expected @ np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1]]).T
                               + [1.0, 2.0, 3.0], atol=1e-12)


def test_self_occlusion_of_a_spinning_sphere():
    camera = Camera(positions=((0.0, -3.0, 0.5),), look_at=((0.0, 0.0, 0.5),))
    scene = make_scene(camera, 1)
    K, cams = intrinsics(camera, RES), camera_to_world(camera, 2)
    centre = np.array([0.0, 0.0, 0.5])
    obj_t, obj_s = poses([centre]), poses([centre], [quat_z(1.2)])
    depth_t, index_t = ray_cast(scene, cams[0], obj_t)
    depth_s, index_s = ray_cast(scene, cams[1], obj_s)
    _, valid, occ = annotate.flow(depth_t, index_t, depth_s, index_s, K, K, cams[0], cams[1], obj_t, obj_s)
    on = index_t == 2
    rz = np.array([[np.cos(1.2), -np.sin(1.2), 0], [np.sin(1.2), np.cos(1.2), 0], [0, 0, 1]])
    p = (world_points(depth_t, cams[0], K)[on] - centre) @ rz.T + centre
    to_camera = cams[1][:3, 3] - p
    facing = np.einsum("ij,ij->i", (p - centre) / 0.5, to_camera / np.linalg.norm(to_camera, axis=1)[:, None])
    # The sphere is alone in front of its part of the image: a point is hidden iff it faces away.
    # Grazing points (|cos| <= 0.3) sit at the silhouette, where a pixel spans a large depth range.
    clear = np.abs(facing) > 0.3
    assert (facing[clear] < 0).sum() > 30 and (facing[clear] > 0).sum() > 30
    np.testing.assert_array_equal(occ[on][clear], facing[clear] < 0)
    assert valid[on].all()
