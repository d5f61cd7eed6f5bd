"""Per-scene statistics of rendered scene directories, cached so a running job is re-read cheaply.

``scene_stats(path)`` reads one complete scene directory through ``sim.io`` (``read_metadata``,
``load_scene`` with only the passes it needs, a few frames at a time) and returns a JSON-ready dict:

- ``objects``, ``instances`` (non-background objects), ``categories`` (per instance), ``frames``;
- ``visible_frames`` per instance (frames with a visible pixel, from metadata ``visibility``; None
  when the scene has no visibility, rendered without segmentation);
  ``visible_fraction``: counts in ``FRACTION_BINS`` equal bins over [0, 1] of metadata's
  per-instance, per-frame ``visible_fraction`` (visible / amodal pixels) when the scene has it
  (the ``amodal`` pass), else None;
- ``size_px``: {count, sum, min, max, histogram} of visible pixel counts over (instance, frame)
  pairs where visible (None without visibility);
- ``occlusion``: {``valid``, ``occluded``} pixel counts of the forward flow masks (a pixel is
  occluded when its point is hidden or out of view in frame t+1), None without those passes;
- ``flow``: {count, sum, min, max, histogram} of forward flow magnitudes (px) where finite;
- ``depth``: {count, min, max, histogram} of finite depth (m);
- ``collisions``: entries of ``events.json``; ``camera``: {``path_m``: summed distance between
  consecutive camera positions, ``rotation_deg``: summed rotation angle between consecutive
  camera orientations};
- ``passes``: the passes the scene has (a statistic whose pass is missing is None).

Histograms have fixed logarithmic bins (``LogBins``), stored sparse, so scenes merge by addition
and percentiles are read off the merged counts (interpolated geometrically inside a bin, within a
bin's width of the exact value: 7.5% for flow and depth, 15.5% for sizes; clamped to the exact
minimum and maximum; a percentile in the bin below the first edge (0.001 px, 1 mm, 1 px) reads
as the minimum).

``StatsCache`` keeps one JSON line per scene in ``OUT/scene_stats.jsonl``, keyed by the scene's
``metadata.json`` (size, modification time, inode) and ``STATS_VERSION``: a re-run reads only new or
re-rendered scenes. ``sim.stats_summary`` turns the entries into the job's distributions.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sim.errors import OutputError
from sim.io import load_scene, read_metadata

STATS_VERSION = 1
"""Version of a cached per-scene entry; entries of another version are recomputed."""
CACHE_FILE = "scene_stats.jsonl"
FRAME_CHUNK = 8
"""Frames decoded at once per scene (bounds memory: 8 × H × W × 14 bytes for the passes read)."""
PIXEL_PASSES = ("forward_flow", "depth", "forward_flow_valid", "forward_occluded")


@dataclass(frozen=True)
class LogBins:
    """Bins [0, 10^lo), then ``per_decade`` logarithmic bins per decade up to 10^hi, then
    [10^hi, inf): ``len(edges) + 1`` bins in all."""

    lo: int
    hi: int
    per_decade: int

    @property
    def edges(self) -> np.ndarray:
        return 10.0 ** np.linspace(self.lo, self.hi, (self.hi - self.lo) * self.per_decade + 1)

    @property
    def size(self) -> int:
        return len(self.edges) + 1

    def counts(self, values: np.ndarray) -> np.ndarray:
        """int64 counts per bin of ``values`` (finite, >= 0)."""
        index = np.searchsorted(self.edges, np.ravel(values), side="right")
        return np.bincount(index, minlength=self.size).astype(np.int64)

    def bounds(self, i: int) -> tuple[float, float]:
        """(lower, upper) edge of bin ``i``."""
        edges = self.edges
        return (0.0 if i == 0 else edges[i - 1], math.inf if i == len(edges) else edges[i])


HISTOGRAMS = {
    "flow": LogBins(-3, 4, 32),       # pixels
    "depth": LogBins(-3, 5, 32),      # metres
    "size_px": LogBins(0, 8, 16),     # visible pixels of an instance in a frame
}
FRACTION_BINS = 20
"""``visible_fraction`` histograms: 20 equal bins over [0, 1] (1.0 in the last)."""


def sparse(counts: np.ndarray) -> dict[str, list[int]]:
    """``{"index": [...], "count": [...]}`` of the nonzero bins."""
    index = np.flatnonzero(counts)
    return {"index": index.tolist(), "count": counts[index].tolist()}


def dense(entry: dict[str, list[int]], size: int) -> np.ndarray:
    out = np.zeros(size, dtype=np.int64)
    np.add.at(out, np.asarray(entry["index"], dtype=np.int64), np.asarray(entry["count"], dtype=np.int64))
    return out


def percentile(bins: LogBins, counts: np.ndarray, q: float, lo: float, hi: float) -> float:
    """The ``q``-th percentile (0…100) of values histogrammed as ``counts`` in ``bins`` whose exact
    minimum and maximum are ``lo`` and ``hi`` (geometric interpolation inside a bin)."""
    total = int(counts.sum())
    cumulative = np.cumsum(counts)
    target = q / 100 * total
    i = int(np.searchsorted(cumulative, target, side="left"))
    i = min(i, len(counts) - 1)
    before = cumulative[i - 1] if i else 0
    f = (target - before) / counts[i] if counts[i] else 1.0
    if i == 0:
        return float(lo)  # below the first edge: read as the minimum (within 10^bins.lo of it)
    a, b = bins.bounds(i)
    a, b = max(a, lo), min(b, hi)
    return float(min(max(a * (b / a) ** f, lo), hi))


def _rotation_deg(quaternions: np.ndarray) -> float:
    """Summed angle (degrees) between consecutive unit quaternions (F, 4)."""
    q = np.asarray(quaternions, dtype=np.float64)
    if len(q) < 2:
        return 0.0
    dots = np.clip(np.abs(np.sum(q[1:] * q[:-1], axis=1)), 0.0, 1.0)
    return float(np.degrees(2 * np.arccos(dots)).sum())


def _camera(metadata: dict[str, Any]) -> dict[str, float]:
    camera = metadata["camera"]
    positions = np.asarray(camera["position"], dtype=np.float64)
    path = float(np.linalg.norm(np.diff(positions, axis=0), axis=1).sum()) if len(positions) > 1 else 0.0
    return {"path_m": path, "rotation_deg": _rotation_deg(camera["quaternion"])}


class _Accumulator:
    """Counts, sums, extremes and a histogram of one pixel quantity over a scene's frames."""

    def __init__(self, bins: LogBins) -> None:
        self.bins, self.count, self.sum = bins, 0, 0.0
        self.min, self.max = math.inf, -math.inf
        self.counts = np.zeros(bins.size, dtype=np.int64)

    def add(self, values: np.ndarray) -> None:
        if values.size:
            self.count += int(values.size)
            self.sum += float(values.sum(dtype=np.float64))
            self.min, self.max = min(self.min, float(values.min())), max(self.max, float(values.max()))
            self.counts += self.bins.counts(values)

    def to_dict(self) -> dict[str, Any]:
        empty = self.count == 0
        return {"count": self.count, "sum": self.sum, "min": None if empty else self.min,
                "max": None if empty else self.max, "histogram": sparse(self.counts)}


def _instance_stats(metadata: dict[str, Any]) -> dict[str, Any]:
    instances = metadata["instances"]
    seen = all("visibility" in inst for inst in instances)  # not without the segmentation pass
    pixels = np.array([v for inst in instances for v in inst.get("visibility", [])], dtype=np.float64)
    size = _Accumulator(HISTOGRAMS["size_px"])
    size.add(pixels[pixels > 0])
    fractions = [f for inst in instances for f in inst.get("visible_fraction") or [] if f is not None]
    has_fraction = bool(instances) and all("visible_fraction" in inst for inst in instances)
    fraction_counts = np.histogram(fractions, bins=FRACTION_BINS, range=(0.0, 1.0))[0]
    return {
        "instances": len(instances),
        "objects": len(instances) + len(metadata.get("background_objects", [])),
        "categories": [inst.get("category") or inst.get("asset", "?") for inst in instances],
        "visible_frames": ([sum(1 for v in inst["visibility"] if v > 0) for inst in instances]
                           if seen else None),
        "visible_fraction": fraction_counts.tolist() if has_fraction else None,
        "size_px": size.to_dict() if seen else None,
    }


def _pixel_stats(path: Path, frames: int, available: Sequence[str]) -> dict[str, Any]:
    """Flow, depth and occlusion statistics from the passes in ``available``, decoded
    ``FRAME_CHUNK`` frames at a time."""
    wanted = [p for p in PIXEL_PASSES if p in available]
    flow, depth = _Accumulator(HISTOGRAMS["flow"]), _Accumulator(HISTOGRAMS["depth"])
    valid = occluded = 0
    for start in range(0, frames if wanted else 0, FRAME_CHUNK):
        data = load_scene(path, passes=wanted, frames=range(start, min(frames, start + FRAME_CHUNK)))
        if "forward_flow" in data:
            magnitude = np.linalg.norm(data["forward_flow"].astype(np.float64), axis=-1)
            flow.add(magnitude[np.isfinite(magnitude)])
        if "depth" in data:
            d = data["depth"]
            depth.add(d[np.isfinite(d)])
        if "forward_flow_valid" in data and "forward_occluded" in data:
            mask = data["forward_flow_valid"]
            valid += int(mask.sum())
            occluded += int((mask & data["forward_occluded"]).sum())
    has_masks = "forward_flow_valid" in available and "forward_occluded" in available
    return {"flow": flow.to_dict() if "forward_flow" in available else None,
            "depth": depth.to_dict() if "depth" in available else None,
            "occlusion": {"valid": valid, "occluded": occluded} if has_masks else None}


def scene_stats(path: Path) -> dict[str, Any]:
    """The statistics of the complete scene directory ``path`` (module docstring)."""
    path = Path(path)
    metadata = read_metadata(path)
    frames = int(metadata["scene"]["frames"])
    available = list(metadata.get("passes", []))
    events = json.loads((path / "events.json").read_text())
    return {"scene": path.name, "frames": frames, "resolution": metadata["scene"]["resolution"],
            "passes": available, **_instance_stats(metadata), **_pixel_stats(path, frames, available),
            "collisions": len(events), "camera": _camera(metadata)}


def cache_key(path: Path) -> list[int]:
    """What identifies a scene directory's content: its ``metadata.json``'s size, modification time
    (ns) and inode (a re-rendered scene has a new file), and ``STATS_VERSION``."""
    st = (Path(path) / "metadata.json").stat()
    return [STATS_VERSION, st.st_size, st.st_mtime_ns, st.st_ino]


class StatsCache:
    """Per-scene statistics cached in ``directory/scene_stats.jsonl`` (one JSON line per scene)."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / CACHE_FILE
        self.entries: dict[str, dict[str, Any]] = {}
        if self.path.is_file():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by an interrupted run
                if isinstance(record, dict) and "scene" in record:
                    self.entries[record["scene"]] = record

    def update(self, scenes: Iterable[Path]) -> tuple[list[dict[str, Any]], int]:
        """The statistics of ``scenes`` (complete scene directories, in order) and how many were
        computed now (the others came from the cache); rewrites the cache without stale lines."""
        out, new, kept = [], [], {}
        for path in scenes:
            key = cache_key(path)
            record = self.entries.get(path.name)
            if record is None or record.get("key") != key:
                record = {"scene": path.name, "key": key, "stats": scene_stats(path)}
                new.append(record)
            kept[path.name] = record
            out.append(record["stats"])
        stale = len(self.entries) + len(new) - len(kept)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if stale:
                tmp = self.path.with_name(CACHE_FILE + ".tmp")
                tmp.write_text("".join(json.dumps(r) + "\n" for r in kept.values()), encoding="utf-8")
                os.replace(tmp, self.path)
            elif new:
                with self.path.open("a", encoding="utf-8") as f:
                    f.writelines(json.dumps(r) + "\n" for r in new)
        except OSError as e:
            raise OutputError(f"{self.path}: cannot be written ({e.strerror}); choose another "
                              "--out") from None
        self.entries = kept
        return out, len(new)
