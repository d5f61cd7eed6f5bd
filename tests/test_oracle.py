"""The Blender-free end-to-end oracle: the analytic scene of ``tests.analytic_scene`` (moving camera,
moving and spinning spheres and boxes, occlusions, an object leaving the view, a floor and sky)
goes through ``SceneSink``, the writer and ``load_scene``; every pass is checked against values the
oracle computes on its own from the analytic geometry (``tests.raycast``), never with
``sim.annotate``:

- flow t → s: each pixel's exact surface point is moved by its object's analytic motion and
  projected by camera s; it is valid where in front of camera s, occluded where outside the image
  or where the ray of camera s toward it first hits another surface (ray-cast, not looked up in a
  depth map). The stored occlusion follows the pixel-grid rule of ``sim.annotate`` (depth at the
  centre of the pixel the point lands in, with a slack for the depth slope measured from its
  neighbours), which can differ from the exact answer only where that pixel's centre sees another
  object than the landing point, or where a point on (or just behind) its own object's visible
  surface lands next to an edge, where the slope is measured on one side or not at all: those
  points (3–7 %) are left out of the occlusion comparison, nothing else.
- point tracks: start on a seen surface, follow its analytic motion, occluded as the oracle says.
- segmentation, 2D boxes, visibility, 3D boxes, depth, z-depth, semantic, object index, normal,
  object coordinates, RGB; amodal masks (each instance ray-cast alone), their boxes and visible
  fractions.
- ``sim.flow.between`` for non-adjacent frames, both directions.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.annotate import MIN_CAMERA_Z_M
from sim.flow import SceneFlow
from sim.io import load_scene
from sim.settings import RenderSettings
from sim.transforms import camera_to_world, intrinsics
from tests import raycast
from tests.analytic_scene import ALL_PASSES, CATEGORIES, make_scene, shading, trajectory, write_scene

AMBIGUOUS_MAX = 0.08
"""At most this fraction of the points landing in the image may be left out of the occlusion
comparison (3–7 % here, at 128 × 96 pixels)."""


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """The analytic scene written through the sink and read back with every pass."""
    settings = RenderSettings(samples=1, point_tracks=300, passes=ALL_PASSES, categories=CATEGORIES)
    result, frames = write_scene(tmp_path_factory.mktemp("oracle"), settings)
    return make_scene(), frames, load_scene(result.path), result.path


def oracle_points(scene, frames, k: np.ndarray, local: np.ndarray, s: int) -> dict[str, np.ndarray]:
    """Where points ``local`` (n, 3) (m, in the frame of scene object ``k`` (n,)) are in frame s and
    whether they are seen there (module docstring): ``uv`` (n, 2) pixels (NaN behind camera s),
    ``cause`` int (n,): 0 seen, 1 behind camera s, 2 out of view, 3 hidden by another object, 4
    hidden by its own object (the far side); ``ambiguous`` bool (n,)."""
    width, height = scene.resolution
    K = intrinsics(scene.camera, scene.resolution)
    cams = camera_to_world(scene.camera, scene.frames)
    poses = trajectory(scene).object_to_world()
    moved = np.einsum("nij,nj->ni", poses[s, k, :3, :3], local) + poses[s, k, :3, 3]
    cam = (moved - cams[s, :3, 3]) @ cams[s, :3, :3]  # camera s axes
    front = cam[:, 2] > MIN_CAMERA_Z_M
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.where(front, K[0, 0] * cam[:, 0] / cam[:, 2] + K[0, 2], np.nan)
        v = np.where(front, K[1, 1] * cam[:, 1] / cam[:, 2] + K[1, 2], np.nan)
    inside = front & (u >= 0) & (u < width) & (v >= 0) & (v < height)
    # the ray of camera s toward the point: what does it hit first?
    to_point = moved - cams[s, :3, 3]
    dist = np.linalg.norm(to_point, axis=1)
    hit = raycast.cast(scene, poses[s], cams[s, :3, 3], to_point / dist[:, None])
    own = hit["index"] == k + 1  # seen, or hidden by its own object's near side
    seen = own & (np.abs(hit["depth"] - dist) < 1e-6 * dist + 1e-7)
    cause = np.where(~front, 1, np.where(~inside, 2, np.where(seen, 0, np.where(own, 4, 3))))
    # where the grid rule may differ: the landing pixel's centre sees another object than the
    # landing point; a point on its own object's visible surface or just behind it near an edge in
    # frame s (the depth slope at the landing pixel is then measured on one side only, or not at all)
    qx = np.clip(np.nan_to_num(np.floor(u)), 0, width - 1).astype(int)
    qy = np.clip(np.nan_to_num(np.floor(v)), 0, height - 1).astype(int)
    edge = np.zeros(len(qx), dtype=bool)  # pixel q or a 4-neighbour sees another object
    for dx, dy in ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)):
        near = frames[s]["index"][np.clip(qy + dy, 0, height - 1), np.clip(qx + dx, 0, width - 1)]
        edge |= near != hit["index"]
    ambiguous = inside & ((edge & own) | (frames[s]["index"][qy, qx] != hit["index"]))
    return {"uv": np.stack([u, v], axis=1), "cause": cause, "ambiguous": ambiguous}


def oracle_flow(scene, frames, t: int, s: int) -> dict[str, np.ndarray]:
    """The exact flow from frame t to frame s and its masks (module docstring): ``flow`` float64
    (H, W, 2) (NaN where not valid), ``valid``, ``occluded`` and ``ambiguous`` bool (H, W), plus
    ``cause`` int (H, W) as in ``oracle_points``, −1 where no surface."""
    width, height = scene.resolution
    poses = trajectory(scene).object_to_world()
    index, point = frames[t]["index"].astype(int), frames[t]["point"]
    rows, cols = np.nonzero(index > 0)
    k = index[rows, cols] - 1
    # the surface point in its object's frame at t
    local = np.einsum("nji,nj->ni", poses[t, k, :3, :3], point[rows, cols] - poses[t, k, :3, 3])
    there = oracle_points(scene, frames, k, local, s)
    out = {"flow": np.full((height, width, 2), np.nan), "valid": np.zeros((height, width), bool),
           "occluded": np.zeros((height, width), bool), "ambiguous": np.zeros((height, width), bool),
           "cause": np.full((height, width), -1)}
    out["flow"][rows, cols] = there["uv"] - np.stack([cols + 0.5, rows + 0.5], axis=1)
    out["valid"][rows, cols] = there["cause"] != 1
    out["occluded"][rows, cols] = there["cause"] > 0
    out["ambiguous"][rows, cols] = there["ambiguous"]
    out["cause"][rows, cols] = there["cause"]
    return out


def check_flow(flow: np.ndarray, valid: np.ndarray, occluded: np.ndarray, exact: dict[str, np.ndarray],
               where: str) -> np.ndarray:
    """Asserts a (flow, valid, occluded) triple against ``oracle_flow``; returns the causes of
    occlusion that were compared (for coverage checks)."""
    np.testing.assert_array_equal(valid, exact["valid"], err_msg=f"{where}: valid")
    assert flow.dtype == np.float32 and np.isnan(flow[~valid]).all(), where
    np.testing.assert_allclose(flow[valid], exact["flow"][valid], atol=2e-3, rtol=0,
                               err_msg=f"{where}: flow")
    compared = ~exact["ambiguous"] & (exact["cause"] >= 0)
    landing = (exact["cause"] == 0) | (exact["cause"] >= 3)
    assert exact["ambiguous"].sum() <= AMBIGUOUS_MAX * landing.sum(), where
    np.testing.assert_array_equal(occluded[compared], exact["occluded"][compared],
                                  err_msg=f"{where}: occluded")
    return exact["cause"][compared]


def test_stored_forward_and_backward_flow_match_the_oracle(written):
    scene, frames, data, _ = written
    causes = []
    for t in range(scene.frames):
        for direction, s in (("forward", t + 1), ("backward", t - 1)):
            flow, valid = data[f"{direction}_flow"][t], data[f"{direction}_flow_valid"][t]
            occluded = data[f"{direction}_occluded"][t]
            if not 0 <= s < scene.frames:  # no other frame: nothing is defined
                assert np.isnan(flow).all() and not valid.any() and not occluded.any()
                continue
            causes.append(check_flow(flow, valid, occluded, oracle_flow(scene, frames, t, s),
                                     f"frame {t} {direction}"))
    counts = np.bincount(np.concatenate(causes), minlength=5)
    # every kind of visibility is exercised: seen, out of view, hidden by another object, far side
    assert counts[0] > 5000 and counts[2] > 20 and counts[3] > 100 and counts[4] > 20, counts


def test_flow_between_any_two_frames_matches_the_oracle(written):
    scene, frames, data, path = written
    flows = SceneFlow(path)
    for t, s in ((0, 2), (0, 5), (4, 1), (5, 0), (3, 3)):
        check_flow(*flows.between(t, s), oracle_flow(scene, frames, t, s), f"between({t}, {s})")
    stride = flows.between(0, 5)[0]
    assert np.nanmax(np.abs(stride)) > 20  # a large displacement


def test_segmentation_boxes_and_visibility_match_the_oracle(written):
    scene, frames, data, _ = written
    instances = [k for k, o in enumerate(scene.objects) if not o.background]  # scene object indices
    meta = data["metadata"]["instances"]
    assert [m["object_index"] for m in meta] == instances
    for t, f in enumerate(frames):
        expected = np.zeros(f["index"].shape, dtype=np.uint16)
        for i, k in enumerate(instances, start=1):
            expected[f["index"] == k + 1] = i
        np.testing.assert_array_equal(data["segmentation"][t], expected)
        for i, k in enumerate(instances):
            rows, cols = np.nonzero(f["index"] == k + 1)
            box = None if not len(rows) else [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
            assert meta[i]["bbox_2d"][t] == box, (t, scene.objects[k].name)
            assert meta[i]["visibility"][t] == len(rows)
    visible = np.array([m["visibility"] for m in meta])
    assert (visible == 0).any() and (visible > 0).all(axis=1).sum() >= 2  # hidden or out of view at times


def test_3d_boxes_match_the_analytic_poses(written):
    scene, _, data, _ = written
    poses = trajectory(scene).object_to_world()
    for entry in data["metadata"]["instances"]:
        obj = scene.objects[entry["object_index"]]
        half = np.array(obj.scale)  # canonical primitives span [-1, 1] on every axis
        local = np.array([[(1 if c & 1 else -1), (1 if c & 2 else -1), (1 if c & 4 else -1)]
                          for c in range(8)]) * half
        for t in range(scene.frames):
            pose = poses[t, entry["object_index"]]
            np.testing.assert_allclose(entry["bbox_3d"][t], local @ pose[:3, :3].T + pose[:3, 3],
                                       atol=1e-12)
            np.testing.assert_allclose(entry["object_to_world"][t], pose, atol=0)


def test_rendered_passes_are_written_unchanged(written):
    scene, frames, data, _ = written
    assert data["metadata"]["passes"] == list(ALL_PASSES)
    for t, f in enumerate(frames):
        np.testing.assert_array_equal(data["object_index"][t], f["index"])
        np.testing.assert_array_equal(data["depth"][t], f["depth"])
        np.testing.assert_array_equal(data["normal"][t], f["normal"])
        np.testing.assert_array_equal(data["object_coordinates"][t], f["coords"])
        np.testing.assert_array_equal(data["rgba"][t], shading(f))
        empty = f["index"] == 0
        assert np.isposinf(data["depth"][t][empty]).all() and empty.any() and (~empty).any()


def test_point_tracks_match_the_oracle(written):
    """Each track starts at a pixel centre of a surface seen in its query frame (the ray caster's
    point there, in its object's frame) and follows that point's analytic motion; occluded where the
    oracle finds it hidden, out of view or behind the camera (ambiguous points as for the flow)."""
    scene, frames, data, _ = written
    tracks = data["point_tracks"]
    poses = trajectory(scene).object_to_world()
    k, q = tracks["object_index"].astype(int), tracks["query_frame"]
    col, row = (np.floor(tracks["tracks"][np.arange(len(q)), q]).astype(int)).T
    seen_at_query = np.array([frames[t]["index"][r, c] for t, r, c in zip(q, row, col, strict=True)])
    np.testing.assert_array_equal(seen_at_query, k + 1)  # the pixel sees the track's object
    world = np.array([frames[t]["point"][r, c] for t, r, c in zip(q, row, col, strict=True)])
    local = np.einsum("nji,nj->ni", poses[q, k, :3, :3], world - poses[q, k, :3, 3])
    np.testing.assert_allclose(tracks["object_point"], local, atol=1e-5)
    compared = 0
    for s in range(scene.frames):
        there = oracle_points(scene, frames, k, local, s)
        np.testing.assert_allclose(tracks["tracks"][:, s], there["uv"], atol=2e-3, rtol=0)
        ok = ~there["ambiguous"]
        np.testing.assert_array_equal(tracks["occluded"][ok, s], there["cause"][ok] > 0, err_msg=f"frame {s}")
        compared += ok.sum()
    assert compared > 0.9 * len(q) * scene.frames
    assert tracks["occluded"].any() and not tracks["occluded"].all()


def test_z_depth_and_semantic_match_the_oracle(written):
    scene, frames, data, _ = written
    # what each object is, written out here: the crate has its own category, the rest their shape's
    expected = {"floor": None, "ball": "sphere", "crate": "crate", "runner": "sphere", "block": "cube"}
    table = data["metadata"]["categories"]  # id (str) -> name
    names = np.array([None, *[expected[o.name] for o in scene.objects]], dtype=object)
    for t, f in enumerate(frames):
        # planar depth: the hit point's coordinate along the optical axis, from the ray caster
        np.testing.assert_allclose(data["z_depth"][t], f["z_depth"], rtol=1e-6)
        assert data["z_depth"].dtype == np.float32 and np.isposinf(data["z_depth"][t][f["index"] == 0]).all()
        assert (data["z_depth"][t] <= data["depth"][t]).all()
        semantic = data["semantic"][t]
        assert semantic.dtype == np.uint16
        np.testing.assert_array_equal(semantic == 0, names[f["index"]] == None)  # noqa: E711
        got = np.array([table[str(i)] if i else None for i in semantic.ravel()], dtype=object)
        np.testing.assert_array_equal(got, names[f["index"]].ravel())
    assert set(table.values()) >= {"sphere", "cube", "crate"}


def test_amodal_masks_and_visible_fractions_match_the_oracle(written):
    """The amodal masks (each instance ray-cast alone) round-trip through the sink's compact file,
    and the metadata's amodal boxes, pixel counts and visible fractions are theirs."""
    scene, frames, data, _ = written
    meta = data["metadata"]["instances"]
    amodal = data["amodal"]
    assert amodal.dtype == np.bool_ and amodal.shape == (scene.frames, len(meta), *frames[0]["depth"].shape)
    for t, f in enumerate(frames):
        np.testing.assert_array_equal(amodal[t], f["amodal"])
        for i, entry in enumerate(meta):
            visible = f["index"] == entry["object_index"] + 1
            assert not (visible & ~amodal[t, i]).any()  # what is seen is part of the silhouette
            rows, cols = np.nonzero(amodal[t, i])
            box = None if not len(rows) else [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
            assert entry["amodal_bbox_2d"][t] == box and entry["amodal_visibility"][t] == len(rows)
            fraction = visible.sum() / len(rows) if len(rows) else None
            assert entry["visible_fraction"][t] == pytest.approx(fraction), (t, entry["name"])
    fractions = [v for e in meta for v in e["visible_fraction"] if v is not None]
    assert min(fractions) < 0.3 and max(fractions) == 1.0  # the ball is nearly hidden; some are whole
