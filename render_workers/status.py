"""``scenesim status DIR``: a job's progress from its directory (complete scenes on disk) and its
job log (failures, timings, the last run's rate)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from render_workers import jobdir
from render_workers.joblog import read_log
from render_workers.progress import format_duration


@dataclass(frozen=True)
class JobStatus:
    """total/done: scenes in the job / complete on disk. failed: scene -> last error, for scenes
    not complete whose last attempt failed every retry. remaining: total − done − failed.
    mean_scene_s: mean worker seconds per rendered scene (None before the first). rate_per_h: scenes
    per hour over the last run's wall time. eta_s: seconds to render the remaining scenes at that
    rate (None when none remain; failed scenes are not counted: a resume retries them).
    running_pid: the pid of the run in progress, if any."""

    out: Path
    total: int
    done: int
    failed: dict[str, str] = field(default_factory=dict)
    mean_scene_s: float | None = None
    rate_per_h: float | None = None
    eta_s: float | None = None
    running_pid: int | None = None

    @property
    def remaining(self) -> int:
        return self.total - self.done - len(self.failed)


def _last_run(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    starts = [i for i, r in enumerate(records) if r["event"] == "run_start"]
    return records[starts[-1]:] if starts else []


def job_status(out: Path) -> JobStatus:
    """The status of the job in ``out`` (``OutputError`` if it is not a job directory)."""
    out = Path(out)
    spec = jobdir.load_job(out)
    total = spec.scenes
    missing = {spec.scene_names()[i] for i in jobdir.missing(spec)}
    done = total - len(missing)
    records = read_log(out)
    failed: dict[str, str] = {}
    for r in records:
        if r["event"] == "scene_failed" and r["scene"] in missing:
            failed[r["scene"]] = r["error"]
        elif r["event"] == "scene_done":
            failed.pop(r["scene"], None)
    seconds = [r["seconds"] for r in records if r["event"] == "scene_done" and "seconds" in r]
    mean = sum(seconds) / len(seconds) if seconds else None
    run = _last_run(records)
    rendered = sum(1 for r in run if r["event"] == "scene_done")
    rate = eta = None
    if rendered:
        elapsed = run[-1]["time"] - run[0]["time"]
        rate = rendered / elapsed * 3600 if elapsed > 0 else None
    left = total - done - len(failed)
    if left and rate:
        eta = left / rate * 3600
    elif left and mean is not None and run:
        eta = left * mean / max(1, run[0].get("workers") or 1)
    return JobStatus(out, total, done, failed, mean, rate, eta, jobdir.running_pid(out))


def format_status(status: JobStatus) -> str:
    """Human-readable lines: counts, timing, failures (at most 10 listed)."""
    state = f"running (pid {status.running_pid})" if status.running_pid else "not running"
    lines = [f"{status.out}: {status.done}/{status.total} scenes done, {len(status.failed)} failed, "
             f"{status.remaining} remaining; {state}"]
    timing = []
    if status.mean_scene_s is not None:
        timing.append(f"mean {format_duration(status.mean_scene_s)} per scene")
    if status.rate_per_h is not None:
        timing.append(f"{status.rate_per_h:.0f} scenes/h in the last run")
    if status.eta_s is not None and status.remaining:
        timing.append(f"ETA {format_duration(status.eta_s)}")
    if timing:
        lines.append(", ".join(timing))
    for name, error in list(status.failed.items())[:10]:
        lines.append(f"failed {name}: {error}")
    if len(status.failed) > 10:
        lines.append(f"… and {len(status.failed) - 10} more failed scenes (see job_log.jsonl)")
    if status.failed and not status.running_pid:
        lines.append(f"'scenesim resume {status.out}' retries the failed scenes")
    return "\n".join(lines)
