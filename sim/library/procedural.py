"""Procedural meshes in numpy: closed, outward-oriented triangle meshes in the canonical frame.

Every shape is centred on the origin and its bounding box's largest side is 2 (it fits [-1, 1]^3):
- ``cube``: edge 2. ``sphere``: radius 1 (32 × 16 UV sphere). ``cylinder``: radius 1, height 2
  along z (64 sides). ``cone``: base radius 1 at z = −1, apex at z = +1 (64 sides).
- ``capsule``: radius 0.5, total height 2 along z. ``torus``: major radius 0.7, tube radius 0.3,
  around z. ``gear``: 12 trapezoidal teeth, outer radius 1, root radius 0.8, thickness 0.4 along z.
- ``torus_knot``: a tube of radius 0.3 around the (2, 3) knot on a torus of radii 2 and 1.
``shape`` centres and scales gear and torus knot so their largest side is 2 (the others already
are). Concave shapes come with a convex decomposition (slabs of the torus and knot, disc + teeth
of the gear) whose union covers the mesh, so they need no V-HACD run. Deterministic; each shape
builds in well under 0.2 s.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sim.errors import AssetError
from sim.library.collision import convex_hull
from sim.library.meshes import Mesh, merge, signed_volume


def _surface(points: np.ndarray, wrap_rings: bool) -> Mesh:
    """A closed mesh from an (R, S, 3) grid of rings of S points each, wrapped around every ring;
    rings are joined in order (and last to first if ``wrap_rings``). Rings that collapse to one
    point (poles, cap centres) are welded, degenerate triangles dropped, and the winding is
    chosen so the enclosed volume is positive."""
    r, s, _ = points.shape
    idx = np.arange(r * s).reshape(r, s)
    i0 = idx if wrap_rings else idx[:-1]
    i1 = np.roll(idx, -1, axis=0) if wrap_rings else idx[1:]
    j0, j1 = i0, np.roll(i0, -1, axis=1)
    k0, k1 = i1, np.roll(i1, -1, axis=1)
    faces = np.concatenate([np.stack([j0, j1, k1], -1).reshape(-1, 3),
                            np.stack([j0, k1, k0], -1).reshape(-1, 3)])
    verts = points.reshape(-1, 3)
    _, first, inverse = np.unique(np.round(verts * 1e9).astype(np.int64), axis=0,
                                  return_index=True, return_inverse=True)
    faces = inverse.reshape(-1)[faces]
    keep = (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 2] != faces[:, 0])
    mesh = Mesh(vertices=verts[first], faces=faces[keep], parts=np.zeros(int(keep.sum()), dtype=np.int64))
    if signed_volume(mesh) < 0:
        mesh = Mesh(vertices=mesh.vertices, faces=mesh.faces[:, ::-1].copy(), parts=mesh.parts)
    return mesh


def _lathe_grid(rz: np.ndarray, sides: int, rho: np.ndarray | None = None) -> np.ndarray:
    """(R, S, 3) points of a surface of revolution about z: ring i has radius ``rz[i, 0]`` × ``rho``
    (a per-side radial factor, default 1) at height ``rz[i, 1]``; rings of radius 0 are poles."""
    theta = np.arange(sides) * (2 * np.pi / sides)
    rho = np.ones(sides) if rho is None else rho
    x = rz[:, :1] * (rho * np.cos(theta))
    y = rz[:, :1] * (rho * np.sin(theta))
    return np.stack([x, y, np.broadcast_to(rz[:, 1:], x.shape)], -1)


def _lathe(rz: np.ndarray, sides: int) -> Mesh:
    return _surface(_lathe_grid(rz, sides), wrap_rings=False)


def _slabs(points: np.ndarray, axis: int, width: int) -> list[np.ndarray]:
    """Point sets of consecutive slices ``k*width … (k+1)*width`` (inclusive, wrapping) of a grid
    along ``axis``: convex pieces of a tube-like surface whose union covers it."""
    n = points.shape[axis]
    return [np.take(points, np.arange(k, k + width + 1) % n, axis=axis).reshape(-1, 3)
            for k in range(0, n, width)]


def _arc(center_z: float, radius: float, start: float, stop: float, n: int) -> np.ndarray:
    a = np.linspace(start, stop, n)
    return np.stack([radius * np.cos(a), center_z + radius * np.sin(a)], -1)


Shape = tuple[Mesh, list[np.ndarray]]
"""A builder's output: the closed mesh and point sets whose convex hulls cover it (empty if the
shape is convex or analytic)."""


def cube() -> Shape:
    v = np.array([[x, y, z] for z in (-1, 1) for y in (-1, 1) for x in (-1, 1)], dtype=np.float64)
    quads = [(0, 2, 3, 1), (4, 5, 7, 6), (0, 1, 5, 4), (2, 6, 7, 3), (0, 4, 6, 2), (1, 3, 7, 5)]
    faces = np.array([t for a, b, c, d in quads for t in ((a, b, c), (a, c, d))], dtype=np.int64)
    return Mesh(vertices=v, faces=faces, parts=np.zeros(12, dtype=np.int64)), []


def sphere() -> Shape:
    return _lathe(_arc(0.0, 1.0, -np.pi / 2, np.pi / 2, 17), 32), []


def cylinder() -> Shape:
    return _lathe(np.array([[0.0, -1], [1, -1], [1, 1], [0, 1]]), 64), []


def cone() -> Shape:
    return _lathe(np.array([[0.0, -1], [1, -1], [0, 1]]), 64), []


def capsule() -> Shape:
    rz = np.concatenate([_arc(-0.5, 0.5, -np.pi / 2, 0, 9), _arc(0.5, 0.5, 0, np.pi / 2, 9)])
    return _lathe(rz, 32), []


def torus() -> Shape:
    """Pieces: 24 slabs of 15° around z."""
    a = np.arange(24) * (2 * np.pi / 24)
    grid = _lathe_grid(np.stack([0.7 + 0.3 * np.cos(a), 0.3 * np.sin(a)], -1), 48)
    return _surface(grid, wrap_rings=True), _slabs(grid, axis=1, width=2)


def gear() -> Shape:
    """12 teeth; per tooth (30°): root 0–9°, rising flank 9–12°, tip 12–24°, falling flank 24–27°.
    Pieces: the root disc (radius 0.8) and one prism per tooth (9°–27°)."""
    teeth, per_tooth = 12, 10
    phase = (np.arange(teeth * per_tooth) % per_tooth) / per_tooth  # position within a tooth, [0, 1)
    rho = np.interp(phase, [0.0, 0.3, 0.4, 0.8, 0.9, 1.0], [0.8, 0.8, 1.0, 1.0, 0.8, 0.8])
    grid = _lathe_grid(np.array([[0.0, -0.2], [1, -0.2], [1, 0.2], [0, 0.2]]), teeth * per_tooth, rho)
    rim = grid[1:3]
    disc = _lathe_grid(np.array([[0.8, -0.2], [0.8, 0.2]]), teeth * per_tooth)
    teeth_pts = [rim[:, k * per_tooth + 3: k * per_tooth + 10].reshape(-1, 3) for k in range(teeth)]
    return _surface(grid, wrap_rings=False), [disc.reshape(-1, 3), *teeth_pts]


def torus_knot() -> Shape:
    """Tube of radius 0.3 around c(t) = ((2 + cos 3t) cos 2t, (2 + cos 3t) sin 2t, sin 3t).
    Pieces: 64 slabs of 4 tube segments (together 2% larger than the tube)."""
    t = np.arange(256) * (2 * np.pi / 256)
    core = np.stack([2 * np.cos(2 * t), 2 * np.sin(2 * t), 0 * t], -1)
    c = core * (1 + np.cos(3 * t) / 2)[:, None] + np.stack([0 * t, 0 * t, np.sin(3 * t)], -1)
    tangent = np.roll(c, -1, axis=0) - np.roll(c, 1, axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    out = c - core  # points away from the torus core circle: a periodic, smooth normal direction
    normal = out - np.sum(out * tangent, axis=1, keepdims=True) * tangent
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    binormal = np.cross(tangent, normal)
    a = np.arange(16) * (2 * np.pi / 16)
    ring = np.cos(a)[None, :, None] * normal[:, None] + np.sin(a)[None, :, None] * binormal[:, None]
    grid = c[:, None] + 0.3 * ring
    return _surface(grid, wrap_rings=True), _slabs(grid, axis=0, width=4)


SHAPES: dict[str, Callable[[], Shape]] = {
    "cube": cube, "sphere": sphere, "cylinder": cylinder, "cone": cone, "capsule": capsule,
    "torus": torus, "gear": gear, "torus_knot": torus_knot,
}
"""Procedural shape name -> builder. The ids are ``primitive:<name>``."""

ANALYTIC = {"cube": "box", "sphere": "sphere", "cylinder": "cylinder"}
"""Shapes whose collision (and volume) is the exact analytic primitive spanning [-1, 1]^3."""


def unit_mesh(kind: str) -> Mesh:
    """The mesh of an analytic kind (``box``, ``sphere``, ``cylinder``) spanning [-1, 1]^3."""
    return SHAPES[{v: k for k, v in ANALYTIC.items()}[kind]]()[0]


def shape(name: str) -> tuple[Mesh, Mesh | None]:
    """The procedural shape ``name`` (a key of ``SHAPES``) in the canonical frame: its closed mesh
    and, for concave shapes, a convex decomposition (one part per convex hull) covering it."""
    if name not in SHAPES:
        raise AssetError(f"primitive:{name}: unknown primitive; known: {', '.join(SHAPES)}")
    mesh, pieces = SHAPES[name]()
    lo, hi = mesh.bounds()
    to_canonical = np.diag([2 / np.max(hi - lo)] * 3 + [1.0])
    to_canonical[:3, 3] = -(lo + hi) / np.max(hi - lo)
    hulls = merge([convex_hull(p) for p in pieces]).transformed(to_canonical) if pieces else None
    return mesh.transformed(to_canonical), hulls
