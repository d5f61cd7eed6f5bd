"""The Ray backend: one Ray task per scene attempt, on a local Ray instance or a cluster, writing into
the job directory, which must be the same path on every node (a shared file system). ``ray`` is an
optional extra (``pip install 'scenesim[ray]'``), imported only when this backend runs.

Each task is a Ray generator: it yields once when Blender is loaded and the scene starts (its
worker pid and node id), then the scene's report. The driver thus knows when every scene started,
and it keeps the pool's rules itself rather than leaving them to Ray: a scene whose task raises,
whose worker process dies, whose node is lost, or which runs past ``--timeout`` (its worker is then
killed with ``ray.cancel(force=True)``, which ends a hang inside Blender as well as one in Python)
costs that attempt; the scene is submitted again, to any live node, up to ``retries`` more times,
and every attempt is in the job log with its number.

Ray reuses a worker process for many tasks, so bpy is imported once per process there too, after
pinning the process to cores of its own (``core_lease``); a process is replaced after
``recycle_after`` tasks (Ray's ``max_calls``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import tempfile
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from render_workers.backend import Backend
from render_workers.core_lease import pin_to_free_cores
from render_workers.job import JobSpec
from render_workers.jobdir import BLENDER_LOG, remove_leftovers
from render_workers.progress import Reporter
from render_workers.seeds import scene_name
from render_workers.worker import RenderTask, SceneTask, one_line
from sim import tempdirs
from sim.errors import OptionError, StorageError

if TYPE_CHECKING:
    from render_workers.options import RunOptions

WORKER_TMP_KIND = "rayworker"
"""``sim.tempdirs`` kind of a Ray worker process's own temporary directory."""
STOP_GRACE_S = 30.0
"""Seconds the driver waits for cancelled tasks' workers to end before it cleans their scenes."""
PROBE_TIMEOUT_S = 10.0
"""Seconds a cluster address may take to accept a connection before the job is refused."""


def _probe(address: str) -> None:
    """Refuses an ``--address`` that is not ``auto`` or ``HOST:PORT``, or where nothing accepts a
    connection (Ray itself would retry for minutes, printing warnings). Ray Client addresses
    (``ray://``) are refused: Ray Client cannot stream a task's items, and the driver follows each
    scene's start that way. ``auto`` is left to Ray."""
    if address == "auto":
        return
    if address.startswith("ray://"):
        raise OptionError(f"--address {address}: Ray Client (ray://) is not supported; run scenesim "
                                   "on a node of the cluster with --address HEAD_IP:6379 (or auto)")
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise OptionError(f"--address: got {address!r}, expected auto or HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_TIMEOUT_S).close()
    except OSError as e:
        raise OptionError(f"--address {address}: no Ray cluster answers there ({e.strerror or e}); "
                                   "start one with 'ray start --head' or fix the address") from None


def render_task(task: SceneTask, spec_data: dict[str, Any], out: str, index: int,
                threads: int) -> Iterator[Any]:
    """The body of one Ray task: scene ``index`` of the job ``spec_data`` (``JobSpec.to_dict``).
    Yields ``(pid, node id)`` once Blender is loaded, then the scene's report (with ``node``). The
    first task of a Ray worker process gives it a temporary directory of its own (``_own_tmpdir``) and
    pins it to ``threads`` free cores of its node before Blender starts (``core_lease``; unpinned if
    none are free)."""
    import ray

    spec = JobSpec.from_dict(spec_data, Path(out))
    node = ray.get_runtime_context().get_node_id()
    _own_tmpdir()
    pin_to_free_cores(threads)
    task.warm_up()
    yield os.getpid(), node
    yield {**task(spec, index, threads), "node": node}


def _own_tmpdir() -> None:
    """Gives this Ray worker process, on its first task, a temporary directory of its own
    (``TMPDIR``, where Blender puts its ``blender_*`` session folder), named after the process by
    ``sim.tempdirs``, after deleting those of dead processes on this node: a worker that Ray kills
    leaves its directory only until the next task on the node (or the next run) starts."""
    if Path(tempfile.gettempdir()).name.startswith(tempdirs.prefix(WORKER_TMP_KIND)):
        return
    tempdirs.remove_stale()
    tempdirs.use_as_tmpdir(tempdirs.make(WORKER_TMP_KIND))


def remove_worker_tmpdirs(wait_s: float = 10.0) -> None:
    """After stopping a local Ray instance (the driver, the one it started), deletes its workers'
    temporary directories as their processes end (waiting at most ``wait_s`` seconds for them)."""
    deadline = time.monotonic() + wait_s
    while True:
        tempdirs.remove_stale()
        left = Path(tempfile.gettempdir()).glob(f"scenesim-*-{WORKER_TMP_KIND}-*")
        if next(left, None) is None or time.monotonic() > deadline:
            return
        time.sleep(0.1)


def _error_text(error: Exception, out: Path) -> str:
    """One line for a failed Ray task: the task's own exception where Ray kept it, else what
    happened to its process or node."""
    import ray

    cause = getattr(error, "cause", None)
    if isinstance(cause, BaseException):
        return one_line(cause)
    if isinstance(error, ray.exceptions.NodeDiedError):
        return "NodeDiedError: the node running it died or became unreachable"
    if isinstance(error, ray.exceptions.WorkerCrashedError):
        return f"WorkerCrashedError: its Ray worker process died (see {out / BLENDER_LOG})"
    return one_line(error)


def _is_local_ray_worker(pid: int) -> bool:
    """Whether ``pid`` is a live Ray worker process on this machine (its title starts ``ray::``; a
    killed one that is not reaped yet has none). False where /proc is missing (not Linux): a worker
    on another node cannot be watched from here."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::")
    except OSError:
        return False


@dataclass
class _Attempt:
    """One attempt of a scene in flight (keyed by its task's generator): since when it renders, and
    whether the driver ended it for passing the timeout."""

    index: int
    attempt: int
    started: float | None = None
    """time.monotonic() when the task reported that the scene started."""
    pid: int | None = None
    """The task's worker process (on its node), once it reported the start."""
    timed_out: bool = False


class _Driver:
    """Submits attempts, follows them and applies the retry and timeout rules (see the module)."""

    def __init__(self, spec: JobSpec, options: RunOptions, reporter: Reporter, task: SceneTask) -> None:
        import ray

        self.spec, self.options, self.reporter = spec, options, reporter
        self.threads = options.worker_threads()
        self.remote = ray.remote(num_cpus=self.threads, max_retries=0, retry_exceptions=False,
                                 max_calls=options.recycle_after)(render_task)
        self.task, self.spec_data = task, spec.to_dict()
        self.pending: deque[tuple[int, int]] = deque()
        self.flights: dict[Any, _Attempt] = {}

    def run(self, todo: Sequence[int]) -> None:
        import ray

        self.pending = deque((index, 1) for index in todo)
        try:
            while self.pending or self.flights:
                self._submit()
                ready, _ = ray.wait(list(self.flights), num_returns=1, timeout=self._wait_s())
                for gen in ready:
                    self._next(gen)
                self._enforce_timeout()
        finally:
            self._cancel_all()

    def _capacity(self) -> int:
        import ray

        if self.options.workers:
            return self.options.workers
        return max(1, int(ray.cluster_resources().get("CPU", 1) // self.threads))

    def _submit(self) -> None:
        while self.pending and len(self.flights) < self._capacity():
            index, attempt = self.pending.popleft()
            gen = self.remote.remote(self.task, self.spec_data, str(self.spec.out), index, self.threads)
            self.flights[gen] = _Attempt(index, attempt)

    def _wait_s(self) -> float | None:
        """Seconds until the earliest deadline of a started scene (None: no deadline)."""
        timeout = self.options.timeout_s
        starts = [a.started for a in self.flights.values() if a.started is not None and not a.timed_out]
        if timeout is None or not starts:
            return None
        return max(0.0, min(starts) + timeout - time.monotonic())

    def _next(self, gen: Any) -> None:
        """Takes the next item a task yielded: its start, its report, or its error."""
        import ray

        attempt = self.flights[gen]
        try:
            item = ray.get(next(gen))
        except ray.exceptions.RayError as e:
            cause = getattr(e, "cause", None)
            if isinstance(cause, StorageError):  # the output is full or read-only: stop the job
                self._storage_failed(gen, cause)
            error = f"timed out after {self.options.timeout_s:g} s" if attempt.timed_out \
                else _error_text(e, self.spec.out)
            self._failed(gen, error)
            return
        if attempt.started is None:
            attempt.started = time.monotonic()
            pid, node = item
            attempt.pid = pid
            self.reporter.started(attempt.index, attempt.attempt, pid, node=node)
        else:
            del self.flights[gen]
            self.reporter.done(item, attempt.attempt)

    def _storage_failed(self, gen: Any, error: StorageError) -> None:
        """The output file system is full or read-only: no attempt can succeed until the user acts,
        so the job stops here (``run`` cancels the rest) rather than retry every scene into it."""
        attempt = self.flights.pop(gen)
        name = scene_name(attempt.index)
        remove_leftovers(self.spec.out, [name])
        with contextlib.suppress(StorageError):  # the job log may be on the same file system
            self.reporter.log.write("scene_error", scene=name, index=attempt.index, attempt=attempt.attempt,
                                    error=one_line(error), retry=False)
        raise StorageError(f"{name}: {error}") from None

    def _enforce_timeout(self) -> None:
        """Kills the worker of every scene past ``timeout_s``; its error then ends the attempt."""
        import ray

        timeout = self.options.timeout_s
        if timeout is None:
            return
        now = time.monotonic()
        for gen, attempt in self.flights.items():
            if attempt.started is not None and not attempt.timed_out and now - attempt.started > timeout:
                attempt.timed_out = True
                ray.cancel(gen, force=True)

    def _failed(self, gen: Any, error: str) -> None:
        """The attempt failed: clean its scene, then submit the next attempt or give up."""
        attempt = self.flights.pop(gen)
        remove_leftovers(self.spec.out, [scene_name(attempt.index)])
        retry = attempt.attempt <= self.options.retries
        self.reporter.error(attempt.index, attempt.attempt, error, retry)
        if retry:
            self.pending.appendleft((attempt.index, attempt.attempt + 1))
        else:
            self.reporter.failed(attempt.index, attempt.attempt, error)

    def _cancel_all(self) -> None:
        """Kills the workers of every task in flight, waits for them to end, cleans their scenes."""
        import ray

        for gen in self.flights:
            ray.cancel(gen, force=True)
        deadline = time.monotonic() + STOP_GRACE_S
        for gen in self.flights:  # a cancelled task's last item is its error, once its worker is gone
            while ray.wait([gen], timeout=max(0.0, deadline - time.monotonic()))[0]:
                try:
                    ray.get(next(gen))
                except (StopIteration, ray.exceptions.RayError):
                    break
        # Ray may report a task cancelled a moment before its worker is dead; a worker still alive
        # could write into its scene after the clean-up below
        for pid in (a.pid for a in self.flights.values() if a.pid is not None):
            while _is_local_ray_worker(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
        remove_leftovers(self.spec.out, [scene_name(a.index) for a in self.flights.values()])
        self.flights.clear()


class RayBackend(Backend):
    """``--backend ray``: scenes as Ray tasks on the cluster at ``options.address`` (a new local Ray
    instance when None, with ``workers`` × ``threads`` CPUs if ``workers`` is set). Keeps as many
    tasks in flight as the cluster's CPUs fit (or ``workers``); 1 Cycles thread per task unless
    ``threads`` says otherwise. A Ray instance started here is stopped at the end."""

    name = "ray"
    package = "ray"
    extra = "ray"
    takes_address = True

    def default_threads(self, options: RunOptions) -> int:
        return 1

    def check(self, options: RunOptions) -> None:
        super().check(options)
        if options.address is not None:
            _probe(options.address)

    def run(self, spec: JobSpec, todo: Sequence[int], options: RunOptions, reporter: Reporter,
            task: SceneTask | None = None) -> None:
        import ray

        started_here = not ray.is_initialized()
        if started_here:
            local = options.address is None
            cpus = {"num_cpus": options.workers * options.worker_threads()} \
                if local and options.workers else {}
            try:
                ray.init(address="local" if local else options.address, include_dashboard=False,
                         log_to_driver=False, logging_level=logging.ERROR, **cpus)
            except ConnectionError as e:
                raise OptionError(f"--address {options.address}: cannot connect to Ray "
                                           f"({one_line(e)})") from None
        try:
            _Driver(spec, options, reporter, task if task is not None else RenderTask()).run(todo)
        finally:
            if started_here:
                ray.shutdown()
                if options.address is None:  # its workers are gone: so are their temporary directories
                    remove_worker_tmpdirs()
