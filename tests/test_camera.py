"""Full camera control: quaternion poses (roll, straight down), off-centre principal point, fx != fy and
per-frame focal length, checked against an independent analytic ray caster of spheres: intrinsics,
flow between frames of different K (numpy), and (slow) the Blender camera, depth, ids, flow and point
tracks of a rendered rolling, zooming camera."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from numpy.testing import assert_allclose

from sim import annotate
from sim.errors import SceneValidationError
from sim.scene import Camera, Keyframe, Scene, SceneObject
from sim.transforms import (
    camera_to_world,
    camera_to_world_at,
    intrinsics,
    look_at_rotation,
    matrix_to_quat,
    quat_to_matrix,
    slerp,
)

RESOLUTION = (48, 32)  # not square: the vertical lens shift depends on height / width


def _roll(r: np.ndarray, angle: float) -> np.ndarray:
    """Camera-to-world rotation ``r`` turned by ``angle`` rad about its own optical axis."""
    c, s = np.cos(angle), np.sin(angle)
    return r @ np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rolling_camera() -> Camera:
    """Three frames: oblique with no roll, oblique rolled 35°, straight down rolled 70°; zooming
    30 -> 38 -> 45 mm; principal point off-centre; fy = 1.25 fx."""
    positions = ((0.5, -5.0, 2.5), (1.0, -4.6, 2.9), (0.2, -0.1, 6.0))
    down = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])
    rotations = (look_at_rotation(np.array(positions[0]), np.array([0.0, 0.0, 0.5])),
                 _roll(look_at_rotation(np.array(positions[1]), np.array([0.2, 0.0, 0.4])), np.radians(35)),
                 _roll(down, np.radians(70)))
    return Camera(focal_length_mm=(30.0, 38.0, 45.0), positions=positions,
                  quaternions=tuple(tuple(matrix_to_quat(r)) for r in rotations),
                  principal_point=(0.42, 0.61), fy_over_fx=1.25)


SPHERES = (((-0.4, 0.3, 0.6), 0.6), ((0.9, -0.2, 0.45), 0.45), ((0.0, 1.2, 0.3), 0.3))
"""(centre m, radius m) of the analytic scene's spheres, objects 1…3."""


SCRIPTED_MOVE = (-0.2, 0.0, 0.05)
SCRIPTED_TURN = np.radians(30.0)
"""Per frame, the scripted first sphere's displacement (m) and turn about +z (rad)."""


def sphere_scene(camera: Camera, frames: int = 3, scripted: bool = False) -> Scene:
    """The spheres of ``SPHERES``, no gravity, no floor; with ``scripted`` the first follows
    keyframes at frames 0 and 2 (``SCRIPTED_MOVE`` and ``SCRIPTED_TURN`` per frame)."""
    objects = [SceneObject(f"ball{i}", asset="primitive:sphere", scale=(r, r, r), position=c)
               for i, (c, r) in enumerate(SPHERES)]
    if scripted:
        turn = 2 * SCRIPTED_TURN
        end = tuple(np.array(SPHERES[0][0]) + 2 * np.array(SCRIPTED_MOVE))
        keys = (Keyframe(0, SPHERES[0][0]), Keyframe(2, end, (np.cos(turn / 2), 0.0, 0.0, np.sin(turn / 2))))
        objects[0] = SceneObject("ball0", asset="primitive:sphere", scale=(SPHERES[0][1],) * 3,
                                 keyframes=keys)
    return Scene(objects=tuple(objects), camera=camera, resolution=RESOLUTION, frames=frames,
                 gravity=(0.0, 0.0, 0.0))


def cast(K: np.ndarray, cam2world: np.ndarray, centres: np.ndarray, radii: np.ndarray,
         resolution: tuple[int, int] = RESOLUTION) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Independent analytic ray caster: per pixel centre the Euclidean depth (+inf: nothing), the
    object index (0 none, k = sphere k-1) and the world hit point, with rays K^-1 (u, v, 1)."""
    width, height = resolution
    u, v = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    d_cam = np.stack([u, v, np.ones_like(u)], -1) @ np.linalg.inv(K).T
    d_cam /= np.linalg.norm(d_cam, axis=-1, keepdims=True)
    d = d_cam @ cam2world[:3, :3].T
    o = cam2world[:3, 3]
    depth = np.full((height, width), np.inf)
    index = np.zeros((height, width), dtype=np.uint16)
    for k, (c, r) in enumerate(zip(centres, radii, strict=True)):
        oc = o - c
        b = d @ oc
        disc = b * b - (oc @ oc - r * r)
        hit = -b - np.sqrt(np.maximum(disc, 0.0))
        nearer = (disc > 0) & (hit > 0) & (hit < depth)
        depth[nearer], index[nearer] = hit[nearer], k + 1
    return depth, index, o + d * depth[..., None]


def test_intrinsics_principal_point_aspect_and_zoom():
    cam = rolling_camera()
    K = intrinsics(cam, (200, 100), 3)
    fx = np.array([30.0, 38.0, 45.0]) / 32.0 * 200
    assert_allclose(K[:, 0, 0], fx)
    assert_allclose(K[:, 1, 1], 1.25 * fx)
    assert_allclose(K[:, 0, 2], 0.42 * 200)
    assert_allclose(K[:, 1, 2], 0.61 * 100)
    assert_allclose(K[:, 0, 1], 0.0)
    assert_allclose(intrinsics(cam, (200, 100)), K[0])
    # Between frames the focal length is interpolated linearly (motion blur samples there).
    from sim.transforms import intrinsics_at
    assert_allclose(intrinsics_at(cam, (200, 100), np.array([0.5]))[0, 0, 0], 34.0 / 32.0 * 200)


def test_quaternion_pose_roll_and_straight_down():
    cam = rolling_camera()
    m = camera_to_world(cam, 3)
    assert_allclose(m[:, :3, 3], cam.positions)
    for t in range(3):
        assert_allclose(m[t, :3, :3], quat_to_matrix(cam.quaternions[t]), atol=1e-12)
    assert_allclose(m[2, :3, 2], (0.0, 0.0, -1.0), atol=1e-12)  # optical axis straight down
    # rolled 70 degrees: image x is world x turned by -70 degrees about z (seen from above, y flipped)
    assert_allclose(m[2, :3, 0], (np.cos(np.radians(70)), -np.sin(np.radians(70)), 0.0), atol=1e-12)
    # a look-at camera's pose as quaternions gives the same matrices
    look = Camera(positions=((3.0, -4.0, 2.0), (2.0, -4.0, 2.5)), look_at=((0.0, 0.0, 0.5),))
    as_quat = Camera(positions=look.positions,
                     quaternions=tuple(tuple(matrix_to_quat(r[:3, :3])) for r in camera_to_world(look, 2)))
    assert_allclose(camera_to_world(as_quat, 2), camera_to_world(look, 2), atol=1e-12)


def test_sub_frame_pose_slerps_and_holds_ends():
    cam = rolling_camera()
    mid = camera_to_world_at(cam, np.array([0.5, -1.0, 7.0]))
    assert_allclose(mid[0, :3, 3], np.mean(cam.positions[:2], axis=0))
    q = slerp(np.array(cam.quaternions[0]), np.array(cam.quaternions[1]), 0.5)
    assert_allclose(mid[0, :3, :3], quat_to_matrix(q), atol=1e-12)
    assert_allclose(mid[1], camera_to_world(cam, 1)[0])  # before frame 0: the first entry
    assert_allclose(mid[2], camera_to_world(cam, 3)[2])  # after the last frame: the last entry
    # slerp: half way between identity and 90 degrees about z is 45 degrees
    q45 = slerp(np.array([1.0, 0, 0, 0]), np.array([np.sqrt(0.5), 0, 0, np.sqrt(0.5)]), 0.5)
    assert_allclose(q45, [np.cos(np.pi / 8), 0, 0, np.sin(np.pi / 8)], atol=1e-12)
    # a single moving entry keeps moving between frames
    moving = Camera(positions=((0.0, -5.0, 1.0),), velocity=(0.2, 0.0, 0.0))
    assert_allclose(camera_to_world_at(moving, np.array([1.5]))[0, :3, 3], (0.3, -5.0, 1.0))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"quaternions": ((1.0, 0.0, 0.0, 0.0),), "look_at": ((0.0, 0.0, 0.0),)}, "look_at"),
    ({"quaternions": ((1.0, 0.0, 0.0, 1.0),)}, "quaternions[0]"),
    ({"quaternions": ((1.0, 0.0, 0.0, 0.0),), "look_at_velocity": (1.0, 0.0, 0.0)}, "look_at_velocity"),
    ({"principal_point": (0.5, 9.0)}, "principal_point"),
    ({"fy_over_fx": 0.0}, "fy_over_fx"),
    ({"focal_length_mm": (30.0, -1.0)}, "focal_length_mm[1]"),
])
def test_bad_camera_fields_are_named(kwargs, message):
    with pytest.raises(SceneValidationError, match=message.replace("[", r"\[")):
        Camera(**kwargs)


def test_per_frame_counts_checked_and_json_round_trip():
    cam = rolling_camera()
    with pytest.raises(SceneValidationError, match=r"camera.positions: got .3 entries., expected 1 or 4"):
        sphere_scene(cam, frames=4)
    scene = sphere_scene(cam)
    assert Scene.from_json(scene.to_json()) == scene
    old = '{"camera": {"positions": [[1, 2, 3]], "look_at": [[0, 0, 0]], "focal_length_mm": 35}}'
    assert Scene.from_json(old).camera.focal_length_at(0) == 35.0


def test_flow_between_frames_of_different_K_is_exact():
    """annotate.flow with a rolling, zooming camera and a moving sphere equals the analytic flow:
    the surface point seen at pixel p in frame t, moved with its sphere, projected with K_s."""
    cam = rolling_camera()
    K, c2w = intrinsics(cam, RESOLUTION, 3), camera_to_world(cam, 3)
    centres = np.array([c for c, _ in SPHERES])
    radii = np.array([r for _, r in SPHERES])
    shift = np.array([0.3, -0.1, 0.2])  # sphere 1 moves by this per frame
    poses = np.tile(np.eye(4), (3, 3, 1, 1))
    poses[:, :, :3, 3] = centres
    poses[:, 0, :3, 3] += np.arange(3)[:, None] * shift
    frames = [cast(K[t], c2w[t], poses[t, :, :3, 3], radii) for t in range(3)]
    checked = 0
    for t, s in ((0, 1), (1, 2), (2, 1)):
        depth_t, index_t, hit = frames[t]
        flow, valid, _ = annotate.flow(depth_t.astype(np.float32), index_t, frames[s][0].astype(np.float32),
                                       frames[s][1], K[t], K[s], c2w[t], c2w[s], poses[t], poses[s])
        moved = hit + (index_t == 1)[..., None] * (poses[s, 0, :3, 3] - poses[t, 0, :3, 3])
        with np.errstate(invalid="ignore"):  # inf - inf where no surface
            cam_s = (moved - c2w[s, :3, 3]) @ c2w[s, :3, :3]
        uv = cam_s[..., :2] / cam_s[..., 2:] * [K[s, 0, 0], K[s, 1, 1]] + K[s, :2, 2]
        u, v = np.meshgrid(np.arange(RESOLUTION[0]) + 0.5, np.arange(RESOLUTION[1]) + 0.5)
        expected = uv - np.stack([u, v], -1)
        assert (valid == (index_t > 0)).all()
        assert_allclose(flow[valid], expected[valid], atol=2e-3)  # float32 depth
        checked += valid.sum()
    assert checked > 300


def _interior(index: np.ndarray) -> np.ndarray:
    """bool (H, W): pixels whose four neighbours see the same object."""
    pad = np.pad(index, 1, mode="edge")
    return ((pad[1:-1, :-2] == index) & (pad[1:-1, 2:] == index) & (pad[:-2, 1:-1] == index)
            & (pad[2:, 1:-1] == index))


@pytest.mark.slow
def test_blender_camera_matches_numpy_projection(tmp_path):
    """Rendered depth and object ids of a rolling, zooming camera with an off-centre principal point
    and fy != fx (both pixel-aspect branches) agree with the analytic caster; the written flow of a
    scripted sphere moving and turning and the point tracks agree with the analytic projections."""
    from sim import load_scene, run_scene
    from sim.settings import RenderSettings

    settings = RenderSettings(samples=1, denoise=False, threads=1, point_tracks=32,
                              passes=("segmentation", "depth", "forward_flow", "forward_flow_valid"))
    radii = np.array([r for _, r in SPHERES])
    for fy_over_fx in (1.25, 0.8):
        cam = dataclasses.replace(rolling_camera(), fy_over_fx=fy_over_fx)
        scene = sphere_scene(cam, scripted=True)
        data = load_scene(run_scene(scene, settings, tmp_path, f"aspect_{fy_over_fx}").path)
        K, c2w = intrinsics(cam, RESOLUTION, 3), camera_to_world(cam, 3)
        centres = np.array([o["position"] for o in data["metadata"]["instances"]])  # (3, F, 3)
        turns = np.array([quat_to_matrix(q) for q in data["metadata"]["instances"][0]["quaternion"]])
        path = np.array(SPHERES[0][0]) + np.outer(np.arange(3), SCRIPTED_MOVE)
        assert_allclose(centres[0], path, atol=1e-12)
        assert_allclose(turns[1, :2, 0], (np.cos(SCRIPTED_TURN), np.sin(SCRIPTED_TURN)), atol=1e-12)
        assert_allclose(np.asarray(data["metadata"]["camera"]["K_per_frame"]), K)
        frames = [cast(K[t], c2w[t], centres[:, t], radii) for t in range(3)]
        for t, (depth, index, hit) in enumerate(frames):
            agree = data["segmentation"][t] == index
            assert agree.mean() > 0.97, (fy_over_fx, t, agree.mean())  # disagreement: silhouette pixels
            both = agree & (index > 0) & _interior(index)  # a silhouette pixel's depth is steep
            assert both.sum() > 40
            assert_allclose(data["depth"][t][both], depth[both], rtol=1e-4)
            boxes = annotate.boxes_2d(index, 3)  # the analytic masks' boxes; silhouettes: 1 px
            for k, inst in enumerate(data["metadata"]["instances"]):
                if boxes[k] is not None:
                    assert_allclose(inst["bbox_2d"][t], boxes[k], atol=1)
            if t == 2:
                continue
            with np.errstate(invalid="ignore"):  # inf - inf where no surface
                carried = (hit - centres[0, t]) @ turns[t] @ turns[t + 1].T + centres[0, t + 1]
                moved = np.where((index == 1)[..., None], carried, hit)
                cam_s = (moved - c2w[t + 1, :3, 3]) @ c2w[t + 1, :3, :3]
            uv = cam_s[..., :2] / cam_s[..., 2:] * [K[t + 1, 0, 0], K[t + 1, 1, 1]] + K[t + 1, :2, 2]
            u, v = np.meshgrid(np.arange(RESOLUTION[0]) + 0.5, np.arange(RESOLUTION[1]) + 0.5)
            expected = uv - np.stack([u, v], -1)
            assert_allclose(data["forward_flow"][t][both], expected[both], atol=2e-2)
        tracks = data["point_tracks"]
        for n in range(len(tracks["query_frame"])):
            k = tracks["object_index"][n]
            for s in range(3):
                turn = turns[s] if k == 0 else np.eye(3)
                world = centres[k, s] + turn @ tracks["object_point"][n]
                p = (world - c2w[s, :3, 3]) @ c2w[s, :3, :3]
                expected = p[:2] / p[2] * [K[s, 0, 0], K[s, 1, 1]] + K[s, :2, 2]
                assert_allclose(tracks["tracks"][n, s], expected, atol=1e-3)


def test_metadata_K_constant_or_per_frame():
    from sim.metadata import build_metadata, camera_intrinsics
    from sim.trajectory import Trajectory

    def meta(camera: Camera) -> dict:
        scene = sphere_scene(camera)
        n, f = len(scene.objects), scene.frames
        still = Trajectory(np.tile([o.position for o in scene.objects], (f, 1, 1)),
                           np.tile([o.quaternion for o in scene.objects], (f, 1, 1)),
                           np.zeros((f, n, 3)), np.zeros((f, n, 3)))
        return build_metadata(scene, still, None, boxes_2d=[[None] * n] * f, visibility=[[0] * n] * f)

    zoom = meta(rolling_camera())
    assert "K" not in zoom["camera"] and zoom["camera"]["focal_length_mm"] == [30.0, 38.0, 45.0]
    assert_allclose(camera_intrinsics(zoom), intrinsics(rolling_camera(), RESOLUTION, 3))
    fixed = meta(dataclasses.replace(rolling_camera(), focal_length_mm=30.0))
    assert "K_per_frame" not in fixed["camera"]
    assert_allclose(fixed["camera"]["K"], intrinsics(rolling_camera(), RESOLUTION))
    assert_allclose(camera_intrinsics(fixed), np.broadcast_to(fixed["camera"]["K"], (3, 3, 3)))
    assert fixed["camera"]["principal_point"] == [0.42, 0.61] and fixed["camera"]["fy_over_fx"] == 1.25
