"""Rigid-body simulation of a ``Scene`` with PyBullet (docs/architecture.md): Scene -> ``Trajectory``.

One headless PyBullet client per call, disconnected whatever happens. The engine steps at
``1 / scene.step_rate`` s with no sub-stepping, no damping (except in ``settle``) and Kubric's
settings against sticky contacts (``ENGINE_PARAMETERS``). Frame t is the state at t / frame_rate s:
frame 0 is the state after spawn placement, before any step, and ``steps_per_frame`` steps separate
consecutive frames. Scripted objects follow their keyframes (``sim.kinematic``). With a shutter
(``Scene.shutter``) the states at the steps within half a shutter interval of each frame time are
kept too (``Trajectory.shutter_*``), the simulation running on past the last frame as far as that
needs; those extra steps change none of the frames.

Conventions: world metres, +Z up; quaternions (w, x, y, z) everywhere except at the PyBullet
boundary (x, y, z, w), converted only by ``to_pybullet_quat`` / ``from_pybullet_quat``.
Collision events refer to objects by their index in ``scene.objects``. PyBullet combines the
friction and the restitution of two touching objects by multiplying them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import combinations

import numpy as np

from sim.assets import object_mass, validate_assets
from sim.console import quiet_output
from sim.errors import PlacementError, SimulationError
from sim.kinematic import ScriptedBodies
from sim.library import get_asset
from sim.scene import Scene, SceneObject
from sim.trajectory import CollisionEvent, Trajectory

with quiet_output(None):  # pybullet prints its build time to the console when imported
    import pybullet as p
    from pybullet_utils.bullet_client import BulletClient

PLACEMENT_ATTEMPTS = 200
"""Random positions tried per spawned object before ``PlacementError``."""

OVERLAP_TOLERANCE_M = 1e-4
"""Penetration (m) up to which two objects count as resting in contact, not overlapping."""

ENGINE_PARAMETERS = {
    "numSubSteps": 0,
    "restitutionVelocityThreshold": 0.0,
    "warmStartingFactor": 0.0,
    "useSplitImpulse": True,
    "contactSlop": 0.0,
    "enableConeFriction": False,
    "deterministicOverlappingPairs": True,
}
"""PyBullet engine settings besides the time step (Kubric's, against sticky contacts)."""

SETTLE_DAMPING = 0.9
"""``settle``: fraction of linear and angular velocity lost per second (Bullet's damping)."""
SETTLE_SPEED = 0.01
SETTLE_SPIN = 0.05
SETTLE_HOLD_FRAMES = 6
"""``settle`` stops once every dynamic object is below ``SETTLE_SPEED`` (m/s) and ``SETTLE_SPIN``
(rad/s) at this many consecutive frame boundaries."""
SETTLE_MAX_SECONDS = 10.0

# Fields of a PyBullet contact point tuple (getContactPoints / getClosestPoints).
_BODY_A, _BODY_B, _POS_ON_A, _POS_ON_B, _NORMAL_ON_B, _DISTANCE, _NORMAL_FORCE = 1, 2, 5, 6, 7, 8, 9


def to_pybullet_quat(q_wxyz: Sequence[float]) -> tuple[float, float, float, float]:
    """(w, x, y, z) -> PyBullet's (x, y, z, w)."""
    w, x, y, z = q_wxyz
    return (x, y, z, w)


def from_pybullet_quat(q_xyzw: Sequence[float]) -> tuple[float, float, float, float]:
    """PyBullet's (x, y, z, w) -> (w, x, y, z)."""
    x, y, z, w = q_xyzw
    return (w, x, y, z)


def simulate(scene: Scene, progress: Callable[[int], None] | None = None) -> Trajectory:
    """Places the scene's objects and simulates ``scene.frames`` frames.

    ``progress(t)`` (optional) is called after frame t (0 … frames−1) is sampled.
    Returns every object's pose and velocities per frame (float64, see ``Trajectory``; quaternions
    are unit but keep PyBullet's sign, so they vary continuously) and the collision events in
    (frame, a, b) order. The same scene gives bit-identical results.
    Raises ``AssetError`` or ``SceneValidationError`` for an asset that cannot be loaded or scaled
    (``sim.assets.validate_assets``), ``PlacementError`` when objects overlap or a spawn region has
    no free spot, ``SimulationError`` when PyBullet fails or the simulation diverges.
    """
    with _session(scene) as (client, bodies):
        return _run(client, scene, bodies, progress)


def settle(scene: Scene, max_seconds: float = SETTLE_MAX_SECONDS) -> Scene:
    """The scene with its objects where they come to rest: placed as by ``simulate`` (spawn
    regions filled), then stepped at ``step_rate`` with every dynamic object's linear and angular
    velocity damped by ``SETTLE_DAMPING`` until, over ``SETTLE_HOLD_FRAMES`` consecutive frames
    (1 / frame_rate s each), every dynamic object's mean speed stays below ``SETTLE_SPEED`` m/s and
    its mean turn rate below ``SETTLE_SPIN`` rad/s (displacements between frame boundaries, not
    instantaneous velocities: with Kubric's zero restitution threshold a resting object keeps
    micro-bouncing at up to g / step_rate m/s in place). Returns a copy of ``scene`` whose objects
    have their rest ``position`` and unit ``quaternion``, no ``spawn_region`` and zero velocities
    (other fields unchanged). Deterministic. Raises ``SimulationError`` if the objects are still
    moving after ``max_seconds`` of simulated time, and what ``simulate`` raises."""
    with _session(scene) as (client, bodies):
        for body in bodies:
            client.changeDynamics(body, -1, linearDamping=SETTLE_DAMPING, angularDamping=SETTLE_DAMPING)
        dynamic = [b for b, obj in zip(bodies, scene.objects, strict=True)
                   if not (obj.static or obj.scripted)]

        def poses() -> tuple[np.ndarray, np.ndarray]:
            states = [client.getBasePositionAndOrientation(b) for b in dynamic]
            return (np.array([s[0] for s in states]).reshape(-1, 3),
                    np.array([s[1] for s in states]).reshape(-1, 4))

        quiet, steps, last = 0, 0, poses()
        while quiet < SETTLE_HOLD_FRAMES:
            if steps > max_seconds * scene.step_rate:
                raise SimulationError(f"physics: objects still moving after {max_seconds} s of settling; "
                                      "give them more room or fewer objects")
            for _ in range(scene.steps_per_frame):
                client.stepSimulation()
            steps += scene.steps_per_frame
            now = poses()
            speed = np.linalg.norm(now[0] - last[0], axis=1) * scene.frame_rate
            spin = 2 * np.arccos(np.clip(np.abs((now[1] * last[1]).sum(axis=1)), 0, 1)) * scene.frame_rate
            quiet = quiet + 1 if (speed < SETTLE_SPEED).all() and (spin < SETTLE_SPIN).all() else 0
            last = now
        return _posed(client, scene, bodies, at_rest=True)


def place(scene: Scene) -> Scene:
    """The scene with every ``spawn_region`` resolved: each such object moved to the position
    ``simulate`` would give it (uniform in its region, overlapping nothing; PyBullet contact
    queries on the real collision shapes) and its ``spawn_region`` set to None; other fields
    unchanged. Raises what ``simulate`` raises before stepping (``PlacementError``, …)."""
    with _session(scene) as (client, bodies):
        return _posed(client, scene, bodies, at_rest=False)


def _posed(client: BulletClient, scene: Scene, bodies: list[int], at_rest: bool) -> Scene:
    """A copy of ``scene`` with each object at its body's current pose (unit quaternion) and no
    spawn region; with zero velocities if ``at_rest``."""
    objects = []
    for body, obj in zip(bodies, scene.objects, strict=True):
        if obj.scripted:  # its pose is its first keyframe's, unchanged
            objects.append(obj)
            continue
        position, q_xyzw = client.getBasePositionAndOrientation(body)
        q = np.array(from_pybullet_quat(q_xyzw))
        motion = {"velocity": (0.0, 0.0, 0.0), "angular_velocity": (0.0, 0.0, 0.0)} if at_rest else {}
        objects.append(dataclasses.replace(
            obj, position=tuple(float(v) for v in position),
            quaternion=tuple(float(v) for v in q / np.linalg.norm(q)), spawn_region=None, **motion))
    return dataclasses.replace(scene, objects=tuple(objects))


@contextlib.contextmanager
def _session(scene: Scene) -> Iterator[tuple[BulletClient, list[int]]]:
    """A PyBullet client holding the scene's bodies, placed (``_place``); PyBullet errors become
    ``SimulationError``; the client is disconnected whatever happens."""
    validate_assets(scene)
    with quiet_output(None):  # connecting prints "argv[0]=" to the console
        client = BulletClient(connection_mode=p.DIRECT)  # on failure its id is -1, not an exception
    if not client.getConnectionInfo()["isConnected"]:
        raise SimulationError("physics: could not start a PyBullet DIRECT client; free memory or run "
                            "fewer simulations at once")
    try:
        _configure(client, scene)
        bodies = [_create_body(client, obj) for obj in scene.objects]
        _place(client, scene, bodies, np.random.default_rng(scene.seed))
        yield client, bodies
    except p.error as e:
        raise SimulationError(f"physics: PyBullet failed: {e}") from None
    finally:
        client.disconnect()


def _configure(client: BulletClient, scene: Scene) -> None:
    client.setGravity(*scene.gravity)
    client.setPhysicsEngineParameter(fixedTimeStep=1.0 / scene.step_rate, **ENGINE_PARAMETERS)


def _collision_shape(client: BulletClient, obj: SceneObject) -> int:
    """The PyBullet collision shape of ``obj``'s asset (``AssetInfo.collision_kind``) scaled by
    ``obj.scale`` into metres: an analytic box, sphere or cylinder (axis z) at its scaled centre, or
    the cached convex-parts OBJ (one convex hull per ``o`` group) with ``meshScale``. The body's
    centre of mass is the canonical origin (the centre of the visual bounding box)."""
    info = get_asset(obj.asset)
    scale = np.asarray(obj.scale)
    half = (np.asarray(info.collision_half_extents) * scale).tolist()
    frame = {"collisionFramePosition": (np.asarray(info.collision_center) * scale).tolist()}
    kind = info.collision_kind
    try:
        if kind == "box":
            return client.createCollisionShape(p.GEOM_BOX, halfExtents=half, **frame)
        if kind == "sphere":
            return client.createCollisionShape(p.GEOM_SPHERE, radius=half[0], **frame)
        if kind == "cylinder":
            return client.createCollisionShape(p.GEOM_CYLINDER, radius=half[0], height=2.0 * half[2], **frame)
        return client.createCollisionShape(p.GEOM_MESH, fileName=info.collision_path, meshScale=obj.scale)
    except p.error:
        raise SimulationError(f"physics: PyBullet could not make the {kind} collision shape of object "
                              f"{obj.name!r} (asset {obj.asset}); delete the asset cache "
                              "(sim.library.cache_dir()) and retry") from None


def _create_body(client: BulletClient, obj: SceneObject) -> int:
    """Adds ``obj`` at its initial pose and velocity; returns the PyBullet body id."""
    shape = _collision_shape(client, obj)
    body = client.createMultiBody(baseMass=object_mass(obj), baseCollisionShapeIndex=shape,
                                  basePosition=obj.position,
                                  baseOrientation=to_pybullet_quat(obj.quaternion))
    client.changeDynamics(body, -1, lateralFriction=obj.friction, restitution=obj.restitution,
                          linearDamping=0.0, angularDamping=0.0)
    if not (obj.static or obj.scripted):
        client.resetBaseVelocity(body, obj.velocity, obj.angular_velocity)
    return body


def _penetration(client: BulletClient, body_a: int, body_b: int) -> float:
    """Depth (m, >= 0) by which two bodies interpenetrate; 0 when apart or just touching."""
    points = client.getClosestPoints(body_a, body_b, distance=0.0)
    return max((-pt[_DISTANCE] for pt in points), default=0.0)


def _place(client: BulletClient, scene: Scene, bodies: list[int], rng: np.random.Generator) -> None:
    """Checks that objects without a spawn region do not overlap, then moves each object with a
    spawn region, in scene order, to the first uniform random position in it that overlaps no
    already placed object. Two static objects may overlap (they never interact)."""
    objects = scene.objects

    def overlaps(i: int, j: int) -> bool:
        both_static = objects[i].static and objects[j].static
        return not both_static and _penetration(client, bodies[i], bodies[j]) > OVERLAP_TOLERANCE_M

    placed = [i for i, obj in enumerate(objects) if obj.spawn_region is None]
    for i, j in combinations(placed, 2):
        if overlaps(i, j):
            depth = _penetration(client, bodies[i], bodies[j])
            raise PlacementError(
                f"objects {objects[i].name!r} and {objects[j].name!r} overlap by {depth:.4g} m at their "
                "given positions; move them apart or give one a spawn_region")
    for i, obj in enumerate(objects):
        if obj.spawn_region is None:
            continue
        lo, hi = obj.spawn_region
        blockers: Counter[int] = Counter()
        for _ in range(PLACEMENT_ATTEMPTS):
            position = rng.uniform(lo, hi)
            client.resetBasePositionAndOrientation(bodies[i], position, to_pybullet_quat(obj.quaternion))
            blocker = next((j for j in placed if overlaps(i, j)), None)
            if blocker is None:
                break
            blockers[blocker] += 1
        else:
            names = ", ".join(repr(objects[j].name) for j, _ in blockers.most_common(3))
            raise PlacementError(
                f"object {obj.name!r}: no free position in spawn_region {obj.spawn_region} after "
                f"{PLACEMENT_ATTEMPTS} attempts (kept overlapping {names}); enlarge the region or use "
                "fewer or smaller objects")
        placed.append(i)


def _run(client: BulletClient, scene: Scene, bodies: list[int],
         progress: Callable[[int], None] | None) -> Trajectory:
    """Samples frame 0, then steps ``steps_per_frame`` times before sampling each next frame; with a
    shutter, also samples the steps within half the shutter interval of each frame time (stepping
    on past the last frame as far as that needs). Scripted objects are moved to their keyframed pose
    and given its velocity before every step, and their entries are the keyframed poses."""
    spf, frames = scene.steps_per_frame, scene.frames
    half = math.ceil(scene.shutter * spf / 2)  # steps on each side of a frame time
    offsets = np.arange(-half, half + 1) if scene.shutter > 0 else np.zeros(0, dtype=int)
    shape = (frames, len(bodies))
    state = {"positions": np.empty(shape + (3,)), "quaternions": np.empty(shape + (4,)),
             "linear_velocities": np.empty(shape + (3,)), "angular_velocities": np.empty(shape + (3,))}
    sub = {"shutter_positions": np.empty((frames, len(offsets), len(bodies), 3)),
           "shutter_quaternions": np.empty((frames, len(offsets), len(bodies), 4))}
    wanted: dict[int, list[tuple[int, int]]] = {}  # step -> (frame, offset index) samples at it
    for t in range(frames):
        for m, k in enumerate(offsets):
            wanted.setdefault(max(t * spf + int(k), 0), []).append((t, m))
    scripted = ScriptedBodies(scene)
    index_of = {body: i for i, body in enumerate(bodies)}
    fixed = [obj.static or obj.scripted for obj in scene.objects]
    events: list[CollisionEvent] = []
    peaks: dict[tuple[int, int], tuple[float, np.ndarray, np.ndarray]] = {}
    last_step = (frames - 1) * spf + (half if len(offsets) else 0)
    for step in range(last_step + 1):
        if step > 0:
            scripted.move(client, bodies, step - 1)
            client.stepSimulation()
            if step <= (frames - 1) * spf:
                _update_peaks(peaks, client.getContactPoints(), index_of, fixed)
        t, on_frame = divmod(step, spf)
        if on_frame == 0 and t < frames:
            events += [CollisionEvent(t, a, b, tuple(pos.tolist()), tuple(normal.tolist()), force)
                       for (a, b), (force, pos, normal) in sorted(peaks.items())]
            peaks = {}
            _sample(client, bodies, t, state)
            scripted.overwrite(state, t)
            _check_finite(scene, state["positions"][t], t)
            if progress is not None:
                progress(t)
        for frame, m in wanted.get(step, ()):
            position, quaternion = _poses(client, bodies)
            _check_finite(scene, position, frame)
            sub["shutter_positions"][frame, m], sub["shutter_quaternions"][frame, m] = position, quaternion
            scripted.overwrite_pose(sub["shutter_positions"][frame, m], sub["shutter_quaternions"][frame, m],
                                    step)
    return Trajectory(**state, collisions=tuple(events), shutter_offsets=offsets / spf, **sub)


def _check_finite(scene: Scene, positions: np.ndarray, t: int) -> None:
    if not np.isfinite(positions).all():
        bad = scene.objects[int(np.argwhere(~np.isfinite(positions))[0, 0])].name
        raise SimulationError(f"physics: simulation diverged at frame {t} (object {bad!r}); raise "
                              "step_rate or lower the objects' velocities")


def _poses(client: BulletClient, bodies: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3) positions and (N, 4) unit quaternions (w, x, y, z) of the bodies now."""
    states = [client.getBasePositionAndOrientation(b) for b in bodies]
    q = np.array([from_pybullet_quat(s[1]) for s in states]).reshape(-1, 4)
    return np.array([s[0] for s in states]).reshape(-1, 3), q / np.linalg.norm(q, axis=1, keepdims=True)


def _sample(client: BulletClient, bodies: list[int], t: int, state: dict[str, np.ndarray]) -> None:
    """Writes frame t of every state array (see ``Trajectory``)."""
    state["positions"][t], state["quaternions"][t] = _poses(client, bodies)
    for k, body in enumerate(bodies):
        linear, angular = client.getBaseVelocity(body)
        state["linear_velocities"][t, k] = linear
        state["angular_velocities"][t, k] = angular


def _update_peaks(peaks: dict[tuple[int, int], tuple[float, np.ndarray, np.ndarray]],
                  contacts: Iterable[tuple], index_of: dict[int, int], fixed: list[bool]) -> None:
    """Folds one step's contact points into ``peaks``: (a, b) -> (force N, position m, normal).

    A pair's force in a step is the sum of its contact points' normal forces; ``peaks`` keeps the
    step where it is largest (pairs whose force stays 0 are left out), with the midpoint of the
    two witness points of the strongest contact and its normal, pointing from b toward a. PyBullet's
    contactNormalOnB points from its body B toward its body A, so it is flipped when A is ``b``.
    """
    totals: dict[tuple[int, int], float] = {}
    strongest: dict[tuple[int, int], tuple] = {}
    for c in contacts:
        i, j = index_of[c[_BODY_A]], index_of[c[_BODY_B]]
        if fixed[i] and fixed[j]:
            continue
        pair = (min(i, j), max(i, j))
        totals[pair] = totals.get(pair, 0.0) + c[_NORMAL_FORCE]
        if pair not in strongest or c[_NORMAL_FORCE] > strongest[pair][_NORMAL_FORCE]:
            strongest[pair] = c
    for pair, total in totals.items():
        if total > peaks.get(pair, (0.0,))[0]:
            c = strongest[pair]
            sign = 1.0 if index_of[c[_BODY_A]] == pair[0] else -1.0
            position = (np.asarray(c[_POS_ON_A]) + np.asarray(c[_POS_ON_B])) / 2.0
            peaks[pair] = (total, position, sign * np.asarray(c[_NORMAL_ON_B]) + 0.0)  # + 0.0: no -0.0
