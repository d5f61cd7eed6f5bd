"""``--layout shards``: the packer's steps and its recovery after a crash at each of them (no
Blender), and jobs rendered straight into shards (Blender, tiny scenes): the same arrays as a
directory job, no scene directory or per-frame file left, resume after SIGTERM."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from render_workers.cli import main
from render_workers.jobdir import load_job, missing
from render_workers.shard_layout import PENDING_DIR, ShardPacker, done_scenes, sharded_scenes
from render_workers.status import job_status
from sim.io import load_scene
from sim.shards import ShardDataset
from tests.synthetic_scenes import write_synthetic_scene

NAMES = [f"scene_{k:05d}" for k in range(5)]


def _scenes(out: Path, names: list[str]) -> None:
    for k, name in enumerate(names):
        write_synthetic_scene(out, name, frames=2, seed=k)


def _files(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())


def test_packer_makes_shards_of_pending_scenes_and_deletes_directories(tmp_path):
    _scenes(tmp_path, NAMES)
    expected = {name: load_scene(tmp_path / name)["depth"] for name in NAMES}
    packer = ShardPacker(tmp_path, 2)
    for name in NAMES[:3]:
        packer.add(name)
    assert _files(tmp_path) == sorted(["index.json", "shard-000000.tar", "pending/scene_00002.tar",
                                       *(f"{n}/{f}" for n in NAMES[3:] for f in _files(tmp_path / n))])
    assert sharded_scenes(tmp_path) == set(NAMES[:2])
    assert done_scenes(tmp_path) == set(NAMES)  # two sharded, one pending, two complete directories
    for name in NAMES[3:]:
        packer.add(name)
    packer.close()
    assert _files(tmp_path) == ["index.json", "shard-000000.tar", "shard-000001.tar", "shard-000002.tar"]
    index = json.loads((tmp_path / "index.json").read_text())
    assert [s["scenes"] for s in index["shards"]] == [NAMES[:2], NAMES[2:4], NAMES[4:]]
    samples = {s["scene"]: s for s in ShardDataset(tmp_path, passes=["depth"])}
    for name in NAMES:
        np.testing.assert_array_equal(samples[name]["depth"], expected[name])


def test_recover_after_a_crash_at_each_step(tmp_path):
    _scenes(tmp_path, NAMES)
    packer = ShardPacker(tmp_path, 2)
    packer.add(NAMES[0])
    packer.add(NAMES[1])  # shard 0: scenes 0, 1
    packer.add(NAMES[2])
    packer.add(NAMES[3])  # shard 1: scenes 2, 3
    # A crash after shard 1 was renamed but before the index listed it: its scenes still pending.
    index = json.loads((tmp_path / "index.json").read_text())
    index["shards"] = index["shards"][:1]
    (tmp_path / "index.json").write_text(json.dumps(index))
    for name in NAMES[2:4]:
        write_synthetic_scene(tmp_path / "p", name, frames=2)
        ShardPacker(tmp_path / "p", 99).add(name)
        (tmp_path / "p" / PENDING_DIR / f"{name}.tar").rename(tmp_path / PENDING_DIR / f"{name}.tar")
    # ... a crash after the index listed shard 0 but before its pending file was deleted ...
    (tmp_path / PENDING_DIR / "scene_00000.tar").write_bytes(b"stale")
    # ... and half-written temporaries, and scene 4's finished directory (a killed driver).
    (tmp_path / "shard-000005.tar.tmp").write_bytes(b"half")
    (tmp_path / PENDING_DIR / "scene_00004.tar.tmp").write_bytes(b"half")
    fresh = ShardPacker(tmp_path, 2)
    fresh.recover()
    # the orphan shard 1 and the stale pending file are gone; scene 4 joined the pending 2 and 3,
    # which made the new shard 1
    assert _files(tmp_path) == ["index.json", "shard-000000.tar", "shard-000001.tar"]
    fresh.close()
    index = json.loads((tmp_path / "index.json").read_text())
    assert [s["scenes"] for s in index["shards"]] == [NAMES[:2], NAMES[2:]]
    assert sorted(s["scene"] for s in ShardDataset(tmp_path, passes=[])) == NAMES


JOB = ["--recipe", "movi-a", "--seed", "3", "--scenes", "4", "--param", "max_objects=3",
       "--resolution", "16", "--frames", "2", "--samples", "1"]


@pytest.mark.slow
def test_render_into_shards_equals_directories_and_resumes_after_sigterm(tmp_path):
    assert main(["render", *JOB, "--out", str(tmp_path / "dirs")]) == 0
    out = tmp_path / "shards"
    command = [sys.executable, "-m", "render_workers.cli", "render", *JOB, "--out", str(out),
               "--layout", "shards", "--shard-size", "3"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    while process.poll() is None and not any((out / PENDING_DIR).glob("*.tar")):
        time.sleep(0.01)
    process.terminate()  # SIGTERM stops the run like Ctrl-C
    output = process.communicate(timeout=120)[0]
    spec = load_job(out)
    left = missing(spec)
    assert process.returncode == 130 and left, output  # interrupted with scenes still to render
    assert (out / "index.json").is_file() and not list((out / PENDING_DIR).iterdir())
    assert main(["resume", str(out)]) == 0
    assert missing(spec) == [] and job_status(out).done == 4
    assert not list(out.glob("scene_*")) and not list((out / PENDING_DIR).iterdir())
    assert sorted(p.name for p in out.glob("shard-*.tar")) == ["shard-000000.tar", "shard-000001.tar"]
    samples = list(ShardDataset(out))
    assert sorted(s["scene"] for s in samples) == [f"scene_{k:05d}" for k in range(4)]
    for sample in samples:
        reference = load_scene(tmp_path / "dirs" / sample["scene"])
        for name in reference["metadata"]["passes"]:
            np.testing.assert_array_equal(sample[name], reference[name], err_msg=f"{sample['scene']} {name}")
    assert main(["render", *JOB, "--out", str(out), "--layout", "shards"]) == 2  # another shard size


def test_exports_of_a_shard_job_say_it_holds_shards(tmp_path, capsys):
    _scenes(tmp_path, NAMES[:1])
    ShardPacker(tmp_path, 1).add(NAMES[0])
    assert main(["export", "kubric", str(tmp_path), str(tmp_path / "k")]) == 2
    assert "holds shards, not scene directories" in capsys.readouterr().err
