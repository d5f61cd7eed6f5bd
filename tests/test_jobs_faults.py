"""Faults of a batch job with Blender (tiny scenes): the output file system filling up (injected into
the writer, and a real tmpfs) or turning read-only stops the job at once with one line, and a
resume afterwards gives the same files as an undisturbed run; a scene hung inside Blender's C code
is ended by --timeout and retried; no temporary directory is left behind."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from render_workers.cli import main
from tests.job_faults import (
    FULL_MARKER,
    NAMES,
    DiskFullTask,
    HangInBlenderTask,
    assert_identical_jobs,
    complete_scenes,
    disk_usage,
    events,
    make_read_only,
    private_tmp,  # noqa: F401  (a fixture)
    render,
    resize,
    tmpfs,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The job rendered by one worker, undisturbed."""
    out = tmp_path_factory.mktemp("reference")
    assert render(out, "--workers", "1") == 0
    return out


def _assert_stopped_once(out: Path, err: str, cause: str) -> None:
    """One ``stopped`` line naming ``cause``, no retries, nothing half-written that looks complete."""
    assert [line for line in err.splitlines() if line.startswith("scenesim: stopped: ")] == [
        line for line in err.splitlines() if cause in line], err
    assert err.count("scenesim: stopped: ") == 1 and "attempt" not in err and "retrying" not in err, err
    assert f"continue with 'scenesim resume {out}'" in err
    (error,) = events(out, "scene_error")
    assert not error["retry"] and cause in error["error"]
    assert all(r["attempt"] == 1 for r in events(out, "scene_start"))
    for path in out.glob("scene_*"):  # complete, or visibly unfinished
        assert path.name in complete_scenes(out) or path.name.endswith(".partial"), path.name


def test_disk_full_in_the_writer_stops_the_job_and_resume_completes_it(reference, tmp_path, monkeypatch,
                                                                       capsys):
    monkeypatch.setattr("render_workers.local.RenderTask", DiskFullTask)  # what the pool's workers run
    out = tmp_path / "job"
    out.mkdir()
    (out / FULL_MARKER).touch()
    assert render(out, "--workers", "2") == 1
    _assert_stopped_once(out, capsys.readouterr().err, "no space left on the device (ENOSPC) writing")
    assert set(complete_scenes(out)) <= {"scene_00000", "scene_00001"}  # scenes 2, 3 fail to write

    (out / FULL_MARKER).unlink()  # space freed
    assert main(["resume", str(out)]) == 0
    assert_identical_jobs(reference, out)


def test_a_real_file_system_filling_up(reference, tmp_path, capsys):
    room = disk_usage(reference / NAMES[0]) * 2 + 96 * 1024  # ~2 scenes, the job files and logs
    with tmpfs(tmp_path / "fs", room) as fs:
        out = fs / "job"
        assert render(out, "--workers", "2") == 1
        _assert_stopped_once(out, capsys.readouterr().err, "no space left on the device (ENOSPC)")
        assert len(complete_scenes(out)) < len(NAMES)

        resize(fs, 64 << 20)
        assert main(["resume", str(out)]) == 0
        assert_identical_jobs(reference, out)


def test_a_file_system_turning_read_only(reference, tmp_path, capsys):
    with tmpfs(tmp_path / "fs", 64 << 20) as fs:
        out = fs / "job"
        result: list[int] = []
        runner = threading.Thread(target=lambda: result.append(render(out, "--workers", "1")))
        runner.start()
        while not complete_scenes(out) and runner.is_alive():
            time.sleep(0.005)
        make_read_only(out)
        runner.join(timeout=300)
        assert result == [1]
        _assert_stopped_once(out, capsys.readouterr().err, "the file system is read-only (EROFS)")

        subprocess.run(["umount", str(out)], check=True)  # writable again
        assert main(["resume", str(out)]) == 0
        assert_identical_jobs(reference, out)


def test_a_scene_hung_inside_blender_is_killed_at_the_timeout_and_retried(reference, tmp_path, monkeypatch,
                                                                          private_tmp):  # noqa: F811
    monkeypatch.setattr("render_workers.local.RenderTask", HangInBlenderTask)
    out = tmp_path / "job"  # tmp_path holds the private TMPDIR: not an output directory
    start = time.monotonic()
    assert render(out, "--workers", "1", "--timeout", "20") == 0
    assert time.monotonic() - start < 200
    (error,) = events(out, "scene_error")
    assert (error["index"], error["error"], error["retry"]) == (1, "timed out after 20 s", True)
    starts = [r for r in events(out, "scene_start") if r["index"] == 1]
    assert [r["attempt"] for r in starts] == [1, 2] and starts[0]["worker"] != starts[1]["worker"]
    with pytest.raises(ProcessLookupError):
        os.kill(starts[0]["worker"], 0)
    assert_identical_jobs(reference, out)
    assert not list(private_tmp.iterdir())  # the killed worker's TMPDIR (Blender's folder in it) too
