"""Passes chosen per job, rendered with Blender: only the chosen files, no RGB render without rgba,
z_depth exact on an analytic wall, semantic ids from the category table."""

from __future__ import annotations

import os

import numpy as np
import pytest

from sim.categories import default_table
from sim.io import load_scene
from sim.pipeline import run_scene
from sim.scene import Camera, Scene, SceneObject
from sim.settings import RenderSettings
from sim.transforms import intrinsics, pixel_rays

WALL_X = 5.0
"""The wall's front face is the plane x = 5 m; the camera at x = 0 looks along +x."""


@pytest.mark.slow
def test_label_job_writes_only_its_passes_and_z_depth_is_planar(tmp_path):
    scene = Scene(objects=(
        SceneObject("wall", scale=(0.5, 10.0, 10.0), position=(WALL_X + 0.5, 0.0, 1.0), static=True,
                    category="wall"),
        SceneObject("ball", asset="primitive:sphere", scale=(0.6,) * 3, position=(3.0, 0.8, 1.0),
                    static=True)),
        camera=Camera(positions=((0.0, 0.0, 1.0),), look_at=((WALL_X, 0.0, 1.0),)),
        resolution=(24, 16), frames=2)
    table = (*default_table(), "wall")
    settings = RenderSettings(samples=1, passes=("z_depth", "semantic", "depth"), categories=table, threads=1)
    result = run_scene(scene, settings, tmp_path, "s")
    assert result.timings["rgb_render_s"] == 0 and result.timings["gt_render_s"] > 0
    names = sorted(f for f in os.listdir(result.path) if not f.endswith(".json"))
    assert names == sorted(f"{p}_{t:05d}.{e}" for p, e in (("depth", "tiff"), ("semantic", "png"),
                                                          ("z_depth", "tiff")) for t in range(2))
    data = load_scene(result.path)
    sem, z, depth = data["semantic"], data["z_depth"], data["depth"]
    wall, ball = sem == table.index("wall") + 1, sem == table.index("sphere") + 1
    assert wall.sum() > 200 and ball.sum() > 10 and (wall | ball).all()
    np.testing.assert_allclose(z[wall], WALL_X, rtol=2e-6)  # planar depth of a plane facing the camera
    rays = pixel_rays(intrinsics(scene.camera, scene.resolution), scene.resolution)
    np.testing.assert_allclose(z, depth * rays[..., 2], rtol=1e-6)
    assert (z[ball] < WALL_X).all()
    assert data["metadata"]["categories"][str(len(table))] == "wall"
