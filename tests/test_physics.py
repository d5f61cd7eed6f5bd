"""Tests of sim.physics: analytic motion, contacts, placement, determinism and error wrapping."""

from __future__ import annotations

import dataclasses
import math
from itertools import combinations

import numpy as np
import pybullet as p
import pytest
from pybullet_utils.bullet_client import BulletClient

from sim import physics
from sim.assets import object_mass
from sim.errors import PlacementError, SimulationError
from sim.physics import from_pybullet_quat, simulate, to_pybullet_quat
from sim.scene import Scene, SceneObject

G = 9.81
FLOOR = SceneObject("floor", scale=(5.0, 5.0, 0.5), position=(0.0, 0.0, -0.5), static=True)
"""A static slab whose top face is the plane z = 0."""


def sphere(name: str, radius: float = 0.25, **kwargs) -> SceneObject:
    return SceneObject(name, asset="primitive:sphere", scale=(radius,) * 3, **kwargs)


def scene(*objects: SceneObject, **kwargs) -> Scene:
    return Scene(objects=objects, **{"frames": 12, "frame_rate": 12, **kwargs})


def times(s: Scene) -> np.ndarray:
    return np.arange(s.frames) / s.frame_rate


def test_quaternion_helpers_swap_component_order():
    assert to_pybullet_quat((1.0, 2.0, 3.0, 4.0)) == (2.0, 3.0, 4.0, 1.0)
    assert from_pybullet_quat(to_pybullet_quat((1.0, 2.0, 3.0, 4.0))) == (1.0, 2.0, 3.0, 4.0)


def test_object_mass_from_density_explicit_or_static():
    cube = SceneObject("c", scale=(0.5, 0.5, 1.0), density=500.0)
    assert object_mass(cube) == pytest.approx(500.0 * 1.0 * 1.0 * 2.0)
    assert object_mass(sphere("s", 0.5)) == pytest.approx(1000.0 * 4 / 3 * math.pi * 0.125)
    assert object_mass(SceneObject("m", mass=2.5, density=10.0)) == 2.5
    assert object_mass(SceneObject("f", mass=2.5, static=True)) == 0.0


def test_trajectory_shapes_dtypes_and_progress():
    s = scene(FLOOR, sphere("ball", position=(0.0, 0.0, 1.0)), frames=5)
    seen: list[int] = []
    traj = simulate(s, progress=seen.append)
    assert seen == [0, 1, 2, 3, 4]
    for name, width in (("positions", 3), ("quaternions", 4), ("linear_velocities", 3),
                        ("angular_velocities", 3)):
        arr = getattr(traj, name)
        assert arr.shape == (5, 2, width) and arr.dtype == np.float64
    np.testing.assert_allclose(np.linalg.norm(traj.quaternions, axis=-1), 1.0, atol=1e-12)


@pytest.mark.parametrize("step_rate", [240, 480])
def test_free_fall_matches_analytic(step_rate):
    s = scene(sphere("ball", position=(0.0, 0.0, 10.0)), step_rate=step_rate)
    traj = simulate(s)
    t, dt = times(s), 1.0 / step_rate
    z = traj.positions[:, 0, 2]
    # Semi-implicit Euler leads the exact parabola by g t dt / 2: within that bound of analytic,
    # and equal to the discrete solution, which proves the step really is 1 / step_rate.
    np.testing.assert_allclose(z, 10.0 - G * t**2 / 2, atol=G * t[-1] * dt / 2 + 1e-12)
    np.testing.assert_allclose(z, 10.0 - G * (t**2 + t * dt) / 2, rtol=0, atol=1e-10)
    np.testing.assert_allclose(traj.linear_velocities[:, 0, 2], -G * t, rtol=0, atol=1e-10)
    np.testing.assert_allclose(traj.positions[:, 0, :2], 0.0, atol=1e-12)


def test_step_rate_changes_the_result():
    base = scene(sphere("ball", position=(0.0, 0.0, 10.0)))
    slow = simulate(base)
    fast = simulate(dataclasses.replace(base, step_rate=480))
    assert not np.array_equal(slow.positions, fast.positions)
    analytic = 10.0 - G * times(base) ** 2 / 2
    err_slow = np.abs(slow.positions[-1, 0, 2] - analytic[-1])
    err_fast = np.abs(fast.positions[-1, 0, 2] - analytic[-1])
    np.testing.assert_allclose(err_slow / err_fast, 2.0, rtol=1e-6)


def test_initial_velocities_are_honoured_in_zero_gravity():
    ball = sphere("ball", position=(0.0, 0.0, 1.0), velocity=(2.0, 0.0, 0.5),
                  angular_velocity=(0.0, 0.0, 1.0))
    s = scene(ball, gravity=(0.0, 0.0, 0.0), frames=25)
    traj = simulate(s)
    t = times(s)
    np.testing.assert_allclose(traj.positions[:, 0], np.stack([2 * t, 0 * t, 1 + 0.5 * t], 1), atol=1e-9)
    np.testing.assert_allclose(traj.linear_velocities[:, 0], np.tile([2.0, 0.0, 0.5], (25, 1)), atol=1e-12)
    # A sphere spinning at 1 rad/s about z: rotation angle t about +z.
    expected_q = np.stack([np.cos(t / 2), 0 * t, 0 * t, np.sin(t / 2)], 1)
    np.testing.assert_allclose(traj.quaternions[:, 0], expected_q, atol=1e-9)
    np.testing.assert_allclose(traj.angular_velocities[:, 0, 2], 1.0, atol=1e-12)


def test_dropped_cube_lands_and_rests_on_static_floor():
    cube = SceneObject("cube", scale=(0.5, 0.5, 0.5), position=(0.0, 0.0, 2.0), restitution=0.2)
    s = scene(FLOOR, cube, frames=36)
    traj = simulate(s)
    # The floor never moves.
    assert np.array_equal(traj.positions[:, 0], np.tile(FLOOR.position, (36, 1)))
    assert np.array_equal(traj.quaternions[:, 0], np.tile(FLOOR.quaternion, (36, 1)))
    assert not traj.linear_velocities[:, 0].any() and not traj.angular_velocities[:, 0].any()
    # At rest on top of the floor: centre half an edge above z = 0, upright, still.
    np.testing.assert_allclose(traj.positions[-1, 1], [0.0, 0.0, 0.5], atol=1e-3)
    np.testing.assert_allclose(traj.quaternions[-1, 1], [1.0, 0.0, 0.0, 0.0], atol=1e-3)
    np.testing.assert_allclose(traj.linear_velocities[-1, 1], 0.0, atol=1e-3)
    events = traj.collisions
    assert events and all((e.a, e.b) == (0, 1) and e.force > 0 for e in events)
    # First impact within the frame containing t = sqrt(2 h / g) for the 1.5 m gap.
    assert events[0].frame == math.ceil(math.sqrt(2 * 1.5 / G) * s.frame_rate)
    np.testing.assert_allclose(events[0].normal, [0.0, 0.0, -1.0], atol=1e-9)  # from cube (b) to floor (a)
    assert abs(events[0].position[2]) < 0.05 and max(map(abs, events[0].position[:2])) <= 0.5 + 1e-3
    # Resting: the floor carries the cube's weight.
    assert events[-1].frame == s.frames - 1
    np.testing.assert_allclose(events[-1].force, object_mass(cube) * G, rtol=1e-3)
    frames = [e.frame for e in events]
    assert frames == sorted(frames) and len(set(frames)) == len(frames)


@pytest.mark.parametrize(("asset", "scale"), [("primitive:cube", (1.0, 0.3, 0.2)),
                                               ("primitive:cylinder", (0.2, 0.2, 0.6)),
                                               ("primitive:sphere", (0.4, 0.4, 0.4))])
def test_shapes_come_to_rest_at_their_half_height(asset, scale):
    body = SceneObject("body", asset=asset, scale=scale, position=(0.0, 0.0, scale[2] + 0.3), restitution=0.0)
    traj = simulate(scene(FLOOR, body, frames=18))
    np.testing.assert_allclose(traj.positions[-1, 1], [0.0, 0.0, scale[2]], atol=1e-3)


def test_peak_force_balances_through_a_resting_stack():
    box = SceneObject("box", scale=(0.5, 0.5, 0.5), position=(0.0, 0.0, 0.5))
    ball = sphere("ball", 0.25, position=(0.0, 0.0, 2.5), density=2000.0)
    traj = simulate(scene(FLOOR, box, ball))
    force = {(e.frame, e.a, e.b): e.force for e in traj.collisions}
    impacts = [frame for frame, a, b in force if (a, b) == (1, 2)]
    assert impacts, "the ball should hit the box"
    # The box stays put, so in every substep the floor pushes up with its weight plus the ball's push:
    # the peaks of the two pairs fall in the same substep.
    for frame in impacts:
        np.testing.assert_allclose(force[frame, 0, 1], force[frame, 1, 2] + object_mass(box) * G, rtol=1e-3)
    assert max(force[frame, 1, 2] for frame in impacts) > 10 * object_mass(ball) * G


def test_mass_from_density_conserves_momentum_with_explicit_mass():
    a = sphere("a", 0.5, position=(-2.0, 0.0, 0.0), velocity=(3.0, 0.0, 0.0), restitution=1.0)
    b = sphere("b", 0.5, position=(0.0, 0.0, 0.0), mass=3 * object_mass(a), restitution=1.0)
    traj = simulate(scene(a, b, gravity=(0.0, 0.0, 0.0), frames=24))
    assert traj.collisions and traj.collisions[0].normal == pytest.approx((-1.0, 0.0, 0.0))
    momentum = object_mass(a) * traj.linear_velocities[:, 0] + object_mass(b) * traj.linear_velocities[:, 1]
    np.testing.assert_allclose(momentum, np.tile([3.0 * object_mass(a), 0.0, 0.0], (24, 1)), atol=1e-6)
    assert traj.linear_velocities[-1, 0, 0] < 0 < traj.linear_velocities[-1, 1, 0]  # the light one bounces


def crowded_scene(seed: int) -> Scene:
    region = ((-0.75, -0.75, 0.25), (0.75, 0.75, 0.25))
    balls = [sphere(f"ball{k}", 0.25, spawn_region=region, position=(9.0, 9.0, 9.0)) for k in range(6)]
    return scene(FLOOR, *balls, seed=seed)


def test_spawn_placement_avoids_overlaps_inside_region():
    s = crowded_scene(seed=3)
    first = simulate(s).positions[0]
    balls = first[1:]
    assert (balls[:, :2] >= -0.75).all() and (balls[:, :2] <= 0.75).all()
    np.testing.assert_array_equal(balls[:, 2], 0.25)
    for i, j in combinations(range(len(balls)), 2):
        assert np.linalg.norm(balls[i] - balls[j]) >= 0.5 - 1e-4, (i, j)
    assert not np.array_equal(simulate(crowded_scene(seed=4)).positions[0], first)


def test_same_scene_gives_bit_identical_trajectories():
    s = crowded_scene(seed=7)
    cube = SceneObject("cube", scale=(0.2, 0.2, 0.2), position=(0.0, 0.0, 3.0))
    s = dataclasses.replace(s, objects=s.objects + (cube,))
    one, two = simulate(s), simulate(s)
    assert one.collisions, "the scene should exercise contacts"
    for name in ("positions", "quaternions", "linear_velocities", "angular_velocities"):
        assert np.array_equal(getattr(one, name), getattr(two, name)), name
    assert one.collisions == two.collisions and one.equals(two)


def test_impossible_spawn_raises_placement_error_naming_object():
    rock = sphere("rock", 1.0, position=(0.0, 0.0, 1.0))
    pebble = sphere("pebble", 0.1, spawn_region=((-0.2, -0.2, 0.8), (0.2, 0.2, 1.2)))
    with pytest.raises(PlacementError, match=r"'pebble'.*spawn_region.*'rock'"):
        simulate(scene(FLOOR, rock, pebble))


def test_overlapping_given_positions_raise_placement_error_naming_both():
    with pytest.raises(PlacementError, match=r"'floor' and 'sunk'"):
        simulate(scene(FLOOR, sphere("sunk", 0.25, position=(0.0, 0.0, 0.1))))
    with pytest.raises(PlacementError, match=r"'x' and 'y'"):
        simulate(scene(sphere("x", position=(0.0, 0.0, 0.0)), sphere("y", position=(0.3, 0.0, 0.0))))


def test_resting_contact_and_overlapping_static_objects_are_allowed():
    wall = SceneObject("wall", scale=(0.1, 5.0, 1.0), position=(2.0, 0.0, 0.5), static=True)
    cube = SceneObject("cube", scale=(0.5, 0.5, 0.5), position=(0.0, 0.0, 0.5 - 5e-5))
    traj = simulate(scene(FLOOR, wall, cube, frames=3))
    np.testing.assert_allclose(traj.positions[-1, 2], [0.0, 0.0, 0.5], atol=1e-3)


def test_pybullet_errors_are_wrapped_and_client_disconnected(monkeypatch):
    clients: list[int] = []
    real_connect = p.connect

    def connect(*args, **kwargs):
        clients.append(real_connect(*args, **kwargs))
        return clients[-1]

    def fail(*args, **kwargs):
        raise p.error("stepSimulation failed")

    made: list[BulletClient] = []  # kept alive, so only simulate() itself can disconnect them
    monkeypatch.setattr(p, "connect", connect)
    monkeypatch.setattr(p, "stepSimulation", fail)
    monkeypatch.setattr(physics, "BulletClient", lambda **kw: made.append(BulletClient(**kw)) or made[-1])
    with pytest.raises(SimulationError, match="physics: PyBullet failed: stepSimulation failed"):
        simulate(scene(sphere("ball", position=(0.0, 0.0, 1.0)), frames=2))
    assert len(clients) == len(made) == 1
    assert not p.getConnectionInfo(physicsClientId=clients[0])["isConnected"]
