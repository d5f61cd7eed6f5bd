"""The benchmark behind ``scenesim bench``: where the time of a scene goes, what bare Cycles needs for
the same frames, quality per time, ground-truth-only speed and job throughput.

Everything runs on the reference scene (``scenesim render --recipe movi-a --seed 0``'s scene, at the
configuration's resolution and frame count) on this machine, in this run: a figure is a median of
several runs and a ratio is taken against a baseline measured in the same run (in the same repeat
where runs are paired), so a slower or busier machine shifts both sides alike.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import imageio.v3 as iio
import numpy as np

from bench import bare_cycles
from bench.passes import format_passes, run_passes
from bench.quality import DEFAULT, KUBRIC_LIKE, run_quality
from bench.report import format_report, targets
from bench.throughput import run_scaling, run_workers
from render_workers.job import JobSpec
from sim.passes import DEFAULT_PASSES
from sim.physics import simulate
from sim.pipeline import STAGES, run_scene
from sim.render import blender_version, render, save_blend
from sim.scene import Scene
from sim.settings import RenderSettings


@dataclass(frozen=True)
class BenchConfig:
    """Sizes of one benchmark run. resolution (square, px), frames and repeats: the reference scene,
    timed ``repeats`` times per mode. quality_frames: frames of the reference scene at
    ``quality_resolution`` compared against a ``reference_samples``-spp render, each setting timed
    ``quality_repeats`` times. worker_*: the job rendered with 1 and 2 workers. scaling_counts: the
    small and large job of tiny scenes (``scaling_resolution`` px, ``scaling_frames`` frames)."""

    name: str
    resolution: int
    frames: int
    repeats: int
    quality_resolution: int
    quality_frames: tuple[int, ...]
    reference_samples: int
    quality_repeats: int
    worker_scenes: int
    worker_resolution: int
    worker_frames: int
    worker_repeats: int
    scaling_counts: tuple[int, int] = (10, 100)
    scaling_resolution: int = 32
    scaling_frames: int = 2


FULL = BenchConfig("full", 256, 24, 3, 256, (0, 12, 23), 1024, 3, 8, 128, 12, 2)
QUICK = BenchConfig("quick", 128, 8, 2, 256, (12,), 512, 2, 4, 64, 8, 1)


def reference_scene(resolution: int, frames: int) -> Scene:
    """The scene ``scenesim render --recipe movi-a --seed 0 --resolution R --frames F`` renders
    (fewer frames give the same first frames)."""
    spec = JobSpec(out=Path("."), recipe="movi-a", seed=0, resolution=(resolution, resolution), frames=frames)
    return spec.scene(0)


def machine() -> dict[str, Any]:
    """CPU model, cores, memory, OS, Python and Blender versions, and the load average now."""
    model = "unknown"
    if Path("/proc/cpuinfo").exists():
        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), model)
    memory_gib = None
    if Path("/proc/meminfo").exists():
        kib = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        memory_gib = round(kib / 2**20, 1)
    return {"cpu": model, "cores": os.cpu_count(), "memory_gib": memory_gib,
            "os": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
            "blender": blender_version(), "load_average_start": os.getloadavg()[0]}


def _progress(message: str) -> None:
    print(f"scenesim bench: {message}", file=sys.stderr, flush=True)


def run_stages(config: BenchConfig, scene: Scene, work: Path, log_path: Path) -> dict[str, Any]:
    """The reference scene with the default settings through ``run_scene`` (in this process, after a
    warm-up scene) and, paired with each run, the bare-Cycles script rendering the same frames and
    passes from ``save_blend``'s file.

    Returns ``stages_s`` (median seconds per ``sim.pipeline.STAGES`` key), ``total_s`` (median wall
    of ``run_scene``), ``bare_s`` (median wall of the bare frame loop), ``bare_rgb_s`` and
    ``bare_gt_s`` (its summed render calls), ``runs`` (per repeat: ``total_s``, ``bare_s``),
    ``overhead_ratio`` (median over repeats of total / bare of the same repeat: medians of totals
    and bare times from different repeats need not pair on a busy machine) and
    ``bare_max_abs_diff`` (largest RGB difference, 0-255, between the two renders of frame 0: 0 when
    the bare script renders the identical scene).
    """
    settings = RenderSettings()
    trajectory = simulate(scene)
    blend = work / "reference.blend"
    save_blend(scene, trajectory, settings, blend, log_path)
    run_scene(dataclasses.replace(scene, resolution=(16, 16), frames=2), settings, work, "warm_up",
              log_path=log_path)
    runs: list[dict[str, Any]] = []
    for r in range(config.repeats):
        _progress(f"stage timings and bare Cycles, run {r + 1}/{config.repeats}")
        start = time.perf_counter()
        result = run_scene(scene, settings, work, "scenesim", log_path=log_path, overwrite=True)
        total = time.perf_counter() - start
        bare = bare_cycles.run({"blend": str(blend), "out_dir": str(work), "scenes": ["rgb", "gt"],
                                "frames": list(range(scene.frames))}, log_path)
        runs.append({"timings": result.timings, "total": total, "bare": bare})
    ours = iio.imread(result.path / "rgba_00000.png").astype(int)
    theirs = iio.imread(work / "rgb_00000.png").astype(int)
    return {
        "stages_s": {k: statistics.median(run["timings"][k] for run in runs) for k in STAGES},
        "total_s": statistics.median(run["total"] for run in runs),
        "bare_s": statistics.median(run["bare"]["total_s"] for run in runs),
        "bare_rgb_s": statistics.median(sum(run["bare"]["render_s"]["rgb"]) for run in runs),
        "bare_gt_s": statistics.median(sum(run["bare"]["render_s"]["gt"]) for run in runs),
        "runs": [{"total_s": run["total"], "bare_s": run["bare"]["total_s"]} for run in runs],
        "overhead_ratio": statistics.median(run["total"] / run["bare"]["total_s"] for run in runs),
        "bare_max_abs_diff": int(np.abs(ours - theirs).max()),
    }


def run_gt_only(config: BenchConfig, scene: Scene, work: Path, log_path: Path) -> dict[str, Any]:
    """Ground truth only (the default passes without ``rgba``): ``fps`` = frames / median wall of
    ``run_scene`` (scene
    directory written: segmentation, depth, normals, object coordinates, flow), ``render_fps`` =
    frames / median wall of exhausting ``render`` (exact passes in memory, no annotation or files),
    and ``stages_s`` of the median-time run."""
    settings = RenderSettings(passes=tuple(p for p in DEFAULT_PASSES if p != "rgba"))
    trajectory = simulate(scene)
    walls, render_walls, timings = [], [], []
    for r in range(config.repeats):
        _progress(f"ground truth only, run {r + 1}/{config.repeats}")
        start = time.perf_counter()
        result = run_scene(scene, settings, work, "gt_only", log_path=log_path, overwrite=True)
        walls.append(time.perf_counter() - start)
        timings.append(result.timings)
        start = time.perf_counter()
        for _ in render(scene, trajectory, settings, log_path):
            pass
        render_walls.append(time.perf_counter() - start)
    middle = walls.index(statistics.median_high(walls))
    return {"fps": scene.frames / statistics.median(walls),
            "render_fps": scene.frames / statistics.median(render_walls),
            "stages_s": timings[middle]}


def run_benchmark(config: BenchConfig, json_path: Path | None = None) -> dict[str, Any]:
    """Runs every section of the benchmark, prints the report to stdout and returns the figures (also
    written to ``json_path`` as JSON when given). Top-level keys: ``overhead_ratio``,
    ``gt_only_fps``, ``workers_2v1``, ``kubric_like_psnr_db``, ``default_psnr_db``,
    ``default_time_ratio_vs_kubric_like``, ``scaling_per_scene_ratio`` (the scaling ratio), and the sections
    ``machine``, ``config``, ``stages``, ``quality``, ``gt_only``, ``workers``, ``scaling`` and
    ``targets``."""
    scene = reference_scene(config.resolution, config.frames)
    quality_scene = reference_scene(config.quality_resolution, max(config.quality_frames) + 1)
    figures: dict[str, Any] = {"machine": machine(), "config": dataclasses.asdict(config),
                               "settings": RenderSettings().to_dict()}
    with tempfile.TemporaryDirectory(prefix="scenesim-bench-") as tmp:
        work = Path(tmp)
        log_path = work / "blender.log"
        try:
            figures["stages"] = run_stages(config, scene, work, log_path)
            figures["gt_only"] = run_gt_only(config, scene, work, log_path)
            figures["passes"] = run_passes(scene, config.repeats, work, log_path)
            _progress(f"quality grid ({config.reference_samples}-spp reference first)")
            figures["quality"] = run_quality(quality_scene, simulate(quality_scene),
                                             list(config.quality_frames), config.reference_samples,
                                             config.quality_repeats, work / "quality", log_path)
            _progress("worker scaling")
            figures["workers"] = run_workers(config.worker_scenes, config.worker_resolution,
                                             config.worker_frames, config.worker_repeats, work, log_path)
            _progress("per-scene cost of a small and a large job")
            figures["scaling"] = run_scaling(config.scaling_counts, config.scaling_resolution,
                                             config.scaling_frames, work, log_path)
        except RuntimeError:
            kept = Path(tempfile.gettempdir(), f"scenesim-bench-{os.getpid()}.log")
            kept.write_bytes(log_path.read_bytes())
            _progress(f"failed; Blender's and the commands' output is in {kept}")
            raise
    figures["machine"]["load_average_end"] = os.getloadavg()[0]
    rows = {row["name"]: row for row in figures["quality"]["settings"]}
    figures.update({
        "overhead_ratio": figures["stages"]["overhead_ratio"],
        "gt_only_fps": figures["gt_only"]["fps"],
        "workers_2v1": figures["workers"]["workers_2v1"],
        "kubric_like_psnr_db": rows[KUBRIC_LIKE.name]["psnr_db"],
        "default_psnr_db": rows[DEFAULT.name]["psnr_db"],
        "default_time_ratio_vs_kubric_like": rows[DEFAULT.name]["time_vs_kubric_like"],
        "scaling_per_scene_ratio": figures["scaling"]["per_scene_ratio"],
        **pass_figures(figures["passes"]),
    })
    figures["targets"] = targets(figures)
    print(format_report(figures))
    if json_path is not None:
        Path(json_path).write_text(json.dumps(figures, indent=2, allow_nan=False) + "\n")
    return figures


def pass_figures(passes: dict[str, Any]) -> dict[str, float]:
    """The top-level keys of the passes section: ``labels_fps``, ``labels_ratio_vs_bare`` and
    ``labels_cpu_ratio_vs_bare`` (depth and segmentation only), ``all_ground_truth_fps`` and
    ``amodal_ms_per_instance_frame``."""
    return {"labels_fps": passes["labels"]["fps"], "labels_ratio_vs_bare": passes["labels"]["ratio_vs_bare"],
            "labels_cpu_ratio_vs_bare": passes["labels"]["cpu_ratio_vs_bare"],
            "all_ground_truth_fps": passes["all_ground_truth"]["fps"],
            "amodal_ms_per_instance_frame": passes["amodal_ms_per_instance_frame"]}


def run_passes_benchmark(config: BenchConfig, json_path: Path | None = None) -> dict[str, Any]:
    """Only the passes section (``scenesim bench --passes-only``): prints its report, returns its
    figures (also written to ``json_path``)."""
    scene = reference_scene(config.resolution, config.frames)
    figures: dict[str, Any] = {"machine": machine(), "config": dataclasses.asdict(config)}
    with tempfile.TemporaryDirectory(prefix="scenesim-bench-") as tmp:
        figures["passes"] = run_passes(scene, config.repeats, Path(tmp), Path(tmp) / "blender.log")
    figures["machine"]["load_average_end"] = os.getloadavg()[0]
    figures.update(pass_figures(figures["passes"]))
    m = figures["machine"]
    print(f"scenesim bench ({config.name}, passes only): movi-a seed 0, medians of {config.repeats} runs; "
          f"{m['cpu']}, {m['cores']} cores; load average {m['load_average_start']:.1f} -> "
          f"{m['load_average_end']:.1f}")
    print("\n".join(format_passes(figures["passes"])))
    if json_path is not None:
        Path(json_path).write_text(json.dumps(figures, indent=2, allow_nan=False) + "\n")
    return figures
