"""Temporary directories: each pool worker gets its own TMPDIR, deleted when the worker ends however
it ends (here: exits, is killed with SIGKILL); directories of dead processes are removed at the next
run, those of live ones are not (no Blender: a stand-in task writes where Blender would)."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from render_workers.job import JobSpec
from render_workers.joblog import JobLog, read_log
from render_workers.local import LocalPool
from render_workers.options import RunOptions
from render_workers.progress import Reporter
from render_workers.seeds import scene_name
from sim import tempdirs
from tests.job_faults import private_tmp  # noqa: F401  (a fixture)
from tests.test_pool import meet_workers


@dataclass(frozen=True)
class TempWritingTask:
    """Leaves files and a ``blender_*`` folder in its temporary directory, as Blender does; scene
    ``crash`` SIGKILLs its worker on the first attempt; ``meet``: as ``FakeTask.meet``."""

    crash: int = -1
    meet: int = 0

    def warm_up(self) -> None:
        Path(tempfile.mkdtemp(prefix="blender_")).joinpath("session.txt").write_text("x")

    def __call__(self, spec: JobSpec, index: int, threads: int, progress: Any = None) -> dict[str, Any]:
        meet_workers(Path(spec.out), self.meet)
        Path(tempfile.gettempdir(), f"frame_{index}.exr").write_bytes(b"x" * 1000)
        marker = Path(spec.out) / f"attempted_{index}"
        if index == self.crash and not marker.exists():
            marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return {"scene": scene_name(index), "index": index, "worker": os.getpid(),
                "tmpdir": tempfile.gettempdir(), "env": os.environ["TMPDIR"]}


def test_each_worker_has_its_own_tmpdir_deleted_when_it_ends(tmp_path, private_tmp):  # noqa: F811
    out = tmp_path / "job"
    out.mkdir()
    spec = JobSpec(out=out, recipe="movi-a", scenes=6)
    with JobLog(out) as log:
        reporter = Reporter(log, 6, 0, stream=io.StringIO())
        LocalPool(spec, RunOptions(workers=2), reporter, task=TempWritingTask(crash=3, meet=2)).run(range(6))
    done = [r for r in read_log(out) if r["event"] == "scene_done"]
    assert sorted(r["index"] for r in done) == list(range(6))
    assert all(r["tmpdir"] == r["env"] and Path(r["tmpdir"]).parent == private_tmp for r in done)
    dirs = {(r["worker"], r["tmpdir"]) for r in done}
    assert len({path for _, path in dirs}) == len({pid for pid, _ in dirs}) >= 3  # one per process
    assert all(Path(path).name.startswith(f"scenesim-{os.getpid()}-worker") for _, path in dirs)
    assert list(private_tmp.iterdir()) == []  # the SIGKILLed worker's too


def test_stale_directories_of_dead_processes_are_removed(private_tmp):  # noqa: F811
    dead = subprocess.Popen(["true"])
    dead.wait()  # its pid belongs to no process now
    stale = private_tmp / f"scenesim-{dead.pid}-worker0-abc"
    (stale / "blender_x1y2").mkdir(parents=True)
    live = tempdirs.make("render")
    other = private_tmp / "someone-elses"
    other.mkdir()
    assert tempdirs.remove_stale() == [stale.name]
    assert sorted(p.name for p in private_tmp.iterdir()) == sorted([live.name, other.name])
