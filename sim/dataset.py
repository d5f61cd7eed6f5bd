"""Training-data access to a job directory: ``SceneDataset`` (numpy) and ``TorchSceneDataset``.

Both index the complete scenes of a job (or single scene) directory at construction, reading only
``metadata.json`` per scene, and decode a sample's files when it is asked for: only the passes
requested and only the frames of that sample. They hold no open files, so they pickle to
``DataLoader`` worker processes.

Modes (``mode``):
- ``"clip"``: one sample per scene, all its F frames; each pass (F, H, W[, C]).
- ``"pair"``: one sample per frame pair (t, t+d) of every scene and every offset d of ``stride``
  (an int, default 1: consecutive frames, or a sequence of offsets such as ``(1, 2, 4)``), for
  flow training on small and large displacements without re-rendering. Passes of one frame are
  stacked (2, H, W[, C]) for t and t+d; the passes that relate the two frames come once, shape
  (H, W[, C]): ``forward_flow``, ``forward_flow_valid`` and ``forward_occluded`` from t toward t+d,
  ``backward_*`` from t+d toward t. For d = 1 they are the stored files; for d > 1 they are
  computed exactly by ``sim.flow`` (``between(t, t+d)`` and ``between(t+d, t)``, the same code and
  rule as the stored flow) from the depth and segmentation of the two frames, which the scene must
  have.

A numpy sample (dtypes as ``sim.format.PASSES``: rgba uint8, segmentation and semantic uint16,
depth/z_depth/normal/object_coordinates/flows float32, masks bool, amodal bool (..., N, H, W) with
N instances) holds, besides the passes:
``scene`` str (directory name), ``frames`` int64 (T,) (the frames read; T = F or 2), ``K`` float32
(3, 3) intrinsics in pixels of the first frame read, ``K_per_frame`` float32 (T, 3, 3) those of
every frame read (they differ when the camera zooms), ``world_to_camera`` float32 (T, 4, 4)
(OpenCV axes), and with
``point_tracks=True`` (clip mode, scenes rendered with ``--point-tracks``) ``tracks`` float32
(N, F, 2) pixels (x, y), ``tracks_occluded`` bool (N, F), ``query_frame`` int64 (N,).

``TorchSceneDataset`` yields the same keys as tensors, images channels-first: rgba uint8
(..., 4, H, W); normal, object_coordinates float32 (..., 3, H, W); flows float32 (..., 2, H, W);
segmentation and semantic int64 (..., H, W) (torch has no full uint16 support); depth, z_depth
float32 (..., H, W); masks bool (..., H, W), amodal bool (..., N, H, W); the rest unchanged in
layout. Needs torch (``pip install 'scenesim[torch]'``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sim.errors import OutputError
from sim.flow import SceneFlow
from sim.format import PASSES
from sim.io import find_views, load_point_tracks, read_metadata, read_pass
from sim.metadata import camera_intrinsics

try:
    import torch
    from torch.utils.data import Dataset as _TorchDataset
except ImportError:  # torch is optional: only TorchSceneDataset needs it
    torch = None
    _TorchDataset = object

MODES = ("clip", "pair")
READ_AT_FIRST = tuple(name for name, spec in PASSES.items() if spec.toward == 1)
READ_AT_SECOND = tuple(name for name, spec in PASSES.items() if spec.toward == -1)
"""In pair mode, passes read once: at frame t (the first; passes toward t+1) and at frame t+1 (the
second; passes toward t)."""
FLOW_TRIPLES = {d: (f"{d}_flow", f"{d}_flow_valid", f"{d}_occluded") for d in ("forward", "backward")}
"""The passes of ``sim.flow.between``'s (flow, valid, occluded), per direction of a pair."""


def _offsets(stride: int | Sequence[int], mode: str) -> tuple[int, ...]:
    """``stride`` as a tuple of distinct frame offsets >= 1 (OutputError naming the bad value)."""
    single = isinstance(stride, (int, np.integer)) and not isinstance(stride, bool)
    offsets = (stride,) if single else tuple(stride) if isinstance(stride, Sequence) else ()
    if (not offsets or len(set(offsets)) != len(offsets)
            or any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1 for d in offsets)):
        raise OutputError(f"stride: got {stride!r}, expected a frame offset >= 1 or a list of distinct ones")
    if mode != "pair" and offsets != (1,):
        raise OutputError(f"stride: got {stride!r}; only mode='pair' takes a stride")
    return tuple(int(d) for d in offsets)


@dataclass(frozen=True)
class _SceneEntry:
    path: Path
    frames: int
    resolution: tuple[int, int]
    passes: tuple[str, ...]
    K: np.ndarray
    world_to_camera: np.ndarray
    flow: SceneFlow | None  # for flow between frames more than one apart, when needed


def _index(path: Path, flow: bool) -> _SceneEntry:
    metadata = read_metadata(path)
    scene = metadata["scene"]
    return _SceneEntry(path, int(scene["frames"]), tuple(scene["resolution"]), tuple(metadata["passes"]),
                       camera_intrinsics(metadata).astype(np.float32),
                       np.asarray(metadata["camera"]["world_to_camera"], dtype=np.float32),
                       SceneFlow(path, metadata) if flow else None)


class SceneDataset:
    """Map-style numpy dataset over the scenes of ``root`` (a job or scene directory).

    ``passes``: pass names of ``sim.format.PASSES`` to read (default: rgba). ``mode``: ``"clip"``
    or ``"pair"``, ``stride``: the frame offsets of pair mode (module docstring). ``point_tracks``:
    add the point tracks (clip mode). ``scenes``: use only the first this many scenes. ``camera``:
    of multi-camera scenes, read only this camera (None: every camera's view is a scene of its own).
    ``len(ds)`` samples; ``ds[i]`` a dict of numpy arrays (module docstring); iterating yields them
    in order.
    """

    def __init__(self, root: Path, passes: Sequence[str] = ("rgba",), *, mode: str = "clip",
                 stride: int | Sequence[int] = 1, point_tracks: bool = False, scenes: int | None = None,
                 camera: str | None = None) -> None:
        if mode not in MODES:
            raise OutputError(f"mode: got {mode!r}, expected one of {', '.join(MODES)}")
        unknown = [p for p in passes if p not in PASSES]
        if unknown:
            raise OutputError(f"passes: unknown {unknown[0]!r}; known: {', '.join(PASSES)}")
        if point_tracks and mode != "clip":
            raise OutputError("point_tracks: only in mode='clip' (tracks span the whole scene)")
        self.offsets = _offsets(stride, mode)
        self.root = Path(root)
        self.passes = tuple(passes)
        self.mode = mode
        self.point_tracks = point_tracks
        # flow between frames d > 1 apart is computed; a scene that cannot give it exactly is refused now
        computed = max(self.offsets) > 1 and any(p in names for names in FLOW_TRIPLES.values()
                                                 for p in self.passes)
        self.entries = [_index(p, computed) for p in find_views(self.root, camera)[:scenes]]
        for entry in self.entries:
            missing = [p for p in self.passes if p not in entry.passes]
            if missing:
                raise OutputError(f"pass {missing[0]!r}: {entry.path} was rendered without it (it has "
                                  f"{', '.join(entry.passes)}); ask for those or render with --passes")
        # (scene index, first frame, offset) per sample
        self._samples = [(i, t, d) for i, e in enumerate(self.entries) for d in self.offsets
                         for t in ([0] if mode == "clip" else range(e.frames - d))]

    def __len__(self) -> int:
        return len(self._samples)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (self[i] for i in range(len(self)))

    def _frames_of(self, name: str, entry: _SceneEntry, t: int, d: int) -> list[int]:
        if self.mode == "clip":
            return list(range(entry.frames))
        return [t] if name in READ_AT_FIRST else [t + d] if name in READ_AT_SECOND else [t, t + d]

    def _computed_flow(self, flow: SceneFlow, t: int, s: int) -> dict[str, np.ndarray]:
        """The requested flow passes of the pair (t, s) computed by ``sim.flow``: forward t -> s,
        backward s -> t."""
        frame_t, frame_s = flow.read(t), flow.read(s)
        out: dict[str, np.ndarray] = {}
        for direction, a, b, first, second in (("forward", t, s, frame_t, frame_s),
                                               ("backward", s, t, frame_s, frame_t)):
            names = FLOW_TRIPLES[direction]
            if set(names) & set(self.passes):
                out.update(zip(names, flow.between(a, b, first, second), strict=True))
        return out

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"sample {index}: the dataset has {len(self)} samples")
        i, t, d = self._samples[index]
        entry = self.entries[i]
        frames = list(range(entry.frames)) if self.mode == "clip" else [t, t + d]
        sample: dict[str, Any] = {"scene": entry.path.name, "frames": np.array(frames, dtype=np.int64),
                                  "K": entry.K[frames[0]].copy(), "K_per_frame": entry.K[frames],
                                  "world_to_camera": entry.world_to_camera[frames]}
        if d > 1 and entry.flow is not None:
            sample.update(self._computed_flow(entry.flow, t, t + d))
        for name in self.passes:
            if name in sample:
                continue
            read = [read_pass(entry.path, name, s, entry.resolution)
                    for s in self._frames_of(name, entry, t, d)]
            pair_pass = self.mode == "pair" and name in READ_AT_FIRST + READ_AT_SECOND
            sample[name] = read[0] if pair_pass else np.stack(read)
        if self.point_tracks:
            tracks = load_point_tracks(entry.path, entry.frames)
            if tracks is None:
                raise OutputError(f"{entry.path}: has no point tracks; render with --point-tracks N")
            sample.update(tracks=tracks["tracks"], tracks_occluded=tracks["occluded"],
                          query_frame=tracks["query_frame"].astype(np.int64))
        return sample


def _tensor(name: str, value: Any) -> Any:
    """A sample value as a tensor in the layout of the module docstring (strings stay strings)."""
    if not isinstance(value, np.ndarray):
        return value
    spec = PASSES.get(name)
    if spec is not None and spec.channels:
        value = np.moveaxis(value, -1, -3)
    if value.dtype == np.uint16:
        value = value.astype(np.int64)
    return torch.from_numpy(np.ascontiguousarray(value))


class TorchSceneDataset(_TorchDataset):
    """``torch.utils.data.Dataset`` over a job directory: ``SceneDataset``'s samples as tensors
    (layouts in the module docstring). Same arguments as ``SceneDataset``."""

    def __init__(self, root: Path, passes: Sequence[str] = ("rgba",), *, mode: str = "clip",
                 stride: int | Sequence[int] = 1, point_tracks: bool = False, scenes: int | None = None,
                 camera: str | None = None) -> None:
        if torch is None:
            raise ImportError("TorchSceneDataset needs PyTorch: pip install 'scenesim[torch]' "
                              "(or use the numpy SceneDataset)")
        self.samples = SceneDataset(root, passes, mode=mode, stride=stride, point_tracks=point_tracks,
                                    scenes=scenes, camera=camera)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {k: _tensor(k, v) for k, v in self.samples[index].items()}
