"""``--device``: checked before anything renders, ``auto`` falling back to the CPU where Cycles sees no
GPU, a missing device named in one line with the devices Cycles does see, the device used recorded
in the job spec and metadata, and kept on resume. (This machine has no GPU: the GPU paths
themselves are not exercised here.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from render_workers.cli import main
from render_workers.job import JobSpec
from render_workers.options import RunOptions
from render_workers.runner import _settle_device
from sim.errors import OptionError, RenderError, SceneValidationError
from sim.render.devices import GPU_PREFERENCE, LABELS, probe
from sim.settings import DEVICES, RenderSettings

TINY = ["--recipe", "movi-a", "--param", "max_objects=3", "--resolution", "16", "--frames", "2",
        "--samples", "1"]


def test_an_unknown_device_is_refused_in_one_line(capsys):
    with pytest.raises(SceneValidationError, match=r"^device: got 'tpu', expected one of cpu, auto, cuda, "):
        RenderSettings(device="tpu")
    with pytest.raises(SystemExit) as exit_:
        main(["render", *TINY, "--device", "tpu", "--out", "x"])
    assert exit_.value.code == 2
    assert "argument --device: invalid choice: 'tpu'" in capsys.readouterr().err
    assert RenderSettings().device == "cpu" and set(DEVICES) >= {"auto", "cpu", *GPU_PREFERENCE}


def test_auto_on_a_ray_cluster_must_name_the_device(tmp_path):
    spec = JobSpec(out=tmp_path, recipe="movi-a", settings=RenderSettings(device="auto"))
    with pytest.raises(OptionError, match="--device auto: on a Ray cluster name the device"):
        _settle_device(spec, RunOptions(backend="ray", address="127.0.0.1:6379"))
    named = JobSpec(out=tmp_path, recipe="movi-a", settings=RenderSettings(device="cuda"))
    assert _settle_device(named, RunOptions(backend="ray", address="127.0.0.1:6379")) == named  # tasks check


@pytest.fixture(scope="module")
def seen() -> dict[str, list[str]]:
    """The devices Cycles sees here, from the probe process itself."""
    run = subprocess.run([sys.executable, "-c", "from sim.render.devices import main; main()", "cpu"],
                         capture_output=True, text=True, check=True)
    (line,) = [line for line in run.stdout.splitlines() if line.startswith("scenesim-devices: ")]
    answer = json.loads(line.removeprefix("scenesim-devices: "))
    assert answer["device"] == "cpu" and answer["seen"]["cpu"]
    return answer["seen"]


def _missing_kind(seen: dict[str, list[str]]) -> str:
    missing = [kind for kind in GPU_PREFERENCE if kind not in seen]
    if not missing:
        pytest.skip("Cycles sees every kind of GPU here")
    return missing[0]


@pytest.mark.slow
def test_auto_takes_a_gpu_if_there_is_one_else_the_cpu(seen):
    expected = next((kind for kind in GPU_PREFERENCE if kind in seen), "cpu")
    assert probe("auto") == expected


@pytest.mark.slow
def test_a_missing_device_is_one_line_before_anything_is_written(seen, tmp_path, capsys):
    kind = _missing_kind(seen)
    with pytest.raises(RenderError) as error:
        probe(kind)
    cpu = ", ".join(seen["cpu"])
    assert str(error.value).startswith(f"device '{kind}': Cycles sees no {LABELS[kind]} device on this "
                                       f"machine, only CPU ({cpu})")
    out = tmp_path / "job"
    assert main(["render", *TINY, "--device", kind, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == f"scenesim: error: {error.value}\n"
    assert not out.exists()  # checked before the job directory is made


@pytest.mark.slow
def test_the_device_used_is_recorded_and_kept_on_resume(seen, tmp_path, capsys):
    out = tmp_path / "job"
    assert main(["render", *TINY, "--device", "auto", "--out", str(out)]) == 0
    used = next((kind for kind in GPU_PREFERENCE if kind in seen), "cpu")
    assert json.loads((out / "job.json").read_text())["settings"]["device"] == used  # never "auto"
    metadata = json.loads((out / "scene_00000" / "metadata.json").read_text())
    assert metadata["render_settings"]["device"] == used
    assert main(["render", *TINY, "--device", "auto", "--out", str(out)]) == 0  # the same job again

    # A job started where a GPU was: resuming it here is refused, with the reason.
    kind = _missing_kind(seen)
    spec = json.loads((out / "job.json").read_text())
    spec["settings"]["device"] = kind
    (out / "job.json").write_text(json.dumps(spec))
    Path(out / "scene_00000").rename(out / "scene_00000.partial")
    capsys.readouterr()
    assert main(["resume", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"scenesim: error: device '{kind}': Cycles sees no ") and err.count("\n") == 1
    assert f"this job renders on {kind} ({out / 'job.json'}): GPU and CPU images differ, so it keeps its " \
           f"device; resume it where Cycles sees {kind}, or start over with --restart" in err
