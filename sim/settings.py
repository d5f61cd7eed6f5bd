"""Render settings: how to render a scene, separate from what the scene is."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sim.categories import CATEGORY_PATTERN, default_table
from sim.errors import SceneValidationError
from sim.passes import DEFAULT_PASSES, resolve_passes

MAX_POINT_TRACKS = 1_000_000
DEVICES = ("cpu", "auto", "cuda", "optix", "hip", "metal", "oneapi")
"""Values of ``RenderSettings.device``: the CPU, the first GPU Cycles sees (``auto``), or one kind of
GPU (``cuda``/``optix``: NVIDIA, ``hip``: AMD, ``metal``: Apple, ``oneapi``: Intel)."""


@dataclass(frozen=True)
class RenderSettings:
    """Cycles settings for the RGB image, the passes to write and optional outputs; ground truth is
    always rendered exactly (1 sample at pixel centres) whatever these are.

    samples: samples per pixel (1–65536); with adaptive sampling the most a pixel gets.
    denoise: OpenImageDenoise on the RGB image.
    denoise_guides: give the denoiser albedo and normal passes as guides (with its accurate
    prefilter): better on environment-lit scenes, slower; off by default.
    adaptive_threshold: Cycles' adaptive-sampling noise threshold, 0 = off (fixed samples).
    The defaults (adaptive, threshold 0.01, at most 64 samples — never more than Kubric's fixed
    64 —, denoised) were chosen against Kubric's setting (64 fixed samples + guided denoising) by
    ``scenesim bench``; its figures are in the README's Performance section.
    max_bounces: total light bounces (0–128). threads: Cycles CPU threads, 0 = all cores.
    passes: the passes to compute and write (names of ``sim.passes.PASSES``; any order, stored in
    registry order). Cycles renders only what they need: no RGB render without ``rgba``, no
    ground-truth render when only ``rgba`` is chosen. ``rgb`` is True when ``rgba`` is chosen.
    point_tracks: number of long-range point tracks per scene (``sim.tracks``), 0 = none.
    categories: the job's category table (``sim.categories``): category ``categories[i]`` has
    semantic id i + 1. Default: every catalogue category, sorted.
    device: what renders the RGB image (``DEVICES``): ``cpu`` (the default: the same pixels on
    every machine), a kind of GPU, or ``auto`` (a GPU when Cycles sees one, else the CPU; resolved
    before rendering, and the device used is what metadata and job specs record). Ground truth is
    always traced on the CPU, so it is bit-identical whatever the device (``sim.render.devices``).
    """

    samples: int = 64
    denoise: bool = True
    denoise_guides: bool = False
    adaptive_threshold: float = 0.01
    max_bounces: int = 4
    threads: int = 0
    passes: tuple[str, ...] = DEFAULT_PASSES
    point_tracks: int = 0
    categories: tuple[str, ...] = field(default_factory=default_table)
    device: str = "cpu"

    def __post_init__(self) -> None:
        checks = (("samples", 1, 65536, int), ("max_bounces", 0, 128, int), ("threads", 0, 1024, int),
                  ("point_tracks", 0, MAX_POINT_TRACKS, int),
                  ("adaptive_threshold", 0.0, 1.0, (int, float)))
        for name, lo, hi, kind in checks:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, kind) or not lo <= v <= hi:
                raise SceneValidationError(f"{name}: got {v!r}, expected a value in [{lo}, {hi}]")
        if self.device not in DEVICES:
            raise SceneValidationError(f"device: got {self.device!r}, expected one of {', '.join(DEVICES)}")
        for name in ("denoise", "denoise_guides"):
            if not isinstance(getattr(self, name), bool):
                raise SceneValidationError(f"{name}: got {getattr(self, name)!r}, expected true or false")
        if isinstance(self.passes, str) or not isinstance(self.passes, (tuple, list)):
            raise SceneValidationError(f"passes: got {self.passes!r}, expected a list of pass names")
        object.__setattr__(self, "passes", resolve_passes(self.passes))
        categories = self.categories
        if isinstance(categories, str) or not isinstance(categories, (tuple, list)) or not all(
                isinstance(c, str) and CATEGORY_PATTERN.fullmatch(c) for c in categories):
            raise SceneValidationError(f"categories: got {categories!r}, expected a list of category "
                                       "names (lowercase letters, digits, '_', '-')")
        if len(set(categories)) != len(categories):
            twice = sorted({c for c in categories if categories.count(c) > 1})
            raise SceneValidationError(f"categories: {twice} appear twice; each category needs one id")
        object.__setattr__(self, "categories", tuple(categories))

    @property
    def rgb(self) -> bool:
        """Whether the RGB image is rendered (``rgba`` is among the passes)."""
        return "rgba" in self.passes

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passes": list(self.passes), "categories": list(self.categories)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RenderSettings:
        """Settings from ``to_dict``'s form; the ``rgb`` flag of format 1.2 and before (no
        ``passes``) means the default passes with or without ``rgba``."""
        data = dict(data)
        if "rgb" in data and "passes" not in data:
            rgb = data.pop("rgb")
            data["passes"] = DEFAULT_PASSES if rgb else tuple(p for p in DEFAULT_PASSES if p != "rgba")
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise SceneValidationError(f"render settings: unknown field {unknown[0]!r}")
        return cls(**data)
