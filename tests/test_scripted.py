"""Scripted (kinematic) objects: keyframes interpolated exactly (linear position, slerp rotation) at
frames and physics steps, velocities, validation, scene.json round trip, and pushing dynamic objects."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from numpy.testing import assert_allclose

from sim.errors import SceneValidationError
from sim.physics import settle, simulate
from sim.scene import Camera, Keyframe, Scene, SceneObject
from sim.transforms import keyframed_pose, keyframed_velocity, quat_to_matrix


def _z_turn(angle: float) -> tuple[float, float, float, float]:
    return (float(np.cos(angle / 2)), 0.0, 0.0, float(np.sin(angle / 2)))


FLOOR = SceneObject("floor", scale=(4.0, 4.0, 0.1), position=(0.0, 0.0, -0.1), static=True, background=True)
PUSHER_KEYS = (Keyframe(0, (-2.0, 0.0, 0.3)), Keyframe(3, (-2.0, 0.0, 0.3)),
               Keyframe(9, (1.0, 0.0, 0.3), _z_turn(np.pi / 2)))
"""Waits 3 frames, then sweeps 3 m along +x in 6 frames (6 m/s at 12 frames/s) turning 90°."""


def pusher_scene(with_pusher: bool = True, frames: int = 12, shutter: float = 0.0) -> Scene:
    pusher = SceneObject("pusher", scale=(0.1, 0.6, 0.3), keyframes=PUSHER_KEYS, friction=0.2)
    box = SceneObject("box", scale=(0.2, 0.2, 0.2), position=(-0.5, 0.0, 0.2), friction=0.2)
    return Scene(objects=(FLOOR, *((pusher,) if with_pusher else ()), box),
                 camera=Camera(positions=((0.0, -6.0, 3.0),)), resolution=(16, 16), frames=frames,
                 shutter=shutter)


def test_keyframes_interpolate_linearly_and_by_slerp():
    pos, quat = keyframed_pose(PUSHER_KEYS, np.array([0.0, 2.0, 3.0, 6.0, 7.5, 9.0, 20.0]))
    assert_allclose(pos[:, 0], [-2.0, -2.0, -2.0, -0.5, 0.25, 1.0, 1.0])
    # half way through the sweep the pusher has turned 45 degrees about +z
    assert_allclose(quat_to_matrix(quat[3]) @ [1, 0, 0], [np.sqrt(0.5), np.sqrt(0.5), 0.0], atol=1e-12)
    assert_allclose(quat[[0, 6]], [(1, 0, 0, 0), _z_turn(np.pi / 2)], atol=1e-12)
    linear, angular = keyframed_velocity(PUSHER_KEYS, np.array([1.0, 3.0, 8.9, 9.0]), frame_rate=12)
    assert_allclose(linear[:, 0], [0.0, 6.0, 6.0, 0.0])
    assert_allclose(angular[:, 2], [0.0, np.pi / 2 / 0.5, np.pi / 2 / 0.5, 0.0])
    assert_allclose(angular[:, :2], 0.0, atol=1e-12)


def test_scripted_object_follows_its_keyframes_exactly_and_pushes():
    scene = pusher_scene()
    traj = simulate(scene)
    pos, quat = keyframed_pose(PUSHER_KEYS, np.arange(scene.frames, dtype=float))
    np.testing.assert_array_equal(traj.positions[:, 1], pos)
    np.testing.assert_array_equal(traj.quaternions[:, 1], quat)
    assert_allclose(traj.linear_velocities[4, 1], (6.0, 0.0, 0.0))
    # the box, in the sweep's path, is pushed along +x; without the pusher it stays put
    alone = simulate(pusher_scene(with_pusher=False))
    assert_allclose(alone.positions[-1, 1], (-0.5, 0.0, 0.2), atol=1e-3)
    assert traj.positions[-1, 2, 0] > 0.5, traj.positions[:, 2, 0]
    assert traj.linear_velocities[6, 2, 0] > 3.0  # moved by the pusher's velocity, not teleported
    assert any({e.a, e.b} == {1, 2} for e in traj.collisions)


def test_sub_frame_samples_follow_keyframes_and_physics_steps():
    scene = pusher_scene(frames=6, shutter=0.5)
    traj = simulate(scene)
    steps = scene.steps_per_frame
    assert_allclose(traj.shutter_offsets, np.arange(-5, 6) / steps)  # 0.25 frame = 5 of 20 steps
    for t in range(scene.frames):
        times = np.maximum(t + traj.shutter_offsets, 0.0)
        pos, quat = keyframed_pose(PUSHER_KEYS, times)
        assert_allclose(traj.shutter_positions[t, :, 1], pos, atol=1e-12)
        assert_allclose(traj.shutter_quaternions[t, :, 1], quat, atol=1e-12)
        centre = list(traj.shutter_offsets).index(0.0)
        np.testing.assert_array_equal(traj.shutter_positions[t, centre], traj.positions[t])
    # the frames are those of the same scene without shutter (sampling does not disturb the physics)
    plain = simulate(dataclasses.replace(scene, shutter=0.0))
    np.testing.assert_array_equal(plain.positions, traj.positions)
    assert plain.shutter_positions.shape == (6, 0, 3, 3)
    # Sub-frame samples are the simulated states at those steps: the same scene at twice the frame
    # rate (same physics steps, keyframe times doubled) shows at its odd frames the states half a
    # frame after each frame time, the last one past the scene's end included.
    full = dataclasses.replace(scene, shutter=1.0)
    doubled = dataclasses.replace(full, frame_rate=24, frames=12, shutter=0.0, objects=tuple(
        dataclasses.replace(o, keyframes=tuple(dataclasses.replace(k, time=2 * k.time) for k in o.keyframes))
        for o in scene.objects))
    half, fine = simulate(full), simulate(doubled)
    after = list(half.shutter_offsets).index(0.5)
    assert_allclose(half.shutter_positions[:, after], fine.positions[1::2], atol=1e-9)
    assert_allclose(half.shutter_quaternions[:, after], fine.quaternions[1::2], atol=1e-9)
    assert np.ptp(fine.positions[1::2, 2, 0]) > 0.1  # the box is pushed in these frames


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"static": True}, "static"),
    ({"velocity": (1.0, 0.0, 0.0)}, "velocity"),
    ({"position": (5.0, 0.0, 0.0)}, "position"),
    ({"spawn_region": ((0, 0, 0), (1, 1, 1))}, "spawn_region"),
    ({"keyframes": (Keyframe(2, (0, 0, 0)), Keyframe(1, (0, 0, 0)))}, "strictly increasing"),
])
def test_bad_scripted_objects_are_named(kwargs, message):
    keys = {"keyframes": (Keyframe(0, (0.0, 0.0, 1.0)),)}
    with pytest.raises(SceneValidationError, match=message):
        SceneObject("pusher", **{**keys, **kwargs})
    with pytest.raises(SceneValidationError, match=r"keyframes\[0\]\.time|time: got -1"):
        Scene.from_dict({"objects": [{"name": "p", "keyframes": [{"time": -1, "position": [0, 0, 0]}]}]})


def test_keyframed_objects_and_cameras_round_trip_through_json():
    scene = pusher_scene()
    scene = dataclasses.replace(scene, camera=Camera(positions=((0, -6, 3), (0, -5, 3), (1, -5, 3)) * 4,
                                                     quaternions=((0.0, 1.0, 0.0, 0.0),),
                                                     focal_length_mm=tuple(30.0 + t for t in range(12))))
    again = Scene.from_json(scene.to_json())
    assert again == scene
    assert again.objects[1].keyframes == PUSHER_KEYS and again.objects[1].position == (-2.0, 0.0, 0.3)


def test_settle_keeps_scripted_objects_where_their_keyframes_put_them():
    scene = dataclasses.replace(pusher_scene(), objects=(
        *pusher_scene().objects[:2], SceneObject("drop", scale=(0.2,) * 3, position=(0.5, 0.0, 0.6))))
    settled = settle(scene)
    assert settled.objects[1] == scene.objects[1]
    assert settled.objects[2].position[2] == pytest.approx(0.2, abs=2e-3)
