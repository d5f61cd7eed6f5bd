"""sim.io (scene directory writer and loader) and sim.metadata (metadata.json, events.json)."""

from __future__ import annotations

import json
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

from sim.errors import OutputError
from sim.format import CONVENTIONS, FORMAT_VERSION, PARTIAL_SUFFIX, PASSES
from sim.io import SceneWriter, is_complete, load_scene
from sim.metadata import build_events, build_metadata, json_native
from sim.scene import Camera, Scene, SceneObject
from sim.settings import RenderSettings
from sim.trajectory import CollisionEvent, Trajectory
from sim.transforms import camera_to_world, intrinsics, quat_to_matrix

SCENE = Scene(
    objects=(SceneObject("floor", scale=(5.0, 5.0, 0.1), static=True, background=True),
             SceneObject("cube", scale=(0.5, 0.5, 0.5), position=(0.0, 0.0, 1.0), density=200.0),
             SceneObject("wall", position=(3.0, 0.0, 1.0), static=True, background=True),
             SceneObject("ball", asset="primitive:sphere", scale=(0.3, 0.3, 0.3), mass=2.5)),
    camera=Camera(positions=((5.0, -5.0, 3.0), (5.0, -4.0, 3.0)), look_at=((0.0, 0.0, 0.0),)),
    resolution=(6, 4), frames=2)


def trajectory(scene: Scene) -> Trajectory:
    f, n = scene.frames, len(scene.objects)
    rng = np.random.default_rng(1)
    q = rng.normal(size=(f, n, 4))
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    return Trajectory(rng.normal(size=(f, n, 3)), q, rng.normal(size=(f, n, 3)), rng.normal(size=(f, n, 3)))


def random_passes(rng: np.random.Generator, scene: Scene) -> dict[str, np.ndarray]:
    """Every pass of PASSES with random content over the dtype's range; floats include NaN, ±inf."""
    width, height = scene.resolution
    out = {}
    for name, spec in PASSES.items():
        shape = spec.shape(height, width, len(scene.instances))
        if spec.dtype is np.bool_:
            out[name] = rng.random(shape) < 0.5
        elif spec.dtype is np.float32:
            a = rng.normal(scale=100.0, size=shape).astype(np.float32)
            a.reshape(-1)[:3] = (np.nan, np.inf, -np.inf)
            out[name] = a
        else:
            out[name] = rng.integers(0, np.iinfo(spec.dtype).max, shape, endpoint=True, dtype=spec.dtype)
    return out


def write_scene(out_dir: Path, name: str = "scene_00000", **kwargs) -> tuple[Path, list[dict]]:
    rng = np.random.default_rng(0)
    frames = [random_passes(rng, SCENE) for _ in range(SCENE.frames)]
    meta = build_metadata(SCENE, trajectory(SCENE), None, boxes_2d=[[None, [0, 1, 2, 3]]] * 2,
                          visibility=[[0, 4]] * 2)
    with SceneWriter(out_dir, name, **kwargs) as writer:
        for t, passes in enumerate(frames):
            writer.write_frame(t, passes)
        path = writer.finish(SCENE, meta, [])
    return path, frames


def test_round_trip_of_every_pass_is_bit_exact(tmp_path):
    path, frames = write_scene(tmp_path)
    assert path == tmp_path / "scene_00000" and is_complete(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene_00000"]
    data = load_scene(path)
    assert data["scene"] == SCENE and data["events"] == []
    assert data["metadata"]["passes"] == list(PASSES)
    for name, spec in PASSES.items():
        arr = data[name]
        assert arr.dtype == spec.dtype and arr.shape == (2, *spec.shape(4, 6, 2)), name
        expected = np.stack([f[name] for f in frames])
        if spec.dtype is np.float32:  # bit patterns, so NaN and ±inf count too
            np.testing.assert_array_equal(arr.view(np.uint32), expected.view(np.uint32))
        else:
            np.testing.assert_array_equal(arr, expected)


def test_float_passes_use_the_floating_point_predictor_and_plain_tiffs_still_load(tmp_path):
    path, frames = write_scene(tmp_path)
    depth_file = path / PASSES["depth"].filename(0)
    with tifffile.TiffFile(depth_file) as tif:
        page = tif.pages[0]
        assert page.compression == tifffile.COMPRESSION.ADOBE_DEFLATE
        assert page.predictor == tifffile.PREDICTOR.FLOATINGPOINT
    assert iio.imread(depth_file).dtype == np.float32  # imageio reads them too
    tifffile.imwrite(depth_file, frames[0]["depth"], compression="zlib")  # as format 1.0/1.1 wrote it
    np.testing.assert_array_equal(load_scene(path, passes=["depth"])["depth"][0].view(np.uint32),
                                  frames[0]["depth"].view(np.uint32))


def test_only_requested_passes_are_decoded(tmp_path):
    path, frames = write_scene(tmp_path)
    (path / PASSES["normal"].filename(1)).write_bytes(b"not a tiff")
    data = load_scene(path, passes=["depth", "segmentation"])
    assert set(data) == {"scene", "metadata", "events", "depth", "segmentation"}
    np.testing.assert_array_equal(data["segmentation"][1], frames[1]["segmentation"])
    with pytest.raises(OutputError, match="normal_00001.tiff: not a readable TIFF file"):
        load_scene(path, passes=["normal"])
    with pytest.raises(OutputError, match="pass 'flow': unknown; known: rgba, "):
        load_scene(path, passes=["flow"])


def test_a_scene_with_some_passes_loads_and_names_a_missing_one(tmp_path):
    rng = np.random.default_rng(0)
    frames = [{k: v for k, v in random_passes(rng, SCENE).items() if k in ("depth", "semantic")}
              for _ in range(SCENE.frames)]
    meta = build_metadata(SCENE, trajectory(SCENE), None, boxes_2d=None, visibility=None)
    with SceneWriter(tmp_path, "scene_00000") as writer:
        for t, passes in enumerate(frames):
            writer.write_frame(t, passes)
        path = writer.finish(SCENE, meta, [])
    assert sorted(p.name for p in path.iterdir() if p.suffix != ".json") == [
        f"{name}_{t:05d}.{ext}" for name, ext in (("depth", "tiff"), ("semantic", "png")) for t in range(2)]
    data = load_scene(path)
    assert data["metadata"]["passes"] == ["depth", "semantic"]
    assert "bbox_2d" not in data["metadata"]["instances"][0]
    np.testing.assert_array_equal(data["semantic"][1], frames[1]["semantic"])
    with pytest.raises(OutputError, match=r"pass 'rgba': .*scene_00000 was rendered without it "
                                          r"\(it has depth, semantic\); render with --passes"):
        load_scene(path, passes=["rgba"])


def test_a_damaged_png_is_one_line_naming_the_file(tmp_path):
    path, _ = write_scene(tmp_path)
    damaged = path / PASSES["segmentation"].filename(0)
    damaged.write_bytes(b"not a png")
    with pytest.raises(OutputError) as error:
        load_scene(path, passes=["segmentation"])
    assert str(error.value) == (f"{damaged}: not a readable PNG file (OSError: damaged or truncated); "
                                "re-render the scene")


def test_metadata_content():
    traj = trajectory(SCENE)
    settings = RenderSettings(samples=4)
    meta = build_metadata(SCENE, traj, settings, boxes_2d=[[None, [0, 1, 2, 3]], [[1, 1, 2, 2], None]],
                          visibility=[[0, 4], [1, 0]], timings={"render": 1.5})
    assert json.loads(json.dumps(meta, allow_nan=False)) == meta  # JSON-native throughout
    assert meta["format_version"] == FORMAT_VERSION and meta["conventions"] == CONVENTIONS
    assert meta["scene"] == {"resolution": [6, 4], "frames": 2, "frame_rate": 12, "step_rate": 240,
                             "seed": 0, "gravity": [0.0, 0.0, -9.81], "shutter": 0.0}
    assert meta["render_settings"]["samples"] == 4 and meta["timings"] == {"render": 1.5}

    cam = meta["camera"]
    np.testing.assert_allclose(cam["K"], intrinsics(SCENE.camera, SCENE.resolution))
    cam2world = camera_to_world(SCENE.camera, 2)
    np.testing.assert_allclose(np.array(cam["world_to_camera"]) @ cam2world, np.stack([np.eye(4)] * 2),
                               atol=1e-12)
    np.testing.assert_allclose(cam["position"], [[5.0, -5.0, 3.0], [5.0, -4.0, 3.0]])
    np.testing.assert_allclose(quat_to_matrix(np.array(cam["quaternion"])), cam2world[:, :3, :3], atol=1e-12)
    assert cam["focal_length_mm"] == 35.0 and cam["sensor_width_mm"] == 32.0

    cube, ball = meta["instances"]
    assert [b["name"] for b in meta["background_objects"]] == ["floor", "wall"]
    assert (cube["id"], cube["name"], cube["object_index"]) == (1, "cube", 1)
    assert (ball["id"], ball["name"], ball["object_index"]) == (2, "ball", 3)
    np.testing.assert_allclose(cube["mass"], 200.0 * 8 * 0.5**3)  # density x volume of a 1 m cube
    assert ball["mass"] == 2.5
    # the mass the simulation used: a static object is immovable, 0 kg (sim.assets.object_mass)
    assert [b["mass"] for b in meta["background_objects"]] == [0.0, 0.0]
    np.testing.assert_allclose(ball["position"], traj.positions[:, 3])
    np.testing.assert_allclose(ball["angular_velocity"], traj.angular_velocities[:, 3])
    np.testing.assert_allclose(np.array(ball["object_to_world"])[:, :3, 3], traj.positions[:, 3])
    assert cube["bbox_2d"] == [None, [1, 1, 2, 2]] and cube["visibility"] == [0, 1]
    assert ball["bbox_2d"] == [[0, 1, 2, 3], None] and ball["visibility"] == [4, 0]
    corners = np.array(cube["bbox_3d"])
    assert corners.shape == (2, 8, 3)
    np.testing.assert_allclose(corners.mean(axis=1), traj.positions[:, 1], atol=1e-12)
    expected_keys = {"id", "name", "object_index", "asset", "category", "scale", "material", "mass",
                     "friction",
                     "restitution", "static", "scripted", "position", "quaternion", "object_to_world",
                     "linear_velocity", "angular_velocity", "bbox_2d", "bbox_3d", "visibility"}
    assert set(cube) == expected_keys
    with pytest.raises(OutputError, match="visibility"):
        build_metadata(SCENE, traj, None, boxes_2d=[[None, None]] * 2, visibility=[[0, 4]])


def test_json_native_rejects_nan_naming_the_field():
    assert json_native({"a": (np.float32(1.5), np.int64(2), np.bool_(True))}) == {"a": [1.5, 2, True]}
    with pytest.raises(OutputError, match=r"metadata.timings.render: got nan"):
        json_native({"timings": {"render": float("nan")}})
    arrays = {"i": np.arange(6, dtype=np.int32).reshape(2, 3), "f": np.array([[0.5, 2.0]], np.float32),
              "b": np.array([True, False])}
    assert json_native(arrays) == {"i": [[0, 1, 2], [3, 4, 5]], "f": [[0.5, 2.0]], "b": [True, False]}
    assert all(type(v) is int for v in json_native(arrays)["i"][0])
    with pytest.raises(OutputError, match=r"metadata.pose\[1\]\[0\]: got inf"):
        json_native({"pose": np.array([[0.0, 1.0], [np.inf, 2.0]])})


def test_events_use_instance_ids_and_merge_background_contacts():
    up, east = (0.0, 0.0, 1.0), (1.0, 0.0, 0.0)
    collisions = [
        CollisionEvent(3, 1, 3, (0.1, 0.0, 0.5), east, 4.0),  # cube-ball
        CollisionEvent(3, 0, 1, (0.0, 0.0, 0.0), up, 5.0),  # floor-cube
        CollisionEvent(3, 1, 2, (0.5, 0.0, 0.5), east, 9.0),  # cube-wall: normal wall -> cube
        CollisionEvent(3, 0, 2, (3.0, 0.0, 0.0), up, 50.0),  # floor-wall: two background objects
        CollisionEvent(1, 0, 3, (0.0, 0.0, 0.0), up, 2.0),  # floor-ball
    ]
    traj = trajectory(SCENE)
    events = build_events(SCENE, Trajectory(traj.positions, traj.quaternions, traj.linear_velocities,
                                            traj.angular_velocities, tuple(collisions)))
    assert json.loads(json.dumps(events)) == events
    assert events == [
        {"frame": 1, "instance_a": 0, "instance_b": 2, "position": [0.0, 0.0, 0.0], "normal": list(up),
         "force": 2.0},
        # the wall contact (peak force) wins over the floor's; its normal now points cube -> background
        {"frame": 3, "instance_a": 0, "instance_b": 1, "position": [0.5, 0.0, 0.5],
         "normal": [-1.0, 0.0, 0.0], "force": 9.0},
        {"frame": 3, "instance_a": 1, "instance_b": 2, "position": [0.1, 0.0, 0.5], "normal": list(east),
         "force": 4.0},
    ]


def test_an_exception_in_the_writer_leaves_nothing(tmp_path):
    rng = np.random.default_rng(0)
    with pytest.raises(RuntimeError, match="boom"):
        with SceneWriter(tmp_path, "scene_00000") as writer:
            writer.write_frame(0, random_passes(rng, SCENE))
            assert (tmp_path / ("scene_00000" + PARTIAL_SUFFIX)).is_dir()
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(OutputError, match="without finish"):
        with SceneWriter(tmp_path, "scene_00000") as writer:
            writer.write_frame(0, random_passes(rng, SCENE))
    assert list(tmp_path.iterdir()) == []


def test_finish_checks_every_frame_has_every_pass(tmp_path):
    rng = np.random.default_rng(0)
    with pytest.raises(OutputError, match="frame 1: passes"):
        with SceneWriter(tmp_path, "s") as writer:
            writer.write_frame(0, random_passes(rng, SCENE))
            writer.write_frame(1, {"depth": random_passes(rng, SCENE)["depth"]})
            writer.finish(SCENE, {}, [])
    with pytest.raises(OutputError, match=r"frames: missing \[1\]"):
        with SceneWriter(tmp_path, "s") as writer:
            writer.write_frame(0, random_passes(rng, SCENE))
            writer.finish(SCENE, {}, [])
    assert list(tmp_path.iterdir()) == []


def test_write_frame_validates_dtype_and_shape(tmp_path):
    depth = np.zeros((4, 6), np.float32)
    with pytest.raises(OutputError, match="without finish"), SceneWriter(tmp_path, "s") as writer:
        with pytest.raises(OutputError, match="pass 'depth': got float64"):
            writer.write_frame(0, {"depth": depth.astype(np.float64)})
        with pytest.raises(OutputError, match=r"pass 'normal': shape \(4, 6, 2\)"):
            writer.write_frame(0, {"depth": depth, "normal": np.zeros((4, 6, 2), np.float32)})
        with pytest.raises(OutputError, match=r"pass 'segmentation': shape \(4, 5\)"):
            writer.write_frame(1, {"segmentation": np.zeros((4, 5), np.uint16)})
        with pytest.raises(OutputError, match="pass 'colour': unknown"):
            writer.write_frame(0, {"colour": depth})
        with pytest.raises(OutputError, match="6x4 pixels, expected the scene's resolution 4x6"):
            writer.finish(Scene(resolution=(4, 6), frames=1), {}, [])
    assert list(tmp_path.iterdir()) == []


def test_stale_partial_is_replaced_and_a_complete_scene_is_kept(tmp_path):
    stale = tmp_path / ("scene_00000" + PARTIAL_SUFFIX)
    stale.mkdir()
    (stale / "junk").write_text("left by a killed worker")
    path, _ = write_scene(tmp_path)
    assert not stale.exists() and not (path / "junk").exists()
    with pytest.raises(OutputError, match="already exists; pass overwrite=True"):
        write_scene(tmp_path)
    (path / "marker").write_text("old")
    write_scene(tmp_path, overwrite=True)
    assert not (path / "marker").exists() and is_complete(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene_00000"]


def test_load_rejects_partial_missing_and_unsupported_dirs(tmp_path):
    with pytest.raises(OutputError, match="no such scene directory"):
        load_scene(tmp_path / "nope")
    partial = tmp_path / ("scene_00001" + PARTIAL_SUFFIX)
    partial.mkdir()
    with pytest.raises(OutputError, match="unfinished"):
        load_scene(partial)
    assert not is_complete(partial) and not is_complete(tmp_path / "nope")
    path, _ = write_scene(tmp_path)
    meta = json.loads((path / "metadata.json").read_text())
    (path / "metadata.json").write_text(json.dumps({**meta, "format_version": "0.1"}))
    with pytest.raises(OutputError, match="format_version '0.1'"):
        load_scene(path, passes=[])
    (path / "events.json").unlink()
    assert not is_complete(path)
    with pytest.raises(OutputError, match="missing events.json"):
        load_scene(path)


def test_a_format_1_2_directory_still_loads(tmp_path):
    """As format 1.2 wrote it: every default pass, settings with the rgb flag, no category table, no
    category field in scene.json, indented JSON."""
    from sim.dataset import SceneDataset
    from sim.passes import DEFAULT_PASSES

    path, frames = write_scene(tmp_path)
    for name in set(PASSES) - set(DEFAULT_PASSES):
        for t in range(SCENE.frames):
            (path / PASSES[name].filename(t)).unlink()
    meta = json.loads((path / "metadata.json").read_text())
    settings = {k: v for k, v in RenderSettings().to_dict().items() if k not in ("passes", "categories")}
    meta = {**{k: v for k, v in meta.items() if k != "categories"}, "format_version": "1.2",
            "passes": list(DEFAULT_PASSES), "render_settings": {**settings, "rgb": True}}
    (path / "metadata.json").write_text(json.dumps(meta, indent=2))
    scene = json.loads((path / "scene.json").read_text())
    for obj in scene["objects"]:
        del obj["category"]
    (path / "scene.json").write_text(json.dumps(scene, indent=2))
    data = load_scene(path)
    assert data["scene"] == SCENE and set(DEFAULT_PASSES) <= set(data)
    np.testing.assert_array_equal(data["segmentation"][1], frames[1]["segmentation"])
    assert RenderSettings.from_dict(data["metadata"]["render_settings"]) == RenderSettings()
    sample = SceneDataset(path, passes=["depth", "forward_flow"], mode="pair")[0]
    assert sample["depth"].shape == (2, 4, 6) and sample["forward_flow"].shape == (4, 6, 2)
    with pytest.raises(OutputError, match="pass 'semantic': .* was rendered without it"):
        load_scene(path, passes=["semantic"])
