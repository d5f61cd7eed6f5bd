"""Shared by the fault tests of batch jobs: a tiny job, a byte-for-byte comparison of job outputs,
a private system temp dir, real small file systems (tmpfs) and scene tasks that inject faults into
real renders (picklable, so spawned pool workers run them)."""

from __future__ import annotations

import ctypes
import errno
import json
import os
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from render_workers.cli import main
from render_workers.job import JobSpec
from render_workers.joblog import read_log
from render_workers.worker import RenderTask
from sim.io import is_complete

SCENES = 4
NAMES = [f"scene_{k:05d}" for k in range(SCENES)]
JOB = ["--recipe", "movi-a", "--seed", "3", "--scenes", str(SCENES), "--param", "max_objects=3",
       "--resolution", "24", "--frames", "3", "--samples", "1"]


def render(out: Path, *extra: str) -> int:
    return main(["render", *JOB, "--out", str(out), *extra])


def events(out: Path, kind: str, since_last_run: bool = False) -> list[dict[str, Any]]:
    records = read_log(out)
    if since_last_run:
        records = records[max(i for i, r in enumerate(records) if r["event"] == "run_start"):]
    return [r for r in records if r["event"] == kind]


def complete_scenes(out: Path) -> list[str]:
    return [name for name in NAMES if is_complete(out / name)]


def assert_identical_jobs(expected: Path, actual: Path) -> None:
    """Every scene complete in both, with the same files byte for byte (``metadata.json`` without
    what says how the run went: stage timings and the Cycles thread count), and nothing else that
    looks like a scene."""
    assert complete_scenes(actual) == NAMES
    assert sorted(p.name for p in actual.glob("scene_*")) == NAMES
    for name in NAMES:
        files = sorted(p.name for p in (expected / name).iterdir())
        assert sorted(p.name for p in (actual / name).iterdir()) == files, name
        for file in files:
            a, b = (expected / name / file).read_bytes(), (actual / name / file).read_bytes()
            if file == "metadata.json":
                a, b = (json.loads(x) for x in (a, b))
                for metadata in (a, b):
                    metadata.pop("timings", None)
                    metadata["render_settings"].pop("threads")
            assert a == b, f"{name}/{file}"


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A system temp dir of this test's own (``TMPDIR``), to check what a run leaves in it."""
    path = tmp_path / "systmp"
    path.mkdir()
    monkeypatch.setenv("TMPDIR", str(path))
    monkeypatch.setattr(tempfile, "tempdir", str(path))
    return path


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, text=True)


@contextmanager
def tmpfs(path: Path, size_bytes: int) -> Iterator[Path]:
    """A real tmpfs of ``size_bytes`` mounted at ``path`` (skips the test where mounting is refused:
    not root, no CAP_SYS_ADMIN, no mount binary); unmounted afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        _mount("-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs", str(path))
    except (OSError, subprocess.CalledProcessError) as e:
        reason = getattr(e, "stderr", None) or str(e)
        pytest.skip(f"cannot mount a tmpfs here ({reason.strip()}); the fault-injection tests cover this")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-R", "-l", str(path)], check=False, capture_output=True)


def resize(path: Path, size_bytes: int) -> None:
    """Grows the tmpfs at ``path`` (what freeing space does)."""
    _mount("-o", f"remount,size={size_bytes}", str(path))


def make_read_only(path: Path) -> None:
    """``path`` turns read-only for everything opened from now on: a read-only bind mount of it over
    itself. (A plain ``mount -o remount,ro`` of the file system is refused with EBUSY while any file
    on it is open for writing, as the job log and blender.log are; a kernel that remounts after an
    I/O error does not wait for that.) ``umount`` of ``path`` makes it writable again."""
    _mount("--bind", str(path), str(path))
    _mount("-o", "remount,bind,ro", str(path))


def disk_usage(path: Path) -> int:
    """Bytes the files in ``path`` occupy on a tmpfs (whole 4 KiB pages; directories take none)."""
    return sum(-(-p.stat().st_size // 4096) * 4096 for p in path.rglob("*") if p.is_file())


FULL_MARKER = ".disk_full"
"""While this file exists in a job directory, ``DiskFullTask`` fails writes from scene ``first``."""


@dataclass(frozen=True)
class DiskFullTask(RenderTask):
    """The real ``RenderTask`` whose writer runs out of space, as the kernel makes it: a file is
    written halfway, then the write fails with ENOSPC. It fails every encoded pass file of scenes
    ``first``, … while ``OUT/.disk_full`` exists (deleting it is freeing space). The sink runs in the
    worker process, so the patch applies to it."""

    first: int = 2

    def __call__(self, spec: JobSpec, index: int, threads: int, progress: Any = None) -> dict[str, Any]:
        import sim.io
        import sim.sink_process

        sim.sink_process.AVAILABLE = False
        full = index >= self.first and (Path(spec.out) / FULL_MARKER).exists()
        if full and not hasattr(sim.io, "_real_encode"):
            sim.io._real_encode = sim.io._encode

            def encode_until_full(pass_spec: Any, path: Path, array: Any) -> None:
                sim.io._real_encode(pass_spec, path, array)
                data = path.read_bytes()
                path.write_bytes(data[:len(data) // 2])
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

            sim.io._encode = encode_until_full
        elif not full and hasattr(sim.io, "_real_encode"):
            sim.io._encode = sim.io._real_encode
            del sim.io._real_encode
        return super().__call__(spec, index, threads, progress)


@dataclass(frozen=True)
class HangInBlenderTask(RenderTask):
    """The real ``RenderTask``, except that the first attempt of scene ``index`` hangs inside
    Blender's render call: a persistent ``render_pre`` handler (which Blender's C render code calls)
    touches ``OUT/.hung_<index>``, blocks every signal and calls ``pause()`` through a
    ``ctypes.PyDLL`` (which keeps the GIL), so the process blocks in C under
    ``bpy.ops.render.render`` with the GIL held, as a deadlock in Cycles or a GPU driver would: no
    Python code runs again in it, so no Python-level timeout or signal handler can end it, and even
    SIGTERM and SIGINT stay pending; only SIGKILL can. Later attempts (the marker exists) render."""

    index: int = 1

    def __call__(self, spec: JobSpec, index: int, threads: int, progress: Any = None) -> dict[str, Any]:
        import bpy

        marker = Path(spec.out) / f".hung_{index}"
        if index == self.index and not marker.exists():

            @bpy.app.handlers.persistent  # survives the reset at the start of the scene
            def hang(*_: Any) -> None:
                marker.touch()
                signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
                while True:
                    ctypes.PyDLL(None).pause()

            bpy.app.handlers.render_pre.append(hang)
        return super().__call__(spec, index, threads, progress)
