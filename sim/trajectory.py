"""The simulator's output: plain numpy data beside ``Scene`` (the renderer never imports physics).

Shapes: F = scene.frames, N = len(scene.objects) (every object, background ones included, in scene
order). Frame t is the state at time t / frame_rate seconds. Quaternions (w, x, y, z), world axes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class CollisionEvent:
    """Contact between objects ``a`` < ``b`` (indices into ``scene.objects``) during frame ``frame``
    (the physics steps after frame−1 up to and including frame), aggregated over those substeps:
    ``force`` is the peak total normal force (N) of the pair in one substep, ``position`` (m, world)
    and ``normal`` (unit, world, pointing from b toward a) are those of the strongest contact point
    at that substep."""

    frame: int
    a: int
    b: int
    position: tuple[float, float, float]
    normal: tuple[float, float, float]
    force: float


@dataclass(frozen=True)
class Trajectory:
    """Per-frame rigid state of every object.

    positions: float64 (F, N, 3) metres; quaternions: float64 (F, N, 4) (w, x, y, z);
    linear_velocities: float64 (F, N, 3) m/s; angular_velocities: float64 (F, N, 3) rad/s.

    Sub-frame poses, for motion blur (empty, M = 0, when the scene has no shutter):
    shutter_offsets: float64 (M,) times in frames relative to each frame time, the physics steps
    covering the shutter interval (ascending, 0 included); shutter_positions: float64 (F, M, N, 3)
    and shutter_quaternions: float64 (F, M, N, 4): the poses at frame t + shutter_offsets[m]
    (before frame 0 the initial state).
    """

    positions: np.ndarray
    quaternions: np.ndarray
    linear_velocities: np.ndarray
    angular_velocities: np.ndarray
    collisions: tuple[CollisionEvent, ...] = field(default=())
    shutter_offsets: np.ndarray = field(default_factory=lambda: np.zeros(0))
    shutter_positions: np.ndarray | None = None
    shutter_quaternions: np.ndarray | None = None

    def __post_init__(self) -> None:
        f, n = self.positions.shape[:2]
        for name, width in (("positions", 3), ("quaternions", 4), ("linear_velocities", 3),
                            ("angular_velocities", 3)):
            arr = getattr(self, name)
            if arr.shape != (f, n, width):
                raise ValueError(f"Trajectory.{name}: shape {arr.shape}, expected {(f, n, width)}")
        m = len(self.shutter_offsets)
        for name, width in (("shutter_positions", 3), ("shutter_quaternions", 4)):
            if getattr(self, name) is None:
                object.__setattr__(self, name, np.zeros((f, m, n, width)))
            if getattr(self, name).shape != (f, m, n, width):
                raise ValueError(f"Trajectory.{name}: shape {getattr(self, name).shape}, expected "
                                 f"{(f, m, n, width)}")

    def object_to_world(self) -> np.ndarray:
        """(F, N, 4, 4) object-to-world matrices."""
        from sim.transforms import pose_matrix

        return pose_matrix(self.positions, self.quaternions)

    def equals(self, other: Trajectory) -> bool:
        """Bit-exact equality of every array and event."""
        return (all(np.array_equal(getattr(self, k), getattr(other, k))
                    for k in ("positions", "quaternions", "linear_velocities", "angular_velocities",
                              "shutter_offsets", "shutter_positions", "shutter_quaternions"))
                and self.collisions == other.collisions)
