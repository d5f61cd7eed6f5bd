"""Ray end to end with Blender (tiny scenes), on this machine: a multi-node cluster
(``ray.cluster_utils.Cluster``: a head without CPUs and two 1-CPU worker nodes) losing a node in
the middle of a job, a scene hung inside Blender ended by ``--timeout``, Ctrl-C of the driver with
tasks in flight, and resume after the driver was killed with SIGKILL. Every job ends with the same
files, byte for byte, as a 1-worker local run.

Faults are injected with ``tests.job_faults.HangInBlenderTask``, the real ``RenderTask`` with a
Blender render handler that blocks in C on the first attempt of one scene (see there). The driver
under test picks it up because the tests replace the ``RenderTask`` that
``render_workers.ray_backend`` instantiates."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from render_workers import ray_backend
from render_workers.cli import main
from render_workers.joblog import read_log
from tests.job_faults import JOB, NAMES, HangInBlenderTask, assert_identical_jobs, events, render

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

WAIT_S = 240.0
"""Generous bound on any wait of these tests (the machine is shared; nothing asserts a duration)."""
ROOT = str(Path(__file__).parents[1])
"""Where Ray workers and driver subprocesses import ``tests.job_faults`` from."""


def _done(records: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {r["index"]: r for r in records if r["event"] == "scene_done"}


def _wait_for(condition: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The job rendered by one local worker, uninterrupted."""
    out = tmp_path_factory.mktemp("reference")
    assert render(out, "--workers", "1") == 0
    return out


@pytest.fixture
def stall_scene(monkeypatch: pytest.MonkeyPatch):
    """Makes the Ray driver run ``HangInBlenderTask(index=k)``; Ray workers (started after this,
    with this environment) import it from ``ROOT``."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))

    def stall(index: int) -> None:
        monkeypatch.setattr(ray_backend, "RenderTask", lambda: HangInBlenderTask(index=index))

    return stall


def test_losing_a_node_mid_job_costs_one_attempt_and_the_job_completes(reference, tmp_path, stall_scene):
    """Scene 2 hangs on whichever node takes it first; that node is removed (its raylet and every
    process of it killed, as when a machine dies); the scene is retried on the other node."""
    stall_scene(2)
    t0 = time.monotonic()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    try:
        nodes = {node.node_id: node for node in (cluster.add_node(num_cpus=1) for _ in range(2))}
        cluster.wait_for_nodes()
        t_up = time.monotonic()
        result: list[int] = []
        driver = threading.Thread(target=lambda: result.append(
            render(tmp_path, "--backend", "ray", "--address", cluster.address)))
        driver.start()
        starts = lambda: [r for r in events(tmp_path, "scene_start") if r["index"] == 2]  # noqa: E731
        partial = tmp_path / "scene_00002.partial"  # what the dying node leaves behind
        _wait_for(lambda: (tmp_path / ".hung_2").exists() and starts() and partial.is_dir(),
                  "scene 2 to hang, half written")
        (start,) = starts()
        t_kill, killed_at = time.monotonic(), time.time()
        cluster.remove_node(nodes[start["node"]], allow_graceful=False)
        driver.join(WAIT_S)
        t_end = time.monotonic()
        assert result == [0]
    finally:
        cluster.shutdown()
    (error,) = events(tmp_path, "scene_error")
    assert (error["index"], error["attempt"], error["retry"]) == (2, 1, True)
    # Ray names the node's death, or the worker's if it saw that first
    assert error["error"].startswith(("NodeDiedError: ", "WorkerCrashedError: ")), error
    done = _done(read_log(tmp_path))
    assert sorted(done) == list(range(len(NAMES))) and done[2]["attempt"] == 2
    assert done[2]["node"] != start["node"]
    assert {r["node"] for r in done.values()} == set(nodes)  # the job ran across both nodes
    assert_identical_jobs(reference, tmp_path)
    _wait_for(lambda: not _alive(start["worker"]), "the lost node's worker to end")
    print(f"\nnode loss: cluster up {t_up - t0:.1f} s; job start to node removed {t_kill - t_up:.1f} s; "
          f"removed to job end {t_end - t_kill:.1f} s, the lost attempt's error logged after "
          f"{error['time'] - killed_at:.1f} s")


def test_a_scene_hung_inside_blender_is_killed_at_the_timeout_and_retried(reference, tmp_path, stall_scene):
    stall_scene(1)
    assert render(tmp_path, "--backend", "ray", "--workers", "2", "--timeout", "20") == 0
    (error,) = events(tmp_path, "scene_error")
    assert (error["index"], error["attempt"], error["error"], error["retry"]) == (
        1, 1, "timed out after 20 s", True)
    assert (tmp_path / ".hung_1").exists() and _done(read_log(tmp_path))[1]["attempt"] == 2
    hung = [r["worker"] for r in events(tmp_path, "scene_start") if (r["index"], r["attempt"]) == (1, 1)]
    assert not _alive(hung[0])
    assert_identical_jobs(reference, tmp_path)


def _driver(out: Path, marker: str, stall: int) -> subprocess.Popen:
    """``scenesim render … --backend ray`` whose scene ``stall`` hangs inside Blender, in a session of
    its own, as from a terminal; every process it starts (Ray's, Blender's) inherits ``marker`` in
    its environment."""
    code = ("import sys; from render_workers import ray_backend; from render_workers.cli import main; "
            "from tests.job_faults import HangInBlenderTask; "
            f"ray_backend.RenderTask = lambda: HangInBlenderTask(index={stall}); "
            "sys.exit(main(sys.argv[1:]))")
    command = [sys.executable, "-c", code, "render", *JOB, "--out", str(out), "--backend", "ray",
               "--workers", "2"]
    env = {**os.environ, "SCENESIM_TEST_RUN": marker,
           "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))}
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _marked_processes(marker: str) -> list[int]:
    """Pids of the live processes whose environment holds ``marker``."""
    pids, entry = [], f"SCENESIM_TEST_RUN={marker}".encode()
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and entry in (proc / "environ").read_bytes():
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def _wait_for_hang(out: Path, process: subprocess.Popen, stall: int) -> None:
    """Until scene ``stall`` hangs, half written, and two other scenes are done."""
    hung = lambda: (out / f".hung_{stall}").exists() and (out / f"scene_{stall:05d}.partial").is_dir()  # noqa: E731
    _wait_for(lambda: hung() and len(_done(read_log(out))) >= 2 or process.poll() is not None,
              "a hung scene and two done")
    assert process.poll() is None, process.communicate()[0]


def test_ctrl_c_with_tasks_in_flight_exits_130_and_leaves_nothing_running(reference, tmp_path):
    """Ctrl-C while one scene hangs inside Blender (only SIGKILL ends its worker) and others render."""
    marker = uuid.uuid4().hex
    process = _driver(tmp_path, marker, stall=2)
    _wait_for_hang(tmp_path, process, 2)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground group
    output = process.communicate(timeout=WAIT_S)[0]
    assert process.returncode == 130, output
    assert f"continue with 'scenesim resume {tmp_path}'" in output
    assert not list(tmp_path.glob("*.partial"))
    _wait_for(lambda: not _marked_processes(marker), "every process of the run to end")
    assert 2 not in _done(read_log(tmp_path))
    assert main(["resume", str(tmp_path), "--workers", "2"]) == 0  # how a job runs may change on resume
    assert_identical_jobs(reference, tmp_path)


def test_resume_after_the_driver_was_killed_renders_the_same_files(reference, tmp_path):
    marker = uuid.uuid4().hex
    process = _driver(tmp_path, marker, stall=2)
    _wait_for_hang(tmp_path, process, 2)
    process.kill()  # SIGKILL: no clean-up at all
    process.communicate(timeout=WAIT_S)
    workers = {r["worker"] for r in events(tmp_path, "scene_start")}  # the hung one included
    _wait_for(lambda: not any(map(_alive, workers)), "the killed run's render workers to end")
    # (Ray's own agent processes of the instance the driver started follow within about a minute)
    assert (tmp_path / "scene_00002.partial").is_dir()
    assert main(["resume", str(tmp_path), "--backend", "ray", "--workers", "2"]) == 0
    resumed = [r for r in read_log(tmp_path) if r["event"] == "run_start"][-1]
    assert "scene_00002.partial" in resumed["removed"]
    assert_identical_jobs(reference, tmp_path)
