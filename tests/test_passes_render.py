"""Passes chosen per job, rendered with Blender: only the chosen files, no RGB render without rgba,
z_depth exact on an analytic wall, semantic ids from the category table."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

from sim.categories import default_table
from sim.io import load_scene
from sim.physics import simulate
from sim.pipeline import run_scene
from sim.render import render
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


@pytest.mark.slow
def test_amodal_masks_equal_rendering_each_object_alone(tmp_path):
    """Three objects in a row behind one another, a moving camera: each amodal mask is exactly the
    silhouette of a render of that object alone; the other passes do not change."""
    objects = (SceneObject("floor", scale=(6.0, 6.0, 0.1), position=(0.0, 0.0, -0.1), static=True,
                           background=True),
               SceneObject("front", asset="primitive:sphere", scale=(0.5,) * 3, position=(0.0, -1.5, 0.8),
                           static=True),
               SceneObject("middle", asset="primitive:cylinder", scale=(0.4, 0.4, 0.8),
                           position=(0.3, 0.0, 0.8), static=True),
               SceneObject("back", scale=(0.6,) * 3, position=(-0.2, 1.8, 0.8), static=True))
    camera = Camera(positions=((0.0, -7.0, 1.0), (1.0, -7.0, 1.2)), look_at=((0.0, 0.0, 0.8),))
    scene = Scene(objects=objects, camera=camera, resolution=(40, 30), frames=2)
    trajectory = simulate(scene)
    settings = RenderSettings(samples=1, passes=("segmentation", "depth", "amodal"), threads=1)
    frames = list(render(scene, trajectory, settings))
    plain = list(render(scene, trajectory, dataclasses.replace(settings, passes=("segmentation", "depth"))))
    for frame, reference in zip(frames, plain, strict=True):
        for name in reference:
            np.testing.assert_array_equal(frame[name], reference[name])
    hidden = 0
    for k, obj in enumerate(scene.instances):
        alone = dataclasses.replace(scene, objects=(obj,))
        silhouettes = [f["object_index"] == 1 for f in render(alone, simulate(alone), settings)]
        for t, frame in enumerate(frames):
            np.testing.assert_array_equal(frame["amodal"][k], silhouettes[t])
            visible = frame["object_index"] == k + 2
            assert (frame["amodal"][k] >= visible).all()
            hidden += int(frame["amodal"][k].sum() - visible.sum())
    assert hidden > 50  # the objects really do hide one another

    result = run_scene(scene, settings, tmp_path, "s")
    data = load_scene(result.path)
    np.testing.assert_array_equal(data["amodal"], np.stack([f["amodal"] for f in frames]))
    for k, inst in enumerate(data["metadata"]["instances"]):
        for t in range(2):
            amodal, visible = data["amodal"][t, k].sum(), (data["segmentation"][t] == k + 1).sum()
            assert inst["amodal_visibility"][t] == amodal and inst["visibility"][t] == visible
            assert inst["visible_fraction"][t] == pytest.approx(visible / amodal)
