"""A job's distributions from per-scene statistics (``sim.stats``): the JSON of ``scenesim stats
--json`` and its text summary.

``summarise(entries, directory, job)`` returns a JSON-ready dict (key ``stats_version``); per-scene
figures are described by ``describe`` (count, min, mean, median, max and a 20-bin histogram), pixel
quantities by percentiles read off the merged log histograms (``sim.stats.percentile``). Units:
pixels for flow and sizes, metres for depth and camera paths, degrees for camera rotation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sim.stats import FRACTION_BINS, HISTOGRAMS, STATS_VERSION, dense, percentile

HISTOGRAM_BINS = 20
FLOW_PERCENTILES = (50, 90, 95, 99)
DEPTH_PERCENTILES = (1, 50, 99)
SIZE_PERCENTILES = (5, 50, 95)


def describe(values: Sequence[float]) -> dict[str, Any] | None:
    """count, min, mean, median, max and ``histogram`` ({edges, counts}: 20 equal bins from min to
    max) of per-scene ``values``; None when there are none."""
    if not len(values):
        return None
    v = np.asarray(values, dtype=np.float64)
    lo, hi = float(v.min()), float(v.max())
    counts, edges = np.histogram(v, bins=HISTOGRAM_BINS, range=(lo, hi if hi > lo else lo + 1))
    return {"count": len(v), "min": lo, "mean": float(v.mean()), "median": float(np.median(v)), "max": hi,
            "histogram": {"edges": edges.tolist(), "counts": counts.tolist()}}


def _counts(values: Sequence[int]) -> dict[str, int]:
    """How many scenes have each integer value, keys ascending."""
    return {str(k): n for k, n in sorted(Counter(values).items())}


def _log_histogram(name: str, counts: np.ndarray) -> dict[str, list[float]]:
    """The nonzero span of a merged histogram: bin ``edges`` (len + 1; 0 and inf at the ends of
    the under- and overflow bins) and ``counts``."""
    bins, nonzero = HISTOGRAMS[name], np.flatnonzero(counts)
    if not len(nonzero):
        return {"edges": [], "counts": []}
    first, last = int(nonzero[0]), int(nonzero[-1])
    edges = [bins.bounds(i)[0] for i in range(first, last + 1)] + [bins.bounds(last)[1]]
    return {"edges": edges, "counts": counts[first:last + 1].tolist()}


def _pixels(name: str, stats: list[dict[str, Any]], quantiles: Sequence[int]) -> dict[str, Any] | None:
    """Merged statistics ``name`` (flow, depth or size_px) of the scenes that have them: ``count``
    values (pixels; instance-frames for sizes), their mean, min, max, percentiles and histogram, and
    ``per_scene`` descriptions of each scene's mean, min and max (a scene's speed, depth range)."""
    present = [s for s in stats if s is not None and s["count"]]
    if not present:
        return None
    bins = HISTOGRAMS[name]
    counts = sum(dense(s["histogram"], bins.size) for s in present)
    lo, hi = min(s["min"] for s in present), max(s["max"] for s in present)
    total = sum(s["count"] for s in present)
    return {"scenes": len(present), "count": total, "mean": sum(s["sum"] for s in present) / total,
            "min": lo, "max": hi,
            "percentiles": {f"p{q}": percentile(bins, counts, q, lo, hi) for q in quantiles},
            "histogram": _log_histogram(name, counts),
            "per_scene": {"mean": describe([s["sum"] / s["count"] for s in present]),
                          "min": describe([s["min"] for s in present]),
                          "max": describe([s["max"] for s in present])}}


def _visibility(entries: list[dict[str, Any]]) -> dict[str, Any]:
    per_instance = [v / e["frames"] for e in entries for v in e["visible_frames"] or []]
    fractions = [e["visible_fraction"] for e in entries if e["visible_fraction"] is not None]
    amodal = None
    if fractions:
        counts = np.sum(fractions, axis=0)
        amodal = {"scenes": len(fractions), "instance_frames": int(counts.sum()),
                  "histogram": {"edges": np.linspace(0, 1, FRACTION_BINS + 1).tolist(),
                                "counts": counts.tolist()}}
    return {"instances": len(per_instance), "never_visible": sum(1 for f in per_instance if f == 0),
            "frames_visible_fraction": describe(per_instance), "visible_fraction": amodal}


def _categories(entries: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for e in entries:
        seen = e["visible_frames"] or [0] * len(e["categories"])  # 0 where unknown (no visibility)
        for category, frames in zip(e["categories"], seen, strict=True):
            c = out.setdefault(category, {"instances": 0, "visible_instance_frames": 0})
            c["instances"] += 1
            c["visible_instance_frames"] += frames
    return dict(sorted(out.items(), key=lambda kv: (-kv[1]["instances"], kv[0])))


def _occlusion(entries: list[dict[str, Any]]) -> dict[str, Any] | None:
    present = [e["occlusion"] for e in entries if e["occlusion"] is not None]
    if not present:
        return None
    valid, occluded = sum(o["valid"] for o in present), sum(o["occluded"] for o in present)
    return {"scenes": len(present), "valid_pixels": valid, "occluded_pixels": occluded,
            "rate": occluded / valid if valid else None,
            "per_scene": describe([o["occluded"] / o["valid"] for o in present if o["valid"]])}


def summarise(entries: list[dict[str, Any]], directory: Path,
              job: dict[str, Any] | None = None) -> dict[str, Any]:
    """The job's distributions from per-scene ``entries`` (``sim.stats.scene_stats``). ``job``:
    ``{"total", "failed" (scene -> error), "remaining", "running"}`` of a job directory, or None."""
    passes = sorted({p for e in entries for p in e["passes"]})
    return {
        "stats_version": STATS_VERSION,
        "directory": str(directory),
        "scenes": {"complete": len(entries), "total": job["total"] if job else None,
                   "failed": len(job["failed"]) if job else None,
                   "remaining": job["remaining"] if job else None,
                   "running": job["running"] if job else None},
        "failed": dict(job["failed"]) if job else {},
        "frames": sum(e["frames"] for e in entries),
        "resolutions": _counts(["x".join(map(str, e["resolution"])) for e in entries]),
        "missing_passes": {p: sum(1 for e in entries if p not in e["passes"]) for p in passes
                           if any(p not in e["passes"] for e in entries)},
        "objects_per_scene": {**describe([e["objects"] for e in entries]),
                              "counts": _counts([e["objects"] for e in entries])},
        "instances_per_scene": {**describe([e["instances"] for e in entries]),
                                "counts": _counts([e["instances"] for e in entries])},
        "categories": _categories(entries),
        "visibility": _visibility(entries),
        "object_size_px": _pixels("size_px", [e["size_px"] for e in entries], SIZE_PERCENTILES),
        "occlusion": _occlusion(entries),
        "flow": _pixels("flow", [e["flow"] for e in entries], FLOW_PERCENTILES),
        "depth": _pixels("depth", [e["depth"] for e in entries], DEPTH_PERCENTILES),
        "collisions_per_scene": describe([e["collisions"] for e in entries]),
        "camera": {"path_m": describe([e["camera"]["path_m"] for e in entries]),
                   "rotation_deg": describe([e["camera"]["rotation_deg"] for e in entries]),
                   "static_scenes": sum(1 for e in entries
                                        if e["camera"]["path_m"] == 0 and e["camera"]["rotation_deg"] == 0)}}


def _range(d: dict[str, Any] | None, unit: str = "", fmt: str = ".3g") -> str:
    if d is None:
        return "n/a"
    return f"{d['min']:{fmt}}–{d['max']:{fmt}}{unit} (mean {d['mean']:{fmt}}, median {d['median']:{fmt}})"


def _percentiles(d: dict[str, float], unit: str) -> str:
    return ", ".join(f"{k} {v:.3g}{unit}" for k, v in d.items())


def format_summary(s: dict[str, Any]) -> str:
    """The short text summary of ``summarise``'s result."""
    sc = s["scenes"]
    job = ""
    if sc["total"] is not None:
        state = "running" if sc["running"] else "not running"
        job = f" of {sc['total']} ({sc['failed']} failed, {sc['remaining']} remaining; {state})"
    lines = [f"{s['directory']}: {sc['complete']} complete scenes{job}, {s['frames']} frames, "
             f"resolution {', '.join(s['resolutions'])}"]
    for name, error in list(s["failed"].items())[:10]:
        lines.append(f"  failed {name}: {error}")
    if len(s["failed"]) > 10:
        lines.append(f"  … and {len(s['failed']) - 10} more failed scenes")
    if s["missing_passes"]:
        lines.append("missing passes: " + ", ".join(f"{p} in {n} scenes"
                                                    for p, n in s["missing_passes"].items()))
    lines.append(f"objects per scene: {_range(s['objects_per_scene'])}; "
                 f"instances per scene: {_range(s['instances_per_scene'])}")
    cats = s["categories"]
    total = sum(c["instances"] for c in cats.values()) or 1
    lines.append(f"categories ({len(cats)}): " + ", ".join(
        f"{k} {c['instances']} ({100 * c['instances'] / total:.0f}%)" for k, c in list(cats.items())[:12])
        + (" …" if len(cats) > 12 else ""))
    vis = s["visibility"]
    lines.append(f"visibility: {vis['never_visible']} of {vis['instances']} instances never visible; "
                 "fraction of frames visible per instance "
                 f"{_range(vis['frames_visible_fraction'], '', '.2f')}")
    if vis["visible_fraction"]:
        histogram = vis["visible_fraction"]["histogram"]
        counts, edges = histogram["counts"], histogram["edges"]
        half = sum(c for c, e in zip(counts, edges, strict=False) if e < 0.5) / max(1, sum(counts))
        lines.append(f"visible fraction (visible / amodal pixels): {100 * half:.0f}% of instance-frames "
                     "less than half visible")
    if s["object_size_px"]:
        lines.append(f"object size (visible px per instance-frame): "
                     f"{_percentiles(s['object_size_px']['percentiles'], ' px')}")
    occ = s["occlusion"]
    if occ is None or occ["rate"] is None:
        lines.append("occlusion: n/a (no forward flow masks, or no valid flow)")
    else:
        lines.append(f"occlusion: {100 * occ['rate']:.1f}% of valid forward-flow pixels occluded in the next "
                     f"frame (per scene {_range(occ['per_scene'], '', '.2f')})")
    flow, depth = s["flow"], s["depth"]
    lines.append("forward flow magnitude: " + ("n/a (pass missing)" if flow is None else
                 f"{_percentiles(flow['percentiles'], ' px')}, max {flow['max']:.3g} px; mean per scene "
                 f"{_range(flow['per_scene']['mean'], ' px')}"))
    lines.append("depth: " + ("n/a (pass missing)" if depth is None else
                 f"{_percentiles(depth['percentiles'], ' m')}, min {depth['min']:.3g}, "
                 f"max {depth['max']:.3g} m; nearest per scene {_range(depth['per_scene']['min'], ' m')}"))
    lines.append(f"collisions per scene: {_range(s['collisions_per_scene'])}")
    cam = s["camera"]
    lines.append(f"camera: path {_range(cam['path_m'], ' m')}; rotation {_range(cam['rotation_deg'], '°')}; "
                 f"{cam['static_scenes']} static")
    return "\n".join(lines)


def job_stats(directory: Path, cache_dir: Path, job: dict[str, Any] | None = None
              ) -> tuple[dict[str, Any], int]:
    """The summary of the complete scenes in ``directory`` (a job directory, a directory of scenes
    or one scene), with per-scene statistics cached in ``cache_dir`` (``sim.stats.StatsCache``);
    also how many scenes were read now (the rest came from the cache)."""
    from sim.io import find_scenes
    from sim.stats import StatsCache

    entries, computed = StatsCache(cache_dir).update(find_scenes(directory))
    return summarise(entries, directory, job), computed
