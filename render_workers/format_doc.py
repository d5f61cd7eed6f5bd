"""Generates ``docs/format.md``, the specification of scene and job directories, from the code that
defines them: the pass registry, point-track fields, conventions and version history of
``sim.format``, the keys of ``job.json`` (``JobSpec.to_dict``) and the job log's events (the
``render_workers.joblog`` docstring). The JSON documents' keys are described here, in
``METADATA_KEYS`` and ``EVENT_KEYS``; ``tests/test_format_doc.py`` checks them against a real
``metadata.json`` and ``events.json``, and the committed file against this generator's output.

    python -m render_workers.format_doc --out docs/format.md   # regenerate
    python -m render_workers.format_doc                         # print it
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from render_workers import joblog
from render_workers.job import JOB_FILE, JOB_FORMAT
from render_workers.jobdir import BLENDER_LOG, LOCK_FILE
from sim import format as fmt

METADATA_KEYS: dict[str, str] = {
    "format_version": "str: the format version of this directory (`FORMAT_VERSION`)",
    "conventions": "the conventions table below, as a dict",
    "scene": "dict: the scene's global settings",
    "scene.resolution": "[width, height] pixels",
    "scene.frames": "int: number of frames F",
    "scene.frame_rate": "frames per second",
    "scene.step_rate": "physics steps per second (a multiple of `frame_rate`)",
    "scene.seed": "int: the scene's seed",
    "scene.gravity": "[x, y, z] m/s²",
    "scene.shutter": "motion-blur shutter as a fraction of the frame interval (0: no blur)",
    "camera": "dict: the camera (of a multi-camera scene: this directory's camera)",
    "camera.name": "str: the camera's name",
    "camera.K": "3×3 intrinsics in pixels (OpenCV), when the same in every frame",
    "camera.K_per_frame": "F × 3×3 intrinsics instead of `K`, when they change (a zooming camera)",
    "camera.principal_point": "[cx, cy] as fractions of (width, height)",
    "camera.fy_over_fx": "fy / fx",
    "camera.focal_length_mm": "focal length, mm",
    "camera.sensor_width_mm": "sensor width, mm",
    "camera.world_to_camera": "F × 4×4 world-to-camera matrices (OpenCV camera axes)",
    "camera.position": "F × [x, y, z] camera centre, m",
    "camera.quaternion": "F × [w, x, y, z] camera-to-world rotation (OpenCV camera axes)",
    "categories": "dict: the job's category table, semantic id (as a string, ≥ 1) -> category name; "
                  "the same in every scene of a job (0 = background is not listed)",
    "instances": "list: one entry per instance, in segmentation-id order (`id` k = segmentation value k)",
    "background_objects": "list: objects flagged `background` (segmentation 0), same keys as an "
                          "instance without `id`, `bbox_2d`, `bbox_3d`, `visibility`",
    "render_settings": "`RenderSettings` fields (`sim.settings`), or null",
    "timings": "dict: seconds per pipeline stage (`sim.pipeline.STAGES`)",
    "passes": "list: the per-frame passes written in this directory",
    "instances[].id": "int: segmentation id, ≥ 1",
    "instances[].name": "str: the object's name in the scene",
    "instances[].object_index": "int: index in `scene.json`'s objects",
    "instances[].asset": "str: asset id (`primitive:cube`, `pybullet:duck`, `file:/abs/path.obj`, …)",
    "instances[].category": "str: the object's category: `SceneObject.category`, else its asset's "
                            "(`cube`, `duck`, `random_urdf`, `object` for a user file, …)",
    "instances[].scale": "[sx, sy, sz]: scale of the asset's canonical frame (largest side 2)",
    "instances[].material": "dict: `color` (linear RGB), `roughness`, `metallic`",
    "instances[].mass": "kg: the mass the simulation used (0 for a static object)",
    "instances[].friction": "friction coefficient",
    "instances[].restitution": "restitution coefficient",
    "instances[].static": "bool: fixed in place",
    "instances[].scripted": "bool: moved by its keyframes, not simulated (a kinematic body)",
    "instances[].position": "F × [x, y, z] m",
    "instances[].quaternion": "F × [w, x, y, z] object-to-world",
    "instances[].object_to_world": "F × 4×4",
    "instances[].linear_velocity": "F × [x, y, z] m/s",
    "instances[].angular_velocity": "F × [x, y, z] rad/s, world axes",
    "instances[].bbox_2d": "F × [xmin, ymin, xmax, ymax] pixel edges of the visible mask, or null; "
                           "absent when the job wrote no ground-truth pass",
    "instances[].bbox_3d": "F × 8 × [x, y, z] world corners of the oriented box, m",
    "instances[].visibility": "F × visible pixel count; absent when the job wrote no ground-truth pass",
    "instances[].amodal_bbox_2d": "F × [xmin, ymin, xmax, ymax] pixel edges of the amodal mask (the "
                                  "full silhouette as if unoccluded), or null; only with the `amodal` pass",
    "instances[].amodal_visibility": "F × amodal pixel count; only with the `amodal` pass",
    "instances[].visible_fraction": "F × visible / amodal pixels (null where the amodal mask is empty); "
                                    "only with the `amodal` pass",
}
"""Every key of ``metadata.json`` (``a.b``: key b of dict a; ``a[].b``: key b of each entry of list a)."""
OPTIONAL_METADATA_KEYS = frozenset({"camera.K", "camera.K_per_frame", "instances[].amodal_bbox_2d",
                                    "instances[].amodal_visibility", "instances[].visible_fraction"})
"""Keys of ``METADATA_KEYS`` that only some scenes have (``K`` or ``K_per_frame``; the amodal ones)."""

EVENT_KEYS: dict[str, str] = {
    "frame": "int: the frame whose preceding physics steps held the contact",
    "instance_a": "int: segmentation id, 0 = background, `instance_a < instance_b`",
    "instance_b": "int: segmentation id",
    "position": "[x, y, z] m: the contact point of the strongest contact",
    "normal": "[x, y, z] unit, from b toward a",
    "force": "N: peak normal force over the frame's physics steps",
}
"""Keys of each entry of ``events.json`` (a list sorted by frame, instance_a, instance_b)."""

JOB_KEYS: dict[str, str] = {
    "scenesim_job": f"int: the job.json layout version ({JOB_FORMAT})",
    "recipe": "str: registered recipe name or `/abs/path/file.py:function`, or null",
    "scene_data": "dict: the scene of a `--scene` job (as in `scene.json`), or null",
    "params": "dict: recipe parameters",
    "seed": "int: job seed; scene k's seed is derived from (seed, k) with numpy's SeedSequence",
    "scenes": "int: number of scenes",
    "resolution": "[width, height] override, or null",
    "frames": "int override, or null",
    "settings": "`RenderSettings` fields (threads always 0: how to run is not part of the job)",
    "layout": "`directories` (a scene directory per scene) or `shards` (WebDataset shards)",
    "shard_size": "int: scenes per shard with `--layout shards`",
}
"""Keys of ``job.json``."""


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    cells = [list(header), ["---"] * len(header), *[list(r) for r in rows]]
    return ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in cells]


def _shape(dims: Sequence[str | int]) -> str:
    return "(" + ", ".join(str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"


def _passes() -> list[str]:
    rows = []
    for name, spec in fmt.PASSES.items():
        dims = ("H", "W", spec.channels) if spec.channels else ("H", "W")
        if spec.per_instance:
            dims = ("N", *dims)
        rows.append((f"`{name}`", f"`{spec.filename(0).replace('00000', 'NNNNN')}`",
                     np.dtype(spec.dtype).name, _shape(dims),
                     "yes" if name in fmt.DEFAULT_PASSES else "`--passes`", spec.description))
    return _table(("pass", "file (frame NNNNN)", "dtype", "shape", "default", "content"), rows)


def generate() -> str:
    """The text of ``docs/format.md``."""
    history = [f"- **{v}**: {text}" for v, text in fmt.FORMAT_HISTORY.items()]
    conventions = _table(("what", "convention"), [(f"`{k}`", v) for k, v in fmt.CONVENTIONS.items()])
    tracks = _table(("array", "dtype", "shape", "content"),
                    [(f"`{f.name}`", np.dtype(f.dtype).name, _shape(f.dims), f.description)
                     for f in fmt.POINT_TRACK_FIELDS.values()])
    lines = [
        "# scenesim output format",
        "",
        "<!-- Generated by `python -m render_workers.format_doc --out docs/format.md` from sim/format.py",
        "     and render_workers/; do not edit by hand (tests/test_format_doc.py checks it). -->",
        "",
        f"Format version **{fmt.FORMAT_VERSION}** (`sim.format.FORMAT_VERSION`, written into every",
        "`metadata.json`). `sim.io.load_scene` reads every version listed under *Version history*.",
        "",
        "## A scene directory",
        "",
        f"Written as `scene_NNNNN{fmt.PARTIAL_SUFFIX}/` (or `NAME{fmt.PARTIAL_SUFFIX}/`) and renamed when "
        "every file is complete: a directory without the suffix is always whole.",
        "",
        *_table(("file", "content"), [
            ("`scene.json`", "the resolved input scene (`sim.scene.Scene.to_json`; `Scene.from_json` "
                             "reads it back)"),
            ("`metadata.json`", "camera, instances, poses, boxes, settings, timings: keys below"),
            ("`events.json`", "collisions, one entry per (frame, instance a, instance b): keys below"),
            ("`{pass}_NNNNN.{ext}`", "one file per pass and frame: table below"),
            (f"`{fmt.POINT_TRACKS_FILE}`", "only with `--point-tracks N`: arrays below "
                                          "(`numpy.load` reads it)"),
        ]),
        "",
        "### A scene of several cameras",
        "",
        "A scene with several cameras (`Scene.cameras`; a stereo rig is two, `left` and `right`) is",
        "simulated once and rendered by every camera. Its directory holds the scene's own",
        "`scene.json` (every camera), `events.json` and a `metadata.json` with `format_version`,",
        "`conventions`, `cameras` (the cameras' names in scene order), `scene`, `render_settings` and",
        "`timings` (summed over the cameras), plus one complete scene directory per camera, named after",
        "it and laid out as above (`scene_00000/left/rgba_00000.png`, …; its `scene.json` is the scene",
        "seen by that camera, its `metadata.json` that view's camera, boxes, visibility and flow). The",
        "whole is written as one `.partial` directory and renamed only when every view is complete.",
        "`sim.io.load_scene(path, camera=NAME)` reads one view.",
        "",
        "### Per-frame passes",
        "",
        "A job writes the passes it chose (`--passes`, `RenderSettings.passes`; default: those marked",
        "*yes*); `metadata.json` `passes` lists them. PNG passes are written with imageio; bool masks",
        "are 8-bit PNG (0 or 255); float32 passes are TIFF, zlib with the floating-point predictor",
        "(lossless: NaN and ±inf survive; `tifffile` with imagecodecs, `imageio.v3.imread` and libtiff",
        "read them).",
        "",
        *_passes(),
        "",
        f"### `{fmt.POINT_TRACKS_FILE}`",
        "",
        "N points, F frames.",
        "",
        *tracks,
        "",
        "### `metadata.json`",
        "",
        "JSON-native values only (no NaN or infinity). F = frames. `a.b` is key b of dict a; "
        "`a[].b` key b of each entry of list a.",
        "",
        *_table(("key", "content"), [(f"`{k}`", v) for k, v in METADATA_KEYS.items()]),
        "",
        "### `events.json`",
        "",
        "A list sorted by (frame, instance_a, instance_b); contacts between two background objects "
        "are dropped.",
        "",
        *_table(("key", "content"), [(f"`{k}`", v) for k, v in EVENT_KEYS.items()]),
        "",
        "## Conventions",
        "",
        "`sim.format.CONVENTIONS`, also in every `metadata.json`:",
        "",
        *conventions,
        "",
        "## A job directory",
        "",
        *_table(("file", "content"), [
            (f"`{JOB_FILE}`", "the job spec (`render_workers.job.JobSpec`): keys below"),
            ("`scene_NNNNN/`", "complete scenes (scene directories above), k = 0 … scenes − 1"),
            (f"`scene_NNNNN{fmt.PARTIAL_SUFFIX}/`", "a scene being written, or left by a killed "
                                                    "run (deleted on resume)"),
            (f"`{joblog.LOG_FILE}`", "the job log, one JSON object per line: events below"),
            (f"`{BLENDER_LOG}`", "Blender's and the workers' console output"),
            (f"`{LOCK_FILE}`", "held (flock) by the run in progress; holds its pid"),
            ("`shard-NNNNNN.tar`, `index.json`, `pending/`", "with `--layout shards` instead of the scene "
             "directories: WebDataset shards of `shard_size` scenes, their index, scenes waiting for a "
             "shard (`render_workers.shard_layout`)"),
        ]),
        "",
        f"### `{JOB_FILE}`",
        "",
        *_table(("key", "content"), [(f"`{k}`", v) for k, v in JOB_KEYS.items()]),
        "",
        f"### `{joblog.LOG_FILE}`",
        "",
        *_joblog_events(),
        "",
        "## Version history",
        "",
        *history,
        "",
    ]
    return "\n".join(lines)


def _joblog_events() -> list[str]:
    """The event list of the ``render_workers.joblog`` docstring, as Markdown."""
    doc = (joblog.__doc__ or "").strip()
    start = doc.index("Every record has")
    return [line.strip() if not line.startswith("  ") else "  " + line.strip()
            for line in doc[start:].splitlines()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m render_workers.format_doc",
                                     description="Generate docs/format.md from the code.")
    parser.add_argument("--out", type=Path, help="write here (default: print)")
    args = parser.parse_args(argv)
    text = generate()
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
