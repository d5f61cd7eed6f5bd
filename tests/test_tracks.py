"""sim.tracks against an analytic scene: the ray caster of ``tests.raycast`` (a floor slab and three
spheres) gives each frame's exact depth and object index; the point tracks must follow the analytic
motion and be flagged occluded exactly where the geometry hides them."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sim.annotate import hidden
from sim.errors import OutputError
from sim.format import POINT_TRACK_FIELDS
from sim.io import SceneWriter, load_scene
from sim.metadata import build_metadata
from sim.scene import Camera, Scene, SceneObject
from sim.tracks import TrackSampler
from sim.trajectory import Trajectory
from sim.transforms import camera_to_world, intrinsics, pixel_rays, project, quat_to_matrix
from tests import raycast

RESOLUTION = (96, 72)
RADII = {1: 0.5, 2: 0.45, 3: 0.3}  # scene object index -> sphere radius (m); object 0 is the floor
SPIN = 0.35  # rad per frame: sphere A turns about +z


def tracking_scene(frames: int = 5, seed: int = 0) -> Scene:
    spheres = tuple(SceneObject(name, asset="primitive:sphere", scale=(RADII[i],) * 3)
                    for i, name in ((1, "a"), (2, "b"), (3, "c")))
    return Scene(objects=(SceneObject("floor", scale=(20.0, 20.0, 0.1), position=(0.0, 0.0, -0.1),
                                      static=True, background=True), *spheres),
                 camera=Camera(focal_length_mm=50.0, positions=((0.0, -6.0, 2.0),),
                               look_at=((0.0, 0.0, 0.8),)),
                 resolution=RESOLUTION, frames=frames, seed=seed)


def centres(t: float) -> dict[int, np.ndarray]:
    """Sphere centres (m) at frame t. A moves slowly along +x (and spins); B crosses in front of A,
    covering it entirely at t = 2; C runs out of view to the right after t = 1."""
    return {1: np.array([0.05 * t, 0.0, 0.8]), 2: np.array([0.05 + 1.5 * (t - 2), -3.0, 1.4]),
            3: np.array([-1.0 + 2.5 * t, 2.0, 0.3])}


def spin(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def trajectory(scene: Scene) -> Trajectory:
    f, n = scene.frames, len(scene.objects)
    pos = np.zeros((f, n, 3))
    quat = np.zeros((f, n, 4))
    quat[..., 0] = 1.0
    pos[:, 0] = (0.0, 0.0, -0.1)
    for t in range(f):
        for i, c in centres(t).items():
            pos[t, i] = c
        quat[t, 1] = (np.cos(SPIN * t / 2), 0.0, 0.0, np.sin(SPIN * t / 2))
    return Trajectory(pos, quat, np.zeros((f, n, 3)), np.zeros((f, n, 3)))


def ray_cast(scene: Scene, t: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact (depth float32 (H, W) m, object_index uint16 (H, W)) of frame t (``tests.raycast``)."""
    frame = raycast.render(scene, camera_to_world(scene.camera, scene.frames)[t],
                           trajectory(scene).object_to_world()[t])
    return frame["depth"], frame["index"]


def run_tracker(scene: Scene, count: int) -> dict[str, np.ndarray]:
    sampler = TrackSampler(scene, trajectory(scene), count)
    frames = [ray_cast(scene, t) for t in range(scene.frames)]
    for t, (depth, index) in enumerate(frames):
        sampler.observe(t, depth, index)
    return sampler.finish((depth, segmentation(index)) for depth, index in frames)


def segmentation(index: np.ndarray) -> np.ndarray:
    """The written segmentation of an object index image: every sphere is an instance (id = scene
    object index), the floor (object 0, index 1) is background."""
    return np.where(index > 1, index - 1, 0).astype(np.uint16)


@pytest.fixture(scope="module")
def tracked() -> tuple[Scene, dict[str, np.ndarray], np.ndarray]:
    """The scene, its tracks and, per point, its world position (m) at its query frame from the ray
    caster: the surface seen through the pixel whose centre the track gives there."""
    scene = tracking_scene()
    tracks = run_tracker(scene, 400)
    depths = [ray_cast(scene, t)[0] for t in range(scene.frames)]
    cam2world = camera_to_world(scene.camera, scene.frames)
    rays = pixel_rays(intrinsics(scene.camera, scene.resolution), scene.resolution)
    world = []
    for n, t in enumerate(tracks["query_frame"]):
        col, row = np.floor(tracks["tracks"][n, t]).astype(int)
        world.append(cam2world[t, :3, 3] + cam2world[t, :3, :3] @ rays[row, col] * depths[t][row, col])
    return scene, tracks, np.array(world)


def test_query_points_lie_at_visible_pixel_centres_on_every_kind_of_surface(tracked):
    scene, tracks, world = tracked
    n = len(tracks["query_frame"])
    assert n == 400 and set(tracks) == set(POINT_TRACK_FIELDS)
    at_query = tracks["tracks"][np.arange(n), tracks["query_frame"]]
    np.testing.assert_allclose(at_query % 1.0, 0.5, atol=1e-4)
    assert not tracks["occluded"][np.arange(n), tracks["query_frame"]].any()
    objects = np.bincount(tracks["object_index"], minlength=4)
    assert objects[0] > 100 and objects[1:].sum() > 100 and objects.min() > 0  # floor and every sphere
    assert set(tracks["query_frame"]) == set(range(scene.frames))
    for n in np.flatnonzero(tracks["object_index"] == 0)[:20]:  # floor points sit on z = 0
        np.testing.assert_allclose(world[n, 2], 0.0, atol=1e-5)


def test_a_point_on_a_moving_object_follows_its_pose(tracked):
    scene, tracks, world = tracked
    K = intrinsics(scene.camera, scene.resolution)
    world2cam = np.linalg.inv(camera_to_world(scene.camera, scene.frames))
    on_a = np.flatnonzero(tracks["object_index"] == 1)
    assert len(on_a) > 10
    for n in on_a:
        q = tracks["query_frame"][n]
        offset = world[n] - centres(q)[1]
        for s in range(scene.frames):
            moved = centres(s)[1] + spin(SPIN * (s - q)) @ offset  # the analytic motion of A
            cam = world2cam[s, :3, :3] @ moved + world2cam[s, :3, 3]
            np.testing.assert_allclose(tracks["tracks"][n, s], project(K, cam), atol=0.01, rtol=0)


def _facing(scene: Scene, q: int, world: np.ndarray, s: int) -> float:
    """Cosine between the outward normal of sphere A at the point that was at ``world`` in frame
    ``q`` and, in frame s, the direction from it to the camera."""
    normal = spin(SPIN * (s - q)) @ (world - centres(q)[1]) / RADII[1]
    point = centres(s)[1] + normal * RADII[1]
    to_camera = camera_to_world(scene.camera, scene.frames)[s, :3, 3] - point
    return float(normal @ to_camera / np.linalg.norm(to_camera))


def test_a_point_hidden_behind_another_object_is_occluded_there_and_visible_elsewhere(tracked):
    scene, tracks, world = tracked
    on_a = np.flatnonzero(tracks["object_index"] == 1)
    assert tracks["occluded"][on_a, 2].all()  # B covers all of A in frame 2
    checked = {"visible": 0, "self-occluded": 0}
    for n in on_a:
        for s in (0, 1, 3, 4):
            facing = _facing(scene, tracks["query_frame"][n], world[n], s)
            if facing > 0.3:  # on the side of A facing the camera, nothing in front: seen
                assert not tracks["occluded"][n, s], (n, s)
                checked["visible"] += 1
            elif facing < -0.5:  # turned to A's far side: hidden by A's own front
                assert tracks["occluded"][n, s], (n, s)
                checked["self-occluded"] += 1
    assert checked["visible"] > 50 and checked["self-occluded"] > 0
    # Points visible in frames 1 and 3 (either side of frame 2) really are hidden only by B.
    assert (~tracks["occluded"][on_a][:, [1, 3]]).all(axis=1).sum() > 5


def test_a_point_that_leaves_the_image_is_flagged_occluded_there(tracked):
    scene, tracks, world = tracked
    on_c = np.flatnonzero(tracks["object_index"] == 3)
    assert len(on_c) > 0
    width, _ = scene.resolution
    assert (tracks["tracks"][on_c][:, 2:, 0] > width).all()  # C has left the image to the right
    assert tracks["occluded"][on_c][:, 2:].all()


def test_tracks_are_seeded_by_the_scene_seed(tracked):
    scene, tracks, world = tracked
    again = run_tracker(scene, 400)
    for name in POINT_TRACK_FIELDS:
        np.testing.assert_array_equal(again[name], tracks[name])
    other = run_tracker(dataclasses.replace(scene, seed=1), 400)
    assert not np.array_equal(other["query_frame"], tracks["query_frame"])


def test_point_tracks_round_trip_through_the_scene_directory(tmp_path, tracked):
    scene, tracks, world = tracked
    with SceneWriter(tmp_path, "scene_00000") as writer:
        for t in range(scene.frames):
            depth, index = ray_cast(scene, t)
            writer.write_frame(t, {"depth": depth, "segmentation": segmentation(index)})
        with pytest.raises(OutputError, match="tracks is float64"):
            writer.write_point_tracks({**tracks, "tracks": tracks["tracks"].astype(np.float64)}, scene.frames)
        with pytest.raises(OutputError, match=r"tracks is float32 \(400, 5, 2\), expected .* \(400, 4, 2\)"):
            writer.write_point_tracks(tracks, scene.frames - 1)
        writer.write_point_tracks(tracks, scene.frames)
        meta = build_metadata(scene, trajectory(scene), None, boxes_2d=[[None] * 3] * scene.frames,
                              visibility=[[0] * 3] * scene.frames)
        path = writer.finish(scene, meta, [])
    loaded = load_scene(path, passes=[])["point_tracks"]
    for name, field in POINT_TRACK_FIELDS.items():
        assert loaded[name].dtype == field.dtype
        np.testing.assert_array_equal(loaded[name], tracks[name])
    (path / "point_tracks.npz").write_bytes(b"damaged")
    with pytest.raises(OutputError, match="point_tracks.npz: cannot be read"):
        load_scene(path, passes=[])


def test_hidden_applies_the_flow_occlusion_tolerance():
    """A surface 5 m away through every pixel (slack 1e-3 × 5 m + 1e-4 m = 5.1 mm, no slope): points on
    pixel-centre rays are hidden from 5.1 mm behind it, and out of view outside the image."""
    K = np.array([[20.0, 0.0, 4.0], [0.0, 20.0, 3.0], [0.0, 0.0, 1.0]])
    depth = np.full((6, 8), 5.0, dtype=np.float32)
    labels = np.ones((6, 8), dtype=np.int32)
    ray = pixel_rays(K, (8, 6))[2, 5]
    dist = np.array([4.0, 5.0, 5.004, 5.006, 6.0])
    points = np.concatenate([ray * dist[:, None], [[5.0, 0.0, 1.0], [0.0, 0.0, -1.0]]])
    expected = [False, False, False, True, True, True, True]  # the last two: outside, behind the camera
    np.testing.assert_array_equal(hidden(points, np.ones(7, dtype=np.int32), depth, labels, K), expected)


def test_observe_wants_frames_in_order():
    scene = tracking_scene()
    sampler = TrackSampler(scene, trajectory(scene), 4)
    with pytest.raises(ValueError, match="expected frame 0"):
        sampler.observe(1, *ray_cast(scene, 1))


@pytest.mark.slow
def test_rendered_point_tracks_follow_the_written_poses(tmp_path):
    from scenes import get_recipe
    from sim.pipeline import run_scene
    from sim.settings import RenderSettings

    scene = dataclasses.replace(get_recipe("movi-a")(5, {}), resolution=(32, 24), frames=4)
    result = run_scene(scene, RenderSettings(samples=1, denoise=False, threads=1, point_tracks=24),
                       tmp_path, "scene_00000")
    data = load_scene(result.path, passes=["segmentation"])
    tracks, meta = data["point_tracks"], data["metadata"]
    n = len(tracks["query_frame"])
    assert n == 24 and meta["render_settings"]["point_tracks"] == 24
    assert not tracks["occluded"][np.arange(n), tracks["query_frame"]].any()
    poses = {o["object_index"]: np.asarray(o["object_to_world"])
             for o in meta["instances"] + meta["background_objects"]}
    K = np.asarray(meta["camera"]["K"])
    for k in range(n):
        pose = poses[int(tracks["object_index"][k])]  # (F, 4, 4)
        world = pose[:, :3, :3] @ tracks["object_point"][k] + pose[:, :3, 3]
        w2c = np.asarray(meta["camera"]["world_to_camera"])
        cam = np.einsum("fij,fj->fi", w2c[:, :3, :3], world) + w2c[:, :3, 3]
        np.testing.assert_allclose(tracks["tracks"][k], project(K, cam), atol=0.01, rtol=0)
        # At its query frame a point on an instance lies in that instance's segmentation.
        t = tracks["query_frame"][k]
        x, y = tracks["tracks"][k, t]
        instance = [o["id"] for o in meta["instances"] if o["object_index"] == tracks["object_index"][k]]
        assert data["segmentation"][t, int(y), int(x)] == (instance[0] if instance else 0)


def test_quaternions_of_the_test_trajectory_match_its_spin():
    scene = tracking_scene()
    traj = trajectory(scene)
    np.testing.assert_allclose(quat_to_matrix(traj.quaternions[3, 1]), spin(3 * SPIN), atol=1e-12)
