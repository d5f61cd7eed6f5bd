"""The local pool's scheduling without Blender: a stand-in task that crashes, raises, hangs or
bloats on chosen scenes drives retries, crash isolation, timeouts, recycling and Ctrl-C."""

from __future__ import annotations

import io
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from render_workers.job import JobSpec
from render_workers.joblog import JobLog, read_log
from render_workers.local import LocalPool
from render_workers.options import RunOptions
from render_workers.progress import Reporter
from render_workers.seeds import scene_name
from sim.errors import RenderError
from sim.processes import available_cores


@dataclass(frozen=True)
class FakeTask:
    """Stands in for RenderTask in spawned workers. On the first attempt only (a marker file per
    scene records it), scene ``crash`` SIGKILLs its worker and scene ``hang`` sleeps; scene ``fail``
    raises on every attempt; every report claims ``rss_mb`` of memory. With ``meet`` > 0, a scene
    finishes only once ``meet`` worker processes have started one (or after a minute), so that on a
    busy machine one worker cannot take every scene before the others have started."""

    crash: int = -1
    hang: int = -1
    fail: int = -1
    rss_mb: float = 100.0
    seconds: float = 0.05
    meet: int = 0

    def warm_up(self) -> None:
        pass

    def __call__(self, spec: JobSpec, index: int, threads: int, progress: Any = None) -> dict[str, Any]:
        marker = Path(spec.out) / f"attempted_{index}"
        first = not marker.exists()
        marker.touch()
        if index == self.fail:
            raise ValueError(f"scene {index} cannot be built")
        if first and index == self.crash:
            partial = Path(spec.out) / f"{scene_name(index)}.partial"
            partial.mkdir()  # what a killed writer leaves behind
            os.kill(os.getpid(), signal.SIGKILL)
        if first and index == self.hang:
            time.sleep(600)
        meet_workers(Path(spec.out), self.meet)
        time.sleep(self.seconds)
        if progress is not None:
            for frame in (1, 2):
                progress(frame, 2)
        return {"scene": scene_name(index), "index": index, "worker": os.getpid(), "threads": threads,
                "cores": sorted(os.sched_getaffinity(0)), "rss_mb": self.rss_mb}


def meet_workers(out: Path, workers: int) -> None:
    """Marks this worker process as started (a file in ``out``) and waits until ``workers`` of them
    have (at most a minute): a stand-in task calls it so that on a busy machine one worker cannot
    take every scene before the others have started."""
    (out / f"worker_{os.getpid()}").touch()
    deadline = time.monotonic() + 60
    while len(list(out.glob("worker_*"))) < workers and time.monotonic() < deadline:
        time.sleep(0.01)


def _run(tmp_path: Path, task: FakeTask, scenes: int = 6, **options: Any) -> list[dict[str, Any]]:
    spec = JobSpec(out=tmp_path, recipe="movi-a", scenes=scenes)
    with JobLog(tmp_path) as log:
        reporter = Reporter(log, scenes, 0, stream=io.StringIO())
        LocalPool(spec, RunOptions(**options), reporter, task=task).run(range(scenes))
    return read_log(tmp_path)


def _events(records: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in records if r["event"] == kind]


def _assert_no_live_workers(records: list[dict[str, Any]], within_s: float = 10.0) -> None:
    """Every worker process named in ``records`` is gone, or goes within ``within_s`` seconds (a
    cancelled Ray worker is not our child: its raylet ends it a moment after the driver returns)."""
    deadline = time.monotonic() + within_s
    for pid in {r["worker"] for r in records if "worker" in r}:
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_every_scene_once_across_persistent_workers(tmp_path):
    records = _run(tmp_path, FakeTask(meet=2), workers=2)
    done = _events(records, "scene_done")
    assert sorted(r["index"] for r in done) == list(range(6))
    assert len({r["worker"] for r in done}) == 2  # two processes, each rendering several scenes
    assert all(r["threads"] == max(1, available_cores() // 2) for r in done)
    cores = {r["worker"]: frozenset(r["cores"]) for r in done}
    if available_cores() >= 2:  # each worker pinned to cores of its own, as many as its threads
        first, second = cores.values()
        assert not first & second and len(first) == len(second) == available_cores() // 2
    assert not _events(records, "scene_error")
    _assert_no_live_workers(records)


def test_frame_progress_reaches_the_driver_as_lines(tmp_path):
    spec = JobSpec(out=tmp_path, recipe="movi-a", scenes=2)
    stream = io.StringIO()
    with JobLog(tmp_path) as log:
        reporter = Reporter(log, 2, 0, stream=stream, frame_interval_s=0.0)
        LocalPool(spec, RunOptions(workers=1), reporter, task=FakeTask()).run(range(2))
    lines = [line for line in stream.getvalue().splitlines() if " frame " in line]
    assert lines == [f"scenesim: scene_0000{k} frame {t}/2" for k in (0, 1) for t in (1, 2)]


def test_frame_progress_shows_in_the_scene_bar_on_a_terminal(tmp_path):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    with JobLog(tmp_path) as log:
        reporter = Reporter(log, 3, 0, stream=stream)
        reporter.frame(1, 5, 24)
        reporter.close()
    assert "0/3" in stream.getvalue() and "scene_00001 frame 5/24" in stream.getvalue()
    assert read_log(tmp_path) == []  # frame progress is not logged


def test_killed_worker_costs_one_attempt_retried_in_a_fresh_process(tmp_path):
    records = _run(tmp_path, FakeTask(crash=2), workers=2)
    (error,) = _events(records, "scene_error")
    assert error["index"] == 2 and error["retry"] and "SIGKILL" in error["error"]
    starts = [r for r in _events(records, "scene_start") if r["index"] == 2]
    assert [r["attempt"] for r in starts] == [1, 2]
    assert starts[0]["worker"] != starts[1]["worker"]
    second_worker_first_scene = min((r for r in _events(records, "scene_start")
                                     if r["worker"] == starts[1]["worker"]), key=lambda r: r["time"])
    assert second_worker_first_scene["index"] == 2  # the fresh process retries it before anything else
    assert sorted(r["index"] for r in _events(records, "scene_done")) == list(range(6))
    assert not (tmp_path / "scene_00002.partial").exists()
    _assert_no_live_workers(records)


def test_scene_failing_every_attempt_is_reported_and_the_rest_finishes(tmp_path):
    records = _run(tmp_path, FakeTask(fail=1), workers=2, retries=2)
    errors = [r for r in _events(records, "scene_error") if r["index"] == 1]
    assert [(r["attempt"], r["retry"]) for r in errors] == [(1, True), (2, True), (3, False)]
    assert errors[0]["error"] == "ValueError: scene 1 cannot be built"
    (failed,) = _events(records, "scene_failed")
    assert (failed["scene"], failed["attempts"]) == ("scene_00001", 3)
    assert sorted(r["index"] for r in _events(records, "scene_done")) == [0, 2, 3, 4, 5]


def test_hung_scene_is_killed_at_the_timeout_and_retried(tmp_path):
    start = time.monotonic()
    records = _run(tmp_path, FakeTask(hang=0), scenes=2, workers=1, timeout_s=1.5)
    assert time.monotonic() - start < 60
    (error,) = _events(records, "scene_error")
    assert error["index"] == 0 and error["error"] == "timed out after 1.5 s" and error["retry"]
    assert sorted(r["index"] for r in _events(records, "scene_done")) == [0, 1]
    _assert_no_live_workers(records)


def test_workers_are_recycled_after_n_scenes(tmp_path):
    records = _run(tmp_path, FakeTask(), scenes=5, workers=1, recycle_after=2)
    pids = [r["worker"] for r in sorted(_events(records, "scene_done"), key=lambda r: r["index"])]
    assert pids[0] == pids[1] != pids[2] == pids[3] != pids[4]
    assert sum("recycled after 2 scenes" in r["reason"] for r in _events(records, "worker_exit")) == 2


def test_workers_are_recycled_past_the_memory_limit(tmp_path):
    records = _run(tmp_path, FakeTask(rss_mb=900.0), scenes=3, workers=1, max_memory_mb=800)
    assert len({r["worker"] for r in _events(records, "scene_done")}) == 3
    reasons = [r["reason"] for r in _events(records, "worker_exit")]
    assert reasons.count("recycled at 900 MiB resident (limit 800 MiB)") == 2


@dataclass(frozen=True)
class BrokenTask(FakeTask):
    """A task whose process cannot start (Blender missing, say)."""

    def warm_up(self) -> None:
        raise ImportError("no bpy here")


def test_workers_that_cannot_start_end_the_job_with_one_error(tmp_path):
    with pytest.raises(RenderError, match=r"^3 worker processes in a row failed to start, the last: worker "
                                          r"exited with status 1 \(see .*blender.log\)$"):
        _run(tmp_path, BrokenTask(), scenes=2, workers=1)
    assert "ImportError: no bpy here" in (tmp_path / "blender.log").read_text()
    _assert_no_live_workers(read_log(tmp_path))


def test_interrupt_stops_every_worker_and_cleans_unfinished_scenes(tmp_path):
    spec = JobSpec(out=tmp_path, recipe="movi-a", scenes=4)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # pytest may run with it ignored
    try:
        with JobLog(tmp_path) as log:
            reporter = Reporter(log, 4, 0, stream=io.StringIO())
            pool = LocalPool(spec, RunOptions(workers=2), reporter, task=FakeTask(hang=1, seconds=30))

            def interrupt_when_busy() -> None:
                while len(_events(read_log(tmp_path), "scene_start")) < 2:
                    time.sleep(0.05)
                (tmp_path / "scene_00001.partial").mkdir()
                os.kill(os.getpid(), signal.SIGINT)

            threading.Thread(target=interrupt_when_busy, daemon=True).start()
            with pytest.raises(KeyboardInterrupt):
                pool.run(range(4))
    finally:
        signal.signal(signal.SIGINT, previous)
    records = read_log(tmp_path)
    assert not _events(records, "scene_done")
    assert len(_events(records, "worker_exit")) == 2
    assert not (tmp_path / "scene_00001.partial").exists()
    _assert_no_live_workers(records)


def test_workers_drop_the_script_paths_blender_adds_to_sys_path(monkeypatch):
    from render_workers.worker import _drop_blender_paths

    site = "/venv/lib/python3.11/site-packages"
    monkeypatch.setattr(sys, "path", [site, f"{site}/bpy/5.0/scripts/modules",
                                      "/root/.config/blender/5.0/scripts/addons/modules", "/work/scripts"])
    _drop_blender_paths()
    assert sys.path == [site, "/work/scripts"]
