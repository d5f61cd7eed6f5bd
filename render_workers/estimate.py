"""``scenesim estimate``: wall time, core-hours, disk bytes and file count of a job before it runs.

The figures come from measured scenes: a few sample scenes of the job rendered into a temporary
directory (the job's first K scenes, with its settings, by the same ``run_job`` that renders jobs;
removed afterwards), or the job log of a finished job (``--from JOB``). From each rendered scene's
``scene_done`` record (``render_workers.joblog``):

- cost in core-seconds: wall seconds in the worker × the Cycles threads the worker had. The model
  assumes throughput per core does not depend on how cores are split into workers × threads
  (measured: 2 one-thread workers render 1.03× as many scenes as one two-thread worker, README,
  Performance);
- size in bytes, and the files of its directory (counted on disk);
- a run's fixed overhead in seconds: from ``run_start`` to the first ``scene_start`` (validation
  done, workers importing Blender) plus from the last ``scene_done`` to ``run_end``.

For N scenes on C cores in W workers: wall = overhead + Σ cost / C × ⌈N/W⌉·W/N (the last round of
scenes may leave workers idle: 3 scenes on 512 one-core workers take one scene's time, not 3/512
of it); core-hours = wall × C / 3600 (the cores the job holds); disk and files = Σ per scene (plus
the job's own few files).

Ranges are 90% prediction intervals for a sum of N scenes drawn like the K measured ones:
N·mean ± t(0.95, K−1)·sd·√(N + N²/K) (Student's t, sd with K−1 degrees of freedom), clipped at the
overhead or 0; a single sample gives no range. A busy machine inflates the measured times (the
load average is reported with them).
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from render_workers import jobdir
from render_workers.job import JOB_FILE, JobSpec
from render_workers.joblog import read_log
from render_workers.options import RunOptions
from render_workers.progress import format_duration
from sim.errors import OutputError
from sim.processes import available_cores

JOB_FILES = 4
"""Files of a job directory besides its scenes: job.json, job_log.jsonl, blender.log, the lock."""
MAX_COUNTED_SCENES = 200
"""At most this many scene directories of a finished job are listed to count files per scene."""
_T95 = (6.314, 2.920, 2.353, 2.132, 2.015, 1.943)
"""Student's t 0.95 quantiles for 1…6 degrees of freedom (a Cornish-Fisher series beyond)."""


def t_quantile_95(df: int) -> float:
    """Student's t distribution's 0.95 quantile with ``df`` >= 1 degrees of freedom (the half-width
    factor of a two-sided 90% interval); exact to 3 decimals for df <= 6, within 0.2% beyond."""
    if df <= len(_T95):
        return _T95[df - 1]
    z = 1.6448536
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


@dataclass(frozen=True)
class SceneCost:
    """One rendered scene: ``seconds`` wall time in its worker with ``threads`` Cycles threads,
    ``size_bytes`` of its directory, ``peak_rss_mb`` of its worker (None when not logged)."""

    scene: str
    seconds: float
    threads: int
    size_bytes: int
    peak_rss_mb: float | None = None

    @property
    def core_seconds(self) -> float:
        return self.seconds * self.threads


@dataclass(frozen=True)
class Measured:
    """What an estimate is made from: per-scene costs, the files of each measured scene directory,
    and a run's fixed overhead (seconds)."""

    costs: list[SceneCost]
    files_per_scene: list[int]
    overhead_s: float


def measured_from_log(records: Sequence[dict[str, Any]], files_per_scene: list[int]) -> Measured:
    """The costs in job log ``records`` (``read_log``): the last ``scene_done`` of each scene that
    rendered (Ray's duplicate ``skipped`` reports left out), with the threads of the run it belongs
    to; the overhead of the last run that rendered a scene. ``OutputError`` if no scene rendered."""
    threads, costs = 1, {}
    runs: list[list[dict[str, Any]]] = []
    for r in records:
        if r["event"] == "run_start":
            threads = int(r.get("threads") or 1)
            runs.append([])
        if runs:
            runs[-1].append(r)
        if r["event"] == "scene_done" and not r.get("skipped") and "seconds" in r:
            costs[r["scene"]] = SceneCost(r["scene"], float(r["seconds"]), threads,
                                          int(r.get("size_bytes", 0)), r.get("peak_rss_mb"))
    if not costs:
        raise OutputError("job log: no rendered scene (scene_done) in it; render some scenes first")
    overheads = [_overhead(run) for run in runs]
    overheads = [o for o in overheads if o is not None]
    return Measured(list(costs.values()), files_per_scene, overheads[-1] if overheads else 0.0)


def _overhead(run: list[dict[str, Any]]) -> float | None:
    """Seconds of a run not spent in scenes: start-up to the first dispatch plus the last scene's end
    to the run's end; None for a run without a rendered scene or without its end."""
    starts = [r["time"] for r in run if r["event"] == "scene_start"]
    dones = [r["time"] for r in run if r["event"] == "scene_done"]
    if not starts or not dones or run[-1]["event"] != "run_end":
        return None
    return max(0.0, starts[0] - run[0]["time"]) + max(0.0, run[-1]["time"] - dones[-1])


@dataclass(frozen=True)
class Range:
    """A predicted figure and its 90% interval (low == high when it cannot be given)."""

    value: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


def total_range(values: Sequence[float], n: int, floor: float = 0.0) -> Range:
    """The sum of ``n`` draws like ``values``: n·mean with a 90% prediction interval (module
    docstring), not below ``floor``."""
    k = len(values)
    mean = sum(values) / k
    value = n * mean
    if k < 2:
        return Range(value, value, value)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (k - 1))
    half = t_quantile_95(k - 1) * sd * math.sqrt(n + n * n / k)
    return Range(value, max(floor, value - half), value + half)


@dataclass(frozen=True)
class Estimate:
    """The prediction for ``scenes`` scenes on ``cores`` cores (``workers`` × ``threads``)."""

    scenes: int
    cores: int
    workers: int
    threads: int
    source: str
    samples: int
    wall_s: Range
    core_hours: Range
    disk_bytes: Range
    files: Range
    per_scene: dict[str, float]
    overhead_s: float
    peak_rss_mb: float | None
    load_average: tuple[float, float, float] | None

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        for key in ("wall_s", "core_hours", "disk_bytes", "files"):
            out[key] = getattr(self, key).to_dict()
        return out


def predict(measured: Measured, scenes: int, workers: int, threads: int, cores: int, source: str,
            load_average: tuple[float, float, float] | None = None) -> Estimate:
    """The figures of a job of ``scenes`` scenes run with ``workers`` × ``threads`` on ``cores``
    cores, from ``measured`` (module docstring)."""
    costs = measured.costs
    core_s = total_range([c.core_seconds for c in costs], scenes)
    overhead = measured.overhead_s
    rounds = math.ceil(scenes / workers) * workers / scenes  # the last round's idle workers
    wall = Range(*(overhead + v * rounds / cores for v in (core_s.value, core_s.low, core_s.high)))
    core_hours = Range(*(v * cores / 3600 for v in (wall.value, wall.low, wall.high)))
    disk = total_range([float(c.size_bytes) for c in costs], scenes)
    files = total_range([float(f) for f in measured.files_per_scene] or [0.0], scenes)
    files = Range(*(v + JOB_FILES for v in (files.value, files.low, files.high)))
    n = len(costs)
    per_scene = {
        "seconds_mean": sum(c.seconds for c in costs) / n,
        "core_seconds_mean": core_s.value / scenes,
        "core_seconds_min": min(c.core_seconds for c in costs),
        "core_seconds_max": max(c.core_seconds for c in costs),
        "size_bytes_mean": disk.value / scenes,
        "files_mean": (files.value - JOB_FILES) / scenes,
    }
    peaks = [c.peak_rss_mb for c in costs if c.peak_rss_mb is not None]
    return Estimate(scenes, cores, workers, threads, source, n, wall, core_hours, disk, files, per_scene,
                    overhead, max(peaks) if peaks else None, load_average)


def _bytes(value: float) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value:.0f} B"


def format_estimate(e: Estimate) -> str:
    """A few lines for the terminal: each figure with its range, then per-scene figures."""
    def line(label: str, r: Range, fmt: Any) -> str:
        span = "" if r.low == r.high else f"  ({fmt(r.low)} – {fmt(r.high)})"
        return f"  {label:<11}{fmt(r.value)}{span}"

    ps = e.per_scene
    load = f"; load average {e.load_average[0]:.2f} while measuring" if e.load_average else ""
    memory = f", peak {e.peak_rss_mb:.0f} MiB per worker" if e.peak_rss_mb is not None else ""
    return "\n".join([
        f"estimate for {e.scenes} scenes on {e.cores} cores ({e.workers} worker(s) × {e.threads} "
        f"thread(s)), from {e.samples} {e.source}; ranges are 90% intervals:",
        line("wall time", e.wall_s, format_duration),
        line("core-hours", e.core_hours, lambda v: f"{v:.3g}"),
        line("disk", e.disk_bytes, _bytes),
        line("files", e.files, lambda v: f"{v:.0f}"),
        f"  per scene  {ps['seconds_mean']:.1f} s wall, {ps['core_seconds_mean']:.1f} core-s (measured "
        f"{ps['core_seconds_min']:.1f}–{ps['core_seconds_max']:.1f}), {_bytes(ps['size_bytes_mean'])}, "
        f"{ps['files_mean']:.0f} files{memory}",
        f"  fixed      {format_duration(e.overhead_s)} per run (start-up){load}",
    ])


def target(options: RunOptions, cores: int | None) -> tuple[int, int, int]:
    """(workers, threads per worker, cores used) of the job to predict: ``cores`` cores when given (a
    machine or cluster of that size, ``options.threads`` or 1 thread per worker), else this machine
    run with ``options``."""
    if cores is not None:
        threads = options.threads or 1
        return max(1, cores // threads), threads, cores
    threads = options.worker_threads()
    return options.local_workers, threads, min(available_cores(), options.local_workers * threads)


def _files(scene_dirs: Sequence[Path]) -> list[int]:
    return [sum(1 for e in os.scandir(p) if e.is_file()) for p in scene_dirs]


def measure_samples(spec: JobSpec, samples: int, options: RunOptions) -> Measured:
    """Renders the first ``samples`` scenes of ``spec`` with ``options`` into a temporary directory
    (removed afterwards, also on error or Ctrl-C) and measures those that rendered. ``OutputError``
    when none did; KeyboardInterrupt passes through after the clean-up."""
    from render_workers.runner import EXIT_INTERRUPTED, run_job

    work = Path(tempfile.mkdtemp(prefix="scenesim-estimate-"))
    try:
        sample_spec = dataclasses.replace(spec, out=work / "job", scenes=min(samples, spec.scenes))
        workers = min(options.local_workers, sample_spec.scenes)
        status = run_job(sample_spec, dataclasses.replace(options, workers=workers))
        if status == EXIT_INTERRUPTED:
            raise KeyboardInterrupt
        done = [sample_spec.out / n for n in sample_spec.scene_names()
                if (sample_spec.out / n).is_dir()]
        if not done:
            raise OutputError("estimate: no sample scene rendered (the errors are above); fix the job "
                              "before estimating it")
        return measured_from_log(read_log(sample_spec.out), _files(done))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure_job(out: Path) -> tuple[JobSpec, Measured]:
    """The spec and the measured costs of the job in ``out`` (its log; files counted in up to
    ``MAX_COUNTED_SCENES`` of its complete scene directories)."""
    from sim.io import is_complete

    spec = jobdir.load_job(out)
    records = read_log(out)
    rendered = [r["scene"] for r in records if r["event"] == "scene_done"]
    complete = [Path(out) / n for n in dict.fromkeys(rendered) if is_complete(Path(out) / n)]
    try:
        return spec, measured_from_log(records, _files(complete[:MAX_COUNTED_SCENES]))
    except OutputError as e:
        raise OutputError(f"--from {out}: {e}") from None


def estimate_command(spec: JobSpec | None, from_job: Path | None, scenes: int | None, samples: int,
                     workers: int | None, threads: int | None, cores: int | None) -> Estimate:
    """``scenesim estimate``: measures (``samples`` sample scenes of ``spec`` rendered with the
    target's workers and threads, or with one worker on every core here when ``cores`` names
    another machine; or the job in ``from_job``) and returns the estimate for ``scenes`` scenes
    (default: the job's count) on the target."""
    options = RunOptions(workers=workers, threads=threads or 0)
    load = None
    if from_job is not None:
        if not (Path(from_job) / JOB_FILE).is_file():
            raise OutputError(f"--from {from_job}: no {JOB_FILE}, not a scenesim job directory")
        spec, measured = measure_job(Path(from_job))
        source = f"scene(s) in the log of {from_job}"
    else:
        measured = measure_samples(spec, samples, options if cores is None else RunOptions())
        source = "sample scene(s) rendered here"
        load = os.getloadavg()
    used_workers, used_threads, used_cores = target(options, cores)
    return predict(measured, scenes or spec.scenes, used_workers, used_threads, used_cores, source, load)
