"""WebDataset shards: read back with the ``webdataset`` library itself and with ``sim.shards``, every
array compared with ``load_scene``; splitting across ranks and DataLoader workers, shuffling, atomic
shards, refusal to overwrite and the CLI."""

from __future__ import annotations

import io
import json
import tarfile

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

from render_workers.cli import main as cli_main
from sim.errors import OutputError
from sim.export.webdataset import export_webdataset
from sim.format import PASSES
from sim.io import find_scenes, load_scene
from sim.shards import ShardDataset, TorchShardDataset, member_table
from tests.synthetic_scenes import write_synthetic_scene

wds = pytest.importorskip("webdataset")


@pytest.fixture
def job(tmp_path):
    for k, frames in enumerate((3, 2, 3)):
        write_synthetic_scene(tmp_path / "job", f"scene_{k:05d}", frames=frames, seed=k, point_tracks=5 * k)
    return tmp_path / "job"


def _expected(job):
    """{(scene, frame): {pass: array}} from load_scene."""
    out = {}
    for path in find_scenes(job):
        data = load_scene(path)
        for t in range(data["scene"].frames):
            out[(path.name, t)] = {p: data[p][t] for p in data["metadata"]["passes"]}
    return out


def _decoded(value, name, width):
    """A member decoded by our handlers as WebDataset hands it over: masks as 0/255 uint8, amodal
    masks (npz, WebDataset's default handler) as a dict holding the bit-packed planes."""
    if PASSES[name].ext == "npz":
        return np.unpackbits(value["packed"], axis=-1, count=width).astype(bool)
    return value > 127 if PASSES[name].dtype is np.bool_ else value


HANDLERS = (wds.handle_extension("tiff", lambda b: tifffile.imread(io.BytesIO(b))),
            wds.handle_extension("png", lambda b: iio.imread(b, extension=".png")))


def test_webdataset_reads_frame_shards_equal_to_load_scene(job, tmp_path):
    out = tmp_path / "shards"
    counts = export_webdataset(job, out, per="frame", shard_size=3)
    assert counts == {"scenes": 3, "samples": 8, "shards": 3, "bytes": counts["bytes"]}
    urls = [str(p) for p in sorted(out.glob("shard-*.tar"))]
    assert [p.rsplit("/", 1)[1] for p in urls] == ["shard-000000.tar", "shard-000001.tar", "shard-000002.tar"]
    assert not list(out.glob("*.tmp"))
    expected = _expected(job)
    seen = []
    for sample in wds.WebDataset(urls, shardshuffle=False).decode(*HANDLERS):
        info = sample["json"]
        key = (info["scene"], info["frame"])
        assert sample["__key__"] == f"{key[0]}_{key[1]:05d}"
        meta = load_scene(job / key[0], passes=[])["metadata"]
        np.testing.assert_allclose(info["K"], meta["camera"]["K"])
        np.testing.assert_allclose(info["world_to_camera"], meta["camera"]["world_to_camera"][key[1]])
        assert [i["bbox_2d"] for i in info["instances"]] == [i["bbox_2d"][key[1]] for i in meta["instances"]]
        for name, array in expected[key].items():
            member = sample[f"{name}.{PASSES[name].ext}"]
            np.testing.assert_array_equal(_decoded(member, name, array.shape[-1]), array)
        seen.append(key)
    assert seen == sorted(expected)
    index = json.loads((out / "index.json").read_text())
    assert [s["samples"] for s in index["shards"]] == [3, 3, 2] and index["samples"] == 8
    assert index["shards"][0]["scenes"] == ["scene_00000"]
    assert index["shards"][1]["scenes"] == ["scene_00001", "scene_00002"]


def test_webdataset_reads_scene_shards_with_npy_floats(job, tmp_path):
    out = tmp_path / "shards"
    export_webdataset(job, out, per="scene", float_format="npy")
    urls = [str(p) for p in sorted(out.glob("shard-*.tar"))]
    samples = list(wds.WebDataset(urls, shardshuffle=False).decode(*HANDLERS))  # npy, json: default handlers
    assert [s["__key__"] for s in samples] == ["scene_00000", "scene_00001", "scene_00002"]
    for sample in samples:
        data = load_scene(job / sample["__key__"])
        assert sample["metadata.json"] == data["metadata"] and sample["events.json"] == data["events"]
        for name in data["metadata"]["passes"]:
            ext = "npy" if PASSES[name].ext == "tiff" else PASSES[name].ext
            for t in range(data["scene"].frames):
                member = sample[f"{name}_{t:05d}.{ext}"]
                np.testing.assert_array_equal(_decoded(member, name, data[name].shape[-1]), data[name][t])
        if "point_tracks" in data:
            for field, array in data["point_tracks"].items():
                np.testing.assert_array_equal(sample["point_tracks.npz"][field], array)
        else:
            assert "point_tracks.npz" not in sample


@pytest.mark.parametrize("per", ["frame", "scene"])
def test_shard_dataset_equals_load_scene_and_decodes_only_what_is_asked(job, tmp_path, per):
    export_webdataset(job, tmp_path / "s", per=per, shard_size=2)
    expected = _expected(job)
    samples = list(ShardDataset(tmp_path / "s", passes=["depth", "forward_flow_valid"]))
    assert len(samples) == (8 if per == "frame" else 3)
    for sample in samples:
        assert {"depth", "forward_flow_valid"} <= set(sample) and "rgba" not in sample
        frames = [sample["frame"]] if per == "frame" else list(sample["frames"])
        for name in ("depth", "forward_flow_valid"):
            got = sample[name] if per == "scene" else sample[name][None]
            assert got.dtype == PASSES[name].dtype
            want = np.stack([expected[(sample["scene"], t)][name] for t in frames])
            np.testing.assert_array_equal(got, want)
        meta = load_scene(job / sample["scene"], passes=[])["metadata"]
        np.testing.assert_allclose(sample["K"], meta["camera"]["K"], rtol=1e-6)
    full = next(iter(ShardDataset(tmp_path / "s")))
    assert set(PASSES) <= set(full)


def test_ranks_split_every_sample_once_and_shuffle_permutes(job, tmp_path):
    export_webdataset(job, tmp_path / "s", per="frame", shard_size=3)
    keys = [s["key"] for s in ShardDataset(tmp_path / "s", passes=[])]
    assert len(keys) == 8
    parts = [[s["key"] for s in ShardDataset(tmp_path / "s", passes=[], rank=r, world_size=3)]
             for r in range(3)]
    assert sorted(sum(parts, [])) == sorted(keys) and [len(p) for p in parts] == [3, 3, 2]
    ds = ShardDataset(tmp_path / "s", passes=[], shuffle=4, seed=1)
    first = [s["key"] for s in ds]
    ds.set_epoch(1)
    second = [s["key"] for s in ds]
    assert sorted(first) == sorted(second) == sorted(keys)
    assert first != keys and second != first
    assert first == [s["key"] for s in ShardDataset(tmp_path / "s", passes=[], shuffle=4, seed=1)]
    with pytest.raises(OutputError, match="rank: got 3"):
        list(ShardDataset(tmp_path / "s", rank=3, world_size=3))
    with pytest.raises(OutputError, match="pass 'nope'|unknown 'nope'"):
        ShardDataset(tmp_path / "s", passes=["nope"])


def test_torch_loader_workers_split_the_samples(job, tmp_path):
    torch = pytest.importorskip("torch")
    export_webdataset(job, tmp_path / "s", per="frame", shard_size=3)
    ds = TorchShardDataset(tmp_path / "s", passes=["rgba", "segmentation", "forward_flow"],
                           rank=1, world_size=2)
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2)
    samples = list(loader)
    keys = [s["key"] for s in samples]
    everything = [s["key"] for s in ShardDataset(tmp_path / "s", passes=[])]
    assert sorted(keys) == sorted(everything[1::2])  # rank 1 of 2 takes every other sample
    sample = samples[0]
    assert sample["rgba"].shape == (4, 8, 12) and sample["rgba"].dtype == torch.uint8
    assert sample["segmentation"].dtype == torch.int64 and sample["forward_flow"].shape == (2, 8, 12)


def test_export_refuses_to_overwrite_and_replaces_when_asked(job, tmp_path, capsys):
    out = tmp_path / "s"
    assert cli_main(["export", "webdataset", str(job), str(out), "--per", "frame", "--shard-size", "5"]) == 0
    assert capsys.readouterr().out.startswith(f"{out}: 3 scenes, 8 samples, 2 shards, ")
    assert cli_main(["export", "webdataset", str(job), str(out)]) == 2
    assert "already exists and is not empty; pass --overwrite" in capsys.readouterr().err
    assert cli_main(["export", "webdataset", str(job), str(out), "--overwrite"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["index.json", "shard-000000.tar"]
    assert cli_main(["export", "kubric", str(job), str(tmp_path / "k"), "--per", "frame"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--per: only for 'scenesim export webdataset'" in err


def test_scenes_with_different_passes_are_refused(tmp_path):
    write_synthetic_scene(tmp_path / "job", "scene_00000", frames=2)
    write_synthetic_scene(tmp_path / "job", "scene_00001", frames=2, adjust=lambda p: p.pop("normal"))
    with pytest.raises(OutputError, match="scene_00001: passes .* differ"):
        export_webdataset(tmp_path / "job", tmp_path / "s")
    assert not (tmp_path / "s").exists() or not list((tmp_path / "s").iterdir())


def test_member_table_agrees_with_tarfile_on_plain_and_pax_archives(job, tmp_path):
    export_webdataset(job, tmp_path / "s", per="frame")
    long_name = tmp_path / "pax.tar"
    with tarfile.open(long_name, "w", format=tarfile.PAX_FORMAT) as tar:
        for name in ("a" * 150 + ".png", "b.json", "ü.npy"):  # a long and a non-ASCII name: PAX headers
            data = name.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    for path in (tmp_path / "s" / "shard-000000.tar", long_name):
        with tarfile.open(path) as tar:
            expected = [(m.name, m.offset_data, m.size) for m in tar]
        with open(path, "rb") as f:
            assert member_table(f) == expected


def test_a_damaged_member_is_one_error_naming_it(job, tmp_path):
    export_webdataset(job, tmp_path / "s", per="frame", shard_size=100)
    shard = tmp_path / "s" / "shard-000000.tar"
    with open(shard, "rb") as f:
        name, offset, size = next(m for m in member_table(f) if m[0] == "scene_00001_00000.depth.tiff")
    with open(shard, "r+b") as f:  # the same length, not a TIFF any more
        f.seek(offset)
        f.write(b"x" * size)
    with pytest.raises(OutputError, match=r"sample scene_00001_00000\.depth\.tiff: not a readable TIFF file"):
        list(ShardDataset(tmp_path / "s", passes=["depth"]))
    assert len(list(ShardDataset(tmp_path / "s", passes=["rgba"]))) == 8  # depth not asked: not read
