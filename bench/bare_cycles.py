"""The bare-Cycles baseline: a minimal bpy script, no scenesim code, that renders a .blend written by
``sim.render.save_blend`` frame by frame, the way a hand-written Blender script would.

Run as ``python bench/bare_cycles.py SPEC.json`` (``run`` does that in a subprocess, so Blender's
state and this process's warm-up are its own). SPEC holds:

- ``blend``: the .blend file; ``out_dir``: where the images go (``<scene>_<frame>.<ext>``);
- ``frames``: frame numbers to render; ``scenes``: Blender scene names, rendered in this order per
  frame (``["rgb", "gt"]`` for everything scenesim renders, ``["rgb"]`` for the image alone);
- ``overrides``: ``{scene: {"cycles.samples": 64, ...}}``, attributes set before rendering;
- ``result``: the JSON file to write: ``total_s`` (wall seconds of the whole frame loop: setting the
  frame, rendering, Blender writing the files), ``cpu_s`` (CPU seconds of this process, all its
  threads, in that loop) and ``render_s`` (``{scene: [seconds per frame]}``).

Before timing, every scene is rendered once at 8 x 8 pixels and the file is opened again: this
process then is as warm (Cycles kernels and the denoiser loaded) as a scenesim worker that has
rendered a scene before, and the timed loop starts from a fresh Blender scene, as scenesim does.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

EXTENSIONS = {"PNG": "png", "OPEN_EXR_MULTILAYER": "exr", "OPEN_EXR": "exr"}


def run(spec: dict[str, Any], log_path: Path) -> dict[str, Any]:
    """Runs this script on ``spec`` (without ``result``, which is added) in a new Python process,
    Blender's console output appended to ``log_path``; returns the result. Raises RuntimeError if the
    script fails."""
    with tempfile.TemporaryDirectory(prefix="scenesim-bare-") as tmp:
        spec_path, result_path = Path(tmp, "spec.json"), Path(tmp, "result.json")
        spec_path.write_text(json.dumps({**spec, "result": str(result_path)}))
        with open(log_path, "a") as log:
            done = subprocess.run([sys.executable, __file__, str(spec_path)], stdout=log, stderr=log)
        if done.returncode != 0:
            raise RuntimeError(f"bare Cycles script failed (exit {done.returncode}); see {log_path}")
        return json.loads(result_path.read_text())


def _set(target: Any, dotted: str, value: Any) -> None:
    *path, name = dotted.split(".")
    for part in path:
        target = getattr(target, part)
    setattr(target, name, value)


def main(spec_path: str) -> None:
    import bpy

    spec = json.loads(Path(spec_path).read_text())
    out_dir = Path(spec["out_dir"])
    bpy.ops.wm.open_mainfile(filepath=spec["blend"])
    for name in spec["scenes"]:  # warm-up at 8 x 8 pixels, then a fresh copy of the file
        scene = bpy.data.scenes[name]
        scene.render.resolution_x = scene.render.resolution_y = 8
        scene.render.filepath = str(out_dir / f"warm_up_{name}")
        bpy.ops.render.render(write_still=True, scene=name)
    bpy.ops.wm.open_mainfile(filepath=spec["blend"])

    scenes = [bpy.data.scenes[name] for name in spec["scenes"]]
    for scene in scenes:
        for dotted, value in spec.get("overrides", {}).get(scene.name, {}).items():
            _set(scene, dotted, value)
    render_s: dict[str, list[float]] = {scene.name: [] for scene in scenes}
    start, cpu = time.perf_counter(), time.process_time()
    for t in spec["frames"]:
        for scene in scenes:
            scene.frame_set(t)
            ext = EXTENSIONS[scene.render.image_settings.file_format]
            scene.render.filepath = str(out_dir / f"{scene.name}_{t:05d}.{ext}")
            t0 = time.perf_counter()
            bpy.ops.render.render(write_still=True, scene=scene.name)
            render_s[scene.name].append(time.perf_counter() - t0)
    total_s, cpu_s = time.perf_counter() - start, time.process_time() - cpu
    Path(spec["result"]).write_text(json.dumps({"total_s": total_s, "cpu_s": cpu_s, "render_s": render_s}))


if __name__ == "__main__":
    main(sys.argv[1])
