"""sim.dataset: sample shapes, dtypes and content, lazy decoding (a spy on the file decoders), the
per-frame readers of sim.io, and the torch Dataset in a DataLoader with two workers."""

from __future__ import annotations

import re

import numpy as np
import pytest

import sim.dataset
import sim.io
from sim.dataset import SceneDataset, TorchSceneDataset
from sim.errors import OutputError
from sim.format import PASSES
from sim.io import find_scenes, load_scene
from tests.synthetic_scenes import write_synthetic_scene

HAVE_TORCH = sim.dataset.torch is not None  # the module's own answer to "is torch importable"
W, H = 12, 8


@pytest.fixture
def job(tmp_path):
    """Two scenes of 3 and 4 frames (with point tracks), and an unfinished one that must be skipped."""
    written = {}
    for k, frames in enumerate((3, 4)):
        path, arrays = write_synthetic_scene(tmp_path / "job", f"scene_{k:05d}", frames=frames, seed=k,
                                             point_tracks=5)
        written[path.name] = arrays
    (tmp_path / "job" / "scene_00002.partial").mkdir()
    return tmp_path / "job", written


@pytest.fixture
def decoded(monkeypatch):
    """The names of the files decoded, in order (a spy on both decoders sim.io uses)."""
    names: list[str] = []
    for module, attr in ((sim.io.tifffile, "imread"), (sim.io.iio, "imread")):
        original = getattr(module, attr)

        def spy(path, *args, _original=original, **kwargs):
            names.append(str(path).rsplit("/", 1)[-1])
            return _original(path, *args, **kwargs)

        monkeypatch.setattr(module, attr, spy)
    return names


def test_find_scenes_lists_complete_scenes_of_a_job_or_the_scene_itself(job):
    root, _ = job
    assert [p.name for p in find_scenes(root)] == ["scene_00000", "scene_00001"]
    assert find_scenes(root / "scene_00001") == [root / "scene_00001"]
    with pytest.raises(OutputError, match="no such scene or job directory"):
        find_scenes(root / "nothing")


def test_load_scene_reads_only_the_frames_asked_for(job, decoded):
    root, written = job
    data = load_scene(root / "scene_00001", passes=["depth", "rgba"], frames=[3, 1])
    assert decoded == ["depth_00003.tiff", "depth_00001.tiff", "rgba_00003.png", "rgba_00001.png"]
    np.testing.assert_array_equal(data["depth"], [written["scene_00001"][t]["depth"] for t in (3, 1)])
    with pytest.raises(OutputError, match=re.escape("frames: got 4, expected frame indices in [0, 3]")):
        load_scene(root / "scene_00001", passes=[], frames=[4])


def test_clip_samples_have_the_documented_shapes_dtypes_and_content(job):
    root, written = job
    ds = SceneDataset(root, passes=list(PASSES), point_tracks=True)
    assert len(ds) == 2
    for sample, name, frames in zip(ds, ("scene_00000", "scene_00001"), (3, 4), strict=True):
        assert sample["scene"] == name
        np.testing.assert_array_equal(sample["frames"], np.arange(frames))
        assert sample["K"].shape == (3, 3) and sample["K"].dtype == np.float32
        assert sample["world_to_camera"].shape == (frames, 4, 4)
        for pass_name, spec in PASSES.items():
            array = sample[pass_name]
            assert array.dtype == spec.dtype and array.shape == (frames, *spec.shape(H, W, 3)), pass_name
            np.testing.assert_array_equal(array, np.stack([f[pass_name] for f in written[name]]))
        assert sample["tracks"].shape == (5, frames, 2) and sample["tracks"].dtype == np.float32
        assert sample["tracks_occluded"].shape == (5, frames) and sample["tracks_occluded"].dtype == bool
        assert sample["query_frame"].dtype == np.int64


def test_pair_samples_read_each_frame_pair_and_flows_once(job, decoded):
    root, written = job
    passes = ["rgba", "forward_flow", "backward_flow", "forward_flow_valid", "backward_occluded", "depth"]
    ds = SceneDataset(root, passes=passes, mode="pair")
    assert decoded == []  # indexing reads metadata only
    assert len(ds) == 2 + 3
    sample = ds[3]  # scene_00001, frames (1, 2)
    frames = written["scene_00001"]
    np.testing.assert_array_equal(sample["frames"], [1, 2])
    assert sample["rgba"].shape == (2, H, W, 4) and sample["depth"].shape == (2, H, W)
    np.testing.assert_array_equal(sample["rgba"], [frames[1]["rgba"], frames[2]["rgba"]])
    assert sample["forward_flow"].shape == (H, W, 2) and sample["forward_flow_valid"].shape == (H, W)
    np.testing.assert_array_equal(sample["forward_flow"], frames[1]["forward_flow"])  # 1 -> 2
    np.testing.assert_array_equal(sample["forward_flow_valid"], frames[1]["forward_flow_valid"])
    np.testing.assert_array_equal(sample["backward_flow"], frames[2]["backward_flow"])  # 2 -> 1
    np.testing.assert_array_equal(sample["backward_occluded"], frames[2]["backward_occluded"])
    assert sorted(decoded) == sorted(["rgba_00001.png", "rgba_00002.png", "forward_flow_00001.tiff",
                                      "backward_flow_00002.tiff", "forward_flow_valid_00001.png",
                                      "backward_occluded_00002.png", "depth_00001.tiff", "depth_00002.tiff"])


def test_only_the_requested_passes_are_decoded(job, decoded):
    root, _ = job
    ds = SceneDataset(root, passes=["segmentation"], scenes=1)
    assert len(ds) == 1 and set(ds[0]) == {"scene", "frames", "K", "K_per_frame", "world_to_camera",
                                        "segmentation"}
    assert decoded == [f"segmentation_{t:05d}.png" for t in range(3)]


def test_bad_arguments_are_rejected_with_the_fix(job):
    root, _ = job
    with pytest.raises(OutputError, match="passes: unknown 'rgb'"):
        SceneDataset(root, passes=["rgb"])
    with pytest.raises(OutputError, match="mode: got 'pairs'"):
        SceneDataset(root, mode="pairs")
    with pytest.raises(OutputError, match="point_tracks: only in mode='clip'"):
        SceneDataset(root, mode="pair", point_tracks=True)
    with pytest.raises(IndexError):
        SceneDataset(root)[2]


@pytest.mark.skipif(HAVE_TORCH, reason="torch is installed")
def test_torch_dataset_without_torch_says_how_to_install_it(job):
    with pytest.raises(ImportError, match=re.escape("pip install 'scenesim[torch]'")):
        TorchSceneDataset(job[0])


@pytest.mark.skipif(not HAVE_TORCH, reason="torch not installed")
def test_torch_samples_are_channels_first_tensors(job):
    import torch

    root, written = job
    ds = TorchSceneDataset(root, passes=list(PASSES), point_tracks=True)
    assert isinstance(ds, torch.utils.data.Dataset)
    sample = ds[0]
    expected = {"rgba": ((3, 4, H, W), torch.uint8), "segmentation": ((3, H, W), torch.int64),
                "depth": ((3, H, W), torch.float32), "normal": ((3, 3, H, W), torch.float32),
                "object_coordinates": ((3, 3, H, W), torch.float32),
                "forward_flow": ((3, 2, H, W), torch.float32), "backward_flow": ((3, 2, H, W), torch.float32),
                "forward_flow_valid": ((3, H, W), torch.bool), "backward_occluded": ((3, H, W), torch.bool),
                "K": ((3, 3), torch.float32), "K_per_frame": ((3, 3, 3), torch.float32),
                "world_to_camera": ((3, 4, 4), torch.float32),
                "tracks": ((5, 3, 2), torch.float32), "tracks_occluded": ((5, 3), torch.bool)}
    for key, (shape, dtype) in expected.items():
        assert tuple(sample[key].shape) == shape and sample[key].dtype == dtype, key
    np.testing.assert_array_equal(sample["forward_flow"][1].permute(1, 2, 0).numpy(),
                                  written["scene_00000"][1]["forward_flow"])
    np.testing.assert_array_equal(sample["segmentation"].numpy(),
                                  np.stack([f["segmentation"] for f in written["scene_00000"]]))


@pytest.mark.skipif(not HAVE_TORCH, reason="torch not installed")
def test_dataloader_with_two_workers_yields_every_pair(job):
    import torch

    root, written = job
    ds = TorchSceneDataset(root, passes=["rgba", "forward_flow", "forward_flow_valid"], mode="pair")
    loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2)
    batches = list(loader)
    assert [len(b["scene"]) for b in batches] == [2, 2, 1]
    assert tuple(batches[0]["rgba"].shape) == (2, 2, 4, H, W)
    assert tuple(batches[0]["forward_flow"].shape) == (2, 2, H, W)
    seen = [(name, int(f[0])) for b in batches for name, f in zip(b["scene"], b["frames"], strict=True)]
    assert seen == [("scene_00000", 0), ("scene_00000", 1), ("scene_00001", 0), ("scene_00001", 1),
                    ("scene_00001", 2)]
    last = batches[-1]
    np.testing.assert_array_equal(last["rgba"][0, 1].permute(1, 2, 0).numpy(),
                                  written["scene_00001"][3]["rgba"])
