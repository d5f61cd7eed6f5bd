"""Kubric's MOVi layout and encodings (``scenesim export kubric JOB OUT``).

One directory per scene, ``OUT/<scene>/``, with the file names of a Kubric worker's output and the
encodings of the published MOVi datasets, so code written for MOVi reads it::

    rgba_00000.png                uint8 RGBA
    segmentation_00000.png        8-bit palette PNG of instance ids (0 = background)
    depth_00000.png               uint16, depth = value / 65535 * (max - min) + min,
                                  [min, max] = metadata["metadata"]["depth_range"]
    forward_flow_00000.png        uint16, 3 channels (the third 0, as Kubric pads it): (delta_row,
    backward_flow_00000.png       delta_column) = value / 65535 * (max - min) + min, [min, max] =
                                  metadata["metadata"]["forward_flow_range"] / ["backward_flow_range"]
    normal_00000.png              uint16 3 channels, (n + 1) / 2 * 65535, world axes
    object_coordinates_00000.png  uint16 3 channels, coordinate * 65535
    data_ranges.json              {"forward_flow": {"min", "max"}, "backward_flow": {...}} (Kubric's
                                  worker writes it beside the flow PNGs)
    metadata.json                 {"flags", "metadata", "camera", "instances"}
    events.json                   {"collisions": [...]}

Only the passes a scene has are written. Conversions from our format (``sim.format``):

- **Flow order and sign.** Ours is (dx, dy) = (Δcolumn, Δrow); Kubric's is (Δrow, Δcolumn).
  Forward flow is the same motion (position at t+1 − position at t). Kubric's backward flow keeps
  the direction of time (Kubric issue #152: position at t − position at t−1, so constant motion
  gives equal forward and backward flow); ours points to t−1, so Kubric's is minus ours. Where our
  flow is undefined (NaN) the PNG holds the code of 0 flow (Kubric has no validity mask).
- **Depth** is Euclidean distance from the camera centre in both (not planar z). Pixels without a
  surface (+inf in ours) are written as 65535, i.e. they decode to ``depth_range[1]``, the largest
  finite depth of the scene.
- **16-bit quantisation.** ``round((x − min) / (max − min) · 65535)``: decoding is off by at most
  half a step, (max − min) / 131070, per scene.
- **K.** Kubric's ``camera["K"]`` is normalised to a 1×1 image and acts on Blender camera axes (x
  right, y up, looking along −z), hence its negative entries:
  ``[[fx/W, 0, −cx/W], [0, −fy/H, −cy/H], [0, 0, −1]]`` with our pixel K's fx, fy, cx, cy;
  ``K @ [x, y, z]`` divided by its third entry is the image position in [0, 1]² (x/W, y/H).
  ``camera["R"]`` is Blender's camera-to-world matrix (``matrix_world``) at frame 0;
  ``positions`` and ``quaternions`` (w, x, y, z, camera-to-world in Blender axes, i.e. ours
  times diag(1, −1, −1)) per frame. ``field_of_view`` is horizontal, in radians.
- **Instances** are, as in MOVi, only those visible in some frame, sorted by total visible pixels
  (descending); segmentation id k is ``instances[k − 1]``. ``scenesim_id`` gives our id. Boxes
  ``bboxes`` are ``[ymin, xmin, ymax, xmax]`` normalised, for the frames in ``bbox_frames``;
  ``image_positions`` the normalised (x, y) projection of the object's origin. MOVi-A's labels
  are filled from ours: ``shape_label`` = ``category``, ``color`` = the material's linear RGB,
  ``material_label`` = ``metal`` when ``metallic`` ≥ 0.5 else ``rubber``; ``scale`` is our
  per-axis scale (the largest side is 2 · scale, ``sim.library``).
- **Collisions**: ``instances`` are indices into ``instances`` (65535 for the background or an
  instance never visible), ``contact_normal`` points from the second toward the first,
  ``image_position`` normalised (x, y).
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import imagecodecs
import numpy as np
from PIL import Image

from sim.errors import OutputError
from sim.export.common import source_scenes, staged_directory
from sim.format import PASSES
from sim.io import load_scene
from sim.transforms import invert_rigid, matrix_to_quat

UINT16_MAX = 65535
BACKGROUND = 65535
"""Kubric's index of the background (and of anything not in ``instances``) in collisions."""
BLENDER_FROM_OPENCV = np.diag([1.0, -1.0, -1.0])
EXPORTED = ("rgba", "segmentation", "depth", "forward_flow", "backward_flow", "normal", "object_coordinates")


def quantise(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """uint16 codes of ``values`` in the range [lo, hi] (Kubric's scaling, rounded)."""
    scale = UINT16_MAX / (hi - lo) if hi > lo else 0.0
    return np.round((np.asarray(values, np.float64) - lo) * scale).clip(0, UINT16_MAX).astype(np.uint16)


def value_range(values: np.ndarray) -> list[float]:
    """[min, max] of the finite ``values`` as floats ([0, 0] if none is finite)."""
    finite = values[np.isfinite(values)]
    return [float(finite.min()), float(finite.max())] if finite.size else [0.0, 0.0]


def _png16(array: np.ndarray) -> bytes:
    return imagecodecs.png_encode(np.ascontiguousarray(array))


def _palette_png(ids: np.ndarray) -> bytes:
    height, width = ids.shape
    image = Image.frombytes("P", (width, height), np.ascontiguousarray(ids, dtype=np.uint8).tobytes())
    hues = np.linspace(0, 1, 256, endpoint=False)
    palette = np.stack([hues, (hues * 3) % 1, (hues * 7) % 1], -1) * 255
    palette[0] = 0
    image.putpalette(palette.astype(np.uint8).ravel().tolist())
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def instance_order(metadata: dict[str, Any]) -> list[int]:
    """Our instance ids (1-based) in Kubric's order: visible in some frame, most pixels first."""
    totals = [(-sum(inst["visibility"]), inst["id"]) for inst in metadata["instances"]
              if sum(inst["visibility"]) > 0]
    return [i for _, i in sorted(totals)]


def _project(K: np.ndarray, world_to_camera: np.ndarray, points: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Normalised (x, y) image positions of world ``points`` (N, 3) in one frame."""
    cam = points @ world_to_camera[:3, :3].T + world_to_camera[:3, 3]
    pix = cam @ K.T
    return pix[:, :2] / pix[:, 2:3] / size


def kubric_camera(camera: dict[str, Any], resolution: tuple[int, int]) -> dict[str, Any]:
    """Kubric's ``camera`` entry from ours (conversions in the module docstring)."""
    width, height = resolution
    K = np.asarray(camera["K"], dtype=np.float64)
    cam2world = invert_rigid(np.asarray(camera["world_to_camera"], dtype=np.float64))
    blender = cam2world.copy()
    blender[:, :3, :3] = cam2world[:, :3, :3] @ BLENDER_FROM_OPENCV
    return {
        "focal_length": camera["focal_length_mm"], "sensor_width": camera["sensor_width_mm"],
        "field_of_view": float(2 * np.arctan2(camera["sensor_width_mm"] / 2, camera["focal_length_mm"])),
        "positions": blender[:, :3, 3].tolist(),
        "quaternions": [matrix_to_quat(m[:3, :3]).tolist() for m in blender],
        "K": [[K[0, 0] / width, 0.0, -K[0, 2] / width], [0.0, -K[1, 1] / height, -K[1, 2] / height],
              [0.0, 0.0, -1.0]],
        "R": blender[0].tolist(),
    }


def _instance(inst: dict[str, Any], camera: dict[str, Any], size: np.ndarray) -> dict[str, Any]:
    K, w2c = np.asarray(camera["K"]), np.asarray(camera["world_to_camera"])
    positions = np.asarray(inst["position"])
    frames = [t for t, box in enumerate(inst["bbox_2d"]) if box is not None]
    return {
        "scenesim_id": inst["id"], "name": inst["name"], "asset_id": inst["asset"],
        "category": inst.get("category"), "shape_label": inst.get("category"),
        "color": inst["material"]["color"],
        "material_label": "metal" if inst["material"]["metallic"] >= 0.5 else "rubber",
        "scale": inst["scale"], "mass": inst["mass"], "friction": inst["friction"],
        "restitution": inst["restitution"],
        "positions": inst["position"], "quaternions": inst["quaternion"],
        "velocities": inst["linear_velocity"], "angular_velocities": inst["angular_velocity"],
        "bboxes_3d": inst["bbox_3d"],
        "image_positions": [_project(K, w2c[t], positions[t:t + 1], size)[0].tolist()
                            for t in range(len(positions))],
        "bboxes": [[box[1] / size[1], box[0] / size[0], box[3] / size[1], box[2] / size[0]]
                   for box in (inst["bbox_2d"][t] for t in frames)],
        "bbox_frames": frames, "visibility": inst["visibility"],
    }


def _collisions(events: list[dict[str, Any]], index: dict[int, int], camera: dict[str, Any],
                size: np.ndarray) -> list[dict[str, Any]]:
    K, w2c = np.asarray(camera["K"]), np.asarray(camera["world_to_camera"])
    return [{"instances": [index.get(e["instance_a"], BACKGROUND), index.get(e["instance_b"], BACKGROUND)],
             "frame": e["frame"], "force": e["force"], "position": e["position"],
             "image_position": _project(K, w2c[e["frame"]], np.asarray([e["position"]]), size)[0].tolist(),
             "contact_normal": e["normal"]} for e in events]


def _write_scene(path: Path, out: Path, metadata: dict[str, Any]) -> None:
    """Writes one scene's Kubric directory ``out`` from our scene directory ``path``."""
    passes = [p for p in EXPORTED if p in metadata["passes"]]
    data = load_scene(path, passes=[p for p in passes if p != "rgba"])
    scene = metadata["scene"]
    resolution = tuple(scene["resolution"])
    size = np.asarray(resolution, dtype=np.float64)
    order = instance_order(metadata)
    if len(order) > 255:
        raise OutputError(f"{path.name}: {len(order)} visible instances; Kubric's 8-bit segmentation "
                          "holds at most 255")
    out.mkdir()
    ranges: dict[str, list[float]] = {}
    if "depth" in data:
        ranges["depth_range"] = value_range(data["depth"])
    flows = {}
    for name, sign in (("forward_flow", 1.0), ("backward_flow", -1.0)):
        if name in data:
            flows[name] = np.nan_to_num(sign * data[name][..., ::-1], nan=0.0)  # (d_row, d_col)
            ranges[f"{name}_range"] = value_range(flows[name])
    lut = np.zeros(len(metadata["instances"]) + 1, dtype=np.uint8)
    lut[order] = np.arange(1, len(order) + 1)
    for t in range(scene["frames"]):
        name = f"{t:05d}.png"
        if "rgba" in passes:
            shutil.copyfile(path / PASSES["rgba"].filename(t), out / f"rgba_{name}")
        if "segmentation" in data:
            (out / f"segmentation_{name}").write_bytes(_palette_png(lut[data["segmentation"][t]]))
        if "depth" in data:
            depth = np.where(np.isfinite(data["depth"][t]), data["depth"][t], ranges["depth_range"][1])
            (out / f"depth_{name}").write_bytes(_png16(quantise(depth, *ranges["depth_range"])))
        for flow_name, flow in flows.items():
            padded = np.zeros(flow.shape[1:3] + (3,), dtype=np.uint16)
            padded[..., :2] = quantise(flow[t], *ranges[f"{flow_name}_range"])
            (out / f"{flow_name}_{name}").write_bytes(_png16(padded))
        if "normal" in data:
            (out / f"normal_{name}").write_bytes(_png16(quantise((data["normal"][t] + 1) / 2, 0.0, 1.0)))
        if "object_coordinates" in data:
            (out / f"object_coordinates_{name}").write_bytes(
                _png16(quantise(data["object_coordinates"][t], 0.0, 1.0)))
    index = {our: k for k, our in enumerate(order)}
    camera = metadata["camera"]
    document = {
        "flags": {"source": str(path), "render_settings": metadata.get("render_settings")},
        "metadata": {"video_name": path.name, "width": resolution[0], "height": resolution[1],
                     "num_frames": scene["frames"], "num_instances": len(order), "resolution": resolution,
                     "frame_rate": scene["frame_rate"], "step_rate": scene["step_rate"],
                     "gravity": scene["gravity"], "seed": scene["seed"], **ranges},
        "camera": kubric_camera(camera, resolution),
        "instances": [_instance(metadata["instances"][i - 1], camera, size) for i in order],
    }
    (out / "metadata.json").write_text(json.dumps(document, indent=2))
    collisions = _collisions(data["events"], index, camera, size)
    (out / "events.json").write_text(json.dumps({"collisions": collisions}))
    (out / "data_ranges.json").write_text(json.dumps(
        {k: {"min": ranges[f"{k}_range"][0], "max": ranges[f"{k}_range"][1]} for k in flows}))


def export_kubric(root: Path, out: Path, *, overwrite: bool = False) -> dict[str, int]:
    """Writes every scene of the scene or job directory ``root`` in Kubric's layout into ``out``
    (module docstring); returns the counts of scenes and frames."""
    scenes = source_scenes(root, (), "kubric")
    with staged_directory(out, overwrite) as tmp:
        for path, metadata in scenes:
            _write_scene(path, tmp / path.name, metadata)
    return {"scenes": len(scenes), "frames": sum(m["scene"]["frames"] for _, m in scenes)}
