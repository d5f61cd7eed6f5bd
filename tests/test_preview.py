"""sim.preview: colour maps, GIF and contact-sheet layout and content, job directories, the CLI."""

from __future__ import annotations

import dataclasses
import importlib.util

import imageio.v3 as iio
import numpy as np
import pytest

from render_workers.cli import main as cli_main
from sim.errors import OutputError
from sim.io import load_scene
from sim.preview import (
    OPTIONAL_PANELS,
    PANELS,
    Layout,
    amodal_to_rgb,
    depth_to_rgb,
    flow_to_rgb,
    flow_wheel,
    segmentation_palette,
    segmentation_to_rgb,
    write_preview,
)
from sim.preview.sheet import GAP_PX, MIN_PANEL_WIDTH
from tests.synthetic_scenes import write_synthetic_scene


def test_segmentation_palette_is_stable_distinct_and_black_for_background():
    small, large = segmentation_palette(5), segmentation_palette(40)
    np.testing.assert_array_equal(small, large[:5])  # a colour depends only on its id
    np.testing.assert_array_equal(large[0], [0, 0, 0])
    assert len({tuple(c) for c in large}) == 40
    assert large[1:].max(axis=1).min() > 200  # every instance colour is bright, far from black
    seg = np.array([[0, 3], [7, 3]], dtype=np.uint16)
    np.testing.assert_array_equal(segmentation_to_rgb(seg), large[seg])


def test_flow_colours_follow_the_baker_wheel():
    wheel = flow_wheel()
    assert wheel.shape == (55, 3)
    # The six ramps start at red, yellow, green, cyan, blue, magenta.
    np.testing.assert_array_equal(wheel[[0, 15, 21, 25, 36, 49]],
                                  [[255, 0, 0], [255, 255, 0], [0, 255, 0], [0, 255, 255], [0, 0, 255],
                                   [255, 0, 255]])
    flow = np.array([[[0.0, 0.0], [2.0, 0.0], [-2.0, 0.0], [1.0, 0.0], [4.0, 0.0], [np.nan, 1.0]]],
                    dtype=np.float32)
    rgb = flow_to_rgb(flow, max_magnitude=2.0)
    np.testing.assert_array_equal(rgb[0, 0], [255, 255, 255])  # no motion: white
    np.testing.assert_array_equal(rgb[0, 1], [255, 0, 0])  # +x at the scale: full red
    # -x: halfway round the wheel (position 27 of 0..54: cyan-blue ramp), fully saturated.
    np.testing.assert_array_equal(rgb[0, 2], np.round(wheel[27]))
    np.testing.assert_array_equal(rgb[0, 3], [255, 128, 128])  # half the scale: half saturated
    np.testing.assert_array_equal(rgb[0, 4], [191, 0, 0])  # beyond the scale: darkened
    np.testing.assert_array_equal(rgb[0, 5], [0, 0, 0])  # invalid: black


def test_depth_colours_run_from_near_yellow_to_far_purple_in_inverse_depth():
    depth = np.array([[1.0, 1.5, 3.0, 0.5, 9.0, np.inf]], dtype=np.float32)
    rgb = depth_to_rgb(depth, near=1.0, far=3.0)
    np.testing.assert_array_equal(rgb[0, 0], [0xFD, 0xE7, 0x25])
    np.testing.assert_array_equal(rgb[0, 1], [0x21, 0x91, 0x8C])  # 1/1.5 is halfway from 1/3 to 1/1
    np.testing.assert_array_equal(rgb[0, 2], [0x44, 0x01, 0x54])
    np.testing.assert_array_equal(rgb[0, 3], rgb[0, 0])  # clipped
    np.testing.assert_array_equal(rgb[0, 4], rgb[0, 2])
    np.testing.assert_array_equal(rgb[0, 5], [0, 0, 0])  # no surface


def _panel(image: np.ndarray, layout: Layout, row_top: int, column: int) -> np.ndarray:
    x, y = layout.panel_origin(column)
    w, h = layout.panel_size
    return image[row_top + y:row_top + y + h, x:x + w]


def _upscaled(rgb: np.ndarray, scale: int) -> np.ndarray:
    return np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)


def test_preview_of_a_scene_has_a_frame_per_frame_and_four_panels(tmp_path):
    path, written = write_synthetic_scene(tmp_path, frames=5, point_tracks=6)
    gif, sheet = write_preview(path, tmp_path / "out" / "p.gif", sheet_frames=3)
    assert sheet == tmp_path / "out" / "p_sheet.png"
    layout = Layout(12, 8, len(PANELS) + len(OPTIONAL_PANELS))  # the synthetic scene has every pass
    assert layout.scale * 12 >= MIN_PANEL_WIDTH and layout.panel_size == (12 * layout.scale, 8 * layout.scale)
    frames = iio.imread(gif, index=None)
    width, height = layout.row_size
    assert width == 6 * layout.panel_size[0] + 5 * GAP_PX
    assert frames.shape == (5, height, width, 3)

    # The contact sheet is lossless: frames 0, 2, 4, one row each, panels exactly the colour maps.
    image = iio.imread(sheet)[..., :3]
    assert image.shape == (3 * height + 2 * GAP_PX, width, 3)
    data = load_scene(path)
    near, far = float(np.min(data["depth"])), float(np.max(data["depth"][np.isfinite(data["depth"])]))
    flow = data["forward_flow"]
    flow_max = float(np.nanmax(np.hypot(flow[..., 0], flow[..., 1])))
    for row, t in enumerate((0, 2, 4)):
        top = row * (height + GAP_PX)
        w = written[t]
        expected = (w["rgba"][..., :3], segmentation_to_rgb(w["segmentation"]),
                    depth_to_rgb(w["depth"], near, far), flow_to_rgb(w["forward_flow"], flow_max),
                    segmentation_to_rgb(w["semantic"]), amodal_to_rgb(w["amodal"], w["segmentation"]))
        for column in (1, 2, 3, 4, 5):
            np.testing.assert_array_equal(_panel(image, layout, top, column),
                                          _upscaled(expected[column], layout.scale), err_msg=f"{t} {column}")
        # RGB panel: the image, apart from the dots of the visible point tracks.
        rgb = _panel(image, layout, top, 0)
        differs = np.any(rgb != _upscaled(expected[0], layout.scale), axis=-1)
        visible = ~data["point_tracks"]["occluded"][:, t]
        assert differs.any() == visible.any()
        for x, y in data["point_tracks"]["tracks"][visible, t]:
            assert differs[int(y * layout.scale), int(x * layout.scale)]


def test_preview_of_a_job_shows_one_row_per_scene_up_to_the_limit(tmp_path):
    for k, frames in enumerate((2, 4, 3)):
        write_synthetic_scene(tmp_path / "job", f"scene_{k:05d}", frames=frames, seed=k)
    (tmp_path / "job" / "scene_00003.partial").mkdir()  # unfinished: ignored
    gif, sheet = write_preview(tmp_path / "job", scenes=2, sheet_frames=2)
    assert gif == tmp_path / "job" / "preview.gif"
    width, height = Layout(12, 8, 6).row_size
    frames = iio.imread(gif, index=None)
    assert frames.shape == (4, 2 * height + GAP_PX, width, 3)  # the longest of the two scenes shown
    assert iio.imread(sheet).shape[:2] == (4 * height + 3 * GAP_PX, width)


def test_preview_rejects_bad_outputs_and_directories(tmp_path):
    path, _ = write_synthetic_scene(tmp_path)
    with pytest.raises(OutputError, match="gif or .mp4"):
        write_preview(path, tmp_path / "p.png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(OutputError, match="no complete scene"):
        write_preview(tmp_path / "empty", tmp_path / "p.gif")
    if importlib.util.find_spec("av") is None:
        with pytest.raises(OutputError, match="PyAV"):
            write_preview(path, tmp_path / "p.mp4")


@pytest.mark.skipif(importlib.util.find_spec("av") is None, reason="PyAV not installed")
def test_mp4_preview_where_pyav_is_installed(tmp_path):
    path, _ = write_synthetic_scene(tmp_path, frames=4)
    movie, _ = write_preview(path, tmp_path / "p.mp4")
    width, height = Layout(12, 8, 6).row_size
    assert iio.imread(movie, plugin="pyav").shape == (4, height // 2 * 2, width // 2 * 2, 3)


def test_cli_preview_writes_both_files(tmp_path, capsys):
    path, _ = write_synthetic_scene(tmp_path)
    assert cli_main(["preview", str(path), "--out", str(tmp_path / "v.gif")]) == 0
    assert capsys.readouterr().out.split() == [str(tmp_path / "v.gif"), str(tmp_path / "v_sheet.png")]
    assert cli_main(["preview", str(tmp_path / "missing")]) == 2
    assert "no such scene or job directory" in capsys.readouterr().err


@pytest.mark.slow
def test_preview_of_a_rendered_scene(tmp_path):
    from scenes import get_recipe
    from sim.pipeline import run_scene
    from sim.settings import RenderSettings

    scene = dataclasses.replace(get_recipe("movi-a")(3, {}), resolution=(32, 24), frames=4)
    result = run_scene(scene, RenderSettings(samples=1, denoise=False, threads=1, point_tracks=8), tmp_path,
                       "scene_00000")
    gif, sheet = write_preview(result.path)
    width, height = Layout(32, 24).row_size
    assert iio.imread(gif, index=None).shape == (4, height, width, 3)
    assert iio.imread(sheet).shape[:2] == (4 * height + 3 * GAP_PX, width)


def test_amodal_outlines_show_hidden_parts_in_the_instance_colour():
    masks = np.zeros((2, 6, 7), dtype=bool)
    masks[0, 1:5, 1:6] = True  # instance 1: a 4 x 5 block, partly hidden behind instance 2
    masks[1, 0:3, 3:7] = True  # instance 2, cut by the image's top and right edges
    seg = np.where(masks[1], 2, np.where(masks[0], 1, 0)).astype(np.uint16)
    image = amodal_to_rgb(masks, seg)
    palette = segmentation_palette(3)
    interior = np.zeros((6, 7), dtype=bool)
    interior[2:4, 2:5] = True
    outline1 = masks[0] & ~interior
    outline2 = masks[1] & ~np.pad(np.ones((1, 2), bool), ((1, 4), (4, 1)))  # interior: (1, 4), (1, 5)
    np.testing.assert_array_equal(image[outline2], np.broadcast_to(palette[2], (outline2.sum(), 3)))
    only1 = outline1 & ~outline2
    np.testing.assert_array_equal(image[only1], np.broadcast_to(palette[1], (only1.sum(), 3)))
    rest = ~(outline1 | outline2)
    np.testing.assert_array_equal(image[rest], (palette[seg[rest]] * 0.35).astype(np.uint8))
