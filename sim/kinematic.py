"""Scripted (kinematic) objects in the physics: an object with keyframes is an immovable PyBullet
body (mass 0) put at its keyframed pose before every physics step and given the velocity that
carries it to its next step's pose, so contacts push dynamic objects with that velocity (a mass-0
body moved by resetting its pose alone only pushes others out of the way, without momentum).
Poses come from ``sim.transforms.keyframed_pose`` (linear position, slerp rotation)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.scene import Scene
from sim.transforms import keyframed_pose, keyframed_velocity, rotation_rate

if TYPE_CHECKING:  # importing pybullet prints to the console; sim.physics does it quietly
    from pybullet_utils.bullet_client import BulletClient


class ScriptedBodies:
    """The scripted objects of a scene (``indices`` into ``scene.objects``): their keyframed pose
    at every physics step (step k is at frame k / steps_per_frame) and their velocity over a step."""

    def __init__(self, scene: Scene) -> None:
        self.indices = [i for i, obj in enumerate(scene.objects) if obj.scripted]
        self.keyframes = [scene.objects[i].keyframes for i in self.indices]
        self.spf, self.frame_rate = scene.steps_per_frame, scene.frame_rate

    def pose(self, step: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per scripted object its (position (3,), quaternion (4,)) at physics step ``step``."""
        time = np.array([step / self.spf])
        return [tuple(a[0] for a in keyframed_pose(k, time)) for k in self.keyframes]  # type: ignore[misc]

    def move(self, client: BulletClient, bodies: list[int], step: int) -> None:
        """Puts every scripted body at its pose of ``step``, moving at the velocity that brings it
        to its pose of ``step + 1`` in one step."""
        dt = 1.0 / (self.spf * self.frame_rate)
        for i, (p0, q0), (p1, q1) in zip(self.indices, self.pose(step), self.pose(step + 1), strict=True):
            w, x, y, z = q0.tolist()
            client.resetBasePositionAndOrientation(bodies[i], p0.tolist(), (x, y, z, w))  # PyBullet's order
            client.resetBaseVelocity(bodies[i], ((p1 - p0) / dt).tolist(), rotation_rate(q0, q1, dt).tolist())

    def overwrite(self, state: dict[str, np.ndarray], t: int) -> None:
        """Frame t of the scripted objects: keyframed pose and velocity (``keyframed_velocity``)."""
        self.overwrite_pose(state["positions"][t], state["quaternions"][t], t * self.spf)
        for i, keys in zip(self.indices, self.keyframes, strict=True):
            linear, angular = keyframed_velocity(keys, np.array([float(t)]), self.frame_rate)
            state["linear_velocities"][t, i], state["angular_velocities"][t, i] = linear[0], angular[0]

    def overwrite_pose(self, positions: np.ndarray, quaternions: np.ndarray, step: int) -> None:
        """Sets the scripted objects' rows of (N, 3) ``positions`` and (N, 4) ``quaternions`` to
        their poses at physics step ``step``."""
        for i, (p, q) in zip(self.indices, self.pose(step), strict=True):
            positions[i], quaternions[i] = p, q
