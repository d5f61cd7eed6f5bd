"""Motion blur: the RGB streak of a fast object spans about shutter × its image velocity, measured on
the image, while the ground truth stays unblurred; Blender's keyframes between frames are the
simulation's sub-frame states (not a straight line between frames)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from numpy.testing import assert_allclose

from sim.scene import Camera, Light, Material, Scene, SceneObject
from sim.settings import RenderSettings

pytestmark = pytest.mark.slow



def fast_ball(shutter: float) -> Scene:
    """A red ball crossing the view at 12 m/s (about 14 px per frame) in front of a grey wall, no
    gravity; 96 x 24 pixels, 3 frames."""
    wall = SceneObject("wall", scale=(10.0, 0.1, 3.0), position=(0.0, 2.0, 0.5), static=True,
                       background=True, material=Material(color=(0.3, 0.3, 0.3)))
    ball = SceneObject("ball", asset="primitive:sphere", scale=(0.3,) * 3, position=(-1.5, 0.0, 0.5),
                       velocity=(12.0, 0.0, 0.0), material=Material(color=(0.9, 0.05, 0.05)))
    camera = Camera(positions=((0.0, -8.0, 0.5),), look_at=((0.0, 0.0, 0.5),))
    return Scene(objects=(wall, ball), camera=camera,
                 lights=(Light(position=(0.0, -4.0, 6.0)),), resolution=(96, 24), frames=3,
                 gravity=(0.0, 0.0, 0.0), shutter=shutter)


def _red_profile(rgba: np.ndarray) -> np.ndarray:
    """float64 (W,): per column the summed linear-light redness R − G (0 on the grey wall)."""
    srgb = rgba[..., :3].astype(np.float64) / 255.0
    linear = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    return (linear[..., 0] - linear[..., 1]).sum(axis=0)


def _spread(profile: np.ndarray) -> float:
    """Variance (px²) of a profile's column positions, over the columns around its mass."""
    cols = np.flatnonzero(profile > 0.02 * profile.max())
    x = np.arange(cols[0] - 2, cols[-1] + 3)
    p = profile[x]
    mean = (x * p).sum() / p.sum()
    return float(((x - mean) ** 2 * p).sum() / p.sum())


def test_blur_streak_spans_shutter_times_image_velocity(tmp_path):
    from sim import load_scene, run_scene

    settings = RenderSettings(samples=32, denoise=False, threads=2)
    sharp = load_scene(run_scene(fast_ball(0.0), settings, tmp_path, "sharp").path)
    for shutter in (0.5, 1.0):
        data = load_scene(run_scene(fast_ball(shutter), settings, tmp_path, f"blur_{shutter}").path)
        t = 1  # a middle frame: the shutter interval lies inside the simulation on both sides
        seg = data["segmentation"][t]
        np.testing.assert_array_equal(seg, sharp["segmentation"][t])  # ground truth unblurred
        np.testing.assert_array_equal(data["depth"][t], sharp["depth"][t])
        velocity = float(np.nanmean(data["forward_flow"][t][..., 0][seg == 1]))  # px per frame
        assert 10 < velocity < 20
        # Moving L = shutter x velocity pixels while the shutter is open convolves the sharp image
        # with a box of width L, which adds L² / 12 to the variance of its horizontal profile.
        blurred, still = _red_profile(data["rgba"][t]), _red_profile(sharp["rgba"][t])
        streak = np.sqrt(12.0 * (_spread(blurred) - _spread(still)))
        assert streak == pytest.approx(shutter * velocity, rel=0.15), (shutter, streak, velocity)
        assert blurred.max() < 0.9 * still.max()  # the colour is spread over the streak


def test_keyframes_between_frames_are_the_simulated_sub_frame_states():
    from sim.passes import required_outputs
    from sim.physics import simulate
    from sim.render import blender, cycles
    from sim.render.frames import _keyframe

    floor = SceneObject("floor", scale=(5.0, 5.0, 0.1), position=(0.0, 0.0, -0.1), static=True)
    # a ball thrown down at the floor bounces within frame 1's shutter interval: a V, not a line
    ball = SceneObject("ball", asset="primitive:sphere", scale=(0.2,) * 3, position=(0.0, 0.0, 0.75),
                       velocity=(1.0, 0.0, -8.0), restitution=0.9)
    scene = dataclasses.replace(fast_ball(0.8), objects=(floor, ball))
    traj = simulate(scene)
    blender.reset()
    settings = RenderSettings(samples=1, threads=1)
    stage = cycles.build_stage(scene, settings, required_outputs(settings.passes))
    _keyframe(stage, scene, traj, blur=True)
    assert stage.rgb.render.use_motion_blur and not stage.gt.render.use_motion_blur
    assert stage.objects[1].cycles.motion_steps == 4  # 17 transforms for 17 step samples
    offsets = traj.shutter_offsets
    z = traj.shutter_positions[1, :, 1, 2]
    assert z.argmin() not in (0, len(z) - 1)  # the bounce is inside the interval
    def location(b_scene) -> np.ndarray:  # the ball as that scene's evaluation poses it
        return np.array(stage.objects[1].evaluated_get(b_scene.view_layers[0].depsgraph).location)

    for m, offset in enumerate(offsets):
        stage.rgb.frame_set(1 + int(np.floor(offset)), subframe=float(offset - np.floor(offset)))
        assert_allclose(location(stage.rgb), traj.shutter_positions[1, m, 1], atol=1e-6)
    # half way between two samples: linear between the simulated states (1/40 frame apart)
    stage.rgb.frame_set(1, subframe=float(offsets[-1] - 0.025))
    assert_allclose(location(stage.rgb), traj.shutter_positions[1, -2:, 1].mean(axis=0), atol=1e-6)
    stage.gt.frame_set(1)
    assert_allclose(location(stage.gt), traj.positions[1, 1], atol=1e-6)
