"""Triangle meshes: the ``Mesh`` type, readers for OBJ, glTF/GLB and STL, an OBJ writer, and the
geometric facts the library needs (bounds, closedness, enclosed volume). Numpy only.

Conventions: faces are counter-clockwise seen from outside (OBJ and glTF order), so the signed
volume of a closed, outward-oriented mesh is positive. Coordinates are in the file's own units and
axes: readers never rescale or rotate (the glTF Y-up → Z-up turn is ``GLTF_TO_Z_UP``, applied by
the catalogue). Every reader error is an ``AssetError`` whose one-line message names the file.
"""

from __future__ import annotations

import base64
import json
import struct
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from sim.errors import AssetError

MESH_SUFFIXES = (".obj", ".glb", ".gltf", ".stl")

GLTF_TO_Z_UP = np.array([[1.0, 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 1]])
"""4×4 taking glTF's +Y-up axes to our +Z-up ones: (x, y, z) -> (x, -z, y) (as Blender imports)."""

WELD_TOLERANCE = 1e-9
"""Vertices closer than this fraction of the mesh's largest extent are one vertex for the
closedness test (files often duplicate positions along texture seams)."""


@dataclass(frozen=True, eq=False)
class Mesh:
    """A triangle mesh.

    vertices: (V, 3) float64 positions in file units. faces: (F, 3) int64 indices into vertices.
    parts: (F,) int64 part index per face, 0…P−1 (OBJ ``o``/``g`` groups; a convex decomposition
    has one part per hull). uvs: (T, 2) float64 texture coordinates, or None; face_uvs: (F, 3)
    int64 indices into uvs, −1 on faces without. normals / face_normals: likewise, (N, 3) unit
    vectors. mtllib: absolute path of the OBJ material library it names, or None.
    """

    vertices: np.ndarray
    faces: np.ndarray
    parts: np.ndarray
    uvs: np.ndarray | None = None
    face_uvs: np.ndarray | None = None
    normals: np.ndarray | None = None
    face_normals: np.ndarray | None = None
    mtllib: Path | None = None

    @property
    def num_parts(self) -> int:
        return int(self.parts.max()) + 1 if len(self.parts) else 0

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(lo, hi), each (3,) float64: the axis-aligned box of the vertices used by faces."""
        used = self.vertices[np.unique(self.faces)]
        return used.min(axis=0), used.max(axis=0)

    def part_vertices(self, k: int) -> np.ndarray:
        """(n, 3) float64: the vertices used by the faces of part ``k``."""
        return self.vertices[np.unique(self.faces[self.parts == k])]

    def transformed(self, matrix: np.ndarray) -> Mesh:
        """The mesh mapped by a 4×4 affine ``matrix`` (column vectors: p' = M @ [p, 1]); normals by
        the inverse transpose; a mirroring matrix (det < 0) reverses the faces so they stay
        outward-facing."""
        m = np.asarray(matrix, dtype=np.float64)
        lin = m[:3, :3]
        out = replace(self, vertices=self.vertices @ lin.T + m[:3, 3])
        if self.normals is not None:
            n = self.normals @ np.linalg.inv(lin)
            out = replace(out, normals=n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-300))
        if np.linalg.det(lin) < 0:
            out = replace(out, faces=_flip(out.faces), face_uvs=_flip(out.face_uvs),
                          face_normals=_flip(out.face_normals))
        return out


def _flip(index: np.ndarray | None) -> np.ndarray | None:
    return None if index is None else index[:, ::-1].copy()


def merge(meshes: list[Mesh]) -> Mesh:
    """One mesh holding all of ``meshes``; parts stay separate (renumbered in order)."""
    def cat(attr: str, index_attr: str) -> tuple[np.ndarray | None, np.ndarray | None]:
        if all(getattr(m, attr) is None for m in meshes):
            return None, None
        values, idx, offset = [], [], 0
        for m in meshes:
            v, i = getattr(m, attr), getattr(m, index_attr)
            if v is None:
                idx.append(np.full((len(m.faces), 3), -1, dtype=np.int64))
                continue
            values.append(v)
            idx.append(np.where(i >= 0, i + offset, -1))
            offset += len(v)
        return np.concatenate(values), np.concatenate(idx)

    v_off = np.cumsum([0] + [len(m.vertices) for m in meshes])
    p_off = np.cumsum([0] + [m.num_parts for m in meshes])
    uvs, face_uvs = cat("uvs", "face_uvs")
    normals, face_normals = cat("normals", "face_normals")
    return Mesh(vertices=np.concatenate([m.vertices for m in meshes]),
                faces=np.concatenate([m.faces + o for m, o in zip(meshes, v_off, strict=False)]),
                parts=np.concatenate([m.parts + o for m, o in zip(meshes, p_off, strict=False)]),
                uvs=uvs, face_uvs=face_uvs, normals=normals, face_normals=face_normals)


def welded_faces(mesh: Mesh) -> np.ndarray:
    """(F', 3) int64 faces over welded vertices (see ``WELD_TOLERANCE``), degenerate faces dropped."""
    lo, hi = mesh.bounds()
    step = max(float(np.max(hi - lo)), 1e-300) * WELD_TOLERANCE
    _, inverse = np.unique(np.round(mesh.vertices / step).astype(np.int64), axis=0, return_inverse=True)
    faces = inverse.reshape(-1)[mesh.faces]
    keep = (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 2] != faces[:, 0])
    return faces[keep]


def is_closed(mesh: Mesh) -> bool:
    """True if the mesh is closed and consistently oriented: after welding, every directed edge
    occurs exactly once and its reverse occurs too (each edge is shared by exactly two faces)."""
    faces = welded_faces(mesh)
    if len(faces) < 4:
        return False
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    n = int(faces.max()) + 1
    codes = edges[:, 0] * n + edges[:, 1]
    return len(np.unique(codes)) == len(codes) and bool(np.isin(edges[:, 1] * n + edges[:, 0], codes).all())


def signed_volume(mesh: Mesh) -> float:
    """Sum of the signed volumes of the tetrahedra (origin, face) in file units³: the enclosed
    volume of a closed outward-oriented mesh (negative if inside out; meaningless if open)."""
    a, b, c = (mesh.vertices[mesh.faces[:, k]] for k in range(3))
    return float(np.einsum("ij,ij->", a, np.cross(b, c)) / 6.0)


def read_mesh(path: Path) -> Mesh:
    """Reads an OBJ, GLB/glTF (first mesh) or STL file, by suffix; unused vertices are dropped."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in MESH_SUFFIXES:
        raise AssetError(f"{path}: unsupported mesh format {suffix!r}; expected one of "
                         + ", ".join(MESH_SUFFIXES))
    if not path.is_file():
        raise AssetError(f"{path}: mesh file not found")
    reader = {".obj": read_obj, ".glb": read_gltf, ".gltf": read_gltf, ".stl": read_stl}[suffix]
    mesh = reader(path)
    if len(mesh.faces) == 0:
        raise AssetError(f"{path}: the mesh has no faces")
    if not np.isfinite(mesh.vertices).all():
        raise AssetError(f"{path}: the mesh has non-finite vertex coordinates")
    used, inverse = np.unique(mesh.faces, return_inverse=True)
    return replace(mesh, vertices=mesh.vertices[used], faces=inverse.reshape(-1, 3).astype(np.int64))


def _resolve(index: str, count: int) -> int:
    """A 1-based (or negative, relative) OBJ index -> a 0-based index."""
    i = int(index)
    if i == 0:
        raise ValueError("index 0 (OBJ indices start at 1)")
    return i - 1 if i > 0 else count + i


def read_obj(path: Path) -> Mesh:
    """Wavefront OBJ: ``v``, ``vt``, ``vn``, ``f`` (polygons fan-triangulated, negative indices
    allowed), ``o``/``g`` (start a new part), ``mtllib``; other statements are ignored."""
    pos: list[list[float]] = []
    uv: list[list[float]] = []
    nrm: list[list[float]] = []
    faces: list[tuple[int, int, int]] = []
    face_uvs: list[tuple[int, int, int]] = []
    face_normals: list[tuple[int, int, int]] = []
    parts: list[int] = []
    part, part_has_faces, mtllib = 0, False, None
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError as e:
        raise AssetError(f"{path}: cannot read ({e.strerror})") from None
    for lineno, line in enumerate(lines, 1):
        tokens = line.split("#", 1)[0].split()
        if not tokens:
            continue
        key, args = tokens[0], tokens[1:]
        try:
            if key in ("v", "vn"):
                (pos if key == "v" else nrm).append([float(a) for a in args[:3]])
                if len(args) < 3:
                    raise ValueError("expected 3 coordinates")
            elif key == "vt":
                uv.append([float(a) for a in (args + ["0"])[:2]])
            elif key == "f":
                if len(args) < 3:
                    raise ValueError("a face needs at least 3 vertices")
                corners = [(a.split("/") + ["", ""])[:3] for a in args]
                vi = [_resolve(c[0], len(pos)) for c in corners]
                ti = [_resolve(c[1], len(uv)) if c[1] else -1 for c in corners]
                ni = [_resolve(c[2], len(nrm)) if c[2] else -1 for c in corners]
                for k in range(1, len(corners) - 1):
                    faces.append((vi[0], vi[k], vi[k + 1]))
                    face_uvs.append((ti[0], ti[k], ti[k + 1]))
                    face_normals.append((ni[0], ni[k], ni[k + 1]))
                    parts.append(part)
                part_has_faces = True
            elif key in ("o", "g") and part_has_faces:
                part, part_has_faces = part + 1, False
            elif key == "mtllib" and args and mtllib is None:
                mtllib = (path.parent / " ".join(args)).resolve()
        except (ValueError, IndexError) as e:
            raise AssetError(f"{path}:{lineno}: bad {key!r} statement {line.strip()[:60]!r} ({e})") from None
    mesh = Mesh(vertices=np.array(pos, dtype=np.float64).reshape(-1, 3),
                faces=np.array(faces, dtype=np.int64).reshape(-1, 3),
                parts=np.unique(np.array(parts, dtype=np.int64), return_inverse=True)[1].reshape(-1),
                mtllib=mtllib)
    _check_range(path, "vertex", mesh.faces, len(pos))
    fu = np.array(face_uvs, dtype=np.int64).reshape(-1, 3)
    fn = np.array(face_normals, dtype=np.int64).reshape(-1, 3)
    if (fu >= 0).any():
        _check_range(path, "texture coordinate", fu[fu != -1], len(uv))
        mesh = replace(mesh, uvs=np.array(uv, dtype=np.float64).reshape(-1, 2), face_uvs=fu)
    if (fn >= 0).any():
        _check_range(path, "normal", fn[fn != -1], len(nrm))
        mesh = replace(mesh, normals=np.array(nrm, dtype=np.float64).reshape(-1, 3), face_normals=fn)
    return mesh


def _check_range(path: Path, what: str, index: np.ndarray, count: int) -> None:
    bad = index[(index < 0) | (index >= count)]
    if len(bad):
        raise AssetError(f"{path}: {what} index {int(bad[0]) + 1} out of range (the file has {count})")


def read_mtl(path: Path) -> tuple[Path | None, tuple[float, float, float] | None]:
    """(texture, colour) of the first material of an MTL file naming them: the ``map_Kd`` image
    (absolute path resolved against the MTL's folder, falling back to its file name in that folder;
    None if no ``map_Kd``; the path may not exist) and the ``Kd`` colour (linear RGB)."""
    texture, color = None, None
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError as e:
        raise AssetError(f"{path}: cannot read material library ({e.strerror})") from None
    for line in lines:
        tokens = line.split("#", 1)[0].split()
        if tokens[:1] == ["map_Kd"] and len(tokens) > 1 and texture is None:
            named = Path(tokens[-1].replace("\\", "/"))
            texture = (path.parent / named).resolve()
            if not texture.is_file() and (path.parent / named.name).is_file():
                texture = (path.parent / named.name).resolve()  # exporters often write their own paths
        elif tokens[:1] == ["Kd"] and len(tokens) >= 4 and color is None:
            try:
                color = (float(tokens[1]), float(tokens[2]), float(tokens[3]))
            except ValueError:
                raise AssetError(f"{path}: bad Kd colour {line.strip()!r}") from None
    return texture, color


def _rows(prefix: str, rows: np.ndarray) -> str:
    return "".join(f"{prefix} " + " ".join(f"{x:.9g}" for x in r) + "\n" for r in rows)


def obj_text(mesh: Mesh, *, split_parts: bool) -> str:
    """The mesh as OBJ text (positions with 9 significant digits, then uvs and normals if any);
    with ``split_parts`` each part is an ``o part_k`` object, else the file is one object."""
    out = ["# scenesim canonical mesh\n", _rows("v", mesh.vertices)]
    if mesh.uvs is not None:
        out.append(_rows("vt", mesh.uvs))
    if mesh.normals is not None:
        out.append(_rows("vn", mesh.normals))
    fu = mesh.face_uvs if mesh.face_uvs is not None else np.full(mesh.faces.shape, -1)
    fn = mesh.face_normals if mesh.face_normals is not None else np.full(mesh.faces.shape, -1)
    order = np.argsort(mesh.parts, kind="stable") if split_parts else np.arange(len(mesh.faces))
    part = -1
    for f in order:
        if split_parts and mesh.parts[f] != part:
            part = int(mesh.parts[f])
            out.append(f"o part_{part}\n")
        corners = []
        for v, t, n in zip(mesh.faces[f] + 1, fu[f] + 1, fn[f] + 1, strict=True):
            corners.append(f"{v}/{t or ''}/{n}" if n else (f"{v}/{t}" if t else f"{v}"))
        out.append("f " + " ".join(corners) + "\n")
    return "".join(out)


_GLTF_TYPES = {5120: "i1", 5121: "u1", 5122: "<i2", 5123: "<u2", 5125: "<u4", 5126: "<f4"}
_GLTF_WIDTH = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}


def read_gltf(path: Path) -> Mesh:
    """Positions and triangle indices of every primitive of the first mesh of a glTF 2.0 file
    (binary ``.glb`` or ``.gltf`` with embedded or external buffers). Node transforms, materials
    and textures are not read; axes are glTF's (+Y up, see ``GLTF_TO_Z_UP``)."""
    data = path.read_bytes()
    try:
        doc, blob = _gltf_document(path, data)
        buffers = [_gltf_buffer(path, b, blob) for b in doc["buffers"]]
        verts, faces = [], []
        for prim in doc["meshes"][0]["primitives"]:
            if prim.get("mode", 4) != 4:
                raise ValueError(f"primitive mode {prim['mode']} is not triangles (4)")
            v = _gltf_accessor(doc, buffers, prim["attributes"]["POSITION"]).astype(np.float64)
            idx = (_gltf_accessor(doc, buffers, prim["indices"]).reshape(-1) if "indices" in prim
                   else np.arange(len(v)))
            if len(idx) % 3 or (len(idx) and not 0 <= idx.min() <= idx.max() < len(v)):
                raise ValueError("indices are out of range or not a multiple of 3")
            faces.append(idx.astype(np.int64).reshape(-1, 3) + sum(len(x) for x in verts))
            verts.append(v.reshape(-1, 3))
    except (KeyError, IndexError, TypeError, ValueError, struct.error) as e:
        raise AssetError(f"{path}: not a readable glTF 2.0 file ({type(e).__name__}: {e})") from None
    tris = np.concatenate(faces)
    return Mesh(vertices=np.concatenate(verts), faces=tris, parts=np.zeros(len(tris), dtype=np.int64))


def _gltf_document(path: Path, data: bytes) -> tuple[dict, bytes | None]:
    if path.suffix.lower() != ".glb":
        return json.loads(data), None
    magic, version, _ = struct.unpack_from("<4sII", data, 0)
    if magic != b"glTF" or version != 2:
        raise ValueError(f"header {magic!r} version {version}, expected b'glTF' version 2")
    offset, doc, blob = 12, None, None
    while offset + 8 <= len(data):
        length, kind = struct.unpack_from("<II", data, offset)
        chunk = data[offset + 8: offset + 8 + length]
        if len(chunk) != length:
            raise ValueError("truncated chunk")
        if kind == 0x4E4F534A:
            doc = json.loads(chunk)
        elif kind == 0x004E4942 and blob is None:
            blob = chunk
        offset += 8 + length
    if doc is None:
        raise ValueError("no JSON chunk")
    return doc, blob


def _gltf_buffer(path: Path, buf: dict, blob: bytes | None) -> bytes:
    uri = buf.get("uri")
    if uri is None:
        if blob is None:
            raise ValueError("a buffer without uri needs the GLB binary chunk")
        return blob
    if uri.startswith("data:"):
        return base64.b64decode(uri.split(",", 1)[1])
    return (path.parent / uri).read_bytes()


def _gltf_accessor(doc: dict, buffers: list[bytes], index: int) -> np.ndarray:
    acc = doc["accessors"][index]
    if "sparse" in acc:
        raise ValueError("sparse accessors are not supported")
    view = doc["bufferViews"][acc["bufferView"]]
    dtype = np.dtype(_GLTF_TYPES[acc["componentType"]])
    width, count = _GLTF_WIDTH[acc["type"]], acc["count"]
    start = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
    stride = view.get("byteStride") or dtype.itemsize * width
    buf = buffers[view["buffer"]]
    if count and start + stride * (count - 1) + dtype.itemsize * width > len(buf):
        raise ValueError(f"accessor {index} reads past the end of its buffer")
    return np.ndarray((count, width), dtype=dtype, buffer=buf, offset=start,
                      strides=(stride, dtype.itemsize)).copy()


def read_stl(path: Path) -> Mesh:
    """Binary or ASCII STL; coincident corners are merged into shared vertices."""
    data = path.read_bytes()
    n = struct.unpack_from("<I", data, 80)[0] if len(data) >= 84 else -1
    if n >= 0 and len(data) == 84 + 50 * n:
        rec = np.frombuffer(data, dtype=np.dtype([("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")]),
                            offset=84, count=n)
        corners = rec["v"].reshape(-1, 3).astype(np.float64)
    elif data.lstrip().startswith(b"solid"):
        tokens = data.decode(errors="replace").split()
        try:
            corners = np.array([[float(t) for t in tokens[i + 1:i + 4]]
                                for i, t in enumerate(tokens) if t == "vertex"]).reshape(-1, 3)
        except ValueError:
            raise AssetError(f"{path}: bad vertex in ASCII STL") from None
        if len(corners) % 3:
            raise AssetError(f"{path}: ASCII STL vertex count {len(corners)} is not a multiple of 3")
    else:
        raise AssetError(f"{path}: not a binary STL (size {len(data)} != 84 + 50 × {n}) nor ASCII STL")
    verts, inverse = np.unique(corners, axis=0, return_inverse=True)
    return Mesh(vertices=verts, faces=inverse.reshape(-1, 3).astype(np.int64),
                parts=np.zeros(len(corners) // 3, dtype=np.int64))
