"""Running a job: validate everything, take the job directory, render what is missing on the
chosen backend, log and report, and say with the exit code whether the job is complete."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path

from render_workers import jobdir
from render_workers.job import JOB_FILE, JobSpec
from render_workers.joblog import JobLog
from render_workers.options import RunOptions
from render_workers.progress import Reporter, format_duration
from render_workers.shard_layout import ShardPacker
from sim import tempdirs
from sim.errors import OptionError, RenderError, StorageError
from sim.render.devices import probe

EXIT_COMPLETE = 0
EXIT_INCOMPLETE = 1
"""Some scenes failed every attempt: ``scenesim resume`` retries them."""
EXIT_INTERRUPTED = 130


def run_job(spec: JobSpec, options: RunOptions, *, restart: bool = False,
            allow_nonempty: bool = False) -> int:
    """Renders the scenes of ``spec`` that are not complete in ``spec.out`` and returns the exit
    code: 0 when every scene of the job is complete, 1 when some failed or the output file system
    filled up or turned read-only (the run stops at once then), 130 on Ctrl-C or SIGTERM.

    The spec, options and backend are checked before anything is written (``SceneSimError``).
    A directory holding another job is refused unless ``restart`` (which deletes its scenes); so is
    an existing file, and a non-empty directory that is not a job directory unless ``allow_nonempty``."""
    spec.validate()
    options.executor.check(options)
    spec = _settle_device(spec, options)
    out = Path(spec.out)
    jobdir.check_out(out, allow_nonempty=allow_nonempty)
    stale = tempdirs.remove_stale()  # left by killed runs, workers or renders on this machine
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
                      removed_tmp=stale, **{**options.to_dict(), "threads": options.worker_threads()})
            start, interrupted, stopped = time.monotonic(), False, None
            try:
                with _sigterm_interrupts():
                    if todo:
                        options.executor.run(spec, todo, options, reporter)
            except KeyboardInterrupt:
                interrupted = True
            except StorageError as e:  # the output file system is full or read-only
                stopped = str(e)
            finally:
                reporter.close()
                if packer is not None:
                    packer.close()
                remaining = len(jobdir.missing(spec))
                with contextlib.suppress(StorageError):
                    log.write("run_end", done=spec.scenes - remaining, failed=len(reporter.failures),
                              remaining=remaining, seconds=round(time.monotonic() - start, 3),
                              interrupted=interrupted, stopped=stopped)
    return _summary(spec, reporter, remaining, time.monotonic() - start, interrupted, stopped)


def _settle_device(spec: JobSpec, options: RunOptions) -> JobSpec:
    """``spec`` with the device that will render its RGB images: ``auto`` resolved and a named GPU
    checked on this machine (``sim.render.devices.probe``) before anything is written or rendered.
    A job keeps its device (GPU and CPU images differ), so a resume where it is missing is refused
    with the reason. On a Ray cluster (``address``) the nodes are not this machine: each task checks
    a named device on its node, and ``auto`` is refused (the nodes could resolve it differently)."""
    device = spec.settings.device
    if device == "cpu":
        return spec
    if options.address is not None:
        if device == "auto":
            raise OptionError("--device auto: on a Ray cluster name the device every node has "
                                       "(cpu, cuda, optix, hip, metal, oneapi); a job renders on one")
        return spec
    try:
        resolved = probe(device)
    except RenderError as e:
        job_file = Path(spec.out) / JOB_FILE
        if job_file.is_file() and jobdir.load_job(spec.out).settings.device == device:
            raise RenderError(f"{e}; this job renders on {device} ({job_file}): GPU and CPU images "
                              f"differ, so it keeps its device; resume it where Cycles sees {device}, "
                              "or start over with --restart") from None
        raise
    return dataclasses.replace(spec, settings=dataclasses.replace(spec.settings, device=resolved))


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


def _summary(spec: JobSpec, reporter: Reporter, remaining: int, seconds: float, interrupted: bool,
             stopped: str | None) -> int:
    """Prints the run's outcome in one line (plus one per failed scene); returns the exit code."""
    rate = f", {reporter.rendered / seconds * 3600:.0f} scenes/h" if reporter.rendered and seconds > 0 else ""
    done = f"{spec.scenes - remaining} of {spec.scenes} scenes complete"
    run = f"{reporter.rendered} rendered in {format_duration(seconds)}{rate}"
    if stopped:
        reporter.message(f"stopped: {stopped}; {done} ({run}), no partial scene looks complete; free "
                         f"space (or make it writable) and continue with 'scenesim resume {spec.out}'")
        return EXIT_INCOMPLETE
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
