"""sim.passes (the pass registry), passes chosen per job (RenderSettings.passes, --passes, job.json),
z_depth and semantic, SceneObject.category and the category table. Synthetic frames, no Blender."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from render_workers.cli import main as cli_main
from render_workers.job import JobSpec
from sim.categories import default_table, object_category, semantic_ids
from sim.errors import SceneValidationError
from sim.frame import GROUND_TRUTH_OUTPUTS, RENDER_OUTPUTS, RenderedFrame
from sim.io import load_scene
from sim.passes import DEFAULT_PASSES, PASSES, required_outputs, resolve_passes
from sim.scene import Scene, SceneObject
from sim.settings import RenderSettings
from sim.sink import SceneSink
from sim.transforms import intrinsics, pixel_rays
from tests.synthetic_scenes import make_scene, rendered_frame, still_trajectory

SCENE = make_scene(frames=3)


def rendered(t: int) -> RenderedFrame:
    return rendered_frame(SCENE, t)


def write(tmp_path, settings, name="s", frames=None):
    outputs = required_outputs(settings.passes, settings.point_tracks > 0)
    with SceneSink(SCENE, still_trajectory(SCENE), settings, tmp_path, name) as sink:
        for frame in frames or [rendered(t) for t in range(SCENE.frames)]:
            sink.push(RenderedFrame(frame.frame, {k: v for k, v in frame.items() if k in outputs}))
        return sink.finish({}).path


def test_every_pass_is_declared_completely():
    for name, spec in PASSES.items():
        assert spec.name == name and spec.ext in ("png", "tiff", "npz")
        assert set(spec.needs) <= set(RENDER_OUTPUTS) and spec.needs, name
        assert len(spec.description) > 30 and spec.toward in (-1, 0, 1), name
    assert set(DEFAULT_PASSES) == set(PASSES) - {"z_depth", "semantic", "disparity", "amodal", "object_index"}
    assert resolve_passes(["forward_flow", "rgba", "rgba"]) == ("rgba", "forward_flow")


def test_unknown_or_no_pass_is_one_line_naming_the_choices():
    with pytest.raises(SceneValidationError, match=r"^passes: unknown pass 'flow'; choose from rgba, "
                                                   r"segmentation, .*backward_occluded$"):
        RenderSettings(passes=("depth", "flow"))
    with pytest.raises(SceneValidationError, match="choose at least one pass"):
        RenderSettings(passes=())
    with pytest.raises(SceneValidationError, match="expected a list of pass names"):
        RenderSettings(passes="depth")


def test_dependencies_are_resolved_to_render_outputs():
    assert required_outputs(["forward_flow"]) == {"depth", "object_index"}
    assert required_outputs(["rgba"]) == {"rgba"}  # no ground-truth render at all
    assert required_outputs(["rgba"], point_tracks=True) == {"rgba", "depth", "object_index"}
    assert required_outputs(["normal"]) == {"normal", "object_index"}  # index: boxes and empties
    assert required_outputs(["semantic", "z_depth"]) == {"depth", "object_index"}
    assert required_outputs(DEFAULT_PASSES) == set(RENDER_OUTPUTS) - {"amodal"}
    assert required_outputs(PASSES) == set(RENDER_OUTPUTS) == GROUND_TRUTH_OUTPUTS | {"rgba"}


def test_only_the_chosen_passes_are_written_and_equal_the_full_set(tmp_path):
    mono = tuple(p for p in PASSES if p != "disparity")  # disparity needs a stereo pair
    full = load_scene(write(tmp_path, RenderSettings(passes=mono), "full"))
    chosen = ("semantic", "forward_flow")  # flow needs depth and the index, writes neither
    path = write(tmp_path, RenderSettings(passes=chosen), "chosen")
    assert sorted({f.split("_0")[0] for f in os.listdir(path) if not f.endswith(".json")}) == sorted(chosen)
    data = load_scene(path)
    assert data["metadata"]["passes"] == list(chosen)
    for name in chosen:
        np.testing.assert_array_equal(data[name], full[name])
    amodal_keys = ("amodal_bbox_2d", "amodal_visibility", "visible_fraction")
    assert data["metadata"]["instances"] == [{k: v for k, v in inst.items() if k not in amodal_keys}
                                             for inst in full["metadata"]["instances"]]  # boxes too


def test_amodal_masks_round_trip_bit_packed_with_their_metadata(tmp_path):
    path = write(tmp_path, RenderSettings(passes=("segmentation", "amodal")))
    frames = [rendered(t) for t in range(SCENE.frames)]
    data = load_scene(path)
    assert data["amodal"].dtype == np.bool_ and data["amodal"].shape == (3, 3, 8, 12)  # (T, N, H, W)
    np.testing.assert_array_equal(data["amodal"], np.stack([f["amodal"] for f in frames]))
    with np.load(path / "amodal_00001.npz") as npz:  # the documented encoding
        assert npz["packed"].dtype == np.uint8 and npz["packed"].shape == (3, 8, 2)
        np.testing.assert_array_equal(np.unpackbits(npz["packed"], axis=-1, count=12).astype(bool),
                                      frames[1]["amodal"])
    box, ball = data["metadata"]["instances"][:2]
    assert box["visibility"] == [9, 9, 9] and box["amodal_visibility"] == [12, 12, 12]
    assert box["visible_fraction"] == [0.75] * 3
    assert box["amodal_bbox_2d"] == [[1 + t, 2, 4 + t, 6] for t in range(3)]
    assert ball["amodal_visibility"] == [0] * 3 and ball["visible_fraction"] == [None] * 3
    assert ball["amodal_bbox_2d"] == [None] * 3


def test_rgba_alone_renders_no_ground_truth_and_has_no_boxes(tmp_path):
    data = load_scene(write(tmp_path, RenderSettings(passes=("rgba",))))
    assert data["metadata"]["passes"] == ["rgba"]
    assert {"bbox_2d", "visibility"}.isdisjoint(data["metadata"]["instances"][0])


def test_point_tracks_without_depth_and_segmentation_written(tmp_path):
    tracks = [load_scene(write(tmp_path, RenderSettings(passes=p, point_tracks=8), name))["point_tracks"]
              for name, p in (("all", DEFAULT_PASSES), ("rgb", ("rgba",)))]
    for key in tracks[0]:
        np.testing.assert_array_equal(tracks[0][key], tracks[1][key])


def test_z_depth_is_depth_along_the_optical_axis(tmp_path):
    data = load_scene(write(tmp_path, RenderSettings(passes=("depth", "z_depth"))))
    K = intrinsics(SCENE.camera, SCENE.resolution)
    rays = pixel_rays(K, SCENE.resolution)
    # the point at Euclidean distance d along the unit ray has camera z = d * ray_z
    np.testing.assert_allclose(data["z_depth"], data["depth"] * rays[..., 2], rtol=1e-6)
    assert np.isposinf(data["z_depth"][:, 0]).all()
    assert (data["z_depth"][np.isfinite(data["depth"])] < data["depth"][np.isfinite(data["depth"])]).all()


def test_semantic_ids_come_from_the_job_table(tmp_path):
    data = load_scene(write(tmp_path, RenderSettings(passes=("semantic", "segmentation"))))
    table = data["metadata"]["categories"]
    assert table == {str(i + 1): name for i, name in enumerate(default_table())}
    ids = {name: int(i) for i, name in table.items()}
    sem, seg = data["semantic"], data["segmentation"]
    assert (sem[seg == 0] == 0).all()  # the floor is background: 0
    assert (sem[seg == 1] == ids["cube"]).all() and (seg == 1).any()
    assert [i["category"] for i in data["metadata"]["instances"]] == ["cube", "sphere", "cube"]


def test_category_defaults_to_the_catalogue_and_round_trips():
    assert [object_category(SceneObject("x", asset=a)) for a in (
        "primitive:torus_knot", "pybullet:duck", "pybullet:cube", "pybullet:random_urdfs/042",
        "file:/data/mug.obj")] == ["torus_knot", "duck", "block", "random_urdf", "object"]
    obj = SceneObject("x", asset="pybullet:duck", category="rubber-duck_2")
    scene = Scene(objects=(obj,))
    assert Scene.from_json(scene.to_json()).objects[0].category == "rubber-duck_2"
    old = json.loads(scene.to_json())
    del old["objects"][0]["category"]  # a scene.json of format 1.2
    assert Scene.from_dict(old).objects[0].category is None
    for bad in ("Duck", "", "a b", 7, "x" * 65):
        with pytest.raises(SceneValidationError, match="category"):
            SceneObject("x", category=bad)


def test_a_category_outside_the_table_names_the_fix():
    scene = Scene(objects=(SceneObject("x", category="distractor"),))
    with pytest.raises(SceneValidationError, match="object 'x': category 'distractor' is not in the job's "
                                                   "category table; add it with --categories distractor"):
        semantic_ids(scene, default_table())
    table = (*default_table(), "distractor")
    assert semantic_ids(scene, table).tolist() == [len(table)]
    with pytest.raises(SceneValidationError, match="appear twice"):
        RenderSettings(categories=("cube", "cube"))


def test_settings_round_trip_and_the_old_rgb_flag():
    s = RenderSettings(passes=("semantic", "depth"))
    assert s.passes == ("depth", "semantic") and not s.rgb
    assert RenderSettings.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    old = {k: v for k, v in RenderSettings().to_dict().items() if k not in ("passes", "categories")}
    assert RenderSettings.from_dict({**old, "rgb": False}).passes == tuple(p for p in DEFAULT_PASSES
                                                                             if p != "rgba")
    assert RenderSettings.from_dict({**old, "rgb": True}) == RenderSettings()


def _args(tmp_path, *extra):
    from render_workers.cli import build_parser

    return build_parser().parse_args(["render", "--recipe", "movi-a", "--out", str(tmp_path), *extra])


def test_cli_passes_reach_the_job_spec_and_job_json(tmp_path):
    spec = JobSpec.from_args(_args(tmp_path, "--passes", "semantic,depth , forward_flow"))
    assert spec.settings.passes == ("depth", "semantic", "forward_flow")
    again = JobSpec.from_dict(json.loads(spec.to_json()), tmp_path)
    assert again == spec and again.settings.passes == spec.settings.passes
    assert JobSpec.from_args(_args(tmp_path, "--gt-only")).settings.passes == tuple(
        p for p in DEFAULT_PASSES if p != "rgba")
    gt_only = JobSpec.from_args(_args(tmp_path, "--gt-only", "--passes", "rgba,depth"))
    assert gt_only.settings.passes == ("depth",)
    extra = JobSpec.from_args(_args(tmp_path, "--categories", "distractor")).settings.categories
    assert extra == (*default_table(), "distractor")
    assert spec.differences(JobSpec.from_args(_args(tmp_path))) == [
        f"settings.passes: {json.dumps(list(DEFAULT_PASSES))} -> "
        f"{json.dumps(['depth', 'semantic', 'forward_flow'])}"]


def test_cli_unknown_pass_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["render", "--recipe", "movi-a", "--out", str(tmp_path), "--passes", "depth,flow"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1
    assert err.startswith("scenesim: error: argument --passes: unknown pass 'flow'; choose from rgba, ")
    assert not os.listdir(tmp_path)
