"""Optical flow in the two formats flow code reads: Middlebury/Sintel ``.flo`` and KITTI PNG.

Both export the *forward* flow of every consecutive frame pair (t, t+1), t = 0 … F−2, of every
scene (frame F−1 has no successor). Our flow is (dx, dy) pixels with NaN where undefined
(``sim.format``); ``*_flow_valid`` and ``*_occluded`` masks come with it.

**Sintel layout** (``export_flo``), what MPI-Sintel loaders (e.g. RAFT's ``MpiSintel``) read, frames
numbered from 1 as in Sintel (``frame_0001`` is our frame 0)::

    OUT/training/clean/<scene>/frame_0001.png       RGB (from rgba; only if the scene has it)
    OUT/training/flow/<scene>/frame_0001.flo        flow frame_0001 -> frame_0002
    OUT/training/occlusions/<scene>/frame_0001.png  255 = hidden or out of view in the next frame
    OUT/training/invalid/<scene>/frame_0001.png     255 = flow undefined (no surface)

``.flo``: the float32 tag 202021.25 (``PIEH``), int32 width, int32 height, then float32 (u, v) per
pixel, row-major, little-endian. Undefined flow is written as 1e10 in both components, the
Middlebury "unknown flow" value (readers treat |flow| > 1e9 as unknown); occluded pixels keep their
exact flow (Sintel's convention: flow is given where the point is occluded, and the occlusion mask
says where).

**KITTI layout** (``export_kitti``), KITTI 2015 flow's, one KITTI sample k per frame pair (``pairs.txt``
line k: ``<scene> <t>``)::

    OUT/training/image_2/000000_10.png, 000000_11.png   RGB of frames t and t+1 (if rgba exists)
    OUT/training/flow_occ/000000_10.png    flow of every pixel where it is defined (occluded too)
    OUT/training/flow_noc/000000_10.png    flow only where defined and not occluded

A flow PNG is 16-bit, 3 channels stored as R = u·64 + 2^15, G = v·64 + 2^15, B = 1 where valid
(KITTI's devkit: ``u = (R − 2^15) / 64``); a pixel with B = 0 (undefined, occluded in ``flow_noc``, or
|u| or |v| outside KITTI's range [−512, 511.98]) has R = G = B = 0. OpenCV reads the file as BGR:
``cv2.imread(p, cv2.IMREAD_UNCHANGED)[..., ::-1]`` gives (R, G, B). Values are rounded to 1/64 px.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import imagecodecs
import imageio.v3 as iio
import numpy as np

from sim.export.common import source_scenes, staged_directory
from sim.io import load_scene

FLO_TAG = 202021.25
FLO_UNKNOWN = 1e10
KITTI_SCALE = 64.0
KITTI_OFFSET = 2**15
KITTI_MAX = (2**16 - 1 - KITTI_OFFSET) / KITTI_SCALE  # 511.984375 px
KITTI_MIN = -KITTI_OFFSET / KITTI_SCALE  # -512 px
NEEDS = ("forward_flow",)


def flo_bytes(flow: np.ndarray) -> bytes:
    """A ``.flo`` file of float32 (H, W, 2) flow (u, v), NaN written as the unknown value 1e10."""
    height, width = flow.shape[:2]
    data = np.where(np.isnan(flow), np.float32(FLO_UNKNOWN), flow).astype("<f4")
    return struct.pack("<fii", FLO_TAG, width, height) + data.tobytes()


def kitti_png_bytes(flow: np.ndarray, valid: np.ndarray) -> bytes:
    """A KITTI flow PNG of float32 (H, W, 2) flow where the bool (H, W) ``valid`` is true (and the
    flow is inside KITTI's range); elsewhere (0, 0, 0)."""
    finite = np.nan_to_num(flow.astype(np.float64), nan=0.0)
    ok = valid & np.isfinite(flow).all(-1) & (flow >= KITTI_MIN).all(-1) & (flow <= KITTI_MAX).all(-1)
    out = np.zeros(flow.shape[:2] + (3,), dtype=np.uint16)
    out[..., :2] = np.round(finite * KITTI_SCALE + KITTI_OFFSET).clip(0, 2**16 - 1).astype(np.uint16)
    out[..., 2] = 1
    out[~ok] = 0
    return imagecodecs.png_encode(out)


def _png(array: np.ndarray) -> bytes:
    return iio.imwrite("<bytes>", array, extension=".png")


def _mask_png(mask: np.ndarray) -> bytes:
    return _png(mask.astype(np.uint8) * 255)


def _put(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _frames(path: Path, metadata: dict[str, Any]) -> dict[str, Any]:
    """The scene's forward flow and, where it has them, RGB and the forward masks."""
    extra = [p for p in ("rgba", "forward_flow_valid", "forward_occluded") if p in metadata["passes"]]
    return load_scene(path, passes=[*NEEDS, *extra])


def export_flo(root: Path, out: Path, *, overwrite: bool = False) -> dict[str, int]:
    """Writes the Sintel layout (module docstring) of every scene of ``root`` into ``out``; returns
    the counts of scenes and flow files."""
    scenes = source_scenes(root, NEEDS, "flo")
    files = 0
    with staged_directory(out, overwrite) as tmp:
        for path, metadata in scenes:
            data = _frames(path, metadata)
            dirs = {d: tmp / "training" / d / path.name for d in ("clean", "flow", "occlusions", "invalid")}
            flow = data["forward_flow"]
            for t in range(len(flow) - 1):
                name = f"frame_{t + 1:04d}"
                _put(dirs["flow"] / f"{name}.flo", flo_bytes(flow[t]))
                _put(dirs["invalid"] / f"{name}.png", _mask_png(np.isnan(flow[t]).any(-1)))
                if "forward_occluded" in data:
                    _put(dirs["occlusions"] / f"{name}.png", _mask_png(data["forward_occluded"][t]))
                files += 1
            for t, rgba in enumerate(data.get("rgba", ())):
                _put(dirs["clean"] / f"frame_{t + 1:04d}.png", _png(rgba[..., :3]))
    return {"scenes": len(scenes), "flows": files}


def export_kitti(root: Path, out: Path, *, overwrite: bool = False) -> dict[str, int]:
    """Writes the KITTI layout (module docstring) of every scene of ``root`` into ``out``; returns
    the counts of scenes and frame pairs."""
    scenes = source_scenes(root, NEEDS, "kitti")
    pairs: list[str] = []
    with staged_directory(out, overwrite) as tmp:
        dirs = {d: tmp / "training" / d for d in ("image_2", "flow_occ", "flow_noc")}
        for path, metadata in scenes:
            data = _frames(path, metadata)
            flow = data["forward_flow"]
            valid = data.get("forward_flow_valid", ~np.isnan(flow).any(-1))
            occluded = data.get("forward_occluded", np.zeros_like(valid))
            for t in range(len(flow) - 1):
                name = f"{len(pairs):06d}"
                _put(dirs["flow_occ"] / f"{name}_10.png", kitti_png_bytes(flow[t], valid[t]))
                _put(dirs["flow_noc"] / f"{name}_10.png", kitti_png_bytes(flow[t], valid[t] & ~occluded[t]))
                if "rgba" in data:
                    for suffix, s in (("10", t), ("11", t + 1)):
                        _put(dirs["image_2"] / f"{name}_{suffix}.png", _png(data["rgba"][s][..., :3]))
                pairs.append(f"{path.name} {t}")
        (tmp / "pairs.txt").write_text("".join(line + "\n" for line in pairs))
    return {"scenes": len(scenes), "pairs": len(pairs)}
