"""Runs a job's scenes one after another in this process (Blender imported once, reset per scene)."""

from __future__ import annotations

import sys
from pathlib import Path

from tqdm import tqdm

from render_workers.job import JobSpec
from sim.errors import SceneSimError


def run_sequential(spec: JobSpec) -> int:
    """Renders scenes 0…N−1 of ``spec`` into ``spec.out``; returns 0 if all are complete, else 1.

    Every scene is built (and so validated) before any rendering starts. A progress bar over all
    frames of the job goes to stderr when it is a terminal.
    """
    from sim.io import is_complete
    from sim.pipeline import run_scene

    scenes = [spec.scene(i) for i in range(spec.scenes)]
    out = Path(spec.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "job.json").write_text(spec.to_json())
    log_path = out / "blender.log"
    todo = [(name, scene) for name, scene in zip(spec.scene_names(), scenes, strict=True)
            if not is_complete(out / name)]
    failed = []
    with tqdm(total=sum(s.frames for _, s in todo), unit="frame", disable=not sys.stderr.isatty(),
              desc="rendering") as bar:
        for name, scene in todo:
            try:
                result = run_scene(scene, spec.settings, out, name, log_path=log_path,
                                   on_frame=lambda _t: bar.update(1))
            except SceneSimError as e:
                failed.append(name)
                print(f"scenesim: {name} failed: {e}", file=sys.stderr)
                continue
            bar.write(f"{result.path} ({result.total_s:.1f} s)")
    if failed:
        print(f"scenesim: {len(failed)} of {spec.scenes} scenes failed: {', '.join(failed)}",
              file=sys.stderr)
        return 1
    return 0
