"""``scenesim estimate``: the cost model on fake job logs with exact figures, the CLI on a fake
finished job, and one tiny end-to-end run that renders sample scenes."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import pytest

from render_workers import jobdir
from render_workers.cli import main
from render_workers.estimate import (
    JOB_FILES,
    Measured,
    SceneCost,
    measured_from_log,
    predict,
    t_quantile_95,
    total_range,
)
from render_workers.job import JobSpec
from render_workers.joblog import LOG_FILE

LOG = [
    {"event": "run_start", "time": 100.0, "workers": 1, "threads": 2},
    {"event": "scene_start", "time": 105.0, "scene": "scene_00000"},
    {"event": "scene_done", "time": 115.0, "scene": "scene_00000", "seconds": 10.0, "size_bytes": 1000,
     "peak_rss_mb": 400.0},
    {"event": "scene_start", "time": 115.0, "scene": "scene_00001"},
    {"event": "scene_done", "time": 127.0, "scene": "scene_00001", "seconds": 12.0, "size_bytes": 1200,
     "peak_rss_mb": 450.0},
    {"event": "scene_start", "time": 127.0, "scene": "scene_00002"},
    {"event": "scene_done", "time": 141.0, "scene": "scene_00002", "seconds": 14.0, "size_bytes": 1400,
     "peak_rss_mb": 420.0},
    {"event": "run_end", "time": 142.0, "seconds": 42.0},
]


def test_t_quantiles():
    table = ((1, 6.314), (2, 2.920), (4, 2.132), (5, 2.015), (7, 1.895), (10, 1.812), (30, 1.697),
             (10**6, 1.645))
    for df, t in table:
        assert t_quantile_95(df) == pytest.approx(t, rel=2e-3)


def test_measured_from_a_job_log():
    m = measured_from_log(LOG, [40, 40, 40])
    assert [c.core_seconds for c in m.costs] == [20.0, 24.0, 28.0]  # 2 threads
    assert [c.size_bytes for c in m.costs] == [1000, 1200, 1400]
    assert m.overhead_s == 6.0  # 5 s to the first dispatch + 1 s after the last scene


def test_prediction_exact():
    m = measured_from_log(LOG, [40, 40, 40])
    e = predict(m, scenes=100, workers=1, threads=2, cores=2, source="test")
    half = 2.920 * 4.0 * math.sqrt(100 + 100**2 / 3)  # t(0.95, 2) * sd * sqrt(N + N^2/K)
    assert e.wall_s.value == pytest.approx(6 + 2400 / 2)
    assert e.wall_s.low == pytest.approx(6 + (2400 - half) / 2)
    assert e.wall_s.high == pytest.approx(6 + (2400 + half) / 2)
    assert e.core_hours.value == pytest.approx((6 + 1200) * 2 / 3600)
    assert e.disk_bytes.value == pytest.approx(120_000)
    assert e.disk_bytes.high - e.disk_bytes.value == pytest.approx(2.920 * 200 * math.sqrt(100 + 100**2 / 3))
    assert (e.files.value, e.files.low, e.files.high) == (4000 + JOB_FILES,) * 3  # every scene 40 files
    assert e.peak_rss_mb == 450.0 and e.samples == 3
    assert e.per_scene["core_seconds_mean"] == pytest.approx(24.0)
    # twice the cores: the scenes' part of the wall time halves, the core-hours stay
    e4 = predict(m, scenes=100, workers=4, threads=1, cores=4, source="test")
    assert e4.wall_s.value == pytest.approx(6 + 2400 / 4)
    assert e4.core_hours.value - 6 * 4 / 3600 == pytest.approx(e.core_hours.value - 6 * 2 / 3600)


def test_fewer_scenes_than_workers_take_one_scene_time():
    m = measured_from_log(LOG, [40, 40, 40])
    e = predict(m, scenes=3, workers=512, threads=1, cores=512, source="test")
    assert e.wall_s.value == pytest.approx(6 + 24.0)  # every scene at once, one thread each


def test_ranges_and_runs():
    assert total_range([5.0], 10) == total_range([5.0], 10)  # one sample: no range
    r = total_range([5.0], 10)
    assert (r.value, r.low, r.high) == (50.0, 50.0, 50.0)
    assert total_range([1.0, 100.0], 10).low == 0.0  # clipped at 0
    # threads come from each scene's own run; Ray's duplicate "skipped" reports are left out
    records = [{"event": "run_start", "time": 0.0, "threads": 1},
               {"event": "scene_done", "time": 1.0, "scene": "a", "seconds": 3.0},
               {"event": "run_start", "time": 10.0, "threads": 4},
               {"event": "scene_done", "time": 11.0, "scene": "b", "seconds": 3.0},
               {"event": "scene_done", "time": 12.0, "scene": "b", "skipped": True}]
    m = measured_from_log(records, [])
    assert [c.core_seconds for c in m.costs] == [3.0, 12.0] and m.overhead_s == 0.0


def test_a_log_without_rendered_scenes_is_refused():
    from sim.errors import OutputError

    with pytest.raises(OutputError, match="no rendered scene"):
        measured_from_log([{"event": "run_start", "time": 0.0}], [])


@pytest.fixture
def finished_job(tmp_path: Path) -> Path:
    jobdir.prepare(JobSpec(out=tmp_path, recipe="movi-a", scenes=3), restart=False)
    for k in range(3):
        scene = tmp_path / f"scene_{k:05d}"
        scene.mkdir()
        for name in ("scene.json", "metadata.json", "events.json", "rgba_00000.png"):
            (scene / name).write_text("{}")
    (tmp_path / LOG_FILE).write_text("".join(json.dumps(r) + "\n" for r in LOG))
    return tmp_path


def test_cli_from_a_finished_job(finished_job, tmp_path, capsys):
    out = tmp_path / "e.json"
    assert main(["estimate", "--from", str(finished_job), "--scenes", "100", "--cores", "8",
                 "--json", str(out)]) == 0
    e = json.loads(out.read_text())
    assert (e["scenes"], e["cores"], e["workers"], e["threads"], e["samples"]) == (100, 8, 8, 1, 3)
    assert e["wall_s"]["value"] == pytest.approx(6 + 13 * 24.0)  # 8 workers: 13 rounds of 1-thread scenes
    assert e["files"]["value"] == 400 + JOB_FILES
    assert e["load_average"] is None
    text = capsys.readouterr().out
    assert text.startswith("estimate for 100 scenes on 8 cores")
    assert main(["estimate", "--from", str(finished_job), "--json", str(out)]) == 0  # the job's own size
    assert json.loads(out.read_text())["scenes"] == 3


@pytest.mark.parametrize("argv, message", [
    (["--from", "JOB", "--samples", "4"], "--samples: --from JOB estimates with that job's settings"),
    (["--recipe", "movi-a"], "--scenes: give the number of scenes"),
    (["--from", "nowhere"], "--from nowhere: no job.json"),
])
def test_cli_errors(finished_job, capsys, argv, message):
    argv = [str(finished_job) if a == "JOB" else a for a in argv]
    assert main(["estimate", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_cli_workers_and_cores_exclude_each_other(capsys):
    with pytest.raises(SystemExit) as info:
        main(["estimate", "--recipe", "movi-a", "--scenes", "3", "--workers", "2", "--cores", "4"])
    assert info.value.code == 2


def test_files_are_counted_with_a_sample_measurement():
    m = Measured([SceneCost("a", 2.0, 1, 10), SceneCost("b", 4.0, 1, 30)], [7, 9], 1.0)
    e = predict(m, scenes=4, workers=1, threads=1, cores=1, source="test")
    assert e.files.value == 32 + JOB_FILES and e.disk_bytes.value == 80
    assert e.wall_s.value == 1.0 + 12.0


@pytest.mark.slow
def test_estimate_renders_samples_and_removes_them(tmp_path, monkeypatch, capsys):
    work = tmp_path / "tmp"
    work.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(work))
    out = tmp_path / "e.json"
    assert main(["estimate", "--recipe", "movi-a", "--scenes", "10", "--resolution", "16", "--frames", "2",
                 "--samples", "1", "--sample-scenes", "2", "--json", str(out)]) == 0
    e = json.loads(out.read_text())
    assert e["samples"] == 2 and e["scenes"] == 10
    assert e["per_scene"]["files_mean"] == 3 + 2 * 11  # JSON files + 11 passes per frame
    assert e["files"]["value"] == 10 * 25 + JOB_FILES
    assert 0 < e["wall_s"]["low"] <= e["wall_s"]["value"] <= e["wall_s"]["high"]
    assert e["disk_bytes"]["value"] > 0 and e["overhead_s"] > 0
    assert list(work.iterdir()) == []  # the sample job's directory is gone
    assert "estimate for 10 scenes" in capsys.readouterr().out


def test_no_sample_rendered_is_one_line_and_leaves_no_directory(tmp_path, monkeypatch, capsys):
    import render_workers.runner

    work = tmp_path / "tmp"
    work.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(work))
    monkeypatch.setattr(render_workers.runner, "run_job", lambda spec, options: 1)  # every scene failed
    assert main(["estimate", "--recipe", "movi-a", "--scenes", "10"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "scenesim: error: estimate: no sample scene rendered (the errors are above); fix the job before "
        "estimating it"]
    assert list(work.iterdir()) == []
