"""The local pool: persistent spawned worker processes (each imports bpy once and renders many
scenes), with crash isolation, per-scene timeouts, retries and recycling (docs/architecture.md).

A scene whose worker raises, crashes, is killed or passes the timeout costs that attempt only: the
worker is replaced by a fresh process, which retries the scene first while attempts remain. A scene
that cannot be written because the output file system is full or read-only stops the whole job
(``StorageError``): every other scene would fail the same way. A
worker is also replaced after ``recycle_after`` scenes or when its memory passes ``max_memory_mb``.
Workers are spawned (not forked) with SIGINT blocked, then ignore it: Ctrl-C reaches the driver,
which kills them and deletes their unfinished ``.partial`` directories. Each worker process has a
temporary directory of its own (its ``TMPDIR``: Blender's files and session folder land there),
deleted by the driver when the process ends, whatever ended it.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import signal
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from render_workers.backend import Backend
from render_workers.job import JobSpec
from render_workers.jobdir import BLENDER_LOG, remove_leftovers
from render_workers.progress import Reporter
from render_workers.seeds import scene_name
from render_workers.worker import RenderTask, SceneTask, worker_main
from sim import tempdirs
from sim.errors import RenderError, StorageError
from sim.processes import available_cores

if TYPE_CHECKING:
    from render_workers.options import RunOptions

STARTUP_TIMEOUT_S = 300.0
"""Seconds a new worker may take to import Blender and report ready."""
MAX_START_FAILURES = 3
"""Workers in a row that die before becoming ready before the job gives up."""
STOP_GRACE_S = 10.0
"""Seconds an idle worker gets to exit after being asked before it is killed."""


@dataclass
class _Slot:
    """One worker position of the pool; its process is replaced over the job's life."""

    number: int
    process: BaseProcess | None = None
    conn: Connection | None = None
    pid: int = 0
    ready: bool = False
    scenes: int = 0
    job: tuple[int, int] | None = None
    """(scene index, attempt) being rendered."""
    deadline: float | None = None
    """time.monotonic() by which the worker must be ready or the scene done."""
    retry: tuple[int, int] | None = None
    """A failed scene's next attempt, reserved for this slot's fresh process."""
    tmpdir: Path | None = None
    """The process's own TMPDIR (``sim.tempdirs``), deleted when it ends."""
    waitables: list[Any] = field(default_factory=list)


def _exit_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"worker killed by {signal.Signals(-exitcode).name}"
    return f"worker exited with status {exitcode}"


class LocalPool:
    """Renders scenes of ``spec`` in ``options.local_workers`` processes, reporting to ``reporter``.
    ``task`` is what workers run per scene (``RenderTask`` by default)."""

    def __init__(self, spec: JobSpec, options: RunOptions, reporter: Reporter,
                 task: SceneTask | None = None) -> None:
        self.spec = spec
        self.options = options
        self.reporter = reporter
        self.task = task if task is not None else RenderTask()
        self._threads = options.worker_threads()
        self._context = multiprocessing.get_context("spawn")
        self._pending: deque[tuple[int, int]] = deque()
        self._slots: list[_Slot] = []
        self._start_failures = 0

    def run(self, todo: Sequence[int]) -> None:
        """Renders scenes ``todo`` (indices) until each is complete or failed every attempt. On any
        exit (including KeyboardInterrupt) every worker is stopped and unfinished scenes cleaned."""
        self._pending = deque((index, 1) for index in todo)
        self._slots = [_Slot(i) for i in range(min(self.options.local_workers, len(todo)))]
        try:
            for slot in self._slots:
                self._start(slot)
            while any(slot.process is not None for slot in self._slots):
                self._step()
        finally:
            self._stop_all()

    def _step(self) -> None:
        """Waits for the next message, worker exit or deadline, and handles it."""
        owners = {w: slot for slot in self._slots if slot.process is not None for w in slot.waitables}
        deadlines = [s.deadline for s in self._slots if s.process is not None and s.deadline is not None]
        timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
        woken = sorted({owners[w].number for w in wait(list(owners), timeout)})
        for slot in (self._slots[number] for number in woken):  # once each: handling may replace it
            if not slot.conn.poll():
                self._lost(slot)  # woken by its sentinel with nothing left to read: the process ended
                continue
            try:
                message = slot.conn.recv()
            except (EOFError, OSError):
                self._lost(slot)
                continue
            self._handle(slot, message)
        now = time.monotonic()
        for slot in self._slots:
            if slot.process is not None and slot.deadline is not None and now > slot.deadline:
                if slot.job is not None:
                    error = f"timed out after {self.options.timeout_s:g} s"
                    self._attempt_failed(slot, error, graceful=False)
                else:
                    self._start_failed(slot, f"not ready after {STARTUP_TIMEOUT_S:g} s")

    def _handle(self, slot: _Slot, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "ready":
            slot.ready, slot.pid, slot.deadline = True, message[1], None
            self._start_failures = 0
            self._dispatch(slot)
        elif kind == "done":
            attempt, report = slot.job[1], message[2]
            slot.job, slot.deadline = None, None
            slot.scenes += 1
            self.reporter.done(report, attempt)
            reason = self._recycle_reason(slot, report)
            if reason and self._pending:
                self._replace(slot, reason)
            else:
                self._dispatch(slot)
        elif kind == "frame":
            self.reporter.frame(*message[1:])
        elif kind == "error" and message[3]:
            self._storage_failed(slot, message[2])
        elif kind == "error":
            self._attempt_failed(slot, message[2], graceful=True)

    def _recycle_reason(self, slot: _Slot, report: dict[str, Any]) -> str | None:
        """Why the slot's worker should be replaced after this scene, or None."""
        if slot.scenes >= self.options.recycle_after:
            return f"recycled after {slot.scenes} scenes"
        limit = self.options.max_memory_mb
        if limit and report.get("rss_mb", 0) > limit:
            return f"recycled at {report['rss_mb']:.0f} MiB resident (limit {limit} MiB)"
        return None

    def _dispatch(self, slot: _Slot) -> None:
        """Sends the slot's next scene (its reserved retry first), or stops it when none is left."""
        item = slot.retry or (self._pending.popleft() if self._pending else None)
        slot.retry = None
        if item is None:
            self._stop(slot, graceful=True, reason="no scenes left")
            return
        slot.job = item
        slot.deadline = time.monotonic() + self.options.timeout_s if self.options.timeout_s else None
        self.reporter.started(item[0], item[1], slot.pid)
        try:
            slot.conn.send(item[0])
        except OSError:  # the worker died since its last message
            self._lost(slot)

    def _attempt_failed(self, slot: _Slot, error: str, *, graceful: bool) -> None:
        """The slot's scene attempt failed: record it, replace the worker, retry or give up."""
        index, attempt = slot.job
        slot.job = None
        retry = attempt <= self.options.retries
        self.reporter.error(index, attempt, error, retry)
        if retry:
            slot.retry = (index, attempt + 1)
        else:
            self.reporter.failed(index, attempt, error)
        self._stop(slot, graceful=graceful, reason=f"failed {scene_name(index)}")
        remove_leftovers(self.spec.out, [scene_name(index)])
        if slot.retry is not None or self._pending:
            self._start(slot)

    def _storage_failed(self, slot: _Slot, error: str) -> None:
        """The output file system is full or read-only: no attempt can succeed until the user acts,
        so the job stops here (``run`` stops every worker) rather than retry every scene into it."""
        index, attempt = slot.job
        with contextlib.suppress(StorageError):  # the job log may be on the same file system
            self.reporter.log.write("scene_error", scene=scene_name(index), index=index,
                                    attempt=attempt, error=error, retry=False)
        raise StorageError(f"{scene_name(index)}: {error.removeprefix('StorageError: ')}")

    def _lost(self, slot: _Slot) -> None:
        """The worker process ended on its own (crash, kill -9, os._exit)."""
        slot.process.join(STOP_GRACE_S)
        reason = f"{_exit_reason(slot.process.exitcode)} (see {self.spec.out / BLENDER_LOG})"
        if slot.job is not None:
            self._attempt_failed(slot, reason, graceful=False)
        elif not slot.ready:
            self._start_failed(slot, reason)
        else:
            self._replace(slot, reason, graceful=False)

    def _start_failed(self, slot: _Slot, reason: str) -> None:
        self._start_failures += 1
        if self._start_failures >= MAX_START_FAILURES:
            raise RenderError(f"{MAX_START_FAILURES} worker processes in a row failed to start, the last: "
                              f"{reason}")
        self._replace(slot, f"failed to start: {reason}", graceful=False)

    def _replace(self, slot: _Slot, reason: str, *, graceful: bool = True) -> None:
        """Stops the slot's process and starts a fresh one if there is work for it."""
        self._stop(slot, graceful=graceful, reason=reason)
        if slot.retry is not None or self._pending:
            self._start(slot)

    def _start(self, slot: _Slot) -> None:
        parent_conn, child_conn = self._context.Pipe()
        slot.tmpdir = tempdirs.make(f"worker{slot.number}")
        process = self._context.Process(
            target=worker_main, name=f"scenesim-worker-{slot.number}", daemon=True,
            args=(child_conn, self.task, self.spec.to_dict(), str(self.spec.out), self._threads,
                  self.options.worker_cores(slot.number), os.getpid(), str(slot.tmpdir)))
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})  # inherited by the child
        try:
            process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        child_conn.close()
        slot.process, slot.conn, slot.pid = process, parent_conn, process.pid
        slot.ready, slot.scenes, slot.deadline = False, 0, time.monotonic() + STARTUP_TIMEOUT_S
        slot.waitables = [parent_conn, process.sentinel]

    def _stop(self, slot: _Slot, *, graceful: bool, reason: str) -> None:
        """Ends the slot's process: asks an idle ready worker to exit, kills anything else."""
        process, conn = slot.process, slot.conn
        if process is None:
            return
        if graceful and slot.ready and slot.job is None and process.is_alive():
            try:
                conn.send(None)
            except OSError:
                pass
            process.join(STOP_GRACE_S)
        if process.is_alive():
            process.kill()
            process.join()
        process.close()
        conn.close()
        shutil.rmtree(slot.tmpdir, ignore_errors=True)  # its helper process died with it (die_with_parent)
        self.reporter.worker_exit(slot.pid, reason)
        if slot.job is not None:  # stopped mid-scene (interrupted)
            remove_leftovers(self.spec.out, [scene_name(slot.job[0])])
        slot.process, slot.conn, slot.ready, slot.job, slot.deadline = None, None, False, None, None
        slot.waitables = []

    def _stop_all(self) -> None:
        for slot in self._slots:
            self._stop(slot, graceful=True, reason="job ended")


class LocalBackend(Backend):
    """``--backend local``: a ``LocalPool`` of ``options.local_workers`` processes on this machine,
    each pinned to cores of its own when several run (``RunOptions.worker_cores``)."""

    name = "local"
    pins_workers = True

    def default_threads(self, options: RunOptions) -> int:
        return max(1, available_cores() // options.local_workers)

    def run(self, spec: JobSpec, todo: Sequence[int], options: RunOptions, reporter: Reporter,
            task: SceneTask | None = None) -> None:
        LocalPool(spec, options, reporter, task).run(todo)
