"""Quality per time: RGB of a grid of render settings against a high-sample reference.

Every setting renders the same frames of the same scene through the bare-Cycles script
(``bench.bare_cycles``) from a .blend that ``sim.render.save_blend`` wrote with that setting, so
times are Cycles' own (rendering and writing the PNG) and differ only by the settings. Images are
compared as the uint8 sRGB RGB that scenesim writes (alpha dropped).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import imageio.v3 as iio
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from bench import bare_cycles
from sim.render import save_blend
from sim.scene import Scene
from sim.settings import RenderSettings
from sim.trajectory import Trajectory

KUBRIC_OVERRIDES = {"cycles.sampling_pattern": "TABULATED_SOBOL", "cycles.denoising_quality": "HIGH",
                    "cycles.diffuse_bounces": 4, "cycles.glossy_bounces": 4,
                    "cycles.transmission_bounces": 12}
"""Blender's own values (its factory settings, which Kubric keeps) for what scenesim sets otherwise."""
REFERENCE_SEED = 1
"""Cycles seed of the reference, unlike every setting's 0: its residual noise is independent of theirs."""


@dataclass(frozen=True)
class QualitySetting:
    """One point of the grid: scenesim ``settings`` plus raw Cycles ``overrides`` of the RGB scene."""

    name: str
    description: str
    settings: RenderSettings
    overrides: dict[str, Any] = field(default_factory=dict)


KUBRIC_LIKE = QualitySetting(
    "kubric_like", "Kubric's MOVi: 64 spp fixed + OIDN (albedo/normal guides), 12 bounces",
    RenderSettings(samples=64, adaptive_threshold=0.0, max_bounces=12, denoise_guides=True), KUBRIC_OVERRIDES)
DEFAULT = QualitySetting("default", "scenesim default: " + ", ".join(
    f"{k}={v}" for k, v in RenderSettings().to_dict().items() if k in ("samples", "adaptive_threshold")),
    RenderSettings())
GRID = (
    KUBRIC_LIKE,
    DEFAULT,
    QualitySetting("default_guided", "the default + albedo/normal guides (--denoise-guides)",
                   RenderSettings(denoise_guides=True)),
    QualitySetting("adaptive_0.01_128", "adaptive 0.01, <= 128 spp + OIDN",
                   RenderSettings(samples=128)),
    QualitySetting("adaptive_0.015_512", "adaptive 0.015, <= 512 spp + OIDN (the first default)",
                   RenderSettings(samples=512, adaptive_threshold=0.015)),
    QualitySetting("fixed_64_oidn", "64 spp fixed + OIDN (colour only)",
                   RenderSettings(samples=64, adaptive_threshold=0.0)),
    QualitySetting("fixed_16_oidn", "16 spp fixed + OIDN (colour only)",
                   RenderSettings(samples=16, adaptive_threshold=0.0)),
    QualitySetting("fixed_64_raw", "64 spp fixed, no denoising",
                   RenderSettings(samples=64, adaptive_threshold=0.0, denoise=False)),
)


def reference_setting(samples: int) -> QualitySetting:
    """``samples`` spp fixed, no denoising, 12 bounces, seed ``REFERENCE_SEED``."""
    settings = RenderSettings(samples=samples, adaptive_threshold=0.0, denoise=False, max_bounces=12)
    return QualitySetting("reference", f"{samples} spp fixed, no denoising, 12 bounces", settings,
                          {"cycles.seed": REFERENCE_SEED})


def psnr_db(images: list[np.ndarray], references: list[np.ndarray]) -> float:
    """PSNR (dB, peak 255) of uint8 images against references, the squared error pooled over all."""
    mse = np.mean([np.mean((a.astype(np.float64) - b) ** 2) for a, b in zip(images, references, strict=True)])
    return float(10.0 * np.log10(255.0**2 / mse)) if mse > 0 else float("inf")


def _gaussian_blur(x: np.ndarray, sigma: float = 1.5, radius: int = 5) -> np.ndarray:
    """Separable Gaussian over axes 0 and 1 of (H, W, C), valid part only: (H−2r, W−2r, C)."""
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    k /= k.sum()
    x = sliding_window_view(x, 2 * radius + 1, axis=0) @ k
    return sliding_window_view(x, 2 * radius + 1, axis=1) @ k


def ssim(image: np.ndarray, reference: np.ndarray) -> float:
    """Mean SSIM (Wang et al. 2004: Gaussian window sigma 1.5, K1 0.01, K2 0.03, peak 255) of two
    uint8 (H, W, C) images, averaged over channels and the pixels whose window fits."""
    a, b = image.astype(np.float64), reference.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_a, mu_b = _gaussian_blur(a), _gaussian_blur(b)
    var_a = _gaussian_blur(a * a) - mu_a**2
    var_b = _gaussian_blur(b * b) - mu_b**2
    cov = _gaussian_blur(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(s.mean())


def _render(setting: QualitySetting, scene: Scene, trajectory: Trajectory, frames: list[int], work: Path,
            log_path: Path) -> tuple[float, list[np.ndarray]]:
    """Mean seconds per frame of the RGB renders of ``frames`` and the images, uint8 (H, W, 3)."""
    out = work / setting.name
    out.mkdir(parents=True, exist_ok=True)
    blend = out / "scene.blend"
    if not blend.exists():
        save_blend(scene, trajectory, setting.settings, blend, log_path)
    result = bare_cycles.run({"blend": str(blend), "out_dir": str(out), "frames": frames, "scenes": ["rgb"],
                              "overrides": {"rgb": setting.overrides}}, log_path)
    images = [iio.imread(out / f"rgb_{t:05d}.png")[..., :3] for t in frames]
    return statistics.fmean(result["render_s"]["rgb"]), images


def run_quality(scene: Scene, trajectory: Trajectory, frames: list[int], reference_samples: int, repeats: int,
                work: Path, log_path: Path, grid: tuple[QualitySetting, ...] = GRID) -> dict[str, Any]:
    """Renders the reference once and every grid setting ``repeats`` times (interleaved, so a load
    change on the machine hits all alike) on ``frames`` of ``scene``.

    Returns ``reference`` (``description``, ``s_per_frame``) and ``settings``: per grid setting, in
    grid order, ``name``, ``description``, ``s_per_frame`` (median over repeats of the mean RGB
    render seconds per frame), ``psnr_db`` (pooled over frames), ``ssim`` (mean over frames) and
    ``time_vs_kubric_like`` (ratio of ``s_per_frame``; None without a kubric_like setting).
    """
    reference = reference_setting(reference_samples)
    reference_s, truth = _render(reference, scene, trajectory, frames, work, log_path)
    times: dict[str, list[float]] = {s.name: [] for s in grid}
    images: dict[str, list[np.ndarray]] = {}
    for _ in range(repeats):
        for setting in grid:
            seconds, images[setting.name] = _render(setting, scene, trajectory, frames, work, log_path)
            times[setting.name].append(seconds)
    medians = {name: statistics.median(values) for name, values in times.items()}
    kubric_s = medians.get(KUBRIC_LIKE.name)
    rows = [{"name": s.name, "description": s.description, "s_per_frame": medians[s.name],
             "psnr_db": psnr_db(images[s.name], truth),
             "ssim": statistics.fmean(ssim(a, b) for a, b in zip(images[s.name], truth, strict=True)),
             "time_vs_kubric_like": medians[s.name] / kubric_s if kubric_s else None}
            for s in grid]
    return {"reference": {"description": reference.description, "s_per_frame": reference_s},
            "frames": frames, "settings": rows}

