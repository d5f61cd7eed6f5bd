"""``scenesim bench`` at a minimal size: every section runs and every required figure comes out."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from bench.harness import BenchConfig, run_benchmark
from bench.quality import psnr_db, ssim

TINY = BenchConfig("tiny", resolution=24, frames=3, repeats=1, quality_resolution=24, quality_frames=(1,),
                   reference_samples=8, quality_repeats=1, worker_scenes=2, worker_resolution=16,
                   worker_frames=2, worker_repeats=1, scaling_counts=(1, 2), scaling_resolution=16,
                   scaling_frames=2)
REQUIRED = ("overhead_ratio", "gt_only_fps", "workers_2v1", "kubric_like_psnr_db", "default_psnr_db",
            "default_time_ratio_vs_kubric_like", "labels_fps", "labels_ratio_vs_bare", "all_ground_truth_fps")


def test_psnr_and_ssim_of_known_images():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (32, 32, 3)).astype(np.uint8)
    assert psnr_db([image], [image]) == math.inf
    assert ssim(image, image) == pytest.approx(1.0)
    shifted = np.clip(image.astype(int) + 5, 0, 255).astype(np.uint8)
    mse = np.mean((shifted.astype(float) - image) ** 2)
    assert psnr_db([shifted], [image]) == pytest.approx(10 * np.log10(255**2 / mse))
    assert -1.0 < ssim(255 - image, image) < 0.0 < ssim(shifted, image) < 1.0
    flat_a, flat_b = np.full((16, 16, 3), 100, np.uint8), np.full((16, 16, 3), 120, np.uint8)
    c1 = (0.01 * 255) ** 2  # no variance: SSIM is the luminance term (2ab + C1) / (a² + b² + C1)
    assert ssim(flat_a, flat_b) == pytest.approx((2 * 100 * 120 + c1) / (100**2 + 120**2 + c1))


@pytest.mark.slow
def test_tiny_benchmark_emits_every_figure(tmp_path, capsys):
    figures = run_benchmark(TINY, tmp_path / "bench.json")
    written = json.loads((tmp_path / "bench.json").read_text())
    for key in REQUIRED:
        assert isinstance(written[key], float) and math.isfinite(written[key]) and written[key] > 0, key
    assert written["default_psnr_db"] == figures["default_psnr_db"]
    assert written["stages"]["bare_max_abs_diff"] == 0  # the bare script renders the identical scene
    assert set(written["targets"]) >= {"overhead_ratio", "gt_only_fps", "workers_2v1"}
    report = capsys.readouterr().out
    assert "overhead ratio" in report and "kubric_like" in report and "Targets" in report
    assert "depth,segmentation" in report and "amodal pass, ms per instance and frame" in report
    assert math.isfinite(written["amodal_ms_per_instance_frame"])
    assert written["passes"]["amodal_bytes_per_frame"] > 0
