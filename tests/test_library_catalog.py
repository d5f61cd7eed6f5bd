"""The asset catalogue of sim.library: every asset loads with a collision shape, a positive volume and
canonical bounds; the held-out split; user files; clear errors; the content-addressed cache."""

import hashlib
import math
import re
import struct
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from sim.errors import AssetError, SceneValidationError
from sim.library import COLLISION_KINDS, AssetInfo, get_asset, is_held_out, list_assets
from sim.library.meshes import obj_text, read_mesh, read_obj, signed_volume
from sim.library.procedural import _lathe
from sim.library.sources import pybullet_data_dir

NAMED = [i for i in list_assets() if "random_urdfs" not in i]
RANDOM_SAMPLE = [f"pybullet:random_urdfs/{k:03d}" for k in range(0, 1000, 34)]  # 30 of them

CUBE_FACES = "f 1 3 4 2\nf 5 6 8 7\nf 1 2 6 5\nf 3 7 8 4\nf 1 5 7 3\nf 2 4 8 6\n"
CUBE_OBJ = "".join(f"v {x} {y} {z}\n" for z in (0, 1) for y in (0, 1) for x in (0, 1)) + CUBE_FACES
"""A unit cube [0, 1]^3 with outward quads."""


@pytest.fixture(scope="module", autouse=True)
def cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("scenesim_cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SCENESIM_CACHE_DIR", str(root))
        yield root


def _check(info: AssetInfo) -> None:
    assert info.collision_kind in COLLISION_KINDS
    lo, hi = np.array(info.bounds)
    np.testing.assert_allclose(lo, -hi, atol=1e-9)
    np.testing.assert_allclose(np.max(hi - lo), 2.0, rtol=1e-9)
    assert (hi <= 1 + 1e-9).all() and (hi > 0).all()
    assert math.isfinite(info.volume) and 0 < info.volume <= 8 + 1e-9
    visual = read_obj(Path(info.visual_path))  # the canonical OBJ the renderer imports
    np.testing.assert_allclose(np.array(visual.bounds()), np.array(info.bounds), atol=1e-8)
    if info.visual_source is not None:  # the documented transform maps the source mesh onto it
        source = read_mesh(Path(info.visual_source))
        np.testing.assert_allclose(np.array(source.transformed(np.array(info.visual_transform)).bounds()),
                                   np.array(info.bounds), atol=1e-7)
    half = np.array(info.collision_half_extents)
    assert (half > 0).all()
    if info.collision_kind.startswith("mesh"):
        parts = read_obj(Path(info.collision_path))
        assert (parts.num_parts == 1) == (info.collision_kind == "mesh_convex")
        assert signed_volume(parts) > 0
    else:
        assert info.collision_path is None
    # the collision shape and the visual mesh describe the same object in the same frame
    np.testing.assert_allclose(np.array(info.collision_center) + half, hi, atol=0.05)
    if info.texture_path is not None:
        assert Path(info.texture_path).is_file()
    assert info.held_out == is_held_out(info.id)


@pytest.mark.parametrize("asset_id", NAMED + RANDOM_SAMPLE)
def test_every_catalogue_asset_loads(asset_id: str) -> None:
    info = get_asset(asset_id)
    assert info.id == asset_id and info.source == asset_id.split(":")[0]
    _check(info)
    assert get_asset(asset_id) is info  # memoised


def test_listing_has_every_random_urdf_with_its_files() -> None:
    randoms = [i for i in list_assets(source="pybullet") if "random_urdfs" in i]
    assert randoms == [f"pybullet:random_urdfs/{k:03d}" for k in range(1000) if k != 168]
    root = pybullet_data_dir() / "random_urdfs"
    for k in range(1000):
        folder = root / f"{k:03d}"
        assert (folder / f"{k:03d}.urdf").is_file() and (folder / f"{k:03d}.obj").is_file()
    with pytest.raises(AssetError, match="168.obj: the mesh has non-finite vertex coordinates"):
        get_asset("pybullet:random_urdfs/168")  # shipped with NaN vertices: not listed
    assert {"pybullet:duck", "pybullet:teddy", "pybullet:bunny", "pybullet:soccerball", "pybullet:lego",
            "pybullet:jenga", "pybullet:domino"} <= set(NAMED)
    assert list_assets(source="primitive") == sorted(f"primitive:{s}" for s in (
        "cube", "sphere", "cylinder", "cone", "capsule", "torus", "gear", "torus_knot"))
    assert list_assets(source="file") == []


def test_known_geometry() -> None:
    for shape, kind, volume in (("cube", "box", 8.0), ("sphere", "sphere", 4 / 3 * math.pi),
                                ("cylinder", "cylinder", 2 * math.pi)):
        info = get_asset(f"primitive:{shape}")
        assert info.collision_kind == kind and info.native_scale == 1.0
        np.testing.assert_allclose(info.volume, volume)
        np.testing.assert_allclose(info.collision_half_extents, [1, 1, 1])
    jenga = get_asset("pybullet:jenga")  # <box size="0.15 0.05 0.03"/>, visual mesh scaled to the same size
    assert jenga.collision_kind == "box" and jenga.texture_path.endswith("jenga.png")
    np.testing.assert_allclose(jenga.native_scale, 0.075)
    np.testing.assert_allclose(jenga.collision_half_extents, [1, 1 / 3, 0.2], rtol=1e-6)
    domino = get_asset("pybullet:domino")  # box 0.00635 × 0.0254 × 0.0508; visual turned 1.57 rad about z
    np.testing.assert_allclose(domino.collision_half_extents, [0.125, 0.5, 1.0], rtol=1e-6)
    np.testing.assert_allclose(domino.bounds[1], [0.125, 0.5, 1.0], atol=2e-3)
    assert get_asset("pybullet:soccerball").collision_kind == "sphere"
    assert get_asset("pybullet:duck").collision_kind == "mesh_decomposed"  # from duck_vhacd.obj
    assert get_asset("pybullet:random_urdfs/000").category == "random_urdf"
    tray = read_obj(Path(get_asset("pybullet:tray").collision_path))
    assert tray.num_parts == 5  # five <collision> boxes, one convex part each


def test_split_is_deterministic_disjoint_and_about_ten_percent() -> None:
    train, test = list_assets(split="train"), list_assets(split="test")
    assert not set(train) & set(test) and sorted(train + test) == list_assets()
    assert test == list_assets(split="test")
    random_test = [i for i in test if "random_urdfs" in i]
    assert 70 <= len(random_test) <= 130
    assert all(is_held_out(i) for i in test) and not any(is_held_out(i) for i in train)
    digest = hashlib.sha256(b"pybullet:duck").digest()
    assert is_held_out("pybullet:duck") == (int.from_bytes(digest[:8], "little") % 100 < 10)


@pytest.mark.parametrize("asset_id, fragment", [
    ("pybullet:nope", "asset 'pybullet:nope': unknown id"),
    ("primitive:dodecahedron", "asset 'primitive:dodecahedron': unknown id"),
    ("pybullet:random_urdfs/1000", "asset 'pybullet:random_urdfs/1000': unknown id"),
    ("mesh:cube", "asset 'mesh:cube': unknown id"),
    ("file:relative/x.obj", "needs an absolute path"),
    ("file:/no/such/file.obj", "asset 'file:/no/such/file.obj': file not found: /no/such/file.obj"),
])
def test_bad_ids(asset_id: str, fragment: str) -> None:
    with pytest.raises(AssetError) as err:
        get_asset(asset_id)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_bad_listing_arguments() -> None:
    with pytest.raises(AssetError, match="split: got 'val'"):
        list_assets(split="val")
    with pytest.raises(AssetError, match="source: got 'web'"):
        list_assets(source="web")


@pytest.mark.parametrize("files, fragment", [
    ({"x.obj": "v 0 0 0\nv 1 0 0\nf 1 2 3\n"}, "x.obj: vertex index 3 out of range"),
    ({"x.obj": "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 1 1 0\nf 1 2 3\nf 2 4 3\n"}, "coplanar"),
    ({"x.urdf": '<robot name="r"><link name="l"><visual><geometry><mesh filename="gone.obj"/></geometry>'
                '</visual></link></robot>'}, "gone.obj: mesh file not found"),
    ({"x.urdf": "<robot><link"}, "x.urdf: not a readable URDF"),
    ({"x.urdf": '<robot name="r"><link name="l"><visual><geometry><capsule radius="1" length="2"/>'
                '</geometry></visual></link></robot>'}, "holds <capsule>"),
    ({"x.obj": "mtllib x.mtl\nvt 0 0\n" + CUBE_OBJ.replace(CUBE_FACES, re.sub(r"(\d+)", r"\1/1", CUBE_FACES)),
      "x.mtl": "map_Kd gone.png\n"}, "texture not found"),
    ({"x.ply": "ply\n"}, "unsupported file type '.ply'"),
])
def test_bad_user_files(tmp_path: Path, files: dict[str, str], fragment: str) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    main = tmp_path / next(iter(files))
    with pytest.raises(AssetError) as err:
        get_asset(f"file:{main}")
    message = str(err.value)
    assert message.startswith(f"asset 'file:{main}': ") and fragment in message and "\n" not in message


def test_user_obj_is_recentred_and_normalised(tmp_path: Path) -> None:
    path = tmp_path / "box.obj"
    corners = [(0.1 * x + 3, 0.2 * y, 0.4 * z - 1) for z in (0, 1) for y in (0, 1) for x in (0, 1)]
    path.write_text("".join(f"v {x} {y} {z}\n" for x, y, z in corners) + CUBE_FACES)
    info = get_asset(f"file:{path}")
    _check(info)
    assert info.source == "file" and info.category is None and info.collision_kind == "mesh_convex"
    np.testing.assert_allclose(info.bounds[1], [0.25, 0.5, 1.0])
    np.testing.assert_allclose(info.native_scale, 0.2)  # metres per canonical unit
    np.testing.assert_allclose(info.volume, 0.5 * 1.0 * 2.0)


def test_user_urdf_with_rotated_box_collision(tmp_path: Path) -> None:
    (tmp_path / "cube.obj").write_text(CUBE_OBJ)
    (tmp_path / "thing.urdf").write_text(
        '<robot name="thing"><material name="red"><color rgba="1 0 0 1"/></material><link name="base">'
        '<visual><origin xyz="-0.05 -0.1 -0.15"/><geometry><mesh filename="cube.obj" scale="0.1 0.2 0.3"/>'
        '</geometry><material name="red"/></visual><collision><origin rpy="1.570796 0 0"/><geometry>'
        '<box size="0.1 0.3 0.2"/></geometry></collision></link></robot>')
    info = get_asset(f"file:{tmp_path / 'thing.urdf'}")
    _check(info)
    assert info.collision_kind == "box" and info.color == (1.0, 0.0, 0.0, 1.0)
    np.testing.assert_allclose(info.collision_half_extents, [1 / 3, 2 / 3, 1.0], rtol=1e-5)
    np.testing.assert_allclose(info.collision_center, [0, 0, 0], atol=1e-9)
    np.testing.assert_allclose(info.native_scale, 0.15)


def test_user_glb_is_turned_z_up(tmp_path: Path) -> None:
    verts = np.array([[0, 0, 0], [1, 0, 0], [0, 2, 0], [0, 0, 1]], dtype=np.float32)  # tallest along glTF +Y
    faces = np.array([0, 2, 1, 0, 1, 3, 0, 3, 2, 1, 2, 3], dtype=np.uint16)
    blob = verts.tobytes() + faces.tobytes()
    doc = (b'{"asset":{"version":"2.0"},"buffers":[{"byteLength":72}],"bufferViews":[{"buffer":0,'
           b'"byteLength":48},{"buffer":0,"byteOffset":48,"byteLength":24}],"accessors":[{"bufferView":0,'
           b'"componentType":5126,"count":4,"type":"VEC3"},{"bufferView":1,"componentType":5123,"count":12,'
           b'"type":"SCALAR"}],"meshes":[{"primitives":[{"attributes":{"POSITION":0},"indices":1}]}]}')
    doc += b" " * (-len(doc) % 4)
    body = struct.pack("<II", len(doc), 0x4E4F534A) + doc + struct.pack("<II", len(blob), 0x004E4942) + blob
    path = tmp_path / "tetra.glb"
    path.write_bytes(struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body)
    info = get_asset(f"file:{path}")
    _check(info)
    np.testing.assert_allclose(info.bounds[1], [0.5, 0.5, 1.0])  # glTF +Y is our +Z
    np.testing.assert_allclose(info.volume, 1 * 1 * 2 / 6)  # the tetrahedron scaled by 1 (largest side 2)


def test_concave_user_mesh_is_decomposed(tmp_path: Path) -> None:
    cup = _lathe(np.array([[0.0, -1], [1, -1], [1, 1], [0.7, 1], [0.7, -0.6], [0, -0.6]]), 16)
    path = tmp_path / "cup.obj"
    path.write_text(obj_text(cup, split_parts=False))
    info = get_asset(f"file:{path}")
    _check(info)
    assert info.collision_kind == "mesh_decomposed"


def test_changed_user_file_is_reread(tmp_path: Path) -> None:
    path = tmp_path / "a.obj"
    path.write_text(CUBE_OBJ)
    first = get_asset(f"file:{path}")
    path.write_text(CUBE_OBJ.replace("v 1 1 1", "v 1 1 3"))
    second = get_asset(f"file:{path}")
    assert second.visual_path != first.visual_path and second.volume != first.volume


def test_cache_files_are_content_addressed(cache: Path) -> None:
    get_asset("primitive:torus")
    files = [p for p in cache.rglob("*") if p.is_file()]
    assert files and not [p for p in files if p.name.startswith(".")]  # no temporary files left
    for p in files:
        if p.parent.name in ("meshes", "collision"):
            assert p.stem == hashlib.sha256(
                len(p.read_bytes()).to_bytes(8, "little") + p.read_bytes()).hexdigest()


def _load(asset_id: str) -> tuple[str, str | None, float]:
    info = get_asset(asset_id)
    return info.visual_path, info.collision_path, info.volume


def test_concurrent_processes_share_the_cache(empty_cache: Path) -> None:
    ids = ["primitive:gear", "pybullet:duck"] * 2
    with ProcessPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(_load, ids))
    assert results[0] == results[2] and results[1] == results[3]
    assert all(r[0].startswith(str(empty_cache)) for r in results)
    assert not [p for p in empty_cache.rglob(".*")]


def test_one_table_of_sources_serves_scene_validation_and_the_catalogue(monkeypatch):
    from sim.library import sources
    from sim.scene import SceneObject

    duck = pybullet_data_dir() / "duck_vhacd.urdf"
    monkeypatch.setitem(sources.SOURCES, "lab", sources.AssetSource(
        "lab", "lab:<name>", well_formed=lambda name: name == "duck",
        locate=lambda name: sources.Located("duck", "lab licence", duck) if name == "duck" else None,
        names=lambda: ("duck",), category=lambda name: "lab_duck", categories=lambda: ("lab_duck",)))
    assert SceneObject("d", asset="lab:duck").asset == "lab:duck"  # the scene accepts its ids' form
    with pytest.raises(SceneValidationError, match="lab:<name>"):
        SceneObject("d", asset="lab:goose")
    assert list_assets(source="lab") == ["lab:duck"]
    from sim.library.catalog import asset_category, catalogue_categories

    assert asset_category("lab:duck") == "lab_duck" and "lab_duck" in catalogue_categories()
    info = get_asset("lab:duck")
    assert (info.source, info.category, info.licence, info.source_path) == ("lab", "duck", "lab licence",
                                                                          str(duck))
