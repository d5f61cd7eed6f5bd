"""Convex hulls, analytic fits and the cached V-HACD decomposition of sim.library.collision."""

import math
from pathlib import Path

import numpy as np
import pytest

from sim.library import collision
from sim.library.collision import (
    analytic_fit,
    analytic_volume,
    convex_hull,
    convex_parts,
    decompose,
    is_convex,
)
from sim.library.meshes import Mesh, is_closed, merge, signed_volume
from sim.library.procedural import _lathe, cube
from sim.library.urdf import rpy_matrix

CUP_PROFILE = np.array([[0.0, -1], [1, -1], [1, 1], [0.7, 1], [0.7, -0.6], [0, -0.6]])


def _max_outside(hull: Mesh, points: np.ndarray) -> float:
    a, b, c = (hull.vertices[hull.faces[:, k]] for k in range(3))
    n = np.cross(b - a, c - a)
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    return float((points @ n.T - np.einsum("ij,ij->i", n, a)).max())


def _inside_any(parts: Mesh, points: np.ndarray) -> np.ndarray:
    """(N,) bool: whether each point is inside the hull of some part."""
    inside = np.zeros(len(points), dtype=bool)
    for k in range(parts.num_parts):
        inside |= np.array([_max_outside(convex_hull(parts.part_vertices(k)), p[None]) <= 0 for p in points])
    return inside


def test_hull_of_a_cube_with_interior_points() -> None:
    corners = cube()[0].vertices
    points = np.concatenate([corners, np.random.default_rng(0).uniform(-1, 1, (500, 3))])
    hull = convex_hull(points)
    assert len(hull.vertices) == 8 and is_closed(hull)
    np.testing.assert_allclose(signed_volume(hull), 8.0)
    np.testing.assert_allclose(np.sort(hull.vertices, axis=0), np.sort(corners, axis=0))


def test_hull_of_points_on_a_sphere() -> None:
    p = np.random.default_rng(1).normal(size=(2000, 3))
    p /= np.linalg.norm(p, axis=1, keepdims=True)
    hull = convex_hull(p)
    assert len(hull.vertices) == 2000 and is_closed(hull)
    assert _max_outside(hull, p) < 1e-8  # HULL_TOLERANCE × extent 2
    assert 0.97 * 4 / 3 * math.pi < signed_volume(hull) < 4 / 3 * math.pi


def test_hull_of_a_grid_with_many_coplanar_points() -> None:
    g = np.linspace(-1, 1, 7)
    hull = convex_hull(np.stack(np.meshgrid(g, g, g), -1).reshape(-1, 3))
    assert is_closed(hull) and len(hull.vertices) == 8
    np.testing.assert_allclose(signed_volume(hull), 8.0)


def test_flat_points_have_no_hull() -> None:
    flat = np.random.default_rng(2).uniform(size=(50, 3)) * [1, 1, 0]
    with pytest.raises(ValueError, match="coplanar"):
        convex_hull(flat)
    assert collision.hull_volume(flat) == 0.0


def test_analytic_fit() -> None:
    m = np.eye(4)
    m[:3, :3] = rpy_matrix(1.570796, 0, 0) @ np.diag([1.0, 2.0, 3.0])
    m[:3, 3] = [0.5, 0, 0]
    center, half = analytic_fit("box", m)
    np.testing.assert_allclose(center, [0.5, 0, 0])
    np.testing.assert_allclose(half, [1.0, 3.0, 2.0], rtol=1e-6)  # y and z swapped by 90° about x
    np.testing.assert_allclose(analytic_volume("box", half), 48.0, rtol=1e-6)
    m[:3, :3] = rpy_matrix(0.3, 0, 0)
    assert analytic_fit("box", m) is None  # rotated off the axes
    assert analytic_fit("sphere", np.diag([1.0, 1.0, 2.0, 1.0])) is None
    assert analytic_fit("cylinder", np.diag([2.0, 2.0, 1.0, 1.0])) is not None
    x_axis = np.eye(4)
    x_axis[:3, :3] = rpy_matrix(0, math.pi / 2, 0)
    assert analytic_fit("cylinder", x_axis) is None  # the axis is not z
    np.testing.assert_allclose(analytic_volume("cylinder", np.array([2.0, 2.0, 1.0])), 8 * math.pi)


def test_convex_parts_hull_each_part_and_drop_flat_ones() -> None:
    c = cube()[0]
    flat = Mesh(np.eye(3), np.array([[0, 1, 2]]), np.zeros(1, dtype=np.int64))
    parts = convex_parts(merge([c, Mesh(c.vertices * 0.5 + 3, c.faces, c.parts), flat]))
    assert parts.num_parts == 2
    np.testing.assert_allclose(signed_volume(parts), 9.0)


def test_vhacd_decomposes_a_cup_once_then_reads_the_cache(empty_cache: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    cup = _lathe(CUP_PROFILE, 16)
    volume = signed_volume(cup)
    assert is_closed(cup) and not is_convex(cup, volume)
    parts = decompose(cup)
    assert parts.num_parts >= 3
    lo, hi = parts.bounds()
    np.testing.assert_allclose(lo, cup.bounds()[0], atol=0.05)
    np.testing.assert_allclose(hi, cup.bounds()[1], atol=0.05)
    air = np.array([[0, 0, 0], [0, 0, 0.9], [0.5, 0, -0.4], [0, -0.6, 0.5]])  # inside the cup's cavity
    solid = np.array([[0, 0, -0.8], [0.85, 0, 0], [0, -0.85, 0.9], [-0.5, 0, -0.9]])  # bottom and wall
    assert not _inside_any(parts, air).any()
    assert _inside_any(parts, solid).all()
    cached = list((empty_cache / "vhacd").iterdir())
    assert len(cached) == 1  # no temporary files left behind

    def fail(*_: object) -> None:
        raise AssertionError("V-HACD ran again")

    monkeypatch.setattr(collision, "_run_vhacd", fail)
    np.testing.assert_array_equal(decompose(cup).faces, parts.faces)
