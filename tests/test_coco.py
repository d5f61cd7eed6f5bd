"""sim.coco: RLE against reference strings, the exported document against the segmentation and the
metadata boxes, our validator, pycocotools where installed, and the CLI."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from render_workers.cli import main as cli_main
from sim import annotate
from sim.coco import coco_document, export_coco, mask_runs, rle_decode, rle_encode, validate_coco
from sim.errors import OutputError
from sim.io import SceneWriter, load_scene
from sim.metadata import build_metadata
from sim.settings import RenderSettings
from tests.synthetic_scenes import frame_passes, make_scene, still_trajectory, write_synthetic_scene


def test_rle_matches_reference_strings():
    """Strings computed once with pycocotools' ``mask.encode``."""
    mask = np.zeros((6, 7), dtype=bool)
    mask[1:4, 2:5] = True
    mask[0, 0] = mask[5, 6] = True
    assert mask_runs(mask) == [0, 1, 12, 3, 3, 3, 3, 3, 13, 1]  # column-major, zeros first
    assert rle_encode(mask) == {"size": [6, 7], "counts": "01<2G000:N"}
    row = np.zeros((1, 100000), dtype=bool)  # long runs: several 5-bit groups per number
    row[0, 70000] = True
    row[0, 70010:70020] = True
    assert rle_encode(row) == {"size": [1, 100000], "counts": "`[T2199cXm0"}


@pytest.mark.parametrize("shape", [(1, 1), (5, 3), (17, 31), (64, 48)])
def test_rle_round_trips_every_kind_of_mask(shape):
    rng = np.random.default_rng(shape[0])
    masks = [np.zeros(shape, bool), np.ones(shape, bool), rng.random(shape) < 0.5, rng.random(shape) < 0.05]
    for mask in masks:
        rle = rle_encode(mask)
        np.testing.assert_array_equal(rle_decode(rle), mask)
        np.testing.assert_array_equal(rle_decode({"size": rle["size"], "counts": mask_runs(mask)}), mask)
    with pytest.raises(OutputError, match="counts sum to"):
        rle_decode({"size": [2, 2], "counts": [1, 2]})


@pytest.fixture
def job(tmp_path):
    for k, frames in enumerate((3, 2)):
        write_synthetic_scene(tmp_path / "job", f"scene_{k:05d}", frames=frames, seed=k)
    return tmp_path / "job"


def test_export_masks_and_boxes_match_the_segmentation_and_metadata(job):
    doc = coco_document(job)
    validate_coco(doc)
    table = RenderSettings().categories  # the job's category table, ids as in the semantic pass
    assert [(c["id"], c["name"]) for c in doc["categories"]] == [(i + 1, n) for i, n in enumerate(table)]
    assert len(doc["images"]) == 5
    by_image = {im["id"]: im for im in doc["images"]}
    checked = 0
    for name in ("scene_00000", "scene_00001"):
        data = load_scene(job / name, passes=["segmentation"])
        instances = data["metadata"]["instances"]
        for t in range(data["scene"].frames):
            image = next(im for im in doc["images"] if im["scene"] == name and im["frame"] == t)
            assert image["file_name"] == f"{name}/rgba_{t:05d}.png" and (job / image["file_name"]).is_file()
            assert (image["width"], image["height"]) == (12, 8)
            anns = [a for a in doc["annotations"] if a["image_id"] == image["id"]]
            visible = [inst for inst in instances if inst["bbox_2d"][t] is not None]
            assert sorted(a["instance_id"] for a in anns) == [inst["id"] for inst in visible] == [1, 2]
            for a in anns:
                inst = instances[a["instance_id"] - 1]
                np.testing.assert_array_equal(rle_decode(a["segmentation"]),
                                              data["segmentation"][t] == inst["id"])
                x0, y0, x1, y1 = inst["bbox_2d"][t]
                assert a["bbox"] == [x0, y0, x1 - x0, y1 - y0]
                assert a["area"] == inst["visibility"][t] and a["iscrowd"] == 0
                category = next(c for c in doc["categories"] if c["id"] == a["category_id"])
                assert category["name"] == inst["category"] and by_image[a["image_id"]] is image
                checked += 1
    assert checked == 10
    # The moving block of the synthetic scene: one column right per frame.
    first = [a["bbox"] for a in doc["annotations"] if a["instance_id"] == 1][:3]
    assert first == [[1, 2, 3, 3], [2, 2, 3, 3], [3, 2, 3, 3]]


def test_scenes_without_a_category_table_number_the_categories_in_use(job):
    """Format 1.2 and before: no table in metadata.json; categories are the names in use."""
    for path in job.iterdir():
        meta = json.loads((path / "metadata.json").read_text())
        del meta["categories"]
        (path / "metadata.json").write_text(json.dumps({**meta, "format_version": "1.2"}))
    doc = coco_document(job)
    validate_coco(doc)
    assert [(c["id"], c["name"]) for c in doc["categories"]] == [(1, "cube"), (2, "sphere")]


def test_export_of_one_scene_and_json_file(job, tmp_path):
    out = tmp_path / "out" / "coco.json"
    assert export_coco(job / "scene_00001", out) == {"images": 2, "annotations": 4,
                                                     "categories": len(RenderSettings().categories)}
    doc = json.loads(out.read_text())
    validate_coco(doc)
    assert doc["images"][0]["file_name"] == "rgba_00000.png"  # relative to the directory exported


def test_validator_rejects_broken_documents(job):
    doc = coco_document(job)
    doc["annotations"][3]["area"] += 1
    with pytest.raises(OutputError, match="annotation 4: area"):
        validate_coco(doc)
    doc = coco_document(job)
    doc["annotations"][0]["bbox"] = [10, 2, 5, 3]
    with pytest.raises(OutputError, match="outside its image"):
        validate_coco(doc)
    doc = coco_document(job)
    doc["annotations"][1]["id"] = doc["annotations"][0]["id"]
    with pytest.raises(OutputError, match="duplicated"):
        validate_coco(doc)


@pytest.mark.skipif(importlib.util.find_spec("pycocotools") is None, reason="pycocotools not installed")
def test_pycocotools_reads_the_export(job, tmp_path):
    from pycocotools.coco import COCO
    from pycocotools.mask import encode

    out = tmp_path / "coco.json"
    export_coco(job, out)
    coco = COCO(str(out))
    for ann in coco.loadAnns(coco.getAnnIds()):
        mask = rle_decode(ann["segmentation"])
        np.testing.assert_array_equal(coco.annToMask(ann), mask)
        reference = encode(np.asfortranarray(mask.astype(np.uint8)))["counts"].decode()
        assert reference == ann["segmentation"]["counts"]


def test_cli_export_coco(job, tmp_path, capsys):
    out = tmp_path / "c.json"
    assert cli_main(["export", "coco", str(job), str(out)]) == 0
    assert capsys.readouterr().out.strip() == (
        f"{out}: 5 images, 10 annotations, {len(RenderSettings().categories)} categories")
    validate_coco(json.loads(out.read_text()))


def test_amodal_export_adds_full_silhouettes_that_pycocotools_decodes(job, tmp_path):
    from pycocotools import mask as mask_utils

    out = tmp_path / "amodal.json"
    assert cli_main(["export", "coco", "--amodal", str(job), str(out)]) == 0
    doc = json.loads(out.read_text())
    validate_coco(doc)
    images = {im["id"]: im for im in doc["images"]}
    for ann in doc["annotations"]:
        image = images[ann["image_id"]]
        data = load_scene(job / image["scene"], passes=["amodal", "segmentation"], frames=[image["frame"]])
        full = data["amodal"][0, ann["instance_id"] - 1]
        np.testing.assert_array_equal(mask_utils.decode(ann["amodal_segmentation"]).astype(bool), full)
        assert ann["amodal_area"] == int(full.sum()) >= ann["area"]
        assert ann["visible_fraction"] == pytest.approx(ann["area"] / ann["amodal_area"])
        x, y, w, h = ann["amodal_bbox"]
        rows, cols = np.nonzero(full)
        assert [x, y, x + w, y + h] == [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
    assert any(a["visible_fraction"] < 1 for a in doc["annotations"])


def test_amodal_export_of_scenes_without_the_pass_is_one_line(tmp_path):
    path, _ = write_synthetic_scene(tmp_path, frames=2)
    (path / "amodal_00000.npz").unlink()
    meta = json.loads((path / "metadata.json").read_text())
    (path / "metadata.json").write_text(json.dumps({**meta, "passes": [p for p in meta["passes"]
                                                                       if p != "amodal"]}))
    with pytest.raises(OutputError, match=r"pass 'amodal': .* was rendered without it \(it has rgba, "
                                          r".*\); COCO --amodal needs it"):
        coco_document(path, amodal=True)


def test_amodal_is_refused_for_other_exports(job, tmp_path, capsys):
    assert cli_main(["export", "kubric", "--amodal", str(job), str(tmp_path / "movi")]) == 2
    assert capsys.readouterr().err == ("scenesim: error: --amodal: only 'export coco' writes amodal masks, "
                                       "not 'kubric'\n")
    assert not (tmp_path / "movi").exists()


def test_a_ground_truth_only_scene_is_refused_not_exported_with_missing_images(tmp_path, capsys):
    scene = make_scene(2)
    rng = np.random.default_rng(0)
    frames = [{k: v for k, v in frame_passes(scene, t, rng).items() if k != "rgba"} for t in range(2)]
    n = len(scene.instances)
    meta = build_metadata(scene, still_trajectory(scene), None,
                          boxes_2d=[annotate.boxes_2d(f["segmentation"], n) for f in frames],
                          visibility=[annotate.visibility(f["segmentation"], n) for f in frames])
    with SceneWriter(tmp_path, "scene_00000") as writer:
        for t, passes in enumerate(frames):
            writer.write_frame(t, passes)
        path = writer.finish(scene, meta, [])
    out = tmp_path / "c.json"
    assert cli_main(["export", "coco", str(tmp_path), str(out)]) == 2
    assert capsys.readouterr().err == (f"scenesim: error: {path}: has no RGB images (rendered with "
                                       "--gt-only), which COCO image entries refer to; render the job "
                                       "with RGB to export it\n")
    assert not out.exists()
