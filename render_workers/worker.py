"""The worker side: rendering one scene of a job (``RenderTask``), in a local pool process
(``worker_main``) or a Ray task.

A pool worker is a spawned process that imports bpy once (``RenderTask.warm_up``) and then renders
one scene per request; ``sim.render`` resets Blender at the start of every scene. It talks to the
driver over a ``multiprocessing`` pipe: it sends ``("ready", pid)`` once, then per request (a scene
index) ``("frame", index, done, total)`` after each rendered frame and ``("done", index, report)``
or ``("error", index, message, storage)`` (``storage``: the output file system is full or
read-only, ``StorageError``); ``None`` asks it to exit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from render_workers.job import JobSpec
from render_workers.jobdir import BLENDER_LOG
from render_workers.seeds import scene_name
from sim import tempdirs
from sim.errors import StorageError
from sim.processes import die_with_parent

if TYPE_CHECKING:
    from sim.pipeline import FrameProgress

_MIB = 1024 * 1024


def _proc_status_mib(key: str) -> float | None:
    """A ``VmHWM``/``VmRSS`` line of ``/proc/self/status`` in MiB, or None where there is none."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def reset_peak_memory() -> None:
    """Resets this process's peak resident memory (Linux: ``VmHWM``) so the next reading is the peak
    of what follows; a no-op where the kernel does not support it."""
    with contextlib.suppress(OSError):
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")


def memory_mib() -> tuple[float, float]:
    """(peak since the last ``reset_peak_memory``, current) resident memory of this process, MiB.
    Without ``/proc``, the peak is ``getrusage``'s peak over the whole process life."""
    peak, current = _proc_status_mib("VmHWM"), _proc_status_mib("VmRSS")
    if peak is None:
        import resource

        scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / _MIB
    return peak, current if current is not None else peak


def open_fds() -> int | None:
    """How many file descriptors this process has open (Linux ``/proc/self/fd``), None without it."""
    try:
        return len(os.listdir("/proc/self/fd")) - 1  # less the one listdir itself opened
    except OSError:
        return None


def directory_bytes(path: Path) -> int:
    """Total size of the files directly in ``path``, bytes."""
    return sum(entry.stat().st_size for entry in os.scandir(path) if entry.is_file())


class SceneTask(Protocol):
    """What a worker runs: ``warm_up()`` once per process, then ``task(spec, index, threads,
    progress)`` per scene, returning the scene's report (a JSON-ready dict with at least ``scene``
    and ``index``); ``progress(done, total)``, if given, is called after each rendered frame."""

    def warm_up(self) -> None: ...

    def __call__(self, spec: JobSpec, index: int, threads: int,
                 progress: FrameProgress | None = None) -> dict[str, Any]: ...


@dataclass(frozen=True)
class RenderTask:
    """Renders scene ``index`` of a job into ``spec.out`` with ``threads`` Cycles threads and returns
    its report (the ``scene_done`` fields of the job log). Picklable, so a spawned pool worker or a
    Ray task can run it. The ``SceneTask`` every backend runs unless given another."""

    def warm_up(self) -> None:
        """Imports Blender (bpy) once per process, before the first scene."""
        import sim.render.blender  # noqa: F401

    def __call__(self, spec: JobSpec, index: int, threads: int,
                 progress: FrameProgress | None = None) -> dict[str, Any]:
        from sim.io import is_complete
        from sim.pipeline import run_scene

        name, out = scene_name(index), Path(spec.out)
        start = time.perf_counter()
        reset_peak_memory()
        if is_complete(out / name):  # an earlier attempt finished it, but its report was lost
            return {"scene": name, "index": index, "worker": os.getpid(), "skipped": True}
        scene = spec.scene(index)
        recipe_s = time.perf_counter() - start
        settings = dataclasses.replace(spec.settings, threads=threads)
        result = run_scene(scene, settings, out, name, log_path=out / BLENDER_LOG, progress=progress or False)
        peak, current = memory_mib()
        timings = {"recipe_s": recipe_s, **result.timings}
        return {"scene": name, "index": index, "worker": os.getpid(),
                "seconds": round(time.perf_counter() - start, 4),
                "timings": {k: round(v, 4) for k, v in timings.items()},
                "peak_rss_mb": round(peak, 1), "rss_mb": round(current, 1), "fds": open_fds(),
                "size_bytes": directory_bytes(result.path)}


def one_line(error: BaseException) -> str:
    """``Type: message`` on one line (the first line of the message)."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def _redirect_output(log_path: Path) -> None:
    """Sends this process's stdout and stderr (pybullet's banner, tracebacks) to ``log_path``."""
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def _drop_blender_paths() -> None:
    """Removes the ``scripts`` folders Blender adds to ``sys.path`` when bpy is imported. A spawned
    process inherits its parent's ``sys.path``: if the parent had imported bpy, ``import bpy`` here
    would find Blender's inner ``scripts/modules/bpy`` package instead of the bpy module."""
    sys.path[:] = [p for p in sys.path
                   if not ("scripts" in Path(p).parts and {"bpy", "blender"} & set(Path(p).parts))]


def worker_main(conn: Connection, task: SceneTask, spec_data: dict[str, Any], out: str, threads: int,
                cores: frozenset[int] | None, parent_pid: int, tmpdir: str) -> None:
    """Entry point of a spawned pool worker, pinned to ``cores`` (None: not pinned) before Blender
    starts its thread pool. Its temporary files (Blender's included) go to ``tmpdir``, which the
    driver deletes when the worker ends. SIGINT is ignored here (the driver, which gets the terminal's Ctrl-C,
    stops the workers); the driver starts workers with SIGINT blocked and this unblocks it once it
    is ignored."""
    die_with_parent(parent_pid)
    if cores is not None:
        os.sched_setaffinity(0, cores)
    _drop_blender_paths()
    tempdirs.use_as_tmpdir(Path(tmpdir))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    _redirect_output(Path(out) / BLENDER_LOG)
    spec = JobSpec.from_dict(spec_data, Path(out))
    task.warm_up()
    conn.send(("ready", os.getpid()))
    while True:
        try:
            index = conn.recv()
        except EOFError:
            return
        if index is None:
            return

        def frame_done(done: int, total: int, index: int = index) -> None:
            conn.send(("frame", index, done, total))

        try:
            conn.send(("done", index, task(spec, index, threads, frame_done)))
        except Exception as e:  # any failure of this scene is reported; the driver retries it
            with contextlib.suppress(OSError):  # blender.log may be on the full file system
                traceback.print_exc()
            conn.send(("error", index, one_line(e), isinstance(e, StorageError)))
