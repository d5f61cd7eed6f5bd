"""An analytic scene for the end-to-end oracle (``tests/test_oracle.py``) and ``sim.flow`` tests:
known poses, frames from the ray caster of ``tests.raycast``, written through ``sim.sink.SceneSink``.

The scene (objects in this order, index k = scene.objects[k−1]):
1. ``floor``: background slab 6 m × 6 m, top face z = 0; the sky shows beyond it.
2. ``ball``: sphere r = 0.5 m rolling along +x and spinning about a tilted axis.
3. ``crate``: box 0.8 × 0.6 × 1.0 m crossing in front of the ball (occluding it) while turning
   about two axes; its category is its own (``crate``), the others' their asset's.
4. ``runner``: sphere r = 0.3 m running out of view to the right after frame 2.
5. ``block``: a box standing still, in front of the floor near the camera.
The camera moves and turns (its look-at point moves) every frame.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from sim.categories import default_table
from sim.frame import RenderedFrame
from sim.passes import PASSES, required_outputs
from sim.scene import Camera, Scene, SceneObject
from sim.settings import RenderSettings
from sim.sink import SceneResult, SceneSink
from sim.trajectory import Trajectory
from sim.transforms import camera_to_world
from tests import raycast

FRAMES = 6
RESOLUTION = (128, 96)


def _axis_angle(axis: tuple[float, float, float], angle: float) -> np.ndarray:
    """Unit quaternion (w, x, y, z) of a rotation by ``angle`` rad about ``axis``."""
    a = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    return np.concatenate([[np.cos(angle / 2)], np.sin(angle / 2) * a])


def _multiply(q: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Hamilton product q r of quaternions (w, x, y, z): rotate by r, then by q."""
    w1, x1, y1, z1 = q
    w2, x2, y2, z2 = r
    return np.array([w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2, w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
                     w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2, w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2])


MOTION = {
    "ball": lambda t: (np.array([-0.7 + 0.15 * t, 0.3, 0.6]), _axis_angle((1.0, 1.0, 2.0), 0.6 * t)),
    "crate": lambda t: (np.array([1.5 - 0.55 * t, -1.0, 0.75]),
                        _multiply(_axis_angle((0.0, 0.0, 1.0), 0.25 * t),
                                  _axis_angle((1.0, 0.0, 0.0), 0.12 * t))),
    "runner": lambda t: (np.array([0.4 + 1.1 * t, 1.0, 0.35]), np.array([1.0, 0.0, 0.0, 0.0])),
}
"""Object name -> its pose (position (3,) m, quaternion (4,)) at frame t; the others stand still."""


def pose(obj: SceneObject, t: int) -> tuple[np.ndarray, np.ndarray]:
    """(position (3,) m, quaternion (4,)) of ``obj`` at frame t: the analytic motion."""
    if obj.name in MOTION:
        return MOTION[obj.name](t)
    return np.array(obj.position), np.array(obj.quaternion)


def make_scene() -> Scene:
    objects = (
        SceneObject("floor", scale=(3.0, 3.0, 0.1), position=(0.0, 0.0, -0.1), static=True,
                    background=True),
        SceneObject("ball", asset="primitive:sphere", scale=(0.5,) * 3),
        SceneObject("crate", scale=(0.4, 0.3, 0.5), category="crate"),
        SceneObject("runner", asset="primitive:sphere", scale=(0.3,) * 3),
        SceneObject("block", scale=(0.3, 0.3, 0.3), position=(-1.5, -2.3, 0.3),
                    quaternion=tuple(_axis_angle((0.0, 0.0, 1.0), 0.5))),
    )
    objects = tuple(dataclasses.replace(o, position=tuple(pose(o, 0)[0]), quaternion=tuple(pose(o, 0)[1]))
                    for o in objects)
    camera = Camera(focal_length_mm=32.0,
                    positions=tuple((0.6 - 0.12 * t, -4.6 + 0.1 * t, 2.5 + 0.05 * t) for t in range(FRAMES)),
                    look_at=tuple((0.1 * t, 0.0, 0.2 - 0.03 * t) for t in range(FRAMES)))
    return Scene(objects=objects, camera=camera, resolution=RESOLUTION, frames=FRAMES, frame_rate=12,
                 step_rate=240, seed=7)


def trajectory(scene: Scene) -> Trajectory:
    """The analytic poses of every object and frame (velocities are not used by the oracle: 0)."""
    positions = np.array([[pose(o, t)[0] for o in scene.objects] for t in range(scene.frames)])
    quaternions = np.array([[pose(o, t)[1] for o in scene.objects] for t in range(scene.frames)])
    zeros = np.zeros_like(positions)
    return Trajectory(positions, quaternions, zeros, zeros)


def ray_cast_frames(scene: Scene) -> list[dict[str, np.ndarray]]:
    """Per frame the ray caster's exact ``tests.raycast.render`` output, plus ``amodal`` bool
    (N, H, W): per instance (N = len(scene.instances)) the pixels that see it when cast alone."""
    cam2world = camera_to_world(scene.camera, scene.frames)
    obj2world = trajectory(scene).object_to_world()
    instances = [k for k, o in enumerate(scene.objects) if not o.background]
    frames = []
    for t in range(scene.frames):
        frame = raycast.render(scene, cam2world[t], obj2world[t])
        alone = [raycast.render(scene, cam2world[t], obj2world[t], objects=[k]) for k in instances]
        frame["amodal"] = np.stack([a["index"] > 0 for a in alone])
        frames.append(frame)
    return frames


def shading(frame: dict[str, np.ndarray]) -> np.ndarray:
    """uint8 (H, W, 4) RGBA: a grey Lambert shading of the normals under a light from above."""
    light = np.array([0.3, -0.4, 0.866])
    grey = np.clip(frame["normal"].astype(np.float64) @ light, 0.0, 1.0) * 230 + 20
    rgb = np.where(np.isfinite(frame["depth"])[..., None], grey[..., None], 10.0).repeat(3, axis=-1)
    return np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255.0)], axis=-1).astype(np.uint8)


ALL_PASSES = tuple(p for p in PASSES if p != "disparity")
"""Every pass a one-camera scene can have (disparity needs a stereo pair: tests/test_stereo.py)."""
CATEGORIES = (*default_table(), "crate")
"""The job's category table: the catalogue's, plus the crate's own category."""


def write_scene(out_dir: Path, settings: RenderSettings | None = None, name: str = "scene_00000",
                scene: Scene | None = None) -> tuple[SceneResult, list[dict[str, np.ndarray]]]:
    """Pushes the ray-cast frames of ``scene`` (default ``make_scene()``) through ``SceneSink``
    (default settings: every pass, ``CATEGORIES``); returns its result and the frames."""
    scene = make_scene() if scene is None else scene
    settings = RenderSettings(passes=ALL_PASSES, categories=CATEGORIES) if settings is None else settings
    frames = ray_cast_frames(scene)
    outputs = required_outputs(settings.passes, settings.point_tracks > 0)
    with SceneSink(scene, trajectory(scene), settings, out_dir, name) as sink:
        for t, f in enumerate(frames):
            given = {"rgba": shading(f), "depth": f["depth"], "normal": f["normal"],
                     "object_index": f["index"], "object_coordinates": f["coords"], "amodal": f["amodal"]}
            sink.push(RenderedFrame(t, {k: v for k, v in given.items() if k in outputs}))
        return sink.finish({}), frames
