"""Procedural environment maps: an equirectangular float EXR of a sky gradient, a ground and a sun,
for ``Background(kind="hdri")`` when no HDRI file is at hand (the image lights the scene and is seen
behind it, like MOVi-C's HDRIs, with no download).

The image follows Blender's equirectangular convention (``sim.scene.Background``): pixel column i
of W (centre u = (i + 0.5) / W) looks toward azimuth φ = 2π (0.5 − u), counter-clockwise from +x;
row j of H from the top looks at elevation π/2 − π (j + 0.5) / H. Colours are linear RGB.
Files are written once into the asset cache (``sim.library.cache_dir()/environments``), named by
the hash of their parameters, atomically (concurrent workers are safe).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import astuple, dataclass
from pathlib import Path

import numpy as np

from sim.library.cache import cache_path, content_key

Rgb = tuple[float, float, float]


@dataclass(frozen=True)
class Sky:
    """A procedural sky. Directions in radians (azimuth counter-clockwise from +x, elevation above
    the horizon); colours linear RGB. The sun is a disc of angular radius ``sun_radius`` with a
    Gaussian glow of the same width, of radiance ``sun_color`` × ``sun_strength`` at its centre."""

    sun_azimuth: float = 0.8
    sun_elevation: float = 0.7
    zenith: Rgb = (0.12, 0.25, 0.65)
    horizon: Rgb = (0.7, 0.78, 0.9)
    ground: Rgb = (0.25, 0.22, 0.18)
    sun_color: Rgb = (1.0, 0.95, 0.85)
    sun_strength: float = 40.0
    sun_radius: float = 0.06

    @property
    def sun_direction(self) -> np.ndarray:
        """(3,) unit vector toward the sun, world axes."""
        ce = np.cos(self.sun_elevation)
        return np.array([ce * np.cos(self.sun_azimuth), ce * np.sin(self.sun_azimuth),
                         np.sin(self.sun_elevation)])


def directions(width: int) -> np.ndarray:
    """(width // 2, width, 3) unit world directions of the pixel centres of an equirectangular image."""
    height = width // 2
    azimuth = 2 * np.pi * (0.5 - (np.arange(width) + 0.5) / width)
    elevation = np.pi / 2 - np.pi * (np.arange(height) + 0.5) / height
    el, az = np.meshgrid(elevation, azimuth, indexing="ij")
    return np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], axis=-1)


def render_sky(sky: Sky, width: int) -> np.ndarray:
    """float32 (width // 2, width, 3) linear RGB radiance of ``sky``."""
    d = directions(width)
    z = d[..., 2:]
    zenith, horizon, ground = (np.asarray(c) for c in (sky.zenith, sky.horizon, sky.ground))
    air = horizon + (zenith - horizon) * np.sqrt(np.clip(z, 0.0, 1.0))
    rgb = np.where(z >= 0, air, ground * (0.6 + 0.4 * np.exp(8.0 * z)))  # darker away from the horizon
    angle = np.arccos(np.clip(d @ sky.sun_direction, -1.0, 1.0))[..., None]
    disc = (angle < sky.sun_radius) + np.exp(-((angle / sky.sun_radius) ** 2))
    return (rgb + np.asarray(sky.sun_color) * sky.sun_strength * disc / 2).astype(np.float32)


def environment_map(sky: Sky, width: int = 512) -> Path:
    """The path of ``sky`` rendered as a ``width`` × ``width // 2`` float32 RGB EXR in the cache
    (written on first use)."""
    import OpenEXR

    path = cache_path("environments", content_key(repr((astuple(sky), width))), ".exr")
    if path.exists():
        return path
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".exr")
    os.close(fd)
    try:
        header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
        with OpenEXR.File(header, {"RGB": render_sky(sky, width)}) as f:
            f.write(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path
