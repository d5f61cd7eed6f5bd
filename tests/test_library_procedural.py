"""Procedural meshes of sim.library.procedural: closed, canonical, of the analytic volume, and
covered by their convex pieces."""

import math

import numpy as np
import pytest

from sim.errors import AssetError
from sim.library.meshes import is_closed, signed_volume
from sim.library.procedural import SHAPES, shape

ANALYTIC_VOLUME = {  # of the smooth shape the mesh approximates; the mesh is inscribed, so slightly less
    "cube": 8.0, "sphere": 4 / 3 * math.pi, "cylinder": 2 * math.pi, "cone": 2 * math.pi / 3,
    "capsule": math.pi * 0.5**2 * (4 / 3 * 0.5 + 1.0), "torus": 2 * math.pi**2 * 0.7 * 0.3**2,
}


@pytest.mark.parametrize("name", SHAPES)
def test_closed_canonical_and_positive_volume(name: str) -> None:
    mesh, _ = shape(name)
    assert is_closed(mesh)  # every edge shared by exactly two consistently oriented faces
    assert signed_volume(mesh) > 0
    lo, hi = mesh.bounds()
    np.testing.assert_allclose(lo, -hi, atol=1e-12)
    np.testing.assert_allclose(np.max(hi - lo), 2.0, rtol=1e-12)


@pytest.mark.parametrize("name", ANALYTIC_VOLUME)
def test_volume_close_to_the_smooth_shape(name: str) -> None:
    volume = signed_volume(shape(name)[0])
    assert volume <= ANALYTIC_VOLUME[name] + 1e-12
    np.testing.assert_allclose(volume, ANALYTIC_VOLUME[name], rtol=0.02)


@pytest.mark.parametrize("name", ["torus", "gear", "torus_knot"])
def test_convex_pieces_cover_the_mesh(name: str) -> None:
    mesh, pieces = shape(name)
    assert pieces is not None and pieces.num_parts > 1
    inside_any = np.zeros(len(mesh.vertices), dtype=bool)
    for k in range(pieces.num_parts):
        faces = pieces.faces[pieces.parts == k]
        a, b, c = (pieces.vertices[faces[:, i]] for i in range(3))
        n = np.cross(b - a, c - a)
        n /= np.linalg.norm(n, axis=1, keepdims=True)
        outside = mesh.vertices @ n.T - np.einsum("ij,ij->i", n, a)
        inside_any |= (outside <= 1e-9).all(axis=1)
    assert inside_any.all()
    # the pieces meet on shared rings and fill no more than a sliver beyond the mesh
    assert signed_volume(mesh) <= signed_volume(pieces) <= 1.03 * signed_volume(mesh)


def test_convex_shapes_have_no_pieces_and_shapes_are_deterministic() -> None:
    for name in ("cube", "sphere", "cylinder", "cone", "capsule"):
        assert shape(name)[1] is None
    (a, _), (b, _) = SHAPES["torus_knot"](), SHAPES["torus_knot"]()
    np.testing.assert_array_equal(a.vertices, b.vertices)
    np.testing.assert_array_equal(a.faces, b.faces)


def test_unknown_shape() -> None:
    with pytest.raises(AssetError, match="primitive:dodecahedron: unknown primitive"):
        shape("dodecahedron")
