"""The asset library wired into the scene model, the simulator and validation: every primitive and a
sample of catalogue assets simulate without exploding or gaining energy, mesh collision shapes rest
at their analytic height, spawn placement and settling, and clear errors for bad assets."""

from __future__ import annotations

import dataclasses
import math
import textwrap
from pathlib import Path

import numpy as np
import pytest

from scenes.common import floor
from sim.assets import bbox_corners, canonical_bounds, object_mass, validate_assets, volume
from sim.errors import AssetError, PlacementError, SceneValidationError
from sim.library import get_asset
from sim.library.sources import PRIMITIVES
from sim.physics import place, settle, simulate
from sim.scene import Background, Camera, Scene, SceneObject

G = 9.81
CATALOGUE_SAMPLE = ["pybullet:" + n for n in (
    "duck", "teddy", "bunny", "mug", "lego", "soccerball", "jenga", "domino", "torus", "block",
    "toys/concave_box", "toys/prism", "random_urdfs/000", "random_urdfs/042", "random_urdfs/304",
    "random_urdfs/500", "random_urdfs/999")]
SAMPLE = [f"primitive:{s}" for s in PRIMITIVES] + CATALOGUE_SAMPLE

CUBE_OBJ = ("".join(f"v {x} {y} {z}\n" for z in (0, 1) for y in (0, 1) for x in (0, 1))
            + "f 1 3 4 2\nf 5 6 8 7\nf 1 2 6 5\nf 3 7 8 4\nf 1 5 7 3\nf 2 4 8 6\n")
"""A unit cube [0, 1]^3 with outward quads."""


def grid_scene(assets: list[str], size: float = 0.5, spacing: float = 1.5, height: float = 0.6,
               frames: int = 48) -> Scene:
    """Each asset, scaled so its largest side is ``size`` m, dropped from ``height`` m (its centre)
    onto the floor at the nodes of a square grid ``spacing`` m apart, with a tilt so none lands
    exactly on a face."""
    side = math.ceil(math.sqrt(len(assets)))
    tilt = (math.cos(0.15), math.sin(0.15) * 0.6, math.sin(0.15) * 0.8, 0.0)
    objects = [floor()] + [
        SceneObject(f"o{k}", asset=a, scale=(size / 2,) * 3, quaternion=tilt,
                    position=((k % side - side / 2) * spacing, (k // side - side / 2) * spacing, height))
        for k, a in enumerate(assets)]
    return Scene(objects=tuple(objects), frames=frames)


def energy(scene: Scene, traj) -> np.ndarray:
    """(F,) translational kinetic plus potential energy (J) of the dynamic objects per frame."""
    masses = np.array([object_mass(o) for o in scene.objects])
    speed2 = (traj.linear_velocities ** 2).sum(-1)
    return (0.5 * masses * speed2 + masses * G * traj.positions[..., 2]).sum(-1)


def mean_speeds(scene: Scene, traj) -> np.ndarray:
    """(F − 1, N) mean speed (m/s) of each object between consecutive frames (instantaneous
    velocities of resting objects flicker at g / step_rate: Kubric's zero restitution threshold)."""
    return np.linalg.norm(np.diff(traj.positions, axis=0), axis=-1) * scene.frame_rate


def test_sample_of_assets_falls_and_settles_without_exploding():
    scene = grid_scene(SAMPLE)
    traj = simulate(scene)
    pos = traj.positions[:, 1:]
    start = np.array([o.position for o in scene.objects[1:]])
    assert np.isfinite(pos).all()
    assert (np.abs(pos[..., :2] - start[:, :2]) < 1.0).all(), "an object left its grid cell"
    assert (pos[..., 2] > -0.01).all() and (pos[..., 2] < 0.61).all()
    e = energy(scene, traj)
    assert (e <= e[0] + 1e-6 * abs(e[0])).all(), "the scene gained energy"
    settled = settle(dataclasses.replace(scene, frames=24))
    after = simulate(settled)
    assert mean_speeds(settled, after).max() < 0.02
    np.testing.assert_allclose(after.positions[-1], after.positions[0], atol=5e-3)
    e = energy(settled, after)
    assert (e <= e[0] + 1e-3 * abs(e[0])).all()


def test_mesh_collision_rests_at_its_analytic_height():
    """The gear (a convex-parts mesh, 0.4 thick before normalising to largest side 2) and a cone
    (one hull) dropped flat come to rest with their bottom face on the floor."""
    gear, cone = get_asset("primitive:gear"), get_asset("primitive:cone")
    assert gear.collision_kind == "mesh_decomposed" and cone.collision_kind == "mesh_convex"
    scene = Scene(objects=(floor(), SceneObject("gear", asset="primitive:gear", scale=(0.5, 0.5, 0.5),
                                                position=(-2.0, 0.0, 0.5)),
                           SceneObject("cone", asset="primitive:cone", scale=(0.3, 0.3, 0.6),
                                       position=(2.0, 0.0, 1.0))), frames=36)
    traj = simulate(scene)
    np.testing.assert_allclose(traj.positions[-1, 1, 2], 0.5 * gear.bounds[1][2], atol=2e-3)
    np.testing.assert_allclose(traj.positions[-1, 2, 2], 0.6, atol=2e-3)


def test_geometry_facts_come_from_the_library():
    duck = get_asset("pybullet:duck")
    lo, hi = canonical_bounds("pybullet:duck")
    np.testing.assert_allclose(hi, duck.bounds[1])
    np.testing.assert_allclose(volume("pybullet:duck", (0.5, 1.0, 2.0)), duck.volume)
    obj = SceneObject("d", asset="pybullet:duck", scale=(0.1, 0.2, 0.3), density=500.0)
    np.testing.assert_allclose(object_mass(obj), 500.0 * duck.volume * 0.1 * 0.2 * 0.3)
    corners = bbox_corners("pybullet:duck", (2.0, 2.0, 2.0))
    np.testing.assert_allclose(corners[0], 2 * lo)
    np.testing.assert_allclose(corners[7], 2 * hi)


def test_place_resolves_spawn_regions_without_overlap():
    region = ((-1.0, -1.0, 0.3), (1.0, 1.0, 1.0))
    objects = [floor()] + [SceneObject(f"t{k}", asset="primitive:torus", scale=(0.3,) * 3,
                                       spawn_region=region) for k in range(6)]
    placed = place(Scene(objects=tuple(objects), seed=3))
    assert all(o.spawn_region is None for o in placed.objects)
    for o in placed.objects[1:]:
        assert all(lo <= p <= hi for p, lo, hi in zip(o.position, *region, strict=True))
    simulate(dataclasses.replace(placed, frames=1))  # its own overlap check passes
    assert place(Scene(objects=tuple(objects), seed=3)) == placed


def test_settle_brings_a_pile_to_rest():
    region = ((-0.2, -0.2, 0.4), (0.2, 0.2, 4.0))
    objects = [floor()] + [SceneObject(f"o{k}", asset=a, scale=(0.3,) * 3, spawn_region=region)
                           for k, a in enumerate(["primitive:torus", "primitive:gear", "pybullet:duck",
                                                  "primitive:capsule", "primitive:cube", "pybullet:mug"])]
    pile = settle(Scene(objects=tuple(objects), seed=5, frames=24))
    assert all(o.velocity == (0, 0, 0) and o.angular_velocity == (0, 0, 0) for o in pile.objects)
    dropped = place(Scene(objects=tuple(objects), seed=5))
    assert max(o.position[2] for o in dropped.objects) > 1.5 > max(o.position[2] for o in pile.objects)
    traj = simulate(pile)
    assert mean_speeds(pile, traj).max() < 0.02
    np.testing.assert_allclose(traj.positions[-1], traj.positions[0], atol=5e-3)


def test_user_obj_and_urdf_simulate(tmp_path: Path):
    (tmp_path / "box.obj").write_text(CUBE_OBJ)
    (tmp_path / "thing.urdf").write_text(textwrap.dedent("""\
        <robot name="thing"><link name="base">
          <visual><geometry><mesh filename="box.obj" scale="0.2 0.2 0.1"/></geometry></visual>
          <collision><origin xyz="0.1 0.1 0.05"/><geometry><box size="0.2 0.2 0.1"/></geometry></collision>
        </link></robot>"""))
    obj = SceneObject("box", asset=f"file:{tmp_path / 'box.obj'}", scale=(0.25,) * 3,
                      position=(-1.0, 0.0, 1.0))
    urdf = get_asset(f"file:{tmp_path / 'thing.urdf'}")
    assert urdf.collision_kind == "box" and urdf.native_scale == pytest.approx(0.1)
    thing = SceneObject("thing", asset=urdf.id, scale=(urdf.native_scale,) * 3, position=(1.0, 0.0, 1.0))
    traj = simulate(Scene(objects=(floor(), obj, thing), frames=24))
    np.testing.assert_allclose(traj.positions[-1, 1, 2], 0.25, atol=2e-3)  # a cube of edge 0.5 m
    np.testing.assert_allclose(traj.positions[-1, 2, 2], 0.05, atol=2e-3)  # its 0.1 m box, at its size


def test_asset_ids_are_checked_cheaply_when_the_scene_is_built():
    for bad in ("primitive:teapot", "mesh:cube", "file:relative/x.obj", "file:/x.ply", "pybullet:", "duck"):
        with pytest.raises(SceneValidationError, match=r"^asset: got"):
            SceneObject("x", asset=bad)
    SceneObject("x", asset="file:/does/not/exist.obj")  # files are read by validate_assets, not here
    SceneObject("x", asset="pybullet:no_such_thing")


@pytest.mark.parametrize("asset, message", [
    ("file:/no/such/mesh.obj", "object 'x': asset 'file:/no/such/mesh.obj': file not found: /no/such/"),
    ("pybullet:no_such_thing", "object 'x': asset 'pybullet:no_such_thing': unknown id"),
])
def test_validate_assets_names_the_object(asset: str, message: str):
    scene = Scene(objects=(SceneObject("x", asset=asset),))
    for check in (validate_assets, simulate):
        with pytest.raises(AssetError) as err:
            check(scene)
        assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_corrupt_user_file_is_an_asset_error(tmp_path: Path):
    path = tmp_path / "broken.obj"
    path.write_text("v 0 0 0\nf 1 2 3\n")
    with pytest.raises(AssetError, match=r"^object 'x': asset 'file:.*broken.obj': .*out of range"):
        validate_assets(Scene(objects=(SceneObject("x", asset=f"file:{path}"),)))


def test_scale_must_suit_the_collision_shape():
    assert get_asset("pybullet:soccerball").collision_kind == "sphere"
    ball = SceneObject("ball", asset="pybullet:soccerball", scale=(0.1, 0.1, 0.2))
    with pytest.raises(SceneValidationError, match=r"^objects\[0\].scale: .*'ball'.*three equal factors"):
        validate_assets(Scene(objects=(ball,)))
    with pytest.raises(SceneValidationError, match="three equal factors for a sphere"):
        SceneObject("s", asset="primitive:sphere", scale=(1.0, 1.0, 2.0))  # known without loading
    validate_assets(Scene(objects=(SceneObject("duck", asset="pybullet:duck", scale=(0.1, 0.3, 0.2)),)))


def test_environment_image_is_checked(tmp_path: Path):
    missing = Scene(background=Background(kind="hdri", path=str(tmp_path / "sky.exr")))
    with pytest.raises(AssetError, match=r"^background.path: cannot read the environment image .*sky.exr"):
        validate_assets(missing)
    (tmp_path / "sky.exr").write_bytes(b"not an image")
    with pytest.raises(AssetError, match=r"^background.path: .*sky.exr is not a valid .exr image"):
        validate_assets(missing)


@pytest.mark.parametrize("fields, named", [
    ({"kind": "hdri"}, "path"),
    ({"kind": "hdri", "path": "relative/sky.exr"}, "path"),
    ({"kind": "hdri", "path": "/sky.gif"}, "path"),
    ({"kind": "color", "path": "/sky.exr"}, "path"),
    ({"kind": "sky", "color": (1.0, 0.0, 0.0)}, "color"),
    ({"kind": "color", "rotation": 1.0}, "rotation"),
    ({"kind": "hdri", "path": "/sky.exr", "sun_elevation": 0.2}, "sun_elevation"),
    ({"kind": "sky", "sun_elevation": 2.0}, "sun_elevation"),
    ({"kind": "fog"}, "kind"),
])
def test_background_fields_are_validated(fields: dict, named: str):
    with pytest.raises(SceneValidationError, match=f"^{named}: got"):
        Background(**fields)


def test_background_and_moving_camera_round_trip():
    scene = Scene(background=Background(kind="sky", rotation=1.0, sun_elevation=0.3, strength=0.01),
                  camera=Camera(positions=((8.0, 0.0, 3.0),), velocity=(0.0, 0.1, 0.0),
                                look_at_velocity=(0.01, 0.0, 0.0)), frames=5)
    assert Scene.from_json(scene.to_json()) == scene
    np.testing.assert_allclose(scene.camera.position_at(4), (8.0, 0.4, 3.0))
    np.testing.assert_allclose(scene.camera.look_at_at(4), (0.04, 0.0, 0.0))
    assert dataclasses.replace(scene, frames=50).camera.position_at(49) == pytest.approx((8.0, 4.9, 3.0))
    with pytest.raises(SceneValidationError, match=r"^velocity: .*one entry per frame"):
        Camera(positions=((1.0, 0.0, 0.0), (2.0, 0.0, 0.0)), velocity=(1.0, 0.0, 0.0))


def test_overlapping_settled_objects_are_refused_by_placement():
    a = SceneObject("a", asset="primitive:gear", scale=(0.5,) * 3, position=(0.0, 0.0, 0.5))
    b = dataclasses.replace(a, name="b", position=(0.1, 0.0, 0.5))
    with pytest.raises(PlacementError, match="'a' and 'b' overlap"):
        place(Scene(objects=(a, b)))
