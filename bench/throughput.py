"""Throughput of whole jobs through the ``scenesim render`` command (a subprocess per run): worker
scaling, and the per-scene cost of a small against a large job.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from render_workers.joblog import LOG_FILE

RECIPE = "movi-a"


def render_job(args: list[str], out: Path, log_path: Path) -> tuple[float, list[float]]:
    """Runs ``scenesim render --recipe movi-a --out OUT ARGS`` in a new process; returns its wall
    seconds (process start to exit) and each scene's seconds in its worker (from the job log). The
    output is deleted afterwards. Raises RuntimeError if the command fails."""
    cmd = [sys.executable, "-m", "render_workers.cli", "render", "--recipe", RECIPE, "--out", str(out), *args]
    with open(log_path, "a") as log:
        start = time.perf_counter()
        done = subprocess.run(cmd, stdout=log, stderr=log)
        wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[2:])} failed (exit {done.returncode}); see {log_path}")
    records = [json.loads(line) for line in (out / LOG_FILE).read_text().splitlines()]
    shutil.rmtree(out)
    return wall, [r["seconds"] for r in records if r["event"] == "scene_done"]


def run_workers(scenes: int, resolution: int, frames: int, repeats: int, work: Path,
                log_path: Path) -> dict[str, Any]:
    """Renders the same job of ``scenes`` movi-a scenes (default settings) with 1 local worker, 2
    local workers (with the pool's default threads, and with as many Cycles threads as cores each)
    and 2 Ray workers (when ``ray`` is installed), ``repeats`` times interleaved.

    Returns per run kind (``local_1``, ``local_2``, ``local_2_all_threads``, ``ray_2``): ``wall_s``
    (median) and ``scenes_per_min``; ``workers_2v1``, ``workers_2v1_all_threads`` and ``ray_2v1`` =
    throughput of that kind / ``local_1`` (wall ratio; None without Ray), each the median of the
    ratios within a repeat.
    """
    kinds = {"local_1": ["--workers", "1"], "local_2": ["--workers", "2"],
             "local_2_all_threads": ["--workers", "2", "--threads", str(os.cpu_count() or 1)]}
    if importlib.util.find_spec("ray") is not None:
        kinds["ray_2"] = ["--backend", "ray", "--workers", "2"]
    job = ["--scenes", str(scenes), "--resolution", str(resolution), "--frames", str(frames)]
    walls: dict[str, list[float]] = {k: [] for k in kinds}
    for r in range(repeats):
        for kind, args in kinds.items():
            walls[kind].append(render_job(job + args, work / f"{kind}_{r}", log_path)[0])
    out: dict[str, Any] = {"scenes": scenes, "resolution": resolution, "frames": frames}
    for kind, values in walls.items():
        wall = statistics.median(values)
        out[kind] = {"wall_s": wall, "scenes_per_min": 60 * scenes / wall}
    for key, kind in (("workers_2v1", "local_2"), ("workers_2v1_all_threads", "local_2_all_threads"),
                      ("ray_2v1", "ray_2")):
        out[key] = statistics.median(a / b for a, b in zip(walls["local_1"], walls[kind], strict=True)) \
            if kind in walls else None
    return out


def run_scaling(counts: tuple[int, int], resolution: int, frames: int, work: Path,
                log_path: Path) -> dict[str, Any]:
    """Renders ``counts[0]`` and then ``counts[1]`` tiny movi-a scenes (4 spp, 1 worker).

    Returns per count: ``wall_s``, ``wall_per_scene_s`` (wall / scenes: start-up amortised) and
    ``median_scene_s`` (median of the scenes' seconds in the worker); ``per_scene_ratio`` =
    ``median_scene_s`` of the large job / the small one (1.0: a scene costs the same however many
    there are) and ``marginal_scene_s`` = (wall large − wall small) / (large − small).
    """
    small, large = counts
    out: dict[str, Any] = {"resolution": resolution, "frames": frames}
    for n in counts:
        args = ["--scenes", str(n), "--resolution", str(resolution), "--frames", str(frames),
                "--samples", "4", "--workers", "1"]
        wall, seconds = render_job(args, work / f"scaling_{n}", log_path)
        out[str(n)] = {"wall_s": wall, "wall_per_scene_s": wall / n,
                       "median_scene_s": statistics.median(seconds)}
    out["per_scene_ratio"] = out[str(large)]["median_scene_s"] / out[str(small)]["median_scene_s"]
    out["marginal_scene_s"] = (out[str(large)]["wall_s"] - out[str(small)]["wall_s"]) / (large - small)
    return out
