"""A full or read-only output file system, without Blender: the errors are recognised and named in
one line, the writer leaves nothing that looks complete, the job log survives a line cut short, and
the pool stops the job at the first such error instead of retrying every scene into it."""

from __future__ import annotations

import errno
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import sim.io
from render_workers.job import JobSpec
from render_workers.joblog import JobLog, read_log
from render_workers.local import LocalPool
from render_workers.options import RunOptions
from render_workers.progress import Reporter
from render_workers.seeds import scene_name
from sim.errors import OutputError, StorageError, writing


@pytest.mark.parametrize(("code", "text"), [
    (errno.ENOSPC, "no space left on the device (ENOSPC)"),
    (errno.EDQUOT, "disk quota exceeded (EDQUOT)"),
    (errno.EROFS, "the file system is read-only (EROFS)")])
def test_full_or_read_only_becomes_one_storage_error(code, text):
    with pytest.raises(StorageError) as error, writing("/out/job"):
        raise OSError(code, os.strerror(code), "/out/job/scene_00001.partial/depth_00000.tiff")
    assert str(error.value) == f"{text} writing /out/job/scene_00001.partial/depth_00000.tiff"
    assert isinstance(error.value, OutputError)
    with pytest.raises(StorageError, match=r"^no space left on the device \(ENOSPC\) writing /out/job$"), \
            writing("/out/job"):
        raise OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(PermissionError), writing("/out/job"):  # not a storage condition: as it is
        raise PermissionError(errno.EACCES, "Permission denied")


def test_a_scene_whose_disk_fills_leaves_nothing(tmp_path, monkeypatch):
    real = sim.io._encode

    def fills_up(spec: Any, path: Path, array: np.ndarray) -> None:
        real(spec, path, array)
        path.write_bytes(path.read_bytes()[:10])  # a short write, then the error
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(sim.io, "_encode", fills_up)
    with pytest.raises(StorageError, match="no space left on the device"), \
            sim.io.SceneWriter(tmp_path, "scene_00000") as writer:
        writer.write_frame(0, {"depth": np.ones((4, 5), np.float32)})
    assert list(tmp_path.iterdir()) == []


def test_the_job_log_survives_a_line_cut_short(tmp_path):
    with JobLog(tmp_path) as log:
        log.write("run_start", pid=1)
    with open(tmp_path / "job_log.jsonl", "a") as f:
        f.write('{"event": "scene_done", "sce')  # the disk filled (or the driver died) mid-line
    with JobLog(tmp_path) as log:
        log.write("run_start", pid=2)
    assert [(r["event"], r["pid"]) for r in read_log(tmp_path)] == [("run_start", 1), ("run_start", 2)]


@dataclass(frozen=True)
class FullFromTask:
    """Scenes ``first``, … cannot be written: the output file system is full."""

    first: int = 2

    def warm_up(self) -> None:
        pass

    def __call__(self, spec: JobSpec, index: int, threads: int, progress: Any = None) -> dict[str, Any]:
        if index >= self.first:
            with writing(spec.out):
                raise OSError(errno.ENOSPC, "No space left on device", f"{spec.out}/{scene_name(index)}")
        return {"scene": scene_name(index), "index": index, "worker": os.getpid()}


def test_the_pool_stops_at_the_first_full_disk_error_without_retrying(tmp_path):
    spec = JobSpec(out=tmp_path, recipe="movi-a", scenes=8)
    with JobLog(tmp_path) as log:
        reporter = Reporter(log, 8, 0, stream=io.StringIO())
        with pytest.raises(StorageError, match=r"^scene_0000[23]: no space left on the device \(ENOSPC\) "):
            LocalPool(spec, RunOptions(workers=2, retries=2), reporter, task=FullFromTask()).run(range(8))
    records = read_log(tmp_path)
    (error,) = [r for r in records if r["event"] == "scene_error"]  # 1 attempt, not 8 scenes x 3
    assert error["index"] in (2, 3) and not error["retry"]
    starts = [r for r in records if r["event"] == "scene_start"]
    assert len(starts) <= 4 and all(r["attempt"] == 1 for r in starts)
    for pid in {r["worker"] for r in starts}:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.slow
def test_ray_stops_the_job_at_a_full_disk_too(tmp_path):
    ray = pytest.importorskip("ray")
    from render_workers.ray_backend import RayBackend

    here = str(Path(__file__).parent)  # Ray's workers import this module to run FullFromTask
    ray.init(num_cpus=1, include_dashboard=False, runtime_env={"env_vars": {"PYTHONPATH": here}})
    spec = JobSpec(out=tmp_path, recipe="movi-a", scenes=6)
    try:
        with JobLog(tmp_path) as log:
            reporter = Reporter(log, 6, 0, stream=io.StringIO())
            with pytest.raises(StorageError, match=r"^scene_0000\d: no space left on the device \(ENOSPC\) "):
                RayBackend().run(spec, range(6), RunOptions(backend="ray", workers=1, retries=0), reporter,
                                 task=FullFromTask(first=1))
    finally:
        ray.shutdown()
    assert not reporter.failures  # stopped, not six scenes reported failed one after another
    (error,) = [r for r in read_log(tmp_path) if r["event"] == "scene_error"]
    assert not error["retry"] and error["error"].startswith("StorageError: no space left")
