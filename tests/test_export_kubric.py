"""Kubric/MOVi export, decoded the way Kubric's MOVi documentation says: 16-bit depth and flow
scaled by the per-scene ranges in ``metadata["metadata"]``, (row, column) flow, Kubric's backward-flow
sign, its normalised K on Blender camera axes; instances ordered by visibility."""

from __future__ import annotations

import json

import imagecodecs
import numpy as np
import pytest
from PIL import Image

from sim.errors import OutputError
from sim.export.kubric import export_kubric, quantise
from sim.io import load_scene
from sim.transforms import quat_to_matrix
from tests.synthetic_scenes import write_synthetic_scene


def _realistic(p):
    """Unit normals, object coordinates in [0, 1], flows of both signs; instance 2 larger than 1."""
    n = p["normal"] - 4.75
    p["normal"] = (n / np.linalg.norm(n, axis=-1, keepdims=True)).astype(np.float32)
    p["object_coordinates"] = ((p["object_coordinates"] - 0.5) / 8.5).astype(np.float32)
    p["forward_flow"] -= 4.75
    p["backward_flow"] -= 3.0
    p["segmentation"][5:8, 6:12] = 2


EVENTS = [{"frame": 1, "instance_a": 0, "instance_b": 2, "position": [0.5, 0.0, 1.0],
           "normal": [0.0, 0.0, 1.0], "force": 3.5},
          {"frame": 2, "instance_a": 1, "instance_b": 3, "position": [0.0, 0.0, 1.0],
           "normal": [1.0, 0.0, 0.0], "force": 1.0}]


@pytest.fixture
def exported(tmp_path):
    path, _ = write_synthetic_scene(tmp_path / "job", "scene_00000", frames=3, adjust=_realistic)
    (path / "events.json").write_text(json.dumps(EVENTS))
    write_synthetic_scene(tmp_path / "job", "scene_00001", frames=2, seed=1, adjust=_realistic)
    assert export_kubric(tmp_path / "job", tmp_path / "movi") == {"scenes": 2, "frames": 5}
    return tmp_path / "job", tmp_path / "movi"


def _png16(path):
    return imagecodecs.png_decode(path.read_bytes())


def test_decoding_as_kubric_documents_gives_our_arrays(exported):
    job, movi = exported
    for name in ("scene_00000", "scene_00001"):
        ours = load_scene(job / name)
        out = movi / name
        meta = json.loads((out / "metadata.json").read_text())
        F = ours["scene"].frames
        assert meta["metadata"]["num_frames"] == F and meta["metadata"]["video_name"] == name
        assert (meta["metadata"]["width"], meta["metadata"]["height"]) == (12, 8)
        for t in range(F):
            np.testing.assert_array_equal(np.asarray(Image.open(out / f"rgba_{t:05d}.png")), ours["rgba"][t])
            # depth: sample["depth"] / 65535 * (maxv - minv) + minv
            minv, maxv = meta["metadata"]["depth_range"]
            raw = _png16(out / f"depth_{t:05d}.png")
            assert raw.dtype == np.uint16 and raw.shape == (8, 12)
            depth = raw / 65535 * (maxv - minv) + minv
            step = (maxv - minv) / 65535
            d = ours["depth"][t]
            np.testing.assert_allclose(depth[np.isfinite(d)], d[np.isfinite(d)], atol=step / 2 * 1.001)
            assert (raw[~np.isfinite(d)] == 65535).all()
            # flows: (delta_row, delta_column); Kubric's backward flow = -(ours)
            for kind, sign in (("forward", 1), ("backward", -1)):
                minv, maxv = meta["metadata"][f"{kind}_flow_range"]
                raw = _png16(out / f"{kind}_flow_{t:05d}.png")
                assert raw.shape == (8, 12, 3) and (raw[..., 2] == 0).all()
                flow = raw[..., :2] / 65535 * (maxv - minv) + minv
                expected = np.nan_to_num(sign * ours[f"{kind}_flow"][t][..., ::-1], nan=0.0)
                np.testing.assert_allclose(flow, expected, atol=(maxv - minv) / 65535 / 2 * 1.001)
                ranges = json.loads((out / "data_ranges.json").read_text())[f"{kind}_flow"]
                assert [ranges["min"], ranges["max"]] == [minv, maxv]
            normal = _png16(out / f"normal_{t:05d}.png") / 65535 * 2 - 1
            np.testing.assert_allclose(normal, ours["normal"][t], atol=1.001 / 65535)
            coords = _png16(out / f"object_coordinates_{t:05d}.png") / 65535
            np.testing.assert_allclose(coords, ours["object_coordinates"][t], atol=0.501 / 65535)
            # segmentation: id k is instances[k-1]; ordered by visibility, invisible ones left out
            seg = np.asarray(Image.open(out / f"segmentation_{t:05d}.png"))
            assert seg.dtype == np.uint8
            ids = [inst["scenesim_id"] for inst in meta["instances"]]
            assert ids == [2, 1]
            remapped = np.zeros_like(ours["segmentation"][t])
            for k, our_id in enumerate(ids):
                remapped[seg == k + 1] = our_id
            np.testing.assert_array_equal(remapped, ours["segmentation"][t])


def test_camera_and_instances_follow_kubric_conventions(exported):
    job, movi = exported
    ours = load_scene(job / "scene_00000", passes=[])["metadata"]
    meta = json.loads((movi / "scene_00000" / "metadata.json").read_text())
    cam = meta["camera"]
    K, R = np.asarray(cam["K"]), np.asarray(cam["R"])
    assert K[1, 1] < 0 and K[2, 2] == -1  # normalised, on Blender camera axes
    np.testing.assert_allclose(quat_to_matrix(cam["quaternions"][0]), R[:3, :3], atol=1e-9)
    np.testing.assert_allclose(cam["positions"][0], R[:3, 3])
    # A world point projected Kubric's way (camera.project_point) lands where ours does, over (W, H).
    points = np.array([[0.3, 0.2, 0.9], [-1.0, 0.5, 0.2], [2.0, 1.0, 1.5]])
    for p in points:
        cam_b = np.linalg.inv(R) @ np.append(p, 1.0)
        uvw = K @ cam_b[:3]
        kubric_xy = uvw[:2] / uvw[2]
        w2c, Kp = np.asarray(ours["camera"]["world_to_camera"][0]), np.asarray(ours["camera"]["K"])
        pix = Kp @ (w2c[:3, :3] @ p + w2c[:3, 3])
        np.testing.assert_allclose(kubric_xy, pix[:2] / pix[2] / [12, 8], atol=1e-9)
    fov = 2 * np.arctan(cam["sensor_width"] / 2 / cam["focal_length"])
    np.testing.assert_allclose(cam["field_of_view"], fov)
    first = meta["instances"][0]
    inst = ours["instances"][first["scenesim_id"] - 1]
    for t, position in enumerate(first["positions"]):  # Kubric's projection of the object's origin
        uvw = K @ (np.linalg.inv(R) @ np.append(position, 1.0))[:3]
        np.testing.assert_allclose(first["image_positions"][t], uvw[:2] / uvw[2], atol=1e-9)
    assert first["bbox_frames"] == [0, 1, 2] and first["visibility"] == inst["visibility"]
    x0, y0, x1, y1 = inst["bbox_2d"][0]
    np.testing.assert_allclose(first["bboxes"][0], [y0 / 8, x0 / 12, y1 / 8, x1 / 12])
    assert first["positions"] == inst["position"] and first["bboxes_3d"] == inst["bbox_3d"]
    assert meta["metadata"]["num_instances"] == 2


def test_collisions_index_the_exported_instances(exported):
    _, movi = exported
    collisions = json.loads((movi / "scene_00000" / "events.json").read_text())["collisions"]
    # our id 2 is Kubric's instance 0; background (0) and the never-visible id 3 become 65535
    assert [c["instances"] for c in collisions] == [[65535, 0], [1, 65535]]
    assert collisions[0]["force"] == 3.5 and collisions[0]["contact_normal"] == [0.0, 0.0, 1.0]
    assert all(0 <= v for v in collisions[0]["image_position"])


def test_quantise_rounds_to_the_nearest_code():
    values = np.array([-1.0, -0.5, 0.0, 1.0])
    np.testing.assert_array_equal(quantise(values, -1.0, 1.0), [0, 16384, 32768, 65535])
    np.testing.assert_array_equal(quantise(np.array([2.0, 2.0]), 2.0, 2.0), [0, 0])


def test_refuses_to_overwrite_and_writes_nothing_half(exported, tmp_path):
    job, movi = exported
    with pytest.raises(OutputError, match="already exists"):
        export_kubric(job, movi)
    before = sorted(p.name for p in (movi / "scene_00000").iterdir())
    export_kubric(job, movi, overwrite=True)
    assert sorted(p.name for p in (movi / "scene_00000").iterdir()) == before
    assert not list(tmp_path.glob("*.partial"))


def test_a_label_only_scene_exports_what_it_has(tmp_path):
    def labels_only(p):
        for name in list(p):
            if name not in ("depth", "segmentation"):
                p.pop(name)

    write_synthetic_scene(tmp_path / "job", "scene_00000", frames=2, adjust=labels_only)
    export_kubric(tmp_path / "job", tmp_path / "movi")
    out = tmp_path / "movi" / "scene_00000"
    assert sorted(p.name for p in out.iterdir()) == [
        "data_ranges.json", "depth_00000.png", "depth_00001.png", "events.json", "metadata.json",
        "segmentation_00000.png", "segmentation_00001.png"]
    meta = json.loads((out / "metadata.json").read_text())["metadata"]
    assert "depth_range" in meta and "forward_flow_range" not in meta
