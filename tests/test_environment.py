"""Procedural environment maps (scenes.environment): Blender's equirectangular convention, the sun
where it is asked for, and content-addressed EXR files in the asset cache."""

from __future__ import annotations

import numpy as np
import OpenEXR
import pytest

from scenes.environment import Sky, directions, environment_map, render_sky

pytestmark = pytest.mark.usefixtures("empty_cache")  # every test: a fresh cache


def test_directions_follow_blenders_equirectangular_convention():
    d = directions(8)
    assert d.shape == (4, 8, 3)
    np.testing.assert_allclose(np.linalg.norm(d, axis=-1), 1.0)
    # columns run clockwise seen from above, from azimuth π at the left edge through +x at the centre
    azimuth = np.arctan2(d[1, :, 1], d[1, :, 0])
    np.testing.assert_allclose(azimuth, 2 * np.pi * (0.5 - (np.arange(8) + 0.5) / 8))
    assert (d[0, :, 2] > d[1, :, 2]).all() and (d[-1, :, 2] < 0).all()  # top row is up


@pytest.mark.parametrize("azimuth, elevation", [(0.0, 0.3), (2.0, 1.0), (-2.5, 0.1)])
def test_sun_is_brightest_in_its_direction(azimuth: float, elevation: float):
    sky = Sky(sun_azimuth=azimuth, sun_elevation=elevation)
    image = render_sky(sky, 256)
    assert image.dtype == np.float32 and image.shape == (128, 256, 3) and (image > 0).all()
    row, col = np.unravel_index(np.argmax(image.sum(-1)), image.shape[:2])
    brightest = directions(256)[row, col]
    assert np.degrees(np.arccos(brightest @ sky.sun_direction)) < 1.5  # within a pixel or so
    sky_rows, ground_rows = image[:60, :, 2], image[70:, :, 2]
    assert np.median(sky_rows) > np.median(ground_rows)  # blue sky above a brown ground


def test_map_is_written_once_and_named_by_its_content(empty_cache):
    sky = Sky(sun_azimuth=1.0)
    path = environment_map(sky, width=64)
    assert path.parent == empty_cache / "environments" and path.suffix == ".exr"
    with OpenEXR.File(str(path)) as f:
        np.testing.assert_array_equal(f.channels()["RGB"].pixels, render_sky(sky, 64))
    stamp = path.stat().st_mtime_ns
    assert environment_map(Sky(sun_azimuth=1.0), width=64) == path and path.stat().st_mtime_ns == stamp
    assert environment_map(Sky(sun_azimuth=1.1), width=64) != path
    assert not list(empty_cache.rglob(".*"))  # no temporary file left behind
