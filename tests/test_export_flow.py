"""``.flo`` (read with OpenCV's ``cv2.readOpticalFlow``) and KITTI flow PNGs (read with
``cv2.imread(..., IMREAD_UNCHANGED)`` and decoded with the KITTI devkit's formula)."""

from __future__ import annotations

import numpy as np
import pytest

from render_workers.cli import main as cli_main
from sim.export.flow import export_flo, export_kitti
from sim.io import load_scene
from tests.synthetic_scenes import write_synthetic_scene

cv2 = pytest.importorskip("cv2")


def _signed_flows(p):
    """Flows of both signs, some beyond KITTI's ±512 px range."""
    p["forward_flow"] = (p["forward_flow"] - 4.75) * 3
    p["forward_flow"][1, 0] = (600.0, -3.0)
    p["forward_flow"][0] = np.nan


@pytest.fixture
def job(tmp_path):
    write_synthetic_scene(tmp_path / "job", "scene_00000", frames=3, adjust=_signed_flows)
    write_synthetic_scene(tmp_path / "job", "scene_00001", frames=2, seed=1, adjust=_signed_flows)
    return tmp_path / "job"


def test_flo_files_read_by_opencv_equal_our_flow(job, tmp_path):
    out = tmp_path / "sintel"
    assert export_flo(job, out) == {"scenes": 2, "flows": 3}
    for name, pairs in (("scene_00000", 2), ("scene_00001", 1)):
        ours = load_scene(job / name)
        files = sorted((out / "training" / "flow" / name).iterdir())
        assert [f.name for f in files] == [f"frame_{i + 1:04d}.flo" for i in range(pairs)]
        for t, f in enumerate(files):
            flow = cv2.readOpticalFlow(str(f))
            assert flow.shape == (8, 12, 2) and flow.dtype == np.float32
            defined = ~np.isnan(ours["forward_flow"][t]).any(-1)
            np.testing.assert_array_equal(flow[defined], ours["forward_flow"][t][defined])
            assert (flow[~defined] == 1e10).all()  # Middlebury's "unknown"
            occ = cv2.imread(str(out / "training" / "occlusions" / name / f"frame_{t + 1:04d}.png"),
                             cv2.IMREAD_UNCHANGED)
            np.testing.assert_array_equal(occ == 255, ours["forward_occluded"][t])
            invalid = cv2.imread(str(out / "training" / "invalid" / name / f"frame_{t + 1:04d}.png"),
                                 cv2.IMREAD_UNCHANGED)
            np.testing.assert_array_equal(invalid == 255, ~defined)
        for t in range(ours["scene"].frames):
            bgr = cv2.imread(str(out / "training" / "clean" / name / f"frame_{t + 1:04d}.png"))
            np.testing.assert_array_equal(bgr[..., ::-1], ours["rgba"][t][..., :3])


def _kitti_read(path):
    """The KITTI devkit's decoding: u = (R - 2^15) / 64, v = (G - 2^15) / 64, valid = B."""
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16 and raw.shape[2] == 3
    rgb = raw[..., ::-1].astype(np.float64)  # OpenCV returns BGR
    return (rgb[..., :2] - 2**15) / 64, rgb[..., 2] > 0


def test_kitti_pngs_decode_to_our_flow_with_valid_and_occlusion_bits(job, tmp_path):
    out = tmp_path / "kitti"
    assert export_kitti(job, out) == {"scenes": 2, "pairs": 3}
    pairs = (out / "pairs.txt").read_text().splitlines()
    assert pairs == ["scene_00000 0", "scene_00000 1", "scene_00001 0"]
    for k, line in enumerate(pairs):
        name, t = line.split()[0], int(line.split()[1])
        ours = load_scene(job / name)
        flow = ours["forward_flow"][t]
        in_range = (np.abs(flow) <= 511.98).all(-1)
        valid = ours["forward_flow_valid"][t] & ~np.isnan(flow).any(-1) & in_range
        got, got_valid = _kitti_read(out / "training" / "flow_occ" / f"{k:06d}_10.png")
        np.testing.assert_array_equal(got_valid, valid)
        np.testing.assert_allclose(got[valid], flow[valid], atol=1 / 128 + 1e-9)
        got_noc, noc_valid = _kitti_read(out / "training" / "flow_noc" / f"{k:06d}_10.png")
        np.testing.assert_array_equal(noc_valid, valid & ~ours["forward_occluded"][t])
        np.testing.assert_array_equal(got_noc[noc_valid], got[noc_valid])
        for suffix, s in (("10", t), ("11", t + 1)):
            bgr = cv2.imread(str(out / "training" / "image_2" / f"{k:06d}_{suffix}.png"))
            np.testing.assert_array_equal(bgr[..., ::-1], ours["rgba"][s][..., :3])
    got, got_valid = _kitti_read(out / "training" / "flow_occ" / "000000_10.png")
    assert not got_valid[1, 0]  # 600 px: outside KITTI's range, marked invalid


def test_cli_flo_and_kitti_and_missing_flow(job, tmp_path, capsys):
    assert cli_main(["export", "flo", str(job), str(tmp_path / "f")]) == 0
    assert capsys.readouterr().out.strip() == f"{tmp_path / 'f'}: 2 scenes, 3 flows"
    assert cli_main(["export", "kitti", str(job / "scene_00001"), str(tmp_path / "k")]) == 0
    assert capsys.readouterr().out.strip() == f"{tmp_path / 'k'}: 1 scenes, 1 pairs"
    write_synthetic_scene(tmp_path / "noflow", "scene_00000", frames=2,
                          adjust=lambda p: p.pop("forward_flow"))
    assert cli_main(["export", "kitti", str(tmp_path / "noflow"), str(tmp_path / "k2")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "scene_00000: has no 'forward_flow' pass" in err
    assert not (tmp_path / "k2").exists()
