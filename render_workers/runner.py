"""Running a job: validate everything, take the job directory, render what is missing on the
chosen backend, log and report, and say with the exit code whether the job is complete."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path

from render_workers import jobdir
from render_workers.job import JobSpec
from render_workers.joblog import JobLog
from render_workers.options import RunOptions
from render_workers.progress import Reporter, format_duration
from render_workers.shard_layout import ShardPacker

EXIT_COMPLETE = 0
EXIT_INCOMPLETE = 1
"""Some scenes failed every attempt: ``scenesim resume`` retries them."""
EXIT_INTERRUPTED = 130


def run_job(spec: JobSpec, options: RunOptions, *, restart: bool = False) -> int:
    """Renders the scenes of ``spec`` that are not complete in ``spec.out`` and returns the exit
    code: 0 when every scene of the job is complete, 1 when some failed, 130 on Ctrl-C or SIGTERM.

    The spec, options and backend are checked before anything is written (``SceneSimError``).
    A directory holding another job is refused unless ``restart`` (which deletes its scenes)."""
    spec.validate()
    options.check_backend()
    out = Path(spec.out)
    with jobdir.locked(out):
        removed = jobdir.prepare(spec, restart=restart)
        packer = ShardPacker(out, spec.shard_size) if spec.layout == "shards" else None
        if packer is not None:
            packer.recover()
        todo = jobdir.missing(spec)
        with JobLog(out) as log:
            reporter = Reporter(log, spec.scenes, spec.scenes - len(todo),
                                on_done=packer.add if packer is not None else None)
            log.write("run_start", pid=os.getpid(), total=spec.scenes, todo=len(todo), removed=removed,
                      **{**options.to_dict(), "threads": options.worker_threads()})
            start, interrupted = time.monotonic(), False
            try:
                with _sigterm_interrupts():
                    _render(spec, todo, options, reporter)
            except KeyboardInterrupt:
                interrupted = True
            finally:
                reporter.close()
                if packer is not None:
                    packer.close()
                remaining = len(jobdir.missing(spec))
                log.write("run_end", done=spec.scenes - remaining, failed=len(reporter.failures),
                          remaining=remaining, seconds=round(time.monotonic() - start, 3),
                          interrupted=interrupted)
    return _summary(spec, reporter, remaining, time.monotonic() - start, interrupted)


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM (a batch scheduler's stop, ``kill``) stops the run like Ctrl-C: workers stopped,
    unfinished scenes cleaned, the log closed. Only the main thread can install the handler."""
    def interrupt(signum: int, frame: types.FrameType | None) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _render(spec: JobSpec, todo: list[int], options: RunOptions, reporter: Reporter) -> None:
    if not todo:
        return
    if options.backend == "ray":
        from render_workers.ray_backend import run_ray

        run_ray(spec, todo, options, reporter)
    else:
        from render_workers.local import LocalPool

        LocalPool(spec, options, reporter).run(todo)


def _summary(spec: JobSpec, reporter: Reporter, remaining: int, seconds: float, interrupted: bool) -> int:
    """Prints the run's outcome in one line (plus one per failed scene); returns the exit code."""
    rate = f", {reporter.rendered / seconds * 3600:.0f} scenes/h" if reporter.rendered and seconds > 0 else ""
    done = f"{spec.scenes - remaining} of {spec.scenes} scenes complete"
    run = f"{reporter.rendered} rendered in {format_duration(seconds)}{rate}"
    if interrupted:
        reporter.message(f"interrupted: {done} ({run}); continue with 'scenesim resume {spec.out}'")
        return EXIT_INTERRUPTED
    if remaining:
        for name, error in reporter.failures.items():
            reporter.message(f"{name} failed: {error}")
        reporter.message(f"incomplete: {done}, {len(reporter.failures)} failed ({run}); errors in "
                         f"{spec.out / 'job_log.jsonl'}; retry them with 'scenesim resume {spec.out}'")
        return EXIT_INCOMPLETE
    reporter.message(f"{done} ({run}) in {spec.out}")
    return EXIT_COMPLETE
