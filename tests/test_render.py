"""sim.render against analytic geometry: a numpy ray caster of the exact primitives predicts every
pixel's object, depth, normal and object coordinate; plus determinism, RGB and output hygiene."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sim.console import quiet_output
from sim.errors import OutputError, RenderError
from sim.frame import RENDER_OUTPUTS
from sim.passes import DEFAULT_PASSES
from sim.render import RenderedFrame, render
from sim.scene import Background, Camera, Light, Material, Scene, SceneObject
from sim.settings import RenderSettings
from sim.trajectory import Trajectory
from sim.transforms import camera_to_world, intrinsics, pixel_rays
from tests import raycast

GT_PASSES = tuple(p for p in DEFAULT_PASSES if p != "rgba")

RESOLUTION = (64, 48)  # not square, so a swapped width/height or a row flip shows
SETTINGS = RenderSettings(samples=4, denoise=False, max_bounces=2, threads=1)
# Cycles' camera rays pass ~4e-4 px from the pixel centres (constant, whatever the resolution or filter):
# 3e-5 relative depth on the grazing floor here; spheres are exact, cylinders have 256 segments.
DEPTH_RTOL = {"cube": 1e-4, "sphere": 1e-4, "cylinder": 2e-4}
GRAZING = 1e-3  # a pixel whose ray passes this close (canonical units) to an edge may see either side
STEEP = 3e-2  # values are compared away from silhouettes, where a 4e-4 px ray offset moves the hit a lot


def _scene(frames: int = 2, resolution: tuple[int, int] = RESOLUTION) -> Scene:
    s = np.sqrt(0.5)
    objects = (
        SceneObject("floor", scale=(6.0, 6.0, 0.5), position=(0.0, 0.0, -0.5), static=True,
                    background=True),
        SceneObject("ball", asset="primitive:sphere", scale=(0.6,) * 3, position=(-0.2, 0.3, 0.6),
                    material=Material(color=(0.8, 0.1, 0.1))),
        SceneObject("box", scale=(0.3, 0.5, 0.4), position=(1.3, -0.4, 0.4),
                    quaternion=(np.cos(0.3), 0.0, 0.0, np.sin(0.3)),
                    material=Material(color=(0.1, 0.2, 0.9), metallic=1.0, roughness=0.3)),
        SceneObject("can", asset="primitive:cylinder", scale=(0.35, 0.35, 0.7),
                    position=(-1.2, -0.9, 0.7), quaternion=(s, s, 0.0, 0.0),
                    material=Material(color=(0.1, 0.8, 0.2))),
    )
    path = tuple((1.1 + 0.2 * t, -4.6, 2.9 + 0.1 * t) for t in range(frames))  # the camera moves too
    camera = Camera(focal_length_mm=30.0, positions=path, look_at=((0.1, 0.0, 0.4),))
    return Scene(objects=objects, camera=camera, lights=(Light(position=(2.0, -1.0, 6.0)),),
                 resolution=resolution, frames=frames)


def _trajectory(scene: Scene, moving: bool = True) -> Trajectory:
    """Initial poses held; if ``moving``, the ball (object 1) moves +0.25 m along x per frame and the
    box (object 2) turns 0.2 rad per frame about z."""
    f, n = scene.frames, len(scene.objects)
    pos = np.array([[o.position for o in scene.objects]] * f, dtype=np.float64)
    quat = np.array([[o.quaternion for o in scene.objects]] * f, dtype=np.float64)
    if moving:
        pos[:, 1, 0] += 0.25 * np.arange(f)
        angle = 0.3 + 0.1 * np.arange(f)
        quat[:, 2] = np.stack([np.cos(angle), 0 * angle, 0 * angle, np.sin(angle)], axis=1)
    zeros = np.zeros((f, n, 3))
    return Trajectory(pos, quat, zeros, zeros)


def _render_all(scene: Scene, settings: RenderSettings = SETTINGS, moving: bool = True,
                **kwargs) -> list[RenderedFrame]:
    return list(render(scene, _trajectory(scene, moving), settings, **kwargs))


@pytest.fixture(scope="module")
def rendered() -> tuple[Scene, list[RenderedFrame], dict[str, float]]:
    scene = _scene()
    timings: dict[str, float] = {}
    return scene, _render_all(scene, timings=timings), timings


def _world_rays(scene: Scene, t: int) -> tuple[np.ndarray, np.ndarray]:
    """Camera centre (3,) and unit world ray directions (H, W, 3) through the pixel centres."""
    c2w = camera_to_world(scene.camera, scene.frames)[t]
    rays = pixel_rays(intrinsics(scene.camera, scene.resolution), scene.resolution)
    return c2w[:3, 3], rays @ c2w[:3, :3].T


def _ray_cast(scene: Scene, trajectory: Trajectory, t: int, grow: float = 1.0) -> dict[str, np.ndarray]:
    """Analytic ground truth of frame t (``tests.raycast``): index (H, W), depth, world normal, object
    coordinates."""
    return raycast.render(scene, camera_to_world(scene.camera, scene.frames)[t],
                          trajectory.object_to_world()[t], grow=grow)


def _stable(scene: Scene, trajectory: Trajectory, t: int, margin: float) -> np.ndarray:
    """bool (H, W): the pixel sees the same object when every shape shrinks or grows by ``margin``."""
    inner, exact, outer = (_ray_cast(scene, trajectory, t, grow=1 + g)["index"] for g in (-margin, 0, margin))
    return (inner == exact) & (exact == outer)


@pytest.mark.slow
def test_frames_shapes_dtypes_and_order(rendered):
    scene, frames, timings = rendered
    width, height = scene.resolution
    assert [f.frame for f in frames] == list(range(scene.frames))
    for f in frames:
        assert f["rgba"].dtype == np.uint8 and f["rgba"].shape == (height, width, 4)
        assert f["depth"].dtype == np.float32 and f["depth"].shape == (height, width)
        assert f["normal"].dtype == np.float32 and f["normal"].shape == (height, width, 3)
        assert f["object_index"].dtype == np.uint16 and f["object_index"].shape == (height, width)
        coords = f["object_coordinates"]
        assert coords.dtype == np.float32 and coords.shape == (height, width, 3)
    assert set(timings) == {"build_s", "rgb_render_s", "gt_render_s", "decode_s"}
    assert all(v > 0 for v in timings.values())


@pytest.mark.slow
def test_ground_truth_matches_analytic_ray_cast(rendered):
    """Every pixel against exact ray casting at its centre: a row flip, a half-pixel offset, a
    wrong focal length, a blended id at an edge or a stale pose would all fail here."""
    scene, frames, _ = rendered
    trajectory = _trajectory(scene)
    for f in frames:
        exact = _ray_cast(scene, trajectory, f.frame)
        clear, interior = (_stable(scene, trajectory, f.frame, m) for m in (GRAZING, STEEP))
        assert clear.mean() > 0.97
        np.testing.assert_array_equal(f["object_index"][clear], exact["index"][clear])
        assert set(np.unique(f["object_index"])) == set(range(len(scene.objects) + 1))
        for k, obj in enumerate(scene.objects, start=1):
            m = interior & (exact["index"] == k)
            assert m.sum() > 20, obj.name
            np.testing.assert_allclose(f["depth"][m], exact["depth"][m], rtol=DEPTH_RTOL[obj.shape],
                                       err_msg=obj.name)
            cos = (f["normal"][m] * exact["normal"][m]).sum(-1)
            assert cos.min() > np.cos(np.radians(0.1)), obj.name
            np.testing.assert_allclose(f["object_coordinates"][m], exact["coords"][m], atol=2e-4,
                                       err_msg=obj.name)
        empty = f["object_index"] == 0
        assert np.isposinf(f["depth"][empty]).all() and (f["normal"][empty] == 0).all()
        assert (f["object_coordinates"][empty] == 0).all()
        assert f["object_coordinates"].min() >= 0 and f["object_coordinates"].max() <= 1


@pytest.mark.slow
def test_sphere_points_back_project_onto_the_sphere(rendered):
    """depth × the pixel's ray from K and camera_to_world lands on the sphere; normal = (p − c)/r."""
    scene, frames, _ = rendered
    trajectory = _trajectory(scene)
    radius = scene.objects[1].scale[0]
    for f in frames:
        origin, dirs = _world_rays(scene, f.frame)
        mask = f["object_index"] == 2
        p = origin + f["depth"][mask][:, None] * dirs[mask]
        offset = p - trajectory.positions[f.frame, 1]
        np.testing.assert_allclose(np.linalg.norm(offset, axis=1), radius, rtol=1e-4)
        np.testing.assert_allclose(f["normal"][mask], offset / radius, atol=1e-3)


@pytest.mark.slow
def test_rgb_is_lit_opaque_and_follows_the_poses(rendered):
    _, frames, _ = rendered
    for f in frames:
        assert (f["rgba"][..., 3] == 255).all()
        assert f["rgba"][..., :3].std() > 10
        red = f["rgba"][f["object_index"] == 2][:, :3].astype(int)
        assert (red[:, 0] > red[:, 1] + 40).mean() > 0.9  # the red ball is where the ground truth says


def _standard_srgb(linear: float) -> int:
    encoded = 12.92 * linear if linear <= 0.0031308 else 1.055 * linear ** (1 / 2.4) - 0.055
    return round(255 * encoded)


@pytest.mark.slow
def test_background_colour_goes_through_the_plain_srgb_curve():
    """'Standard' view transform: a linear background colour c shows as sRGB(c), no tone mapping."""
    colour = (0.02, 0.2, 0.6)
    scene = dataclasses.replace(_scene(frames=1, resolution=(32, 24)),
                                background=Background(color=colour, strength=1.0))
    f = _render_all(scene)[0]
    sky = f["object_index"] == 0
    for axis in (0, 1):  # away from object edges, where the pixel filter mixes in the surface
        sky &= np.roll(sky, 1, axis) & np.roll(sky, -1, axis)
    assert sky.sum() > 50
    expected = [_standard_srgb(c) for c in colour]
    assert (np.abs(f["rgba"][sky][:, :3].astype(int) - expected) <= 1).all()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sun", "point", "area"])
def test_light_shines_from_its_position(kind):
    """A cube lit from −x: its −x face (found by the normal pass) is brighter than its −y face."""
    cube = SceneObject("cube", scale=(0.5, 0.5, 0.5), position=(0.0, 0.0, 0.5))
    light = Light(kind=kind, position=(-2.0, 0.0, 0.5), look_at=(0.0, 0.0, 0.5),
                  intensity={"sun": 5.0, "point": 500.0, "area": 500.0}[kind])
    scene = Scene(objects=(cube,), lights=(light,), background=Background(color=(0.0, 0.0, 0.0)),
                  camera=Camera(positions=((-3.0, -4.0, 2.0),), look_at=((0.0, 0.0, 0.5),)),
                  resolution=(32, 32), frames=1)
    f = _render_all(scene, moving=False)[0]
    lum = f["rgba"][..., :3].astype(float).mean(-1)
    lit, unlit = f["normal"][..., 0] < -0.99, f["normal"][..., 1] < -0.99
    assert lit.sum() > 10 and unlit.sum() > 10
    assert lum[lit].mean() > lum[unlit].mean() + 50


@pytest.mark.slow
def test_repeated_render_is_identical_and_only_the_needed_outputs_are_rendered():
    """Blender is reset between calls (same results after rendering another scene); a frame holds
    exactly the render outputs its passes need, with the same values as a full render."""
    scene = _scene(frames=1)
    settings = RenderSettings(samples=16, denoise=True, threads=1)
    first = _render_all(scene, settings)[0]
    _render_all(dataclasses.replace(scene, objects=scene.objects[:2], resolution=(40, 30)), moving=False)
    second = _render_all(scene, settings)[0]
    gt_only = _render_all(scene, dataclasses.replace(settings, passes=GT_PASSES))[0]
    labels = _render_all(scene, dataclasses.replace(settings, passes=("depth", "segmentation")))[0]
    rgb_only = _render_all(scene, dataclasses.replace(settings, passes=("rgba",)))[0]
    assert set(first) == set(RENDER_OUTPUTS) - {"amodal"}
    assert set(gt_only) == set(RENDER_OUTPUTS) - {"rgba", "amodal"}
    assert set(labels) == {"depth", "object_index"} and set(rgb_only) == {"rgba"}
    np.testing.assert_array_equal(first["rgba"], second["rgba"])
    np.testing.assert_array_equal(first["rgba"], rgb_only["rgba"])
    for frame in (second, gt_only, labels):
        for name in frame:
            np.testing.assert_array_equal(first[name], frame[name])


@pytest.mark.slow
def test_denoise_guides_change_only_the_denoised_image():
    scene = _scene(frames=1)
    plain, guided = (_render_all(scene, RenderSettings(samples=4, denoise_guides=guides))[0]
                     for guides in (False, True))
    assert np.abs(plain["rgba"].astype(int) - guided["rgba"].astype(int)).max() > 0  # another denoiser input
    np.testing.assert_array_equal(plain["depth"], guided["depth"])


@pytest.mark.slow
def test_blender_output_goes_to_the_log_not_the_terminal(capfd, tmp_path):
    scene = _scene(frames=1, resolution=(16, 12))
    _render_all(scene)
    log = tmp_path / "render.log"
    _render_all(scene, log_path=log)
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    assert "Saved:" in log.read_text()
    with pytest.raises(OutputError, match="^log_path: cannot open .*missing"):
        _render_all(scene, log_path=tmp_path / "missing" / "render.log")


@pytest.mark.slow
def test_one_render_at_a_time():
    scene = _scene(frames=2, resolution=(16, 12))
    first = render(scene, _trajectory(scene), SETTINGS)
    next(first)
    with pytest.raises(RenderError, match="still in progress"):
        next(render(scene, _trajectory(scene), SETTINGS))
    first.close()
    assert len(_render_all(scene)) == 2


@pytest.mark.slow
def test_blender_failure_is_a_render_error(tmp_path):
    from sim.render import blender, cycles

    with quiet_output(None):
        blender.reset()
        # without amodal's view layers: Blender 5.0.1 aborts when a write of several layers fails
        outputs = frozenset(RENDER_OUTPUTS) - {"amodal"}
        stage = cycles.build_stage(_scene(frames=1, resolution=(16, 12)), SETTINGS, outputs)
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(RenderError, match="^Blender failed to render scene 'gt' to .*Not a directory") as e:
        with quiet_output(None):
            blender.render_still(stage.gt, tmp_path / "file" / "gt.exr")
    assert "\n" not in str(e.value)


def test_trajectory_must_match_scene():
    scene = _scene(frames=3)
    with pytest.raises(RenderError, match="trajectory: 2 frames x 4 objects, but the scene has 3"):
        render(scene, _trajectory(_scene(frames=2)), SETTINGS)


def test_import_does_not_load_blender():
    code = "import sys, sim.render; assert 'bpy' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])
