"""The Ray backend's fault rules without Blender, on one local Ray instance: the local pool's stand-in
task (``FakeTask``) raises, crashes its worker, hangs or runs long on chosen scenes, and the Ray
driver retries, reports, times out and stops on Ctrl-C as the local pool does."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from test_pool import FakeTask, _assert_no_live_workers, _events

from render_workers.job import JobSpec
from render_workers.joblog import JobLog, read_log
from render_workers.options import RunOptions
from render_workers.progress import Reporter
from render_workers.ray_backend import remove_worker_tmpdirs

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module", autouse=True)
def ray_instance():
    """One local Ray instance of 2 CPUs for the module (the backend uses an initialised Ray as is);
    its workers import ``FakeTask`` from this directory."""
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(Path(__file__).parent)}})
    yield
    ray.shutdown()
    remove_worker_tmpdirs()  # as a driver does after stopping the Ray instance it started


def _run(tmp_path: Path, task: FakeTask, scenes: int = 4, **options: Any) -> list[dict[str, Any]]:
    spec = JobSpec(out=tmp_path, recipe="movi-a", scenes=scenes)
    options = RunOptions(backend="ray", **options)
    with JobLog(tmp_path) as log:
        reporter = Reporter(log, scenes, 0, stream=io.StringIO())
        options.executor.run(spec, range(scenes), options, reporter, task=task)
    return read_log(tmp_path)


def _attempts(records: list[dict[str, Any]], kind: str) -> list[tuple[int, int]]:
    return sorted((r["index"], r["attempt"]) for r in _events(records, kind))


def test_a_task_that_raises_is_retried_then_reported_and_the_rest_finishes(tmp_path):
    records = _run(tmp_path, FakeTask(fail=1), retries=1)
    errors = _events(records, "scene_error")
    assert [(e["index"], e["attempt"], e["retry"]) for e in errors] == [(1, 1, True), (1, 2, False)]
    assert {e["error"] for e in errors} == {"ValueError: scene 1 cannot be built"}
    (failed,) = _events(records, "scene_failed")
    assert (failed["index"], failed["attempts"]) == (1, 2)
    assert _attempts(records, "scene_done") == [(0, 1), (2, 1), (3, 1)]
    # every attempt started on a node, in a worker process named in the log
    assert _attempts(records, "scene_start") == [(0, 1), (1, 1), (1, 2), (2, 1), (3, 1)]
    assert all(r["node"] for r in _events(records, "scene_start") + _events(records, "scene_done"))


def test_a_killed_worker_costs_one_attempt_retried_in_a_fresh_process(tmp_path):
    records = _run(tmp_path, FakeTask(crash=2))
    (error,) = _events(records, "scene_error")
    assert error["index"] == 2 and error["retry"] and error["error"].startswith("WorkerCrashedError: ")
    assert _attempts(records, "scene_done") == [(0, 1), (1, 1), (2, 2), (3, 1)]
    assert not (tmp_path / "scene_00002.partial").exists()  # what the killed attempt left, cleaned
    _assert_no_live_workers([r for r in records if r["event"] == "scene_start" and r["index"] == 2
                             and r["attempt"] == 1])


def test_a_hung_task_is_killed_at_the_timeout_and_retried(tmp_path):
    start = time.monotonic()
    records = _run(tmp_path, FakeTask(hang=1), timeout_s=3)
    assert time.monotonic() - start < 120  # the hang is 600 s
    (error,) = _events(records, "scene_error")
    assert (error["index"], error["attempt"], error["retry"]) == (1, 1, True)
    assert error["error"] == "timed out after 3 s"
    assert _attempts(records, "scene_done") == [(0, 1), (1, 2), (2, 1), (3, 1)]
    hung = [r for r in _events(records, "scene_start") if (r["index"], r["attempt"]) == (1, 1)]
    _assert_no_live_workers(hung)


def test_interrupt_cancels_tasks_in_flight_and_cleans_their_scenes(tmp_path):
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # pytest may run with it ignored

    def interrupt_when_busy() -> None:
        while len(_events(read_log(tmp_path), "scene_start")) < 2:
            time.sleep(0.05)
        (tmp_path / "scene_00001.partial").mkdir()  # as a writer in flight would have
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt_when_busy, daemon=True).start()
    try:
        with pytest.raises(KeyboardInterrupt):
            _run(tmp_path, FakeTask(seconds=60))
    finally:
        signal.signal(signal.SIGINT, previous)
    records = read_log(tmp_path)
    assert not _events(records, "scene_done") and len(_events(records, "scene_start")) == 2
    assert not (tmp_path / "scene_00001.partial").exists()
    _assert_no_live_workers(records)


@pytest.mark.slow
def test_a_ray_job_leaves_no_temporary_directory(tmp_path):
    """Each Ray worker process has a temporary directory of its own (Blender's session folder inside);
    the driver deletes them once it has stopped the local Ray instance it started."""
    systmp = tmp_path / "systmp"
    systmp.mkdir()
    env = {**os.environ, "TMPDIR": str(systmp), "RAY_TMPDIR": tempfile.gettempdir()}
    done = subprocess.run([sys.executable, "-m", "render_workers.cli", "render", "--recipe", "movi-a",
                           "--scenes", "2", "--resolution", "16", "--frames", "2", "--samples", "1",
                           "--backend", "ray", "--workers", "2", "--out", str(tmp_path / "job")],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    left = [p.name for p in systmp.iterdir()
            if p.name.startswith(("blender_", "scenesim-")) and p.name != "scenesim-cores"]
    assert left == []
