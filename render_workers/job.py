"""A job: what to render (docs/format.md). Stored as ``job.json`` in the output directory.

A ``JobSpec`` is (recipe or scene file, recipe parameters, job seed, scene count, resolution and
frame overrides, render settings). ``JobSpec.scene(k)`` builds scene k from the spec alone (its seed
derived from the job seed and k), so any process on any machine rebuilds the same scene k.

How a job is run (workers, threads, retries, backend) is not part of the spec: it may change
between a run and its resume without changing a pixel. ``settings.threads`` is therefore always 0
in a spec; the runner picks the thread count per worker.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from render_workers.seeds import scene_name, scene_seed
from sim.categories import default_table, semantic_ids
from sim.errors import OptionError, OutputError
from sim.passes import DEFAULT_PASSES, check_scene
from sim.scene import MAX_FRAMES, MAX_RESOLUTION, Scene
from sim.settings import RenderSettings

JOB_FILE = "job.json"
JOB_FORMAT = 1
"""Version of the ``job.json`` layout (key ``scenesim_job``)."""
LAYOUTS = ("directories", "shards")
MAX_SCENES = 100_000
"""Scene directories are named ``scene_NNNNN`` (five digits)."""


@dataclass(frozen=True)
class JobSpec:
    """What to render into ``out``.

    recipe: registered recipe name or ``path/to/file.py:function`` (the path made absolute), or
    None when ``scene_data`` (a scene as a JSON-ready dict, rendered once) is given. params: recipe
    parameters (JSON values). seed: job seed in [0, 2^63); scene k's recipe seed is
    ``seeds.scene_seed(seed, k)``. scenes: number of scenes, 1…100000. resolution (width, height)
    pixels and frames override the scene's when not None. settings: Cycles settings (threads 0),
    the passes to write and the category table (so a resume writes the same passes, same ids).
    layout: ``"directories"`` (a directory per scene) or ``"shards"`` (WebDataset shards of
    ``shard_size`` scenes: ``render_workers.shard_layout``).
    """

    out: Path
    recipe: str | None = None
    scene_data: dict[str, Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    scenes: int = 1
    resolution: tuple[int, int] | None = None
    frames: int | None = None
    settings: RenderSettings = field(default_factory=RenderSettings)
    layout: str = "directories"
    shard_size: int = 32

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise OptionError(f"layout: got {self.layout!r}, expected one of {', '.join(LAYOUTS)}")
        if isinstance(self.shard_size, bool) or not isinstance(self.shard_size, int) or self.shard_size < 1:
            raise OptionError(f"shard_size: got {self.shard_size!r}, expected a positive integer")
        if (self.recipe is None) == (self.scene_data is None):
            raise OptionError("job: give exactly one of a recipe or a scene")
        if isinstance(self.scenes, bool) or not isinstance(self.scenes, int) \
                or not 1 <= self.scenes <= MAX_SCENES:
            raise OptionError(f"scenes: got {self.scenes!r}, expected an integer in "
                                       f"[1, {MAX_SCENES}]")
        if self.scene_data is not None and self.scenes != 1:
            raise OptionError("scenes: a scene file renders one scene; use a recipe for many")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**63:
            raise OptionError(f"seed: got {self.seed!r}, expected an integer in [0, 2^63)")
        if self.resolution is not None:
            if len(self.resolution) != 2 or not all(
                    isinstance(v, int) and 1 <= v <= MAX_RESOLUTION for v in self.resolution):
                raise OptionError(f"resolution: got {self.resolution!r}, expected (width, height) "
                                           f"in [1, {MAX_RESOLUTION}]")
            object.__setattr__(self, "resolution", tuple(self.resolution))
        if self.frames is not None and (isinstance(self.frames, bool) or not isinstance(self.frames, int)
                                        or not 1 <= self.frames <= MAX_FRAMES):
            raise OptionError(f"frames: got {self.frames!r}, expected an integer in "
                                       f"[1, {MAX_FRAMES}]")
        if self.settings.threads != 0:
            raise OptionError("settings.threads: a job spec leaves threads at 0; pass --threads "
                                       "to the run instead")
        try:
            json.dumps(self.params, allow_nan=False)
        except (TypeError, ValueError):
            raise OptionError(f"params: {self.params!r} are not JSON values") from None

    def validate(self) -> None:
        """Checks what can be checked before any work: the recipe exists and takes these parameters
        (``RecipeError`` otherwise), or the scene file's scene accepts the overrides; then scene 0's
        asset files load (``AssetError``: a missing or corrupt mesh or environment image), its
        categories are in the category table and it can have the chosen passes
        (``SceneValidationError``)."""
        from sim.assets import validate_assets

        if self.recipe is not None:
            from scenes import get_recipe

            get_recipe(self.recipe).resolve_params(self.params)
        scene = self.scene(0)
        validate_assets(scene)
        semantic_ids(scene, self.settings.categories)
        check_scene(scene, self.settings.passes)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> JobSpec:
        """The spec of a ``scenesim render`` command line (see ``cli.py``)."""
        scene_data = None
        if args.scene is not None:
            try:
                text = Path(args.scene).read_text()
            except OSError as e:
                raise OptionError(f"--scene: cannot read {args.scene}: {e.strerror}") from None
            scene_data = Scene.from_json(text).to_dict()
        recipe = args.recipe
        if recipe is not None and ":" in recipe and recipe.split(":", 1)[0].endswith(".py"):
            path, func = recipe.rsplit(":", 1)
            recipe = f"{Path(path).resolve()}:{func}"  # workers and Ray tasks may run elsewhere
        overrides: dict[str, Any] = {}
        if args.samples is not None:
            overrides["samples"] = args.samples
        if getattr(args, "adaptive_threshold", None) is not None:
            overrides["adaptive_threshold"] = args.adaptive_threshold
        if args.no_denoise:
            overrides["denoise"] = False
        if getattr(args, "denoise_guides", False):
            overrides["denoise_guides"] = True
        passes = getattr(args, "passes", None) or DEFAULT_PASSES
        if args.gt_only:
            passes = tuple(p for p in passes if p != "rgba")
            if not passes:
                raise OptionError("--gt-only: --passes rgba without rgba leaves nothing to write")
        overrides["passes"] = passes
        if getattr(args, "categories", None):
            overrides["categories"] = (*default_table(), *args.categories)
        if getattr(args, "point_tracks", None):
            overrides["point_tracks"] = args.point_tracks
        if getattr(args, "device", None):
            overrides["device"] = args.device
        return cls(out=Path(args.out), recipe=recipe, scene_data=scene_data, params=dict(args.param),
                   seed=args.seed, scenes=args.scenes, resolution=args.resolution, frames=args.frames,
                   settings=RenderSettings(**overrides), layout=getattr(args, "layout", "directories"),
                   shard_size=getattr(args, "shard_size", None) or 32)

    def scene(self, index: int) -> Scene:
        """Scene ``index`` (0-based) with the overrides applied; validated."""
        if self.recipe is not None:
            from scenes import get_recipe

            scene = get_recipe(self.recipe)(scene_seed(self.seed, index), self.params)
        else:
            scene = Scene.from_dict(self.scene_data)
        changes: dict[str, Any] = {}
        if self.resolution is not None:
            changes["resolution"] = self.resolution
        if self.frames is not None:
            changes["frames"] = self.frames
        return dataclasses.replace(scene, **changes) if changes else scene

    def scene_names(self) -> list[str]:
        """``scene_00000`` … in index order."""
        return [scene_name(i) for i in range(self.scenes)]

    def to_dict(self) -> dict[str, Any]:
        """The content of ``job.json`` (the output directory is where the file is, so not stored)."""
        return {"scenesim_job": JOB_FORMAT, "recipe": self.recipe, "scene_data": self.scene_data,
                "params": self.params, "seed": self.seed, "scenes": self.scenes,
                "resolution": list(self.resolution) if self.resolution else None, "frames": self.frames,
                "settings": self.settings.to_dict(), "layout": self.layout, "shard_size": self.shard_size}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: dict[str, Any], out: Path) -> JobSpec:
        """The spec stored as ``data`` (a ``to_dict`` result) for the job directory ``out``."""
        if not isinstance(data, dict) or data.get("scenesim_job") != JOB_FORMAT:
            got = data.get("scenesim_job") if isinstance(data, dict) else type(data).__name__
            raise OutputError(f"{Path(out) / JOB_FILE}: scenesim_job {got!r}, expected {JOB_FORMAT}")
        fields = {k: v for k, v in data.items() if k != "scenesim_job"}
        unknown = sorted(set(fields) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise OutputError(f"{Path(out) / JOB_FILE}: unknown field {unknown[0]!r}")
        if fields.get("resolution") is not None:
            fields["resolution"] = tuple(fields["resolution"])
        fields["settings"] = RenderSettings.from_dict(fields.get("settings") or {})
        return cls(out=Path(out), **fields)

    def differences(self, other: JobSpec) -> list[str]:
        """What differs from ``other``, one ``field: other's value -> this value`` line per field."""
        mine, theirs = _flat(self.to_dict()), _flat(other.to_dict())
        out = []
        for key, value in mine.items():
            if value == theirs.get(key):
                continue
            if key == "scene_data":
                out.append("scene: the scene file's content differs")
            else:
                out.append(f"{key}: {json.dumps(theirs.get(key))} -> {json.dumps(value)}")
        return out


def _flat(spec: dict[str, Any]) -> dict[str, Any]:
    """``to_dict()`` with ``settings`` spread into ``settings.NAME`` keys."""
    settings = spec.pop("settings")
    return {**spec, **{f"settings.{k}": v for k, v in settings.items()}}
