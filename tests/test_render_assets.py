"""Rendering library assets and backgrounds (slow: Blender): an imported OBJ matches the exact cube,
imported meshes' object coordinates agree with depth and pose, textures show, a user OBJ and URDF go
through the whole pipeline, and the sky's and an environment image's sun are where documented."""

from __future__ import annotations

import textwrap
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from scenes.common import floor
from scenes.environment import Sky, environment_map
from sim.io import load_scene
from sim.passes import DEFAULT_PASSES
from sim.pipeline import run_scene
from sim.render import RenderedFrame, render
from sim.scene import Background, Camera, Light, Material, Scene, SceneObject
from sim.settings import RenderSettings
from sim.trajectory import Trajectory
from sim.transforms import camera_to_world, intrinsics, pixel_rays, quat_to_matrix

SETTINGS = RenderSettings(samples=2, denoise=False, max_bounces=2, threads=1)
GT_PASSES = tuple(p for p in DEFAULT_PASSES if p != "rgba")
GT_ONLY = RenderSettings(samples=1, denoise=False, passes=GT_PASSES, threads=1)
TILT = (np.cos(0.4), 0.3 * np.sin(0.4), 0.5 * np.sin(0.4), np.sqrt(1 - 0.34) * np.sin(0.4))

CUBE_OBJ = ("mtllib cube.mtl\n"
            + "".join(f"v {x} {y} {z}\n" for z in (0, 1) for y in (0, 1) for x in (0, 1))
            + "vt 0 0\nvt 1 0\nvt 1 1\nvt 0 1\n"
            + "".join(f"f {a}/1 {b}/2 {c}/3 {d}/4\n" for a, b, c, d in
                      ((1, 3, 4, 2), (5, 6, 8, 7), (1, 2, 6, 5), (3, 7, 8, 4), (1, 5, 7, 3), (2, 4, 8, 6))))
"""A unit cube [0, 1]^3 with outward quads, each mapped onto the whole texture."""


@pytest.fixture(scope="module")
def user_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """cube.obj (textured: left half red, right half green), cube.mtl, tex.png and thing.urdf."""
    root = tmp_path_factory.mktemp("user_assets")
    texture = np.zeros((8, 8, 3), np.uint8)
    texture[:, :4, 0] = texture[:, 4:, 1] = 255
    iio.imwrite(root / "tex.png", texture)
    (root / "cube.mtl").write_text("newmtl m\nKd 1 1 1\nmap_Kd tex.png\n")
    (root / "cube.obj").write_text(CUBE_OBJ)
    (root / "thing.urdf").write_text(textwrap.dedent("""\
        <robot name="thing"><link name="base">
          <visual><geometry><mesh filename="cube.obj" scale="0.2 0.4 0.2"/></geometry></visual>
          <collision><origin xyz="0.1 0.2 0.1"/><geometry><box size="0.2 0.4 0.2"/></geometry></collision>
        </link></robot>"""))
    return root


def _still(scene: Scene) -> Trajectory:
    f, n = scene.frames, len(scene.objects)
    pos = np.array([[o.position for o in scene.objects]] * f, dtype=np.float64).reshape(f, n, 3)
    quat = np.array([[o.quaternion for o in scene.objects]] * f, dtype=np.float64).reshape(f, n, 4)
    return Trajectory(pos, quat, np.zeros((f, n, 3)), np.zeros((f, n, 3)))


def _frame(scene: Scene, settings: RenderSettings = SETTINGS) -> RenderedFrame:
    return list(render(scene, _still(scene), settings))[0]


def _one(asset: str, scale=(0.6, 0.6, 0.6), **scene_fields) -> Scene:
    obj = SceneObject("thing", asset=asset, scale=scale, position=(0.1, -0.2, 0.3), quaternion=TILT,
                      material=Material(color=(1.0, 1.0, 1.0)))
    camera = Camera(focal_length_mm=40.0, positions=((2.5, -3.0, 2.0),), look_at=((0.0, 0.0, 0.3),))
    return Scene(objects=(obj,), camera=camera, lights=(Light(position=(2.0, -2.0, 5.0)),),
                 resolution=(32, 32), frames=1, **scene_fields)


@pytest.mark.slow
def test_imported_cube_matches_the_exact_cube(user_files: Path):
    exact = _frame(_one("primitive:cube"), GT_ONLY)
    imported = _frame(_one(f"file:{user_files / 'cube.obj'}"), GT_ONLY)
    assert (exact["object_index"] == 1).sum() > 150
    same = (exact["object_index"] == imported["object_index"])
    assert same.mean() > 0.99
    hit = same & (exact["object_index"] == 1)
    np.testing.assert_allclose(imported["depth"][hit], exact["depth"][hit], rtol=1e-5)
    np.testing.assert_allclose(imported["object_coordinates"][hit], exact["object_coordinates"][hit],
                               atol=1e-4)
    assert (np.einsum("ij,ij->i", imported["normal"][hit], exact["normal"][hit]) > 0.9999).mean() > 0.97


@pytest.mark.parametrize("asset", ["pybullet:duck", "primitive:torus_knot"])
@pytest.mark.slow
def test_imported_mesh_coordinates_agree_with_depth_and_pose(asset: str):
    """Each pixel's depth back-projected into the object's frame, normalised by its bounds, is the
    object coordinate the renderer wrote: pose, scale, centring and axes of the import agree."""
    from sim.assets import canonical_bounds

    scene = _one(asset, scale=(0.8, 1.0, 0.9))
    frame = _frame(scene, GT_ONLY)
    mask = frame["object_index"] == 1
    assert mask.sum() > 50
    c2w = camera_to_world(scene.camera, 1)[0]
    rays = pixel_rays(intrinsics(scene.camera, scene.resolution), scene.resolution) @ c2w[:3, :3].T
    world = c2w[:3, 3] + frame["depth"][mask][:, None] * rays[mask]
    obj = scene.objects[0]
    local = (world - obj.position) @ quat_to_matrix(np.array(obj.quaternion)) / np.array(obj.scale)
    lo, hi = canonical_bounds(asset)
    np.testing.assert_allclose(frame["object_coordinates"][mask], (local - lo) / (hi - lo), atol=2e-3)


@pytest.mark.slow
def test_texture_shows_through_the_uvs(user_files: Path):
    frame = _frame(_one(f"file:{user_files / 'cube.obj'}"))
    rgb = frame["rgba"][frame["object_index"] == 1][:, :3].astype(int)
    red = (rgb[:, 0] > rgb[:, 1] + 30) & (rgb[:, 0] > rgb[:, 2] + 30)
    green = (rgb[:, 1] > rgb[:, 0] + 30) & (rgb[:, 1] > rgb[:, 2] + 30)
    assert red.mean() > 0.25 and green.mean() > 0.25


@pytest.mark.slow
def test_user_obj_and_urdf_simulate_and_render(user_files: Path, tmp_path: Path):
    cube = SceneObject("cube", asset=f"file:{user_files / 'cube.obj'}", scale=(0.3,) * 3,
                       position=(-0.6, 0.0, 0.8), material=Material(color=(1.0, 1.0, 1.0)))
    thing = SceneObject("thing", asset=f"file:{user_files / 'thing.urdf'}", scale=(0.5,) * 3,
                        position=(0.6, 0.0, 0.8), material=Material(color=(0.2, 0.3, 1.0)))
    scene = Scene(objects=(floor(), cube, thing), resolution=(32, 32), frames=3,
                  camera=Camera(positions=((0.0, -4.0, 2.5),), look_at=((0.0, 0.0, 0.3),)))
    result = run_scene(scene, SETTINGS, tmp_path, "user_assets")
    data = load_scene(result.path)
    assert data["rgba"].shape == (3, 32, 32, 4)
    for k in (1, 2):
        assert ((data["segmentation"] == k).sum(axis=(1, 2)) > 10).all()
    z = np.array([m["position"] for m in data["metadata"]["instances"]])[:, :, 2]
    assert (z[:, -1] < z[:, 0]).all()  # both fell


def _sun_offset(scene: Scene) -> np.ndarray:
    """(x, y) offset in pixels (0.0067 rad each here) from the image centre of the centroid of the
    saturated (sun) pixels."""
    frame = _frame(scene, RenderSettings(samples=16, denoise=False, threads=1))
    assert np.isposinf(frame["depth"]).all() and (frame["object_index"] == 0).all()
    lum = frame["rgba"][..., :3].astype(int).sum(-1)
    assert lum.max() == 765 and (lum == 765).mean() < 0.05
    ys, xs = np.nonzero(lum == 765)
    return np.array([xs.mean(), ys.mean()]) - (np.array(lum.shape[::-1]) - 1) / 2


def _looking_at(direction: np.ndarray, background: Background) -> Scene:
    camera = Camera(focal_length_mm=100.0, positions=((0.0, 0.0, 0.0),), look_at=(tuple(direction),))
    return Scene(objects=(), lights=(), camera=camera, background=background, resolution=(48, 48), frames=1)


def _direction(azimuth: float, elevation: float) -> np.ndarray:
    c = np.cos(elevation)
    return np.array([c * np.cos(azimuth), c * np.sin(azimuth), np.sin(elevation)])


@pytest.mark.slow
@pytest.mark.parametrize("azimuth, elevation", [(0.0, 0.3), (2.0, 0.8)])
def test_sky_sun_is_at_its_documented_direction(azimuth: float, elevation: float):
    background = Background(kind="sky", rotation=azimuth, sun_elevation=elevation, strength=0.003)
    assert np.abs(_sun_offset(_looking_at(_direction(azimuth, elevation), background))).max() < 1.0


@pytest.mark.slow
def test_environment_image_is_mapped_and_turned_as_documented(empty_cache: Path):
    azimuth, elevation, rotation = 2.0, 0.3, -0.7
    path = environment_map(Sky(sun_azimuth=azimuth, sun_elevation=elevation, sun_radius=0.01,
                               sun_strength=1000.0), width=1024)
    background = Background(kind="hdri", path=str(path), rotation=rotation, strength=0.01)
    assert np.abs(_sun_offset(_looking_at(_direction(azimuth + rotation, elevation), background))).max() < 1.0
