"""``bench.motion_blur`` at a minimal size: it renders both ways and reports the ratio."""

from __future__ import annotations

import pytest

from bench.motion_blur import main


@pytest.mark.slow
def test_motion_blur_bench_reports_the_ratio(capsys):
    out = main(["--resolution", "16", "--frames", "2", "--repeats", "1"])
    assert out["blur_ratio"] > 0 and out["sharp_s_per_frame"] > 0 and out["shutter"] == 0.5
    assert "blur / no blur" in capsys.readouterr().out
