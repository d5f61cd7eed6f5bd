"""From an asset's raw geometry (a ``Body``) to its canonical frame, collision shape and volume.

The canonical frame: the body frame (the URDF link frame, or the mesh file's axes with glTF turned
Z-up) translated so the visual mesh's axis-aligned bounding box is centred on the origin and
scaled uniformly so its largest side is 2: the asset fits [-1, 1]^3 and touches ±1 on its longest
axis, like the primitives. ``native_scale`` = body units (metres for URDFs) per canonical unit, so
``SceneObject.scale = (native_scale,) * 3`` restores the original size.

The collision shape (see ``sim.library.collision``), in order of preference:
1. analytic primitives (``primitive:cube|sphere|cylinder``): the exact shape; other procedural
   shapes: their own convex pieces (``sim.library.procedural``);
2. a URDF's ``<collision>`` elements: one axis-aligned box/sphere/cylinder stays analytic;
   anything else becomes convex parts (a mesh element keeps its OBJ groups, each hulled; a
   primitive element becomes one part);
3. otherwise, from the visual mesh: V-HACD parts if it is closed and concave (volume below
   ``CONVEX_RATIO`` of its hull's), else its convex hull.

Volume (canonical units³; an object of ``SceneObject.scale`` (sx, sy, sz) has volume × sx·sy·sz):
exact for analytic primitives; else the enclosed volume of the visual mesh if it is closed; else the
collision shape's (analytic volume, or the sum of its convex parts' volumes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.errors import AssetError
from sim.library import procedural
from sim.library.cache import cached_text
from sim.library.collision import (
    analytic_fit,
    analytic_volume,
    convex_hull,
    convex_parts,
    decompose,
    is_convex,
)
from sim.library.meshes import (
    GLTF_TO_Z_UP,
    MESH_SUFFIXES,
    Mesh,
    is_closed,
    merge,
    obj_text,
    read_mesh,
    read_mtl,
    signed_volume,
)
from sim.library.urdf import UrdfShape, read_urdf

Vec3 = tuple[float, float, float]
RGBA = tuple[float, float, float, float]
Mat4 = tuple[tuple[float, float, float, float], ...]

TEXTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tga", ".bmp", ".tif", ".tiff", ".exr", ".hdr", ".webp")
"""Image formats Blender reads (GIF is not one)."""


@dataclass(frozen=True, eq=False)
class Body:
    """An asset's raw geometry. visual: the visual mesh in its file's coordinates; visual_matrix:
    (4, 4) from those into the body frame; visual_source: its file (None if procedural);
    collisions: URDF collision elements in the body frame, or None to derive the shape from the
    visual mesh; color: base RGBA in [0, 1] or None; texture: image file or None; analytic: the
    exact collision kind of an analytic primitive, else None; pieces: a known convex
    decomposition in the visual mesh's coordinates (procedural shapes), else None."""

    visual: Mesh
    visual_matrix: np.ndarray
    visual_source: Path | None = None
    collisions: tuple[UrdfShape, ...] | None = None
    color: RGBA | None = None
    texture: Path | None = None
    analytic: str | None = None
    pieces: Mesh | None = None


@dataclass(frozen=True)
class Geometry:
    """The canonical-frame facts of an asset (fields documented on ``AssetInfo``)."""

    visual_source: str | None
    visual_transform: Mat4
    native_scale: float
    visual_path: str
    texture_path: str | None
    color: RGBA | None
    collision_kind: str
    collision_path: str | None
    collision_center: Vec3
    collision_half_extents: Vec3
    bounds: tuple[Vec3, Vec3]
    volume: float


def procedural_body(name: str) -> Body:
    mesh, pieces = procedural.shape(name)
    return Body(visual=mesh, visual_matrix=np.eye(4), analytic=procedural.ANALYTIC.get(name), pieces=pieces)


def load_body(path: Path) -> Body:
    """Reads a URDF (one visual element) or a mesh file (OBJ, glTF/GLB, STL) into a ``Body``."""
    if not path.is_file():
        raise AssetError(f"file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".urdf":
        urdf = read_urdf(path)
        if len(urdf.visuals) != 1:
            raise AssetError(f"{path}: {len(urdf.visuals)} <visual> elements; exactly one is supported")
        v = urdf.visuals[0]
        mesh = read_mesh(v.path) if v.path is not None else procedural.unit_mesh(v.kind)
        color, texture = _material(mesh)
        return Body(visual=mesh, visual_matrix=v.matrix, visual_source=v.path,
                    collisions=urdf.collisions or None, color=urdf.color or color,
                    texture=_check_texture(urdf.texture or texture, mesh))
    if suffix in MESH_SUFFIXES:
        mesh = read_mesh(path)
        color, texture = _material(mesh)
        return Body(visual=mesh, visual_matrix=GLTF_TO_Z_UP if suffix in (".glb", ".gltf") else np.eye(4),
                    visual_source=path, color=color, texture=_check_texture(texture, mesh))
    raise AssetError(f"{path}: unsupported file type {suffix!r}; expected .urdf or one of "
                     + ", ".join(MESH_SUFFIXES))


def _material(mesh: Mesh) -> tuple[RGBA | None, Path | None]:
    """Colour and texture from the mesh's MTL file; a missing MTL file means no material."""
    if mesh.mtllib is None or not mesh.mtllib.is_file():
        return None, None
    texture, kd = read_mtl(mesh.mtllib)
    return (None if kd is None else (*kd, 1.0)), texture


def _check_texture(texture: Path | None, mesh: Mesh) -> Path | None:
    """The texture if the mesh can use it (it has texture coordinates); a named texture must exist."""
    if texture is None or mesh.uvs is None:
        return None
    if not texture.is_file():
        raise AssetError(f"texture not found: {texture}")
    if texture.suffix.lower() not in TEXTURE_SUFFIXES:
        raise AssetError(f"{texture}: unsupported texture format; expected one of "
                         + ", ".join(TEXTURE_SUFFIXES))
    return texture


def canonicalise(body: Body) -> Geometry:
    """Places ``body`` in its canonical frame, writes the canonical visual and collision OBJs to the
    cache (see ``sim.library.cache``) and returns the facts."""
    lo, hi = body.visual.transformed(body.visual_matrix).bounds()
    size = float(np.max(hi - lo))
    if not size > 0:
        raise AssetError("the visual mesh has zero size")
    to_canonical = np.diag([2 / size] * 3 + [1.0])
    to_canonical[:3, 3] = -(lo + hi) / size
    visual_transform = to_canonical @ body.visual_matrix
    visual = body.visual.transformed(visual_transform)
    enclosed = abs(signed_volume(visual)) if is_closed(visual) else 0.0
    kind, center, half, parts = _collision(body, to_canonical, visual, enclosed)
    if body.analytic:
        volume = analytic_volume(kind, half)
    elif enclosed:
        volume = enclosed
    else:
        volume = analytic_volume(kind, half) if parts is None else signed_volume(parts)
    if not (np.isfinite(volume) and volume > 0):
        raise AssetError(f"the asset has no volume ({volume!r}): is the mesh flat?")
    vlo, vhi = visual.bounds()
    collision_path = (None if parts is None
                      else cached_text("collision", obj_text(parts, split_parts=True), ".obj"))
    return Geometry(
        visual_source=None if body.visual_source is None else str(body.visual_source),
        visual_transform=_tuple(visual_transform), native_scale=size / 2,
        visual_path=str(cached_text("meshes", obj_text(visual, split_parts=False), ".obj")),
        texture_path=None if body.texture is None else str(body.texture), color=body.color,
        collision_kind=kind,
        collision_path=None if collision_path is None else str(collision_path),
        collision_center=_tuple(center), collision_half_extents=_tuple(half),
        bounds=(_tuple(vlo), _tuple(vhi)), volume=float(volume))


def _collision(body: Body, to_canonical: np.ndarray, visual: Mesh, enclosed: float
               ) -> tuple[str, np.ndarray, np.ndarray, Mesh | None]:
    """(kind, centre, half extents, convex parts or None for analytic kinds) in the canonical frame."""
    if body.analytic:
        return body.analytic, np.zeros(3), np.ones(3), None
    try:
        if body.pieces is not None:
            parts = convex_parts(body.pieces.transformed(to_canonical @ body.visual_matrix))
        elif body.collisions is not None:
            if len(body.collisions) == 1 and body.collisions[0].kind != "mesh":
                shape = body.collisions[0]
                fit = analytic_fit(shape.kind, to_canonical @ shape.matrix)
                if fit is not None:
                    return shape.kind, fit[0], fit[1], None
            pieces = [(read_mesh(s.path) if s.path is not None else procedural.unit_mesh(s.kind))
                      .transformed(to_canonical @ s.matrix) for s in body.collisions]
            parts = convex_parts(merge(pieces))
        elif enclosed and not is_convex(visual, enclosed):
            parts = convex_parts(decompose(visual))
        else:
            parts = convex_hull(visual.vertices)
    except ValueError as e:
        raise AssetError(f"no collision volume: {e}") from None
    lo, hi = parts.bounds()
    return ("mesh_convex" if parts.num_parts == 1 else "mesh_decomposed"), (lo + hi) / 2, (hi - lo) / 2, parts


def _tuple(a: np.ndarray) -> tuple:
    a = np.asarray(a, dtype=np.float64)
    return tuple(_tuple(r) for r in a) if a.ndim > 1 else tuple(float(x) for x in a)
