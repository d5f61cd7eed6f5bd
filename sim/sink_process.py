"""``SceneSink`` in a helper process, so annotation and writing run beside Blender.

Blender holds Python's GIL while it renders, so a thread cannot annotate or write frame t while
frame t+1 renders; a process can. ``SinkProcess`` has ``SceneSink``'s interface and forwards to
one persistent helper per process (``python -m sim.sink_process``, started on first use, reused for
every scene, restarted if it died). Frames go over a pipe as pickles (~2 MB per frame at 256²);
the pipe's capacity is the only buffer, so the renderer is at most about a frame ahead and frames
still stream. An error in the helper is raised in the caller at its next ``push`` or at ``finish``
with the helper's exception class (from ``sim.errors``) and message; the partial directory is
removed either way.

Protocol (pickled tuples): caller → helper on the helper's stdin ``("begin", SceneSink args)``,
``("frame", RenderedFrame)``, ``("finish", timings)``, ``("abort",)``; helper → caller on a second
pipe ``("done", SceneResult)``, ``("error", class name, message)``, ``("aborted",)``. After an error
the helper ignores frames until the caller's ``abort``.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pickle
import select
import shutil
import subprocess
import sys
import traceback
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

from sim import errors
from sim.errors import OutputError
from sim.format import PARTIAL_SUFFIX
from sim.frame import RenderedFrame
from sim.processes import die_with_parent
from sim.scene import Scene
from sim.settings import RenderSettings
from sim.sink import SceneResult, SceneSink
from sim.trajectory import Trajectory

AVAILABLE = os.name == "posix"
"""The helper needs POSIX pipes (``select`` on them, ``pass_fds``)."""
_PIPE_BYTES = 1 << 20
"""Capacity asked for the frame pipe (Linux ``F_SETPIPE_SZ``; the default limit is 1 MiB)."""
_helper: _Helper | None = None


class _Helper:
    """The helper process and its two pipes."""

    def __init__(self) -> None:
        reply_read, reply_write = os.pipe()
        root = str(Path(__file__).resolve().parent.parent)  # so ``-m sim.sink_process`` finds this code
        path = os.pathsep.join(filter(None, (root, os.environ.get("PYTHONPATH"))))
        # one BLAS thread: the helper shares the cores with Cycles (idle BLAS threads spin)
        env = {**os.environ, "PYTHONPATH": path, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "sim.sink_process", str(reply_write), str(os.getpid())],
                stdin=subprocess.PIPE, pass_fds=(reply_write,), env=env)
        finally:
            os.close(reply_write)
        assert self.process.stdin is not None
        self.commands: BinaryIO = self.process.stdin
        with contextlib.suppress(OSError, AttributeError):
            import fcntl  # POSIX only, like select() on pipes: see AVAILABLE

            fcntl.fcntl(self.commands.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        self.replies = os.fdopen(reply_read, "rb")

    def alive(self) -> bool:
        return self.process.poll() is None

    def send(self, message: tuple) -> None:
        try:
            pickle.dump(message, self.commands, protocol=pickle.HIGHEST_PROTOCOL)
            self.commands.flush()
        except (BrokenPipeError, OSError):
            raise self._died() from None

    def reply_waiting(self) -> bool:
        """True if the helper has sent something (an error) that was not read yet."""
        return bool(select.select([self.replies], [], [], 0)[0])

    def receive(self) -> tuple:
        try:
            return pickle.load(self.replies)
        except (EOFError, OSError, pickle.UnpicklingError):
            raise self._died() from None

    def _died(self) -> OutputError:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        return OutputError(f"the annotation/writing helper process died (exit status "
                           f"{self.process.returncode}); the scene was not written")

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.commands.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.replies.close()


def _get_helper() -> _Helper:
    global _helper
    if _helper is None or not _helper.alive():
        if _helper is not None:
            _helper.stop()
        _helper = _Helper()
    return _helper


@atexit.register
def _stop_helper() -> None:
    global _helper
    if _helper is not None:
        _helper.stop()
        _helper = None


def _raise_reply(reply: tuple) -> None:
    """Raises the helper's error reply as its ``sim.errors`` class (else OutputError)."""
    if reply[0] != "error":
        raise OutputError(f"annotation/writing helper: unexpected reply {reply[0]!r}")
    _, kind, message = reply
    cls = getattr(errors, kind, None)
    if isinstance(cls, type) and issubclass(cls, errors.SceneSimError):
        raise cls(message)
    raise OutputError(f"annotating or writing the scene failed: {kind}: {message}")


class SinkProcess:
    """``SceneSink`` (same arguments and methods) running in the helper process."""

    def __init__(self, scene: Scene, trajectory: Trajectory, settings: RenderSettings, out_dir: Path,
                 name: str, *, overwrite: bool = False) -> None:
        self._args = (scene, trajectory, settings, Path(out_dir).resolve(), name, overwrite)
        self._helper: _Helper | None = None

    def __enter__(self) -> SinkProcess:
        self._helper = _get_helper()
        self._helper.send(("begin", *self._args))
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: types.TracebackType | None) -> None:
        helper, self._helper = self._helper, None
        if helper is None:  # finished
            return
        try:
            helper.send(("abort",))
            while helper.receive()[0] != "aborted":  # an error not read yet comes first
                pass
        except OutputError:  # the helper died: its partial directory is left to remove here
            shutil.rmtree(self._args[3] / (self._args[4] + PARTIAL_SUFFIX), ignore_errors=True)
            if exc_type is None:
                raise
        if exc_type is None:
            raise OutputError(f"{self._args[4]}: sink closed without finish(); nothing written")

    def push(self, frame: RenderedFrame) -> None:
        helper = self._open_helper("push")
        if helper.reply_waiting():
            _raise_reply(helper.receive())
        helper.send(("frame", frame))

    def finish(self, timings: Mapping[str, float]) -> SceneResult:
        helper = self._open_helper("finish")
        helper.send(("finish", dict(timings)))
        reply = helper.receive()
        if reply[0] != "done":
            _raise_reply(reply)
        self._helper = None
        return reply[1]

    def _open_helper(self, what: str) -> _Helper:
        if self._helper is None:
            raise OutputError(f"{what}: use the sink inside a with-block, before finish()")
        return self._helper


def _serve(commands: BinaryIO, replies: BinaryIO) -> None:
    """The helper's loop: one ``SceneSink`` at a time, driven by the caller's messages."""
    sink: SceneSink | None = None

    def reply(message: tuple) -> None:
        pickle.dump(message, replies, protocol=pickle.HIGHEST_PROTOCOL)
        replies.flush()

    while True:
        try:
            message: tuple[Any, ...] = pickle.load(commands)
        except EOFError:
            return
        kind = message[0]
        try:
            if kind == "begin":
                scene, trajectory, settings, out_dir, name, overwrite = message[1:]
                sink = SceneSink(scene, trajectory, settings, out_dir, name, overwrite=overwrite).__enter__()
            elif kind == "frame" and sink is not None:
                sink.push(message[1])
            elif kind == "finish" and sink is not None:
                result = sink.finish(message[1])
                sink = None
                reply(("done", result))
            elif kind == "abort":
                if sink is not None:
                    sink.__exit__(RuntimeError, RuntimeError("aborted"), None)
                    sink = None
                reply(("aborted",))
        except Exception as e:  # reported to the caller, who aborts the scene
            traceback.print_exc()
            if sink is not None:
                with contextlib.suppress(Exception):
                    sink.__exit__(type(e), e, e.__traceback__)
                sink = None
            reply(("error", type(e).__name__, str(e).strip().splitlines()[0] if str(e).strip() else ""))


def main() -> None:
    """Entry point of the helper: ``python -m sim.sink_process REPLY_FD PARENT_PID``."""
    reply_fd, parent_pid = int(sys.argv[1]), int(sys.argv[2])
    die_with_parent(parent_pid)
    with os.fdopen(reply_fd, "wb") as replies:
        _serve(sys.stdin.buffer, replies)


if __name__ == "__main__":
    main()
