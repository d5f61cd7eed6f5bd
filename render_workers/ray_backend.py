"""The Ray backend: one Ray task per scene, retried by Ray, writing into the job directory, which
must be the same path on every node (a shared file system). ``ray`` is an optional extra
(``pip install 'scenesim[ray]'``), imported only here and only when this backend runs.

Ray reuses a worker process for many tasks, so bpy is imported once per process there too, after
pinning the process to cores of its own (``core_lease``); a process is replaced after
``recycle_after`` tasks (Ray's ``max_calls``). A crashed or killed task
(or one past the timeout: it ends its own process with SIGALRM) is retried by Ray (``max_retries``),
and so is a task that raises (``retry_exceptions``); Ray does not say which attempt succeeded, so
the job log's ``attempt`` is None for Ray scenes.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from render_workers.core_lease import pin_to_free_cores
from render_workers.job import JobSpec
from render_workers.jobdir import remove_leftovers
from render_workers.options import RunOptions
from render_workers.progress import Reporter
from render_workers.seeds import scene_name
from render_workers.worker import RenderTask, SceneTask, one_line
from sim.errors import StorageError


@contextlib.contextmanager
def _alarm(timeout_s: float | None) -> Iterator[None]:
    """Ends this process with SIGALRM (its default action) if the block runs past ``timeout_s``:
    a hang inside Blender cannot be interrupted from Python, but it can be killed."""
    if timeout_s is None:
        yield
        return
    with contextlib.suppress(ValueError):  # not the main thread: the default action stands
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.alarm(math.ceil(timeout_s))
    try:
        yield
    finally:
        signal.alarm(0)


def render_task(task: SceneTask, spec_data: dict[str, Any], out: str, index: int, threads: int,
                timeout_s: float | None) -> dict[str, Any]:
    """The body of one Ray task: scene ``index`` of the job ``spec_data`` (``JobSpec.to_dict``). The
    first task of a Ray worker process pins it to ``threads`` free cores of its node before Blender
    starts (``core_lease``; unpinned if none are free)."""
    spec = JobSpec.from_dict(spec_data, Path(out))
    pin_to_free_cores(threads)
    task.warm_up()
    with _alarm(timeout_s):
        return task(spec, index, threads)


def _error_text(error: Exception) -> str:
    """One line for a failed Ray task: the task's own exception where Ray kept it."""
    cause = getattr(error, "cause", None)
    return one_line(cause if isinstance(cause, BaseException) else error)


def run_ray(spec: JobSpec, todo: Sequence[int], options: RunOptions, reporter: Reporter,
            task: SceneTask | None = None) -> None:
    """Renders scenes ``todo`` of ``spec`` as Ray tasks on the cluster at ``options.address`` (a new
    local Ray instance when None, with ``workers`` × ``threads`` CPUs if ``workers`` is set). Keeps
    as many tasks in flight as the cluster's CPUs fit (or ``workers``). On any exit, tasks still in
    flight are cancelled and their unfinished scenes cleaned; a Ray instance started here is stopped."""
    import ray

    threads = options.worker_threads()
    started_here = not ray.is_initialized()
    if started_here:
        extra = {"num_cpus": options.workers * threads} if options.address is None and options.workers else {}
        ray.init(address=options.address, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.ERROR, **extra)
    remote = ray.remote(num_cpus=threads, max_retries=options.retries, retry_exceptions=True,
                        max_calls=options.recycle_after)(render_task)
    task = task if task is not None else RenderTask()
    spec_data, out = spec.to_dict(), str(spec.out)
    pending, in_flight = deque(todo), {}
    try:
        while pending or in_flight:
            capacity = options.workers or max(1, int(ray.cluster_resources().get("CPU", 1) // threads))
            while pending and len(in_flight) < capacity:
                index = pending.popleft()
                in_flight[remote.remote(task, spec_data, out, index, threads, options.timeout_s)] = index
            finished, _ = ray.wait(list(in_flight), num_returns=1)
            for ref in finished:
                index = in_flight.pop(ref)
                try:
                    report = ray.get(ref)
                except ray.exceptions.RayError as e:
                    remove_leftovers(spec.out, [scene_name(index)])
                    if isinstance(getattr(e, "cause", None), StorageError):  # full or read-only: stop
                        raise StorageError(f"{scene_name(index)}: {e.cause}") from None
                    reporter.failed(index, options.retries + 1, _error_text(e))
                else:
                    reporter.done(report, None)
    finally:
        for ref in in_flight:
            ray.cancel(ref, force=True)
        remove_leftovers(spec.out, [scene_name(i) for i in in_flight.values()])
        if started_here:
            ray.shutdown()
