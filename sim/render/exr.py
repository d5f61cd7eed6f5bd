"""Decoding the ground-truth EXR that Cycles writes (OpenEXR module, no Blender).

Cycles' passes in the file (channels ``<view layer>.<pass>.<channel>``, each float32 (H, W), row 0 =
image top as in every EXR): ``Depth.Z`` planar depth along the camera's optical axis (m, 1e10
where no surface), ``Normal.X/Y/Z`` world-space normal, ``Object Index.X`` the object's
``pass_index`` (0 where no surface) and the colour AOV ``<aov>.R/G/B`` (normalised object
coordinate).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import OpenEXR

from sim.errors import RenderError


def read_channels(path: Path, names: list[str]) -> dict[str, np.ndarray]:
    """The named float32 (H, W) channels of a (multi-part) EXR file; RenderError if one is missing."""
    try:
        parts = OpenEXR.File(str(path), separate_channels=True).parts
    except Exception as e:  # OpenEXR raises bare RuntimeError/OSError subclasses
        raise RenderError(f"cannot read render output {path}: {e}") from None
    found = {name: channel.pixels for part in parts for name, channel in part.channels.items()}
    missing = [n for n in names if n not in found]
    if missing:
        raise RenderError(f"render output {path} lacks channel {missing[0]!r}; has {sorted(found)}")
    return {n: np.asarray(found[n], dtype=np.float32) for n in names}


def decode_ground_truth(path: Path, layer: str, aov: str, ray_z: np.ndarray,
                        outputs: frozenset[str], amodal_layers: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """Reads one ground-truth EXR and converts the render outputs in ``outputs`` (of ``depth``,
    ``normal``, ``object_index``, ``object_coordinates``, ``amodal``) to the
    ``sim.frame.RENDER_OUTPUTS`` conventions; only their channels are read.

    ray_z: float (H, W), the optical-axis component of the unit ray through each pixel centre
    (``sim.transforms.pixel_rays(K, resolution)[..., 2]``), so Euclidean depth = planar Z / ray_z.
    Returns depth float32 (H, W) m (+inf where no surface), normal float32 (H, W, 3) unit (0 where
    no surface), object_index uint16 (H, W), object_coordinates float32 (H, W, 3) clipped to [0, 1]
    (float32 rounding can put an exact surface point 1e-6 outside its bounds; 0 where no surface).
    "No surface" is object index 0: every object has a pass index ≥ 1. amodal: bool (N, H, W), the
    object index ≠ 0 in view layer ``amodal_layers[k-1]``, which holds instance k alone.
    """
    channels = {"depth": [f"{layer}.Depth.Z"], "normal": [f"{layer}.Normal.{a}" for a in "XYZ"],
                "object_coordinates": [f"{layer}.{aov}.{c}" for c in "RGB"]}
    index_name = f"{layer}.Object Index.X"
    if "amodal" in outputs:
        channels["amodal"] = [f"{name}.Object Index.X" for name in amodal_layers]
    ch = read_channels(path, [index_name, *(n for o in sorted(outputs) for n in channels.get(o, []))])
    index = np.rint(ch[index_name]).astype(np.uint16)
    empty = index == 0
    out = {"object_index": index} if "object_index" in outputs else {}
    if "depth" in outputs:
        depth = (ch[channels["depth"][0]] / ray_z).astype(np.float32)
        depth[empty] = np.inf
        out["depth"] = depth
    if "normal" in outputs:
        normal = np.stack([ch[n] for n in channels["normal"]], axis=-1)
        length = np.linalg.norm(normal, axis=-1, keepdims=True)
        normal = np.divide(normal, length, out=np.zeros_like(normal), where=length > 0)
        normal[empty] = 0.0
        out["normal"] = normal.astype(np.float32)
    if "object_coordinates" in outputs:
        coords = np.clip(np.stack([ch[n] for n in channels["object_coordinates"]], axis=-1), 0.0, 1.0)
        coords[empty] = 0.0
        out["object_coordinates"] = coords.astype(np.float32)
    if "amodal" in outputs:
        out["amodal"] = np.stack([ch[n] > 0.5 for n in channels["amodal"]]).reshape(-1, *index.shape)
    return out
