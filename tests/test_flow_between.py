"""sim.flow.between: the stored forward and backward flow are between(t, t ± 1) bit for bit (on the
analytic scene written by the sink, and on a tiny real render); bad requests and scenes the flow
cannot be exact for are one-line OutputErrors. Values against the analytic truth: test_oracle."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sim.dataset import SceneDataset
from sim.errors import OutputError
from sim.flow import SceneFlow, between
from sim.io import load_scene
from sim.passes import DEFAULT_PASSES
from sim.scene import SceneObject
from sim.settings import RenderSettings
from tests.analytic_scene import CATEGORIES, make_scene, write_scene

FLOW_PASSES = [f"{d}_{p}" for d in ("forward", "backward") for p in ("flow", "flow_valid", "occluded")]
GROUND_TRUTH = RenderSettings(passes=[p for p in DEFAULT_PASSES if p != "rgba"], categories=CATEGORIES)


def assert_stored_flow_is_between(path) -> None:
    """Every frame's stored flows and masks equal between(t, t ± 1) bit for bit (NaN where NaN)."""
    data = load_scene(path, passes=FLOW_PASSES)
    flows = SceneFlow(path)
    frames = data["scene"].frames
    for t in range(frames):
        for direction, s in (("forward", t + 1), ("backward", t - 1)):
            if not 0 <= s < frames:
                continue
            flow, valid, occluded = flows.between(t, s)
            assert flow.tobytes() == data[f"{direction}_flow"][t].tobytes(), (t, direction)
            np.testing.assert_array_equal(valid, data[f"{direction}_flow_valid"][t])
            np.testing.assert_array_equal(occluded, data[f"{direction}_occluded"][t])


@pytest.fixture(scope="module")
def analytic(tmp_path_factory):
    return write_scene(tmp_path_factory.mktemp("between"), GROUND_TRUTH)[0].path


def test_stored_flow_is_between_adjacent_frames_bit_for_bit(analytic):
    assert_stored_flow_is_between(analytic)
    flow, valid, occluded = between(analytic, 2, 2)  # a frame to itself: no motion, nothing hidden
    np.testing.assert_allclose(flow[valid], 0.0, atol=1e-4)
    assert valid.any() and not occluded[valid].any()


def test_bad_frames_are_one_line_errors(analytic):
    with pytest.raises(OutputError, match=r"s: got 6, expected a frame index in \[0, 5\]"):
        between(analytic, 0, 6)
    with pytest.raises(OutputError, match=r"t: got -1, expected a frame index"):
        between(analytic, -1, 2)
    with pytest.raises(OutputError, match="no such scene directory"):
        between(analytic.parent / "nothing", 0, 1)


def test_a_scene_without_depth_is_refused(tmp_path):
    settings = RenderSettings(passes=["segmentation", "forward_flow"], categories=CATEGORIES)  # no depth
    path = write_scene(tmp_path, settings)[0].path
    with pytest.raises(OutputError, match="needs the 'depth' pass, and the scene has only segmentation, "
                                          "forward_flow; render it with 'depth'"):
        between(path, 0, 1)


def test_several_background_objects_need_the_object_index_pass(tmp_path):
    scene = make_scene()
    wall = SceneObject("wall", scale=(3.0, 0.1, 1.0), position=(0.0, 3.5, 1.0), static=True, background=True)
    scene = dataclasses.replace(scene, objects=(*scene.objects, wall))
    path = write_scene(tmp_path, GROUND_TRUTH, scene=scene)[0].path
    with pytest.raises(OutputError, match=r"2 background objects \(floor, wall\) share segmentation id 0"):
        between(path, 0, 1)
    # with the object index stored, the flow is exact again
    settings = dataclasses.replace(GROUND_TRUTH, passes=(*GROUND_TRUTH.passes, "object_index"))
    assert_stored_flow_is_between(write_scene(tmp_path / "indexed", settings, scene=scene)[0].path)


@pytest.mark.slow
def test_stored_flow_of_a_real_render_is_between_adjacent_frames(tmp_path):
    from scenes import get_recipe
    from sim.pipeline import run_scene

    scene = dataclasses.replace(get_recipe("movi-a")(3, {}), resolution=(32, 24), frames=3)
    result = run_scene(scene, RenderSettings(samples=1, denoise=False, threads=1, passes=GROUND_TRUTH.passes),
                       tmp_path, "scene_00000")
    assert_stored_flow_is_between(result.path)
    _, valid, _ = between(result.path, 0, 2)
    assert valid.any()


def test_pair_dataset_with_strides_gives_stored_and_computed_flow(analytic):
    names = ["depth", "segmentation", *FLOW_PASSES]
    ds = SceneDataset(analytic, names, mode="pair", stride=(1, 2, 5))
    assert len(ds) == 5 + 4 + 1  # frame pairs (t, t+d) of a 6-frame scene
    stored = load_scene(analytic, passes=names)
    seen = set()
    for sample in ds:
        t, s = (int(f) for f in sample["frames"])
        seen.add(s - t)
        np.testing.assert_array_equal(sample["depth"], stored["depth"][[t, s]])
        expected = [*between(analytic, t, s), *between(analytic, s, t)]
        if s == t + 1:  # the stored files, which are the same
            expected = [stored[name][t if name.startswith("forward") else s] for name in FLOW_PASSES]
        for name, value in zip(FLOW_PASSES, expected, strict=True):
            assert sample[name].dtype == value.dtype, name
            assert sample[name].tobytes() == value.tobytes(), (t, s, name)
    assert seen == {1, 2, 5}
    assert len(SceneDataset(analytic, ["depth"], mode="pair", stride=6)) == 0  # no pair that far apart


@pytest.mark.parametrize("stride", [0, (2, 2), "2", (), 1.5, True])
def test_bad_strides_are_one_line_errors(analytic, stride):
    with pytest.raises(OutputError, match="stride: got"):
        SceneDataset(analytic, ["depth"], mode="pair", stride=stride)


def test_stride_is_for_pair_mode_only(analytic):
    with pytest.raises(OutputError, match="only mode='pair' takes a stride"):
        SceneDataset(analytic, ["depth"], mode="clip", stride=2)
