"""Soak: a long job of tiny scenes, and the figures of its workers' memory and file descriptors.

    python -m bench.soak --out /tmp/soak              # 1000 scenes: 16², 2 frames, 1 sample, 2 workers

renders the job with workers never recycled (so a leak would show), then prints per worker process
the resident memory after each scene (``rss_mb`` of the job log's ``scene_done``) and the open file
descriptors (``fds``) over its scenes after the warm-up: min, max and the least-squares slope, and
the ``scenesim-*`` directories left in the system temp dir. ``soak_figures`` computes the same from
any job log (the CI soak test uses it on 30 scenes).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from render_workers.joblog import read_log

WARMUP = 10
"""Scenes per worker before its curve is judged: imports, Blender's first scene, caches filling."""


def soak_figures(records: list[dict[str, Any]], warmup: int = WARMUP) -> dict[int, dict[str, float]]:
    """Per worker pid, over its ``scene_done`` records in order after the first ``warmup``: ``scenes``
    (how many), ``first_rss_mb`` (after its first scene), ``rss_min_mb``, ``rss_max_mb``,
    ``rss_slope_mb_per_100`` (least squares against the worker's scene count), ``fds_min``,
    ``fds_max``. Workers with fewer than ``warmup + 2`` scenes are left out."""
    by_worker: dict[int, list[dict[str, Any]]] = {}
    for record in records:
        if record["event"] == "scene_done" and "rss_mb" in record:
            by_worker.setdefault(record["worker"], []).append(record)
    figures = {}
    for pid, done in by_worker.items():
        if len(done) < warmup + 2:
            continue
        after = done[warmup:]
        rss = np.array([r["rss_mb"] for r in after], dtype=float)
        fds = [r["fds"] for r in after]
        slope = np.polyfit(np.arange(len(rss), dtype=float), rss, 1)[0]
        figures[pid] = {"scenes": len(done), "first_rss_mb": done[0]["rss_mb"],
                        "rss_min_mb": float(rss.min()), "rss_max_mb": float(rss.max()),
                        "rss_slope_mb_per_100": float(slope * 100), "fds_min": min(fds), "fds_max": max(fds)}
    return figures


def leftover_temp_dirs(root: Path | None = None) -> list[str]:
    """``scenesim-*`` and ``blender_*`` entries in ``root`` (default: the system temp dir)."""
    root = Path(root) if root is not None else Path(tempfile.gettempdir())
    return sorted(p.name for p in root.iterdir() if p.name.startswith(("scenesim-", "blender_"))
                  and p.name != "scenesim-cores")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--scenes", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=WARMUP)
    args = parser.parse_args()
    if not (args.out / "job.json").exists():
        from render_workers.cli import main as scenesim

        scenesim(["render", "--recipe", "movi-a", "--scenes", str(args.scenes), "--resolution", "16",
                  "--frames", "2", "--samples", "1", "--workers", str(args.workers),
                  "--recycle-after", "1000000", "--out", str(args.out)])
    for pid, f in soak_figures(read_log(args.out), args.warmup).items():
        print(f"worker {pid}: {f['scenes']} scenes; RSS after the first {f['first_rss_mb']:.1f} MiB, after "
              f"{args.warmup}: min {f['rss_min_mb']:.1f} max {f['rss_max_mb']:.1f} MiB, slope "
              f"{f['rss_slope_mb_per_100']:+.3f} MiB/100 scenes; open fds {f['fds_min']}-{f['fds_max']}")
    print(f"temporary directories left: {leftover_temp_dirs() or 'none'}")


if __name__ == "__main__":
    main()
