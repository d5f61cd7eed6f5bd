"""Colour maps of the preview: segmentation palette, depth colour map, optical-flow colour wheel.

Every function returns uint8 RGB images (H, W, 3). Pixels without a value (no surface, invalid
flow) are black.
"""

from __future__ import annotations

import colorsys

import numpy as np

GOLDEN_RATIO_CONJUGATE = 0.618033988749895
DEPTH_STOPS = np.array([[0x44, 0x01, 0x54], [0x3B, 0x52, 0x8B], [0x21, 0x91, 0x8C], [0x5E, 0xC9, 0x62],
                        [0xFD, 0xE7, 0x25]], dtype=np.float64)
"""Viridis at 0, 1/4, 1/2, 3/4, 1 (far = purple, near = yellow), linearly interpolated between."""

# The colour wheel of Baker et al., "A Database and Evaluation Methodology for Optical Flow"
# (Middlebury, 2007), used by most flow datasets: hue = direction, saturation = magnitude.
WHEEL_HUES = np.array([[255, 0, 0], [255, 255, 0], [0, 255, 0], [0, 255, 255], [0, 0, 255], [255, 0, 255]],
                      dtype=np.float64)
WHEEL_RAMP_LENGTHS = (15, 6, 4, 11, 13, 6)
"""Colours per ramp from ``WHEEL_HUES[j]`` toward the next hue (red→yellow→green→cyan→blue→magenta→red)."""


def segmentation_palette(n: int) -> np.ndarray:
    """uint8 (n, 3): the colour of segmentation id k = 0…n−1. Id 0 (background) is black; id k ≥ 1
    has hue k × 0.618… (mod 1), so a colour depends only on its id (stable across frames and
    scenes) and neighbouring ids differ clearly."""
    out = np.zeros((n, 3), dtype=np.uint8)
    for k in range(1, n):
        hue = (k * GOLDEN_RATIO_CONJUGATE) % 1.0
        out[k] = np.round(np.array(colorsys.hsv_to_rgb(hue, 0.65, 0.95)) * 255)
    return out


def segmentation_to_rgb(seg: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) from a uint16 (H, W) segmentation, colours from ``segmentation_palette``."""
    return segmentation_palette(int(seg.max(initial=0)) + 1)[seg]


def depth_range(depth: np.ndarray) -> tuple[float, float]:
    """(nearest, farthest) finite depth in metres over an array of any shape; (0, 1) if none."""
    finite = depth[np.isfinite(depth)]
    return (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)


def depth_to_rgb(depth: np.ndarray, near: float, far: float) -> np.ndarray:
    """uint8 (H, W, 3) from float32 (H, W) depth (m): viridis, linear in inverse depth (so nearby
    shapes keep their contrast beside a distant floor), from yellow at ``near`` to purple at ``far``
    (clipped outside), black where there is no surface (+inf)."""
    finite = np.isfinite(depth)
    near = max(near, 1e-6)
    far = max(far, near)
    inverse = 1.0 / np.clip(np.where(finite, depth, far), near, far)
    span = 1.0 / near - 1.0 / far
    closeness = (inverse - 1.0 / far) / span if span > 0 else np.ones_like(inverse)
    pos = closeness * (len(DEPTH_STOPS) - 1)
    k = np.minimum(pos.astype(np.intp), len(DEPTH_STOPS) - 2)
    f = (pos - k)[..., None]
    rgb = (1 - f) * DEPTH_STOPS[k] + f * DEPTH_STOPS[k + 1]
    return np.where(finite[..., None], np.round(rgb), 0).astype(np.uint8)


def flow_wheel() -> np.ndarray:
    """float64 (55, 3) colours of the Baker et al. wheel in [0, 255]: ramp j has
    ``WHEEL_RAMP_LENGTHS[j]`` colours, colour i of it moving floor(255 i / length) from hue j toward
    hue j + 1 in every channel that differs."""
    rows = []
    for j, length in enumerate(WHEEL_RAMP_LENGTHS):
        start, end = WHEEL_HUES[j], WHEEL_HUES[(j + 1) % len(WHEEL_HUES)]
        rows += [start + (end - start) / 255 * np.floor(255 * i / length) for i in range(length)]
    return np.array(rows)


def flow_magnitude_max(flow: np.ndarray) -> float:
    """Largest finite flow magnitude (pixels) over an array (..., 2); 1 if there is none or it is 0."""
    mag = np.hypot(flow[..., 0], flow[..., 1])
    mag = mag[np.isfinite(mag)]
    return float(mag.max()) if mag.size and mag.max() > 0 else 1.0


def flow_to_rgb(flow: np.ndarray, max_magnitude: float) -> np.ndarray:
    """uint8 (H, W, 3) from float32 (H, W, 2) flow (dx, dy) pixels with the Baker et al. colour
    coding: hue from the direction (+x red, −x cyan), white at zero flow, full colour at
    ``max_magnitude`` pixels (darkened beyond it); black where the flow is NaN (invalid)."""
    u, v = flow[..., 0].astype(np.float64), flow[..., 1].astype(np.float64)
    valid = np.isfinite(u) & np.isfinite(v)
    u, v = np.where(valid, u, 0.0), np.where(valid, v, 0.0)
    wheel = flow_wheel() / 255.0
    n = len(wheel)
    radius = np.hypot(u, v) / max_magnitude
    position = (np.arctan2(-v, -u) / np.pi + 1) / 2 * (n - 1)  # 0 … n−1 around the wheel
    k0 = np.floor(position).astype(np.intp)
    k1 = (k0 + 1) % n
    f = (position - k0)[..., None]
    colour = (1 - f) * wheel[k0] + f * wheel[k1]
    r = radius[..., None]
    colour = np.where(r <= 1, 1 - r * (1 - colour), colour * 0.75)
    return np.where(valid[..., None], np.round(255 * colour), 0).astype(np.uint8)


def flow_key(size: int) -> np.ndarray:
    """uint8 (size, size, 3): the colour wheel as a legend disc (flow pointing from the centre to
    each pixel, full magnitude at the rim), black outside the disc."""
    c = (np.arange(size) + 0.5 - size / 2) / (size / 2)
    flow = np.stack(np.broadcast_arrays(c[None, :], c[:, None]), axis=-1)
    flow[np.hypot(flow[..., 0], flow[..., 1]) > 1] = np.nan
    return flow_to_rgb(flow, 1.0)


def amodal_to_rgb(masks: np.ndarray, seg: np.ndarray | None) -> np.ndarray:
    """uint8 (H, W, 3) from bool (N, H, W) amodal masks: the outline of instance k's full silhouette
    (its pixels with a 4-neighbour outside it or outside the image) in the colour of segmentation id
    k (``segmentation_palette``, k = 1…N), over the uint16 (H, W) visible segmentation at 35 %
    brightness (black without one). Hidden parts show as outlines crossing other instances."""
    n, height, width = masks.shape
    palette = segmentation_palette(n + 1)
    out = np.zeros((height, width, 3), np.uint8) if seg is None else (palette[seg] * 0.35).astype(np.uint8)
    padded = np.pad(masks, ((0, 0), (1, 1), (1, 1)))
    interior = padded[:, :-2, 1:-1] & padded[:, 2:, 1:-1] & padded[:, 1:-1, :-2] & padded[:, 1:-1, 2:]
    for k, outline in enumerate(masks & ~interior, start=1):
        out[outline] = palette[k]
    return out
