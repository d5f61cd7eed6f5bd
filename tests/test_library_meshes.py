"""Mesh readers and writer (OBJ, glTF/GLB, STL) and mesh facts (closedness, volume) of sim.library.meshes."""

import base64
import json
import struct
from pathlib import Path

import numpy as np
import pytest

from sim.errors import AssetError
from sim.library.meshes import (
    GLTF_TO_Z_UP,
    Mesh,
    is_closed,
    merge,
    obj_text,
    read_gltf,
    read_mesh,
    read_mtl,
    read_obj,
    signed_volume,
)
from sim.library.procedural import cube

TETRA_V = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32)
TETRA_F = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]], dtype=np.uint16)


def _cube() -> Mesh:
    return cube()[0]


def test_obj_polygons_negative_indices_groups_and_attributes(tmp_path: Path) -> None:
    path = tmp_path / "x.obj"
    path.write_text("mtllib x.mtl\no first\nv 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 1 1\n"
                    "vn 0 0 1\nf 1/1/1 2/2/1 3/3/1 4/1/1\ng second\nv 0 0 1 # comment\nf -5 -4 -1\n")
    mesh = read_obj(path)
    np.testing.assert_array_equal(mesh.faces, [[0, 1, 2], [0, 2, 3], [0, 1, 4]])
    np.testing.assert_array_equal(mesh.parts, [0, 0, 1])
    np.testing.assert_array_equal(mesh.face_uvs, [[0, 1, 2], [0, 2, 0], [-1, -1, -1]])
    np.testing.assert_array_equal(mesh.face_normals, [[0, 0, 0], [0, 0, 0], [-1, -1, -1]])
    assert mesh.mtllib == (tmp_path / "x.mtl").resolve()


def test_obj_text_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "a.obj"
    path.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nvt 0 0\nvt 1 1\nvn 0 0 1\n"
                    "o a\nf 1/1/1 3/2/1 2/1/1\nf 1 2 4\no b\nf 1//1 4//1 3//1\nf 2/2 3/1 4/2\n")
    mesh = read_obj(path)
    for split in (True, False):
        out = tmp_path / f"b{split}.obj"
        out.write_text(obj_text(mesh, split_parts=split))
        back = read_obj(out)
        np.testing.assert_allclose(back.vertices, mesh.vertices)
        np.testing.assert_array_equal(back.faces, mesh.faces)
        np.testing.assert_array_equal(back.face_uvs, mesh.face_uvs)
        np.testing.assert_array_equal(back.face_normals, mesh.face_normals)
        np.testing.assert_array_equal(back.parts, mesh.parts if split else np.zeros(4))


@pytest.mark.parametrize("text, fragment", [
    ("v 0 0 0\nv 1 0\nf 1 2 1\n", ":2: bad 'v'"),
    ("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2\n", ":4: bad 'f'"),
    ("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 x\n", ":4: bad 'f'"),
    ("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 0 1 2\n", "index 0"),
    ("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 9\n", "vertex index 9 out of range"),
    ("v 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nf 1/1 2/5 3/1\n", "texture coordinate index 5"),
    ("v 0 0 0\nv 1 0 0\n", "no faces"),
    ("v 0 0 nan\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", "non-finite"),
])
def test_corrupt_obj_names_the_file(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "bad.obj"
    path.write_text(text)
    with pytest.raises(AssetError, match="bad.obj") as err:
        read_mesh(path)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_read_mesh_missing_and_unsupported(tmp_path: Path) -> None:
    with pytest.raises(AssetError, match="nope.obj: mesh file not found"):
        read_mesh(tmp_path / "nope.obj")
    with pytest.raises(AssetError, match="unsupported mesh format '.ply'"):
        read_mesh(tmp_path / "x.ply")


def test_mtl_texture_and_colour(tmp_path: Path) -> None:
    (tmp_path / "tex.png").write_bytes(b"png")
    (tmp_path / "a.mtl").write_text("newmtl m\nKd 0.5 0.25 1\nmap_Kd C:\\\\somewhere\\\\tex.png\n")
    texture, color = read_mtl(tmp_path / "a.mtl")
    assert texture == (tmp_path / "tex.png").resolve()  # found by its name beside the MTL file
    assert color == (0.5, 0.25, 1.0)


def _glb(json_doc: dict, blob: bytes) -> bytes:
    chunk = json.dumps(json_doc).encode()
    chunk += b" " * (-len(chunk) % 4)
    blob += b"\0" * (-len(blob) % 4)
    body = (struct.pack("<II", len(chunk), 0x4E4F534A) + chunk
            + struct.pack("<II", len(blob), 0x004E4942) + blob)
    return struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body


def _tetra_doc(uri: str | None) -> tuple[dict, bytes]:
    blob = TETRA_V.tobytes() + TETRA_F.tobytes()
    buffer = {"byteLength": len(blob)} if uri is None else {"byteLength": len(blob), "uri": uri}
    doc = {"asset": {"version": "2.0"}, "buffers": [buffer],
           "bufferViews": [{"buffer": 0, "byteOffset": 0, "byteLength": 48},
                           {"buffer": 0, "byteOffset": 48, "byteLength": 24}],
           "accessors": [{"bufferView": 0, "componentType": 5126, "count": 4, "type": "VEC3"},
                         {"bufferView": 1, "componentType": 5123, "count": 12, "type": "SCALAR"}],
           "meshes": [{"primitives": [{"attributes": {"POSITION": 0}, "indices": 1}]}]}
    return doc, blob


def test_glb_round_trip(tmp_path: Path) -> None:
    doc, blob = _tetra_doc(None)
    path = tmp_path / "t.glb"
    path.write_bytes(_glb(doc, blob))
    mesh = read_gltf(path)
    np.testing.assert_allclose(mesh.vertices, TETRA_V)
    np.testing.assert_array_equal(mesh.faces, TETRA_F)
    assert is_closed(mesh)
    np.testing.assert_allclose(signed_volume(mesh), 1 / 6)
    np.testing.assert_allclose(signed_volume(mesh.transformed(GLTF_TO_Z_UP)), 1 / 6)  # a rotation


def test_gltf_with_data_uri(tmp_path: Path) -> None:
    blob = base64.b64encode(TETRA_V.tobytes() + TETRA_F.tobytes()).decode()
    doc, _ = _tetra_doc("data:application/octet-stream;base64," + blob)
    path = tmp_path / "t.gltf"
    path.write_text(json.dumps(doc))
    np.testing.assert_array_equal(read_gltf(path).faces, TETRA_F)


@pytest.mark.parametrize("damage", ["truncate", "magic", "no_mesh"])
def test_corrupt_glb(tmp_path: Path, damage: str) -> None:
    doc, blob = _tetra_doc(None)
    if damage == "no_mesh":
        doc["meshes"] = []
    data = _glb(doc, blob)
    data = {"truncate": data[:60], "magic": b"gLTF" + data[4:], "no_mesh": data}[damage]
    path = tmp_path / "t.glb"
    path.write_bytes(data)
    with pytest.raises(AssetError, match="t.glb: not a readable glTF 2.0 file"):
        read_gltf(path)


def test_stl_binary_and_ascii(tmp_path: Path) -> None:
    c = _cube()
    tris = c.vertices[c.faces].astype(np.float32)
    binary = tmp_path / "b.stl"
    binary.write_bytes(b"\0" * 80 + struct.pack("<I", len(tris))
                       + b"".join(struct.pack("<3f", 0, 0, 0) + t.tobytes() + b"\0\0" for t in tris))
    ascii_path = tmp_path / "a.stl"
    ascii_path.write_text("solid c\n" + "".join("facet normal 0 0 0\nouter loop\n" + "".join(
        f"vertex {x} {y} {z}\n" for x, y, z in t) + "endloop\nendfacet\n" for t in tris) + "endsolid c\n")
    for path in (binary, ascii_path):
        mesh = read_mesh(path)
        assert len(mesh.vertices) == 8 and is_closed(mesh)
        np.testing.assert_allclose(signed_volume(mesh), 8.0)


def test_closedness_and_volume_of_a_cube() -> None:
    c = _cube()
    assert is_closed(c)
    np.testing.assert_allclose(signed_volume(c), 8.0)
    assert not is_closed(Mesh(c.vertices, c.faces[1:], c.parts[1:]))  # a hole
    flipped = c.faces.copy()
    flipped[0] = flipped[0, ::-1]
    assert not is_closed(Mesh(c.vertices, flipped, c.parts))  # inconsistent orientation
    stretched = c.transformed(np.diag([1.0, 2.0, 3.0, 1.0]))
    np.testing.assert_allclose(signed_volume(stretched), 48.0)
    mirrored = c.transformed(np.diag([-1.0, 1.0, 1.0, 1.0]))
    np.testing.assert_allclose(signed_volume(mirrored), 8.0)  # faces reversed: still outward
    assert is_closed(mirrored)


def test_closed_despite_duplicated_seam_vertices() -> None:
    c = _cube()
    verts = np.concatenate([c.vertices, c.vertices[:1]])  # vertex 8 duplicates vertex 0
    faces = c.faces.copy()
    faces[0][faces[0] == 0] = 8
    assert is_closed(Mesh(verts, faces, c.parts))


def test_merge_renumbers_parts_and_indices() -> None:
    a = _cube()
    m = merge([a, Mesh(a.vertices + 5, a.faces, a.parts)])
    assert m.num_parts == 2 and len(m.vertices) == 16
    np.testing.assert_allclose(m.part_vertices(1).min(axis=0), [4, 4, 4])
    np.testing.assert_allclose(signed_volume(m), 16.0)
