"""A job: (recipe or scene file, params, job seed, scene count, overrides, render settings, output).

``JobSpec.scene(k)`` builds scene k from (recipe, params, derived seed) or the scene file, with the
job's overrides applied, so any process can rebuild any scene from the spec alone.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from render_workers.seeds import scene_name, scene_seed
from sim.errors import SceneValidationError
from sim.scene import Scene
from sim.settings import RenderSettings


@dataclass(frozen=True)
class JobSpec:
    """What to render. ``recipe``: registered name or ``file.py:function`` (``None`` with ``scene``,
    a scene as a JSON-ready dict). ``seed``: job seed. ``resolution`` (width, height) and ``frames``
    override the scene's when given."""

    out: Path
    recipe: str | None = None
    scene_data: dict[str, Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    scenes: int = 1
    resolution: tuple[int, int] | None = None
    frames: int | None = None
    settings: RenderSettings = field(default_factory=RenderSettings)

    def __post_init__(self) -> None:
        if (self.recipe is None) == (self.scene_data is None):
            raise SceneValidationError("job: give exactly one of a recipe or a scene")
        if not isinstance(self.scenes, int) or self.scenes < 1:
            raise SceneValidationError(f"scenes: got {self.scenes!r}, expected an integer >= 1")
        if not isinstance(self.seed, int) or not 0 <= self.seed < 2**63:
            raise SceneValidationError(f"seed: got {self.seed!r}, expected an integer in [0, 2^63)")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> JobSpec:
        scene_data = None
        if args.scene is not None:
            try:
                text = Path(args.scene).read_text()
            except OSError as e:
                raise SceneValidationError(f"--scene: cannot read {args.scene}: {e.strerror}") from None
            scene_data = Scene.from_json(text).to_dict()
        overrides: dict[str, Any] = {}
        if args.samples is not None:
            overrides["samples"] = args.samples
        if args.no_denoise:
            overrides["denoise"] = False
        if args.gt_only:
            overrides["rgb"] = False
        return cls(out=Path(args.out), recipe=args.recipe, scene_data=scene_data, params=dict(args.param),
                   seed=args.seed, scenes=args.scenes, resolution=args.resolution, frames=args.frames,
                   settings=RenderSettings(**overrides))

    def scene(self, index: int) -> Scene:
        """Scene ``index`` (0-based), overrides applied; validated."""
        if self.recipe is not None:
            from scenes import get_recipe

            scene = get_recipe(self.recipe)(scene_seed(self.seed, index), self.params)
        else:
            scene = Scene.from_dict(self.scene_data)
        changes: dict[str, Any] = {}
        if self.resolution is not None:
            changes["resolution"] = tuple(self.resolution)
        if self.frames is not None:
            changes["frames"] = self.frames
        return dataclasses.replace(scene, **changes) if changes else scene

    def scene_names(self) -> list[str]:
        return [scene_name(i) for i in range(self.scenes)]

    def to_dict(self) -> dict[str, Any]:
        return {"out": str(self.out), "recipe": self.recipe, "scene_data": self.scene_data,
                "params": self.params, "seed": self.seed, "scenes": self.scenes,
                "resolution": list(self.resolution) if self.resolution else None, "frames": self.frames,
                "settings": self.settings.to_dict()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def run_job(spec: JobSpec) -> int:
    """Renders every scene of the job one after another in this process; returns the exit code."""
    from render_workers.local import run_sequential

    return run_sequential(spec)
