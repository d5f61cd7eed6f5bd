"""Collision geometry: convex hulls (quickhull in numpy), V-HACD convex decomposition cached on disk,
and the choice between an analytic primitive, one convex hull, or a set of convex parts.

The collision shape of an asset lives in its canonical frame (see ``sim.library.canonical``) and is
one of ``COLLISION_KINDS``:
- ``box`` / ``sphere`` / ``cylinder``: exact analytic shapes given by a centre and half extents
  (box: half sides; sphere: (r, r, r); cylinder: (r, r, half height), axis along z);
- ``mesh_convex``: the convex hull of a mesh (one part);
- ``mesh_decomposed``: a compound of convex parts, one OBJ ``o`` group each (PyBullet's
  ``createCollisionShape(GEOM_MESH, fileName=…)`` makes one convex hull per group).

``pybullet.vhacd`` is the only PyBullet call of the library; pybullet is imported when it runs.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from sim.errors import AssetError
from sim.library.cache import cache_path, content_key
from sim.library.meshes import Mesh, merge, obj_text, read_obj, signed_volume

COLLISION_KINDS = ("box", "sphere", "cylinder", "mesh_convex", "mesh_decomposed")

HULL_TOLERANCE = 1e-9
"""Points within this fraction of the point cloud's largest extent of a hull face count as on it."""

AXIS_TOLERANCE = 1e-5
"""A rotation whose entries are within this of a signed permutation counts as axis-aligned (URDF
files write 90° as 1.570796)."""

CONVEX_RATIO = 0.95
"""A closed mesh whose volume is at least this fraction of its hull's is treated as convex; a
more concave one is decomposed with V-HACD."""

VHACD_PARAMS = {"resolution": 200_000}
"""Arguments of ``pybullet.vhacd`` (its defaults otherwise; 200k voxels take ~1 s per mesh here)."""


def convex_hull(points: np.ndarray) -> Mesh:
    """The convex hull of (N, 3) float64 points as a closed, outward-oriented triangle mesh (one
    part) over the hull's vertices (quickhull: the visible region grows from the face the new
    point lies outside of, across shared edges). Raises ``ValueError`` for (nearly) coplanar points."""
    pts = np.unique(np.asarray(points, dtype=np.float64).reshape(-1, 3), axis=0)
    extent = float(np.max(np.ptp(pts, axis=0))) if len(pts) else 0.0
    eps = HULL_TOLERANCE * extent
    simplex = _initial_simplex(pts, eps)
    hull = _FaceSet(pts, capacity=64)
    centroid = pts[simplex].mean(axis=0)
    tris = simplex[np.array([[0, 1, 2], [0, 3, 1], [0, 2, 3], [1, 3, 2]])]
    a, b, c = (pts[tris[:, k]] for k in range(3))
    inward = np.einsum("ij,ij->i", np.cross(b - a, c - a), centroid - a) > 0
    tris[inward] = tris[inward][:, ::-1]
    hull.add(tris)
    owner, dist = _assign(pts, np.arange(len(pts)), hull, np.arange(4), eps)
    owner[simplex] = -1
    while (owner >= 0).any():
        eye = int(np.argmax(np.where(owner >= 0, dist, -np.inf)))
        visible, horizon, stack = {int(owner[eye])}, [], [int(owner[eye])]
        while stack:
            f = stack.pop()
            for a, b in hull.edges(f):
                g = hull.edge_face[(b, a)]
                if g in visible:
                    continue
                if hull.normals[g] @ pts[eye] - hull.offsets[g] > eps:
                    visible.add(g)
                    stack.append(g)
                else:
                    horizon.append((a, b))
        for f in visible:
            hull.remove(f)
        new_ids = hull.add(np.array([(a, b, eye) for a, b in horizon], dtype=np.int64))
        gone = np.zeros(hull.count, dtype=bool)
        gone[list(visible)] = True
        orphans = np.flatnonzero((owner >= 0) & gone[np.maximum(owner, 0)])
        owner[orphans], dist[orphans] = _assign(pts, orphans, hull, new_ids, eps)
        owner[eye] = -1
    faces = hull.faces[:hull.count][hull.alive[:hull.count]]
    used, inverse = np.unique(faces, return_inverse=True)
    return Mesh(vertices=pts[used], faces=inverse.reshape(-1, 3).astype(np.int64),
                parts=np.zeros(len(faces), dtype=np.int64))


class _FaceSet:
    """The hull's faces so far: growing arrays of vertex indices, unit outward normals and plane
    offsets, an alive flag, and a map from each directed edge (a, b) to the face holding it."""

    def __init__(self, pts: np.ndarray, capacity: int) -> None:
        self.pts = pts
        self.faces = np.zeros((capacity, 3), dtype=np.int64)
        self.normals = np.zeros((capacity, 3))
        self.offsets = np.zeros(capacity)
        self.alive = np.zeros(capacity, dtype=bool)
        self.count = 0
        self.edge_face: dict[tuple[int, int], int] = {}

    def edges(self, f: int) -> tuple[tuple[int, int], ...]:
        a, b, c = self.faces[f].tolist()
        return (a, b), (b, c), (c, a)

    def add(self, faces: np.ndarray) -> np.ndarray:
        """Adds (k, 3) counter-clockwise faces; returns their (k,) ids."""
        while self.count + len(faces) > len(self.faces):
            for name in ("faces", "normals", "offsets", "alive"):
                old = getattr(self, name)
                setattr(self, name, np.concatenate([old, np.zeros_like(old)]))
        a, b, c = (self.pts[faces[:, k]] for k in range(3))
        n = np.cross(b - a, c - a)
        length = np.linalg.norm(n, axis=1, keepdims=True)
        n = n / np.where(length > 0, length, 1.0)  # a sliver gets n = 0: never visible, owns nothing
        ids = np.arange(self.count, self.count + len(faces))
        self.faces[ids], self.normals[ids], self.alive[ids] = faces, n, True
        self.offsets[ids] = np.einsum("ij,ij->i", n, a)
        self.count += len(faces)
        for f in ids.tolist():
            for edge in self.edges(f):
                self.edge_face[edge] = f
        return ids

    def remove(self, f: int) -> None:
        self.alive[f] = False
        for edge in self.edges(f):
            if self.edge_face.get(edge) == f:
                del self.edge_face[edge]


def _initial_simplex(pts: np.ndarray, eps: float) -> np.ndarray:
    if len(pts) < 4:
        raise ValueError(f"a hull needs 4 non-coplanar points, got {len(pts)} distinct points")
    axis = int(np.argmax(np.ptp(pts, axis=0)))
    a, b = int(np.argmin(pts[:, axis])), int(np.argmax(pts[:, axis]))
    line = (pts[b] - pts[a]) / np.linalg.norm(pts[b] - pts[a])
    rel = pts - pts[a]
    c = int(np.argmax(np.linalg.norm(rel - np.outer(rel @ line, line), axis=1)))
    normal = np.cross(pts[b] - pts[a], pts[c] - pts[a])
    normal /= max(np.linalg.norm(normal), 1e-300)
    d = int(np.argmax(np.abs(rel @ normal)))
    if abs(rel[d] @ normal) <= eps or not np.isfinite(normal).all():
        raise ValueError("the points are coplanar (the shape is flat)")
    return np.array([a, b, c, d])


def _assign(pts: np.ndarray, which: np.ndarray, hull: _FaceSet, face_ids: np.ndarray,
            eps: float) -> tuple[np.ndarray, np.ndarray]:
    """For points ``which``: the face (from ``face_ids``) each lies farthest outside of, or −1 if
    inside all of them, and that distance."""
    if len(which) == 0 or len(face_ids) == 0:
        return np.full(len(which), -1), np.zeros(len(which))
    d = pts[which] @ hull.normals[face_ids].T - hull.offsets[face_ids]
    best = np.argmax(d, axis=1)
    far = d[np.arange(len(which)), best]
    return np.where(far > eps, face_ids[best], -1), far


def hull_volume(points: np.ndarray) -> float:
    """Volume of the convex hull of (N, 3) points, in their units³ (0 for flat or tiny sets)."""
    try:
        return signed_volume(convex_hull(points))
    except ValueError:
        return 0.0


def convex_parts(mesh: Mesh) -> Mesh:
    """Each part of ``mesh`` replaced by its convex hull (flat parts dropped); raises
    ``ValueError`` if no part has volume."""
    hulls = []
    for k in range(mesh.num_parts):
        try:
            hulls.append(convex_hull(mesh.part_vertices(k)))
        except ValueError:
            continue
    if not hulls:
        raise ValueError("every collision part is flat")
    return merge(hulls)


def analytic_fit(kind: str, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(centre, half extents) in the target frame of the analytic ``kind`` (``box``, ``sphere``,
    ``cylinder``) whose unit shape ([-1, 1]^3; cylinder axis z) is mapped by the 4×4 ``matrix``,
    or None if the result is not an axis-aligned shape of that kind (rotated off the axes, a
    squashed sphere, a cylinder not along z or with an elliptic section)."""
    lin = np.asarray(matrix, dtype=np.float64)[:3, :3]
    mag = np.abs(lin)
    big = mag > AXIS_TOLERANCE * mag.max()
    if not ((big.sum(axis=0) == 1).all() and (big.sum(axis=1) == 1).all()):
        return None
    half = mag.sum(axis=1)
    if kind == "sphere" and np.ptp(half) > AXIS_TOLERANCE * half.max():
        return None
    if kind == "cylinder" and (not big[2, 2] or abs(half[0] - half[1]) > AXIS_TOLERANCE * half.max()):
        return None
    return np.asarray(matrix, dtype=np.float64)[:3, 3].copy(), half


def analytic_volume(kind: str, half_extents: np.ndarray) -> float:
    """Volume of an analytic shape from its half extents (see ``analytic_fit``), units³."""
    hx, hy, hz = (float(h) for h in half_extents)
    return {"box": 8 * hx * hy * hz, "sphere": 4 / 3 * np.pi * hx * hy * hz,
            "cylinder": 2 * np.pi * hx * hy * hz}[kind]


def is_convex(mesh: Mesh, volume: float) -> bool:
    """Whether a closed mesh of enclosed ``volume`` is convex enough for one hull (``CONVEX_RATIO``)."""
    return volume >= CONVEX_RATIO * hull_volume(mesh.vertices)


def decompose(mesh: Mesh) -> Mesh:
    """Convex decomposition of a closed mesh by V-HACD, one part per convex piece, in the mesh's
    coordinates. Cached on disk by the hash of the input positions and ``VHACD_PARAMS``."""
    text = obj_text(Mesh(vertices=mesh.vertices, faces=mesh.faces, parts=mesh.parts), split_parts=False)
    params = json.dumps(VHACD_PARAMS, sort_keys=True)
    out = cache_path("vhacd", content_key(text, params), ".obj")
    if not out.exists():
        _run_vhacd(text, out)
    parts = read_obj(out)
    if len(parts.faces) == 0:
        raise AssetError(f"{out}: V-HACD produced no convex parts")
    return parts


def _run_vhacd(obj: str, out: Path) -> None:
    """Runs ``pybullet.vhacd`` on OBJ text, its console chatter silenced, and moves the result to
    ``out`` atomically."""
    import pybullet

    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".vhacd-") as tmp:
        src, dst, log = (str(Path(tmp) / name) for name in ("in.obj", "out.obj", "log.txt"))
        Path(src).write_text(obj)
        sys.stdout.flush()
        saved, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 1)
            pybullet.vhacd(src, dst, log, **VHACD_PARAMS)
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            os.close(devnull)
        if not Path(dst).is_file():
            raise AssetError(f"V-HACD produced no output for the mesh cached as {out.name}")
        os.replace(dst, out)
