"""Several cameras per scene and stereo rigs: the scene model, the rig's geometry, the disparity
pass checked against an independent reprojection, and (slow) a two-camera render end to end."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from scenes.registry import get_recipe
from sim.dataset import SceneDataset
from sim.errors import OutputError, SceneValidationError
from sim.io import find_views, load_scene
from sim.pipeline import run_scene
from sim.scene import Camera, Light, Scene, SceneObject
from sim.settings import RenderSettings
from sim.stereo import disparity, rectified_baseline, stereo_rig, with_stereo_rig
from sim.transforms import camera_to_world, intrinsics, pixel_rays

CAM = Camera(positions=((0.0, -6.0, 2.5),), look_at=((0.0, 0.0, 0.5),), velocity=(0.1, 0.0, 0.0))


def test_one_camera_shorthand_and_old_scene_json_still_load():
    scene = Scene(camera=CAM, frames=3)
    assert scene.cameras == (CAM,) and scene.camera_names == ("camera",)
    data = json.loads(scene.to_json())
    assert "cameras" not in data  # a one-camera scene.json is as before (format 1.2)
    assert Scene.from_dict(data) == scene
    assert Scene.from_json(scene.to_json()) == scene


def test_several_cameras_round_trip_and_view_puts_the_chosen_camera_first():
    a, b, c = (Camera(name=n, positions=((x, -6.0, 2.0),)) for n, x in (("a", 0.0), ("b", 1.0), ("c", 2.0)))
    scene = Scene(cameras=(a, b, c), frames=2)
    assert scene.camera == a and scene.camera_names == ("a", "b", "c")
    assert Scene.from_json(scene.to_json()) == scene
    assert "camera" not in json.loads(scene.to_json())
    assert dataclasses.replace(scene, cameras=(c, a)).camera == c
    mono = Scene(camera=a)
    assert dataclasses.replace(mono, camera=b).cameras == (b,)  # the shorthand replaces the one camera
    view = scene.view("b")
    assert view.camera == b and view.camera_names == ("b", "a", "c")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"cameras": (Camera(name="x"), Camera(name="x"))},
            "cameras: got ['x'], expected unique camera names",
        ),
            ({"cameras": ("left",)}, "cameras: got ('left',), expected a list of Camera"),
    ],
)
def test_bad_cameras_are_refused_with_the_field_named(kwargs, message):
    with pytest.raises(
        SceneValidationError,
        match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]"),
    ):
        Scene(**kwargs)


def test_bad_camera_name_and_unknown_view():
    with pytest.raises(SceneValidationError, match="name: got 'a/b'"):
        Camera(name="a/b")
    with pytest.raises(
        SceneValidationError, match="camera: got 'top', expected one of the scene's cameras: camera"
    ):
        Scene().view("top")


def test_stereo_rig_is_rectified_with_the_baseline_along_camera_x():
    frames = 4
    left, right = stereo_rig(CAM, 0.25)
    assert (left.name, right.name) == ("left", "right")
    centre, lc, rc = (camera_to_world(c, frames) for c in (CAM, left, right))
    np.testing.assert_allclose(lc[:, :3, :3], centre[:, :3, :3], atol=1e-12)
    np.testing.assert_allclose(rc[:, :3, :3], centre[:, :3, :3], atol=1e-12)
    np.testing.assert_allclose(rc[:, :3, 3] - lc[:, :3, 3], 0.25 * centre[:, :3, 0], atol=1e-12)
    np.testing.assert_allclose((lc[:, :3, 3] + rc[:, :3, 3]) / 2, centre[:, :3, 3], atol=1e-12)
    scene = Scene(cameras=(left, right), frames=frames)
    assert rectified_baseline(scene) == pytest.approx(0.25)
    assert rectified_baseline(scene.view("right")) == pytest.approx(0.25)


def test_disparity_needs_a_rectified_pair():
    with pytest.raises(SceneValidationError, match="needs a rectified stereo pair"):
        rectified_baseline(Scene())
    toed_in = Scene(
        cameras=(Camera(name="l", positions=((-0.1, -6, 2),)), Camera(name="r", positions=((0.1, -6, 2),)))
    )
    with pytest.raises(SceneValidationError, match="not parallel"):
        rectified_baseline(toed_in)
    zoomed = Scene(
        cameras=(
            Camera(name="l", positions=((-0.1, -6, 2),), look_at=((-0.1, 0, 2),)),
            Camera(name="r", positions=((0.1, -6, 2),), look_at=((0.1, 0, 2),), focal_length_mm=50),
        )
    )
    with pytest.raises(SceneValidationError, match="different intrinsics"):
        rectified_baseline(zoomed)


def _world_points(camera: Camera, t: int, depth: np.ndarray, resolution: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) world points seen through each pixel centre at Euclidean ``depth``."""
    c2w = camera_to_world(camera, t + 1)[t]
    rays = pixel_rays(intrinsics(camera, resolution), resolution)
    with np.errstate(invalid="ignore"):  # inf depth: no surface, a non-finite point
        return (rays * depth[..., None].astype(np.float64)) @ c2w[:3, :3].T + c2w[:3, 3]


def _column_in(camera: Camera, t: int, points: np.ndarray, resolution: tuple[int, int]) -> np.ndarray:
    """(H, W, 2) pixel coordinates (x, y) of world ``points`` in ``camera`` at frame t."""
    w2c = np.linalg.inv(camera_to_world(camera, t + 1)[t])
    p = points @ w2c[:3, :3].T + w2c[:3, 3]
    uvw = p @ intrinsics(camera, resolution).T
    return uvw[..., :2] / uvw[..., 2:]


def test_disparity_is_the_horizontal_offset_of_the_same_point_in_the_other_view():
    resolution, frames = (40, 30), 3
    left, right = stereo_rig(CAM, 0.3)
    rng = np.random.default_rng(1)
    depth = rng.uniform(2.0, 12.0, (30, 40)).astype(np.float32)
    depth[0, :5] = np.inf
    for t in range(frames):
        rays_z = pixel_rays(intrinsics(left, resolution), resolution)[..., 2]
        d = disparity((depth * rays_z).astype(np.float32), intrinsics(left, resolution)[0, 0], 0.3)
        uv = _column_in(right, t, _world_points(left, t, depth, resolution), resolution)
        cols, rows = np.meshgrid(np.arange(40) + 0.5, np.arange(30) + 0.5)
        finite = np.isfinite(depth)
        np.testing.assert_allclose(uv[..., 1][finite], rows[finite], atol=1e-9)  # same row
        np.testing.assert_allclose((cols - uv[..., 0])[finite], d[finite], rtol=1e-5)
        assert np.all(d[~finite] == 0)


def test_every_recipe_takes_stereo_baseline():
    recipe = get_recipe("movi-a")
    assert "stereo_baseline" in [p.name for p in recipe.params]
    scene = recipe(5, {"stereo_baseline": 0.2})
    assert scene.camera_names == ("left", "right")
    assert rectified_baseline(scene) == pytest.approx(0.2)
    mono = recipe(5)
    assert mono.camera_names == ("camera",)
    assert [o.name for o in scene.objects] == [o.name for o in mono.objects]  # same scene, other camera
    assert with_stereo_rig(mono, 0.2) == scene


def _two_camera_scene() -> Scene:
    floor = SceneObject(
        "floor", scale=(4.0, 4.0, 0.1), position=(0.0, 0.0, -0.1), static=True, background=True
    )
    ball = SceneObject("ball", asset="primitive:sphere", scale=(0.5,) * 3, position=(-0.8, 0.0, 1.0))
    box = SceneObject("box", scale=(0.4,) * 3, position=(0.8, 0.3, 0.4))
    camera = Camera(positions=((0.0, -5.0, 2.0),), look_at=((0.0, 0.0, 0.5),))
    mono = Scene(
        objects=(floor, ball, box),
        camera=camera,
        lights=(Light(),),
        resolution=(32, 24),
        frames=2,
        frame_rate=12,
        step_rate=240,
    )
    return with_stereo_rig(mono, 0.4)


@pytest.mark.slow
def test_two_cameras_render_each_view_like_a_one_camera_scene_with_exact_disparity(tmp_path):
    scene = _two_camera_scene()
    settings = RenderSettings(
        samples=1, denoise=False, passes=("rgba", "segmentation", "depth", "disparity", "forward_flow")
    )
    path = run_scene(scene, settings, tmp_path, "stereo", helper=False).path
    assert sorted(p.name for p in path.iterdir()) == [
        "events.json",
        "left",
        "metadata.json",
        "right",
        "scene.json",
    ]
    with pytest.raises(OutputError, match="a scene of cameras left, right; choose one"):
        load_scene(path)
    assert find_views(tmp_path) == [path / "left", path / "right"]
    assert len(SceneDataset(tmp_path, passes=("depth",), camera="right")) == 1
    assert len(SceneDataset(tmp_path, passes=("depth",))) == 2  # every view a sample
    views = {c: load_scene(path, camera=c) for c in ("left", "right")}
    assert views["left"]["scene"] == scene.view("left")
    # physics once: both views carry the same trajectory
    for a, b in zip(
        views["left"]["metadata"]["instances"], views["right"]["metadata"]["instances"], strict=True
    ):
        assert a["position"] == b["position"]
    # each view is what a one-camera scene with that camera renders
    alone = dataclasses.replace(scene, camera=scene.cameras[1], cameras=())
    mono = load_scene(
        run_scene(
            alone,
            RenderSettings(samples=1, denoise=False, passes=("segmentation", "depth")),
            tmp_path,
            "right_alone",
            helper=False,
        ).path
    )
    np.testing.assert_array_equal(mono["depth"], views["right"]["depth"])
    np.testing.assert_array_equal(mono["segmentation"], views["right"]["segmentation"])
    # disparity: a left pixel's surface point is seen disparity pixels further left in the right view,
    # on the same row, where the right view sees a surface at that point's distance
    left, right = scene.cameras
    cols = np.arange(scene.resolution[0]) + 0.5
    for t in range(scene.frames):
        depth, d = views["left"]["depth"][t], views["left"]["disparity"][t]
        points = _world_points(left, t, depth, scene.resolution)
        uv = _column_in(right, t, points, scene.resolution)
        seen = np.isfinite(depth)
        np.testing.assert_allclose((cols[None, :] - uv[..., 0])[seen], d[seen], rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(d[~seen], 0)
        x = np.floor(np.where(seen, uv[..., 0], -1)).astype(int)
        inside = seen & (x >= 0) & (x < scene.resolution[0])
        right_depth = views["right"]["depth"][t][np.nonzero(inside)[0], x[inside]]
        distance = np.linalg.norm(points[inside] - camera_to_world(right, t + 1)[t, :3, 3], axis=-1)
        assert inside.sum() > 100
        assert np.mean(np.abs(right_depth - distance) < 0.05 * distance) > 0.9
