"""The JSON documents of a scene directory: ``metadata.json`` and ``events.json`` (docs/format.md).

Both are built as plain dicts/lists of JSON-native values (dict, list, str, int, float, bool, None;
no numpy types, no NaN or infinity), in the units and conventions of ``sim.format.CONVENTIONS``:
metres, seconds, kilograms, newtons; quaternions (w, x, y, z); camera matrices in OpenCV axes.
``sim.io.SceneWriter`` adds the list of written passes under ``"passes"``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sim.annotate import boxes_3d, instance_ids
from sim.assets import object_mass
from sim.categories import id_table, object_category
from sim.errors import OutputError
from sim.format import CONVENTIONS, FORMAT_VERSION
from sim.scene import Scene
from sim.settings import RenderSettings
from sim.trajectory import Trajectory
from sim.transforms import camera_to_world, intrinsics, invert_rigid, matrix_to_quat

Box2D = Sequence[int] | None


def json_native(value: Any, path: str = "metadata") -> Any:
    """``value`` with numpy arrays and scalars turned into lists, ints, floats and bools and tuples
    into lists; raises OutputError naming the ``path`` of a NaN or infinite number or of a value
    JSON cannot hold."""
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            bad = tuple(int(i) for i in np.argwhere(~np.isfinite(value))[0])
            return json_native(value[bad], path + "".join(f"[{i}]" for i in bad))
        return value.tolist()  # ints, floats and bools, as the loop below would give, in C
    if isinstance(value, Mapping):
        return {str(k): json_native(v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [json_native(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            raise OutputError(f"{path}: got {float(value)}, expected a finite number")
        return float(value)
    if value is None or isinstance(value, str):
        return value
    raise OutputError(f"{path}: got a {type(value).__name__}, expected a JSON value")


def camera_intrinsics(metadata: Mapping[str, Any]) -> np.ndarray:
    """float64 (F, 3, 3): K of every frame from a ``metadata.json`` dict, whether it holds one
    constant ``K`` or ``K_per_frame`` (a zooming camera)."""
    camera, frames = metadata["camera"], int(metadata["scene"]["frames"])
    if "K_per_frame" in camera:
        return np.asarray(camera["K_per_frame"], dtype=np.float64)
    return np.broadcast_to(np.asarray(camera["K"], dtype=np.float64), (frames, 3, 3)).copy()


def _camera(scene: Scene) -> dict[str, Any]:
    """The camera block: ``K`` (3×3) when the intrinsics are the same in every frame, else
    ``K_per_frame`` (F, 3, 3) and no ``K``; ``focal_length_mm`` a number or one per frame."""
    camera = scene.camera
    cam2world = camera_to_world(camera, scene.frames)
    K = intrinsics(camera, scene.resolution, scene.frames)
    constant = bool((K == K[0]).all())
    return {
        "name": camera.name,
        **({"K": K[0]} if constant else {"K_per_frame": K}),
        "focal_length_mm": camera.focal_length_mm,
        "sensor_width_mm": camera.sensor_width_mm,
        "principal_point": camera.principal_point,
        "fy_over_fx": camera.fy_over_fx,
        "world_to_camera": invert_rigid(cam2world),
        "position": cam2world[:, :3, 3],
        "quaternion": [matrix_to_quat(m[:3, :3]) for m in cam2world],
    }


def _object(scene: Scene, trajectory: Trajectory, i: int, obj2world: np.ndarray) -> dict[str, Any]:
    """Description and per-frame pose of ``scene.objects[i]``; ``obj2world`` is (F, N, 4, 4)."""
    obj = scene.objects[i]
    return {
        "name": obj.name, "object_index": i, "asset": obj.asset,
        "category": object_category(obj), "scale": obj.scale,
        "material": {"color": obj.material.color, "roughness": obj.material.roughness,
                     "metallic": obj.material.metallic},
        "mass": object_mass(obj), "friction": obj.friction, "restitution": obj.restitution,
        "static": obj.static, "scripted": obj.scripted,
        "position": trajectory.positions[:, i], "quaternion": trajectory.quaternions[:, i],
        "object_to_world": obj2world[:, i],
        "linear_velocity": trajectory.linear_velocities[:, i],
        "angular_velocity": trajectory.angular_velocities[:, i],
    }


def build_metadata(scene: Scene, trajectory: Trajectory, render_settings: RenderSettings | None, *,
                   boxes_2d: Sequence[Sequence[Box2D]] | None, visibility: Sequence[Sequence[int]] | None,
                   amodal_boxes_2d: Sequence[Sequence[Box2D]] | None = None,
                   amodal_visibility: Sequence[Sequence[int]] | None = None,
                   timings: Mapping[str, float] | None = None) -> dict[str, Any]:
    """The content of ``metadata.json``.

    ``boxes_2d[t][k-1]`` and ``visibility[t][k-1]`` are instance k's box (``sim.annotate.boxes_2d``)
    and visible pixel count (``sim.annotate.visibility``) in frame t, for t < scene.frames; both
    None for a job without ground truth (the instances then have no ``bbox_2d`` and ``visibility``).
    ``amodal_boxes_2d``, ``amodal_visibility``: the same of the amodal masks (``sim.annotate.mask_boxes``,
    pixel counts), with the ``amodal`` pass only; they add per instance per frame ``amodal_bbox_2d``,
    ``amodal_visibility`` and ``visible_fraction`` (visible / amodal pixels, None where the amodal
    mask is empty, e.g. out of view).
    ``timings``: optional seconds per pipeline stage. Instances (id k = segmentation value) come in
    scene order; background objects are listed apart under ``background_objects``. ``categories``:
    the category table of ``render_settings`` (default table without settings), id -> name.
    """
    frames, n_instances = scene.frames, len(scene.instances)
    if trajectory.positions.shape[:2] != (frames, len(scene.objects)):
        raise OutputError(f"trajectory: {trajectory.positions.shape[:2]} (frames, objects), expected "
                          f"{(frames, len(scene.objects))} from the scene")
    pairs = ((boxes_2d, visibility), (amodal_boxes_2d, amodal_visibility))
    unpaired = any((x is None) != (y is None) for x, y in pairs)
    if unpaired or (boxes_2d is None and amodal_boxes_2d is not None):
        raise OutputError("boxes_2d, visibility (and amodal_boxes_2d, amodal_visibility): give both of a "
                          "pair or neither; the amodal pair needs the visible one")
    for name, per_frame in (("boxes_2d", boxes_2d), ("visibility", visibility),
                            ("amodal_boxes_2d", amodal_boxes_2d), ("amodal_visibility", amodal_visibility)):
        if per_frame is None:
            continue
        if len(per_frame) != frames or any(len(row) != n_instances for row in per_frame):
            raise OutputError(f"{name}: expected {frames} frames of {n_instances} instances each")
    obj2world = trajectory.object_to_world()
    corners = np.stack([boxes_3d(scene, obj2world[t]) for t in range(frames)])  # (F, n, 8, 3)
    instances, background = [], []
    for i, obj in enumerate(scene.objects):
        entry = _object(scene, trajectory, i, obj2world)
        if obj.background:
            background.append(entry)
            continue
        k = len(instances)
        entry = {"id": k + 1, **entry, "bbox_3d": corners[:, k]}
        if boxes_2d is not None and visibility is not None:
            entry.update(bbox_2d=[row[k] for row in boxes_2d], visibility=[row[k] for row in visibility])
        if amodal_boxes_2d is not None and amodal_visibility is not None and visibility is not None:
            amodal = [row[k] for row in amodal_visibility]
            entry.update(amodal_bbox_2d=[row[k] for row in amodal_boxes_2d], amodal_visibility=amodal,
                         visible_fraction=[row[k] / a if a else None for row, a in zip(visibility, amodal,
                                                                                     strict=True)])
        instances.append(entry)
    return json_native({
        "format_version": FORMAT_VERSION,
        "conventions": CONVENTIONS,
        "scene": _scene_fields(scene),
        "camera": _camera(scene),
        "categories": id_table((render_settings or RenderSettings()).categories),
        "instances": instances,
        "background_objects": background,
        "render_settings": render_settings.to_dict() if render_settings is not None else None,
        "timings": dict(timings or {}),
    })


def _scene_fields(scene: Scene) -> dict[str, Any]:
    return {"resolution": scene.resolution, "frames": scene.frames, "frame_rate": scene.frame_rate,
            "step_rate": scene.step_rate, "seed": scene.seed, "gravity": scene.gravity,
            "shutter": scene.shutter}


def build_camera_set_metadata(scene: Scene, render_settings: RenderSettings,
                              timings: Mapping[str, float]) -> dict[str, Any]:
    """The top-level ``metadata.json`` of a multi-camera scene: ``cameras`` (their names, in scene
    order, each the name of the camera's own scene directory inside this one, with the full metadata
    of that view) and what the views share (scene timing, render settings, ``timings``: seconds per
    stage summed over the cameras, physics once)."""
    return json_native({
        "format_version": FORMAT_VERSION,
        "conventions": CONVENTIONS,
        "cameras": scene.camera_names,
        "scene": _scene_fields(scene),
        "render_settings": render_settings.to_dict(),
        "timings": dict(timings),
    })


def build_events(scene: Scene, trajectory: Trajectory) -> list[dict[str, Any]]:
    """The content of ``events.json`` from ``trajectory.collisions``: one entry per (frame,
    instance_a, instance_b), ids as in the segmentation (0 = background), instance_a < instance_b.

    Scene object indices become instance ids; a contact with a background object has instance_a = 0
    and its normal turned to point from instance_b toward instance_a. Several background objects
    touching the same instance in one frame merge into one entry, the one with the peak force;
    contacts between two background objects are dropped. Sorted by (frame, instance_a, instance_b).
    """
    ids = instance_ids(scene)
    merged: dict[tuple[int, int, int], dict[str, Any]] = {}
    for event in trajectory.collisions:
        a, b, normal = int(ids[event.a]), int(ids[event.b]), np.asarray(event.normal, float)
        if a == b == 0:
            continue
        if a > b:
            a, b, normal = b, a, -normal
        key = (event.frame, a, b)
        if key not in merged or event.force > merged[key]["force"]:
            merged[key] = {"frame": event.frame, "instance_a": a, "instance_b": b,
                           "position": np.asarray(event.position, float), "normal": normal,
                           "force": float(event.force)}
    return json_native([merged[k] for k in sorted(merged)], "events")
