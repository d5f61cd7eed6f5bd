"""``scenesim status``: counts from the directory, failures, mean time and ETA from the job log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from render_workers import jobdir
from render_workers.joblog import LOG_FILE, JobLog, read_log
from render_workers.status import format_status, job_status
from sim.errors import OutputError


def _write_log(out: Path, records: list[dict]) -> None:
    (out / LOG_FILE).write_text("".join(json.dumps(r) + "\n" for r in records))


@pytest.fixture
def job(new_job) -> Path:
    return new_job(scenes=10)


def test_status_of_an_interrupted_job_with_a_failure(job, complete_scene):
    for k in (0, 1, 2, 3):
        complete_scene(job / f"scene_{k:05d}")
    _write_log(job, [
        {"event": "run_start", "time": 100.0, "workers": 2, "todo": 10},
        {"event": "scene_done", "time": 120.0, "scene": "scene_00000", "seconds": 30.0},
        {"event": "scene_done", "time": 130.0, "scene": "scene_00001", "seconds": 20.0},
        {"event": "scene_failed", "time": 135.0, "scene": "scene_00004", "error": "RecipeError: boom"},
        {"event": "run_end", "time": 140.0, "interrupted": True},
        {"event": "run_start", "time": 1000.0, "workers": 2, "todo": 8},
        {"event": "scene_done", "time": 1030.0, "scene": "scene_00002", "seconds": 40.0},
        {"event": "scene_done", "time": 1060.0, "scene": "scene_00003", "seconds": 30.0},
    ])
    (job / LOG_FILE).open("a").write('{"event": "scene_do')  # a line cut short by a killed driver
    status = job_status(job)
    assert (status.total, status.done, status.remaining) == (10, 4, 5)
    assert status.failed == {"scene_00004": "RecipeError: boom"}
    assert status.mean_scene_s == pytest.approx(30.0)
    assert status.rate_per_h == pytest.approx(2 / 60 * 3600)  # two scenes in the last run's 60 s
    assert status.eta_s == pytest.approx(5 * 30.0)  # the failed scene waits for a resume
    assert status.running_pid is None
    assert format_status(status).splitlines() == [
        f"{job}: 4/10 scenes done, 1 failed, 5 remaining; not running",
        "mean 30.0s per scene, 120 scenes/h in the last run, ETA 2m30s",
        "failed scene_00004: RecipeError: boom",
        f"'scenesim resume {job}' retries the failed scenes",
    ]


def test_a_job_whose_missing_scenes_all_failed_has_no_eta(job, complete_scene):
    for k in range(9):
        complete_scene(job / f"scene_{k:05d}")
    _write_log(job, [
        {"event": "run_start", "time": 0.0, "workers": 1, "todo": 10},
        {"event": "scene_done", "time": 10.0, "scene": "scene_00000", "seconds": 10.0},
        {"event": "scene_failed", "time": 20.0, "scene": "scene_00009", "error": "RenderError: boom"},
        {"event": "run_end", "time": 20.0},
    ])
    status = job_status(job)
    assert (status.remaining, status.eta_s) == (0, None)
    text = format_status(status)
    assert "1 failed, 0 remaining" in text and "ETA" not in text
    assert text.endswith(f"'scenesim resume {job}' retries the failed scenes")


def test_a_failed_scene_rendered_later_is_not_failed(job, complete_scene):
    complete_scene(job / "scene_00004")
    _write_log(job, [{"event": "run_start", "time": 0.0, "workers": 1},
                     {"event": "scene_failed", "time": 1.0, "scene": "scene_00004", "error": "x"}])
    assert job_status(job).failed == {}


def test_status_of_a_fresh_job_and_a_running_one(job):
    status = job_status(job)
    assert (status.done, status.mean_scene_s, status.eta_s) == (0, None, None)
    with jobdir.locked(job):
        assert "running (pid " in format_status(job_status(job))


def test_status_refuses_a_non_job_directory(tmp_path):
    with pytest.raises(OutputError, match="no job.json"):
        job_status(tmp_path)


def test_job_log_lines_are_json_with_event_and_time(tmp_path):
    with JobLog(tmp_path) as log:
        log.write("scene_done", scene="scene_00000", seconds=1.5)
    (record,) = read_log(tmp_path)
    assert record["event"] == "scene_done" and record["seconds"] == 1.5 and record["time"] > 1.7e9
