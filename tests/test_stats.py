"""``scenesim stats``: per-scene statistics and the job's distributions on synthetic scene
directories with known content, the plots, the JSON keys and the per-scene cache."""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from synthetic_scenes import make_scene, still_trajectory

from render_workers import jobdir
from render_workers.cli import main
from render_workers.job import JobSpec
from render_workers.joblog import LOG_FILE
from sim import annotate
from sim.io import SceneWriter
from sim.metadata import build_metadata
from sim.scene import Camera
from sim.stats import CACHE_FILE, HISTOGRAMS, scene_stats
from sim.stats_plots import PANELS, write_plots
from sim.stats_summary import format_summary, job_stats

W, H, F = 12, 8, 3


def _frame(t: int, passes: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Frame t: instance 1 a 3x3 block, instance 2 a 2x3 block, instance 3 never visible; forward
    flow (3, 4) everywhere in frame 0 (5 px), (6, 8) in frame 1 (10 px), NaN in the last frame;
    depth 1 + t m, +inf in the top row; flow valid in frames 0 and 1, occluded in frame 0's top
    two rows (24 of 96 pixels)."""
    seg = np.zeros((H, W), dtype=np.uint16)
    seg[2:5, 1 + t:4 + t] = 1
    seg[5:7, 7:10] = 2
    flow = np.full((H, W, 2), np.nan, dtype=np.float32)
    if t < F - 1:
        flow[:] = (3.0, 4.0) if t == 0 else (6.0, 8.0)
    depth = np.full((H, W), 1.0 + t, dtype=np.float32)
    depth[0] = np.inf
    occluded = np.zeros((H, W), dtype=bool)
    if t == 0:
        occluded[:2] = True
    out = {"segmentation": seg, "forward_flow": flow, "depth": depth,
           "forward_flow_valid": np.full((H, W), t < F - 1), "forward_occluded": occluded}
    return {k: v for k, v in out.items() if k in passes}


ALL = ("segmentation", "forward_flow", "depth", "forward_flow_valid", "forward_occluded")


def _write(out: Path, name: str, *, passes: tuple[str, ...] = ALL, turning: bool = False,
           events: int = 0, overwrite: bool = False, fractions: list | None = None) -> Path:
    """A synthetic scene (``_frame``); ``turning``: the camera circles the origin 10° per frame on a
    radius of 8 m (path 2 chords of 2·8·sin 5° m, rotation 20°); else it is still. Without the
    segmentation pass, the metadata has no boxes and visibility (as a job rendered without it).
    ``fractions``: per instance per frame ``visible_fraction`` (as the amodal pass writes)."""
    scene = make_scene(F, (W, H))
    if turning:
        angles = np.radians([0.0, 10.0, 20.0])
        positions = tuple((8 * math.sin(a), -8 * math.cos(a), 3.0) for a in angles)
        scene = dataclasses.replace(scene, camera=Camera(positions=positions, look_at=((0, 0, 0),)))
    frames = [_frame(t, ALL) for t in range(F)]
    meta = build_metadata(scene, still_trajectory(scene), None,
                          boxes_2d=[annotate.boxes_2d(p["segmentation"], 3) for p in frames],
                          visibility=[annotate.visibility(p["segmentation"], 3) for p in frames])
    for inst, row in zip(meta["instances"], fractions or [], strict=False):
        inst["visible_fraction"] = row
    if "segmentation" not in passes:
        for inst in meta["instances"]:
            del inst["bbox_2d"], inst["visibility"]
    collisions = [{"frame": 1, "instance_a": 0, "instance_b": 1}] * events
    with SceneWriter(out, name, overwrite=overwrite) as writer:
        for t in range(F):
            writer.write_frame(t, _frame(t, passes))
        return writer.finish(scene, meta, collisions)


def test_scene_stats_exact(tmp_path):
    s = scene_stats(_write(tmp_path, "scene_00000", turning=True, events=2))
    assert (s["objects"], s["instances"], s["frames"], s["collisions"]) == (4, 3, 3, 2)
    assert s["categories"] == ["cube", "sphere", "cube"]
    assert s["visible_frames"] == [3, 3, 0]
    assert s["visible_fraction"] is None  # no amodal pass
    size = s["size_px"]
    assert (size["count"], size["sum"], size["min"], size["max"]) == (6, 45, 6, 9)
    assert s["flow"]["count"] == 2 * W * H
    np.testing.assert_allclose([s["flow"]["sum"], s["flow"]["min"], s["flow"]["max"]], [96 * 15, 5, 10])
    assert s["depth"]["count"] == F * (H - 1) * W
    np.testing.assert_allclose([s["depth"]["min"], s["depth"]["max"], s["depth"]["sum"]],
                               [1, 3, (H - 1) * W * 6])
    assert s["occlusion"] == {"valid": 2 * W * H, "occluded": 2 * W}
    np.testing.assert_allclose(s["camera"]["path_m"], 2 * 2 * 8 * math.sin(math.radians(5)), rtol=1e-9)
    np.testing.assert_allclose(s["camera"]["rotation_deg"], 20.0, rtol=1e-6)


def test_job_summary_exact_and_missing_passes(tmp_path):
    _write(tmp_path, "scene_00000", turning=True, events=2)
    _write(tmp_path, "scene_00001", passes=("segmentation",))  # no flow, depth or masks
    summary, computed = job_stats(tmp_path, tmp_path / "stats")
    assert computed == 2
    assert summary["scenes"] == {"complete": 2, "total": None, "failed": None, "remaining": None,
                                 "running": None}
    assert summary["frames"] == 6 and summary["resolutions"] == {"12x8": 2}
    assert summary["missing_passes"] == {"depth": 1, "forward_flow": 1, "forward_flow_valid": 1,
                                         "forward_occluded": 1}
    assert summary["instances_per_scene"]["counts"] == {"3": 2}
    assert summary["objects_per_scene"]["mean"] == 4
    assert summary["categories"] == {"cube": {"instances": 4, "visible_instance_frames": 6},
                                     "sphere": {"instances": 2, "visible_instance_frames": 6}}
    vis = summary["visibility"]
    assert (vis["instances"], vis["never_visible"]) == (6, 2)
    np.testing.assert_allclose(vis["frames_visible_fraction"]["mean"], 2 / 3)
    size = summary["object_size_px"]
    assert (size["count"], size["min"], size["max"], size["mean"]) == (12, 6, 9, 7.5)
    flow = summary["flow"]
    assert (flow["scenes"], flow["count"], flow["min"], flow["max"], flow["mean"]) == (1, 192, 5, 10, 7.5)
    width = 10 ** (1 / HISTOGRAMS["flow"].per_decade)  # percentiles: within one bin of the exact value
    assert 5 <= flow["percentiles"]["p50"] <= 5 * width
    assert 10 / width <= flow["percentiles"]["p90"] <= 10
    assert flow["percentiles"]["p99"] <= 10
    assert sum(flow["histogram"]["counts"]) == 192
    assert flow["per_scene"]["mean"]["max"] == 7.5 and flow["per_scene"]["max"]["min"] == 10
    depth = summary["depth"]
    assert (depth["min"], depth["max"], depth["mean"]) == (1, 3, 2)
    assert 3 / width <= depth["percentiles"]["p99"] <= 3 and 1 <= depth["percentiles"]["p1"] <= width
    assert summary["occlusion"]["rate"] == 24 / 192 and summary["occlusion"]["scenes"] == 1
    assert summary["collisions_per_scene"]["max"] == 2 and summary["collisions_per_scene"]["min"] == 0
    cam = summary["camera"]
    assert cam["static_scenes"] == 1
    np.testing.assert_allclose(cam["rotation_deg"]["max"], 20.0, rtol=1e-6)
    assert json.loads(json.dumps(summary, allow_nan=False)) == summary  # JSON-native


def test_visible_fraction_of_amodal_scenes(tmp_path):
    _write(tmp_path, "scene_00000", fractions=[[1.0, 0.5, 0.26], [0.0, 0.049, None], [None, None, None]])
    s = scene_stats(tmp_path / "scene_00000")
    expected = [0] * 20
    expected[0], expected[5], expected[10], expected[19] = 2, 1, 1, 1  # 0 and 0.049; 0.26; 0.5; 1.0
    assert s["visible_fraction"] == expected  # 20 bins of 0.05; None (no amodal pixels) left out
    summary, _ = job_stats(tmp_path, tmp_path / "stats")
    amodal = summary["visibility"]["visible_fraction"]
    assert amodal["instance_frames"] == 5 and amodal["histogram"]["counts"] == expected
    assert "visible fraction (visible / amodal pixels): 60% of instance-frames less than half visible" \
        in format_summary(summary)


def test_scenes_without_segmentation_or_pixels(tmp_path):
    _write(tmp_path, "scene_00000", passes=("depth",))
    s = scene_stats(tmp_path / "scene_00000")
    assert s["visible_frames"] is None and s["size_px"] is None and s["flow"] is None
    assert s["depth"]["count"] == F * (H - 1) * W and s["occlusion"] is None
    summary, _ = job_stats(tmp_path, tmp_path / "stats")
    assert summary["visibility"]["instances"] == 0 and summary["object_size_px"] is None
    assert summary["categories"]["cube"] == {"instances": 2, "visible_instance_frames": 0}
    assert summary["missing_passes"] == {} and summary["flow"] is None
    text = format_summary(summary)
    assert "forward flow magnitude: n/a (pass missing)" in text and "occlusion: n/a" in text
    write_plots(summary, tmp_path / "plots")  # every panel copes


def test_cache_reads_only_new_or_rerendered_scenes(tmp_path, monkeypatch):
    import sim.stats

    calls = []
    real = sim.stats.scene_stats
    monkeypatch.setattr(sim.stats, "scene_stats", lambda p: calls.append(p.name) or real(p))
    cache = tmp_path / "stats"
    _write(tmp_path, "scene_00000")
    (tmp_path / "scene_00001.partial").mkdir()  # a scene being rendered is left out
    assert job_stats(tmp_path, cache)[1] == 1
    _write(tmp_path, "scene_00001", events=1)
    summary, computed = job_stats(tmp_path, cache)
    assert computed == 1 and summary["scenes"]["complete"] == 2 and calls == ["scene_00000", "scene_00001"]
    assert job_stats(tmp_path, cache)[1] == 0
    _write(tmp_path, "scene_00000", events=3, overwrite=True)  # re-rendered: read again
    summary, computed = job_stats(tmp_path, cache)
    assert computed == 1 and summary["collisions_per_scene"]["max"] == 3
    assert len((cache / CACHE_FILE).read_text().splitlines()) == 2  # the stale line was dropped


@pytest.fixture
def job(tmp_path: Path) -> Path:
    jobdir.prepare(JobSpec(out=tmp_path, recipe="movi-a", scenes=3), restart=False)
    _write(tmp_path, "scene_00000", turning=True, events=2)
    _write(tmp_path, "scene_00001")
    (tmp_path / LOG_FILE).write_text(json.dumps({"event": "scene_failed", "time": 1.0, "scene": "scene_00002",
                                                 "error": "RecipeError: boom"}) + "\n")
    return tmp_path


def test_cli_text_json_and_plots(job, tmp_path, capsys):
    from PIL import Image

    out = tmp_path / "report"
    assert main(["stats", str(job), "--out", str(out), "--json", str(tmp_path / "s.json")]) == 0
    text = capsys.readouterr().out
    assert "2 complete scenes of 3 (1 failed, 0 remaining; not running)" in text
    assert "failed scene_00002: RecipeError: boom" in text
    assert "2 scenes read, 0 from the cache" in text
    summary = json.loads((tmp_path / "s.json").read_text())
    assert set(summary) == {"stats_version", "directory", "scenes", "failed", "frames", "resolutions",
                            "missing_passes", "objects_per_scene", "instances_per_scene", "categories",
                            "visibility", "object_size_px", "occlusion", "flow", "depth",
                            "collisions_per_scene", "camera"}
    assert summary["failed"] == {"scene_00002": "RecipeError: boom"}
    assert (out / "summary.txt").read_text().startswith(f"{job}: 2 complete scenes")
    for name in (*PANELS, "overview"):
        with Image.open(out / f"{name}.png") as image:
            assert image.format == "PNG" and image.size[0] >= 400
    assert main(["stats", str(job), "--out", str(out), "--no-plots"]) == 0
    assert "0 scenes read, 2 from the cache" in capsys.readouterr().out


def test_default_out_and_matplotlib_missing(job, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["stats", str(job)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["scenesim: error: stats plots need matplotlib: pip install 'scenesim[plots]' "
                   "(or pass --no-plots)"]
    assert not (job / "stats").exists()  # refused before reading anything
    assert main(["stats", str(job), "--no-plots"]) == 0
    assert (job / "stats" / "summary.txt").is_file() and (job / "stats" / CACHE_FILE).is_file()


def test_stats_of_a_directory_without_scenes(tmp_path, capsys):
    assert main(["stats", str(tmp_path), "--no-plots"]) == 2
    assert "no complete scene directory" in capsys.readouterr().err


def test_unwritable_outputs_are_one_line_errors(job, tmp_path, capsys):
    (tmp_path / "file").write_text("")
    assert main(["stats", str(job), "--no-plots", "--out", str(tmp_path / "file" / "x")]) == 2
    assert "cannot be written" in capsys.readouterr().err
    assert main(["stats", str(job), "--no-plots", "--json", str(tmp_path / "no" / "s.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"scenesim: error: --json {tmp_path / 'no' / 's.json'}: cannot be written "
                   "(No such file or directory)"]
