"""The cost of each extra camera: the same recipe scene rendered with one camera and with a stereo rig
(two cameras), alternating, in one process; prints seconds per scene and the ratio.

    python -m bench.cameras [--resolution 256] [--frames 6] [--samples 16] [--repeats 2]

Physics runs once per scene whatever the number of cameras; every camera renders and annotates
every frame, so the ratio says what a second camera costs beyond the first.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from scenes.registry import get_recipe
from sim.pipeline import run_scene
from sim.settings import RenderSettings
from sim.stereo import with_stereo_rig


def time_scene(baseline_m: float, args: argparse.Namespace, out: Path) -> float:
    """Wall seconds of ``run_scene`` on movi-a seed 0, with a stereo rig of ``baseline_m`` (0: one
    camera)."""
    scene = dataclasses.replace(get_recipe("movi-a")(0), resolution=(args.resolution, args.resolution),
                                frames=args.frames)
    if baseline_m:
        scene = with_stereo_rig(scene, baseline_m)
    settings = RenderSettings(samples=args.samples)
    start = time.perf_counter()
    path = run_scene(scene, settings, out, f"stereo_{baseline_m}").path
    seconds = time.perf_counter() - start
    shutil.rmtree(path)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="scenesim-bench-cameras-") as tmp:
        time_scene(0.0, args, Path(tmp))  # warm-up: Blender import, asset caches
        runs: dict[str, list[float]] = {"1 camera": [], "2 cameras": []}
        for _ in range(args.repeats):
            runs["1 camera"].append(time_scene(0.0, args, Path(tmp)))
            runs["2 cameras"].append(time_scene(0.3, args, Path(tmp)))
    one, two = (statistics.median(v) for v in runs.values())
    print(f"movi-a seed 0, {args.resolution}², {args.frames} frames, <= {args.samples} spp, "
          f"median of {args.repeats}; load average {os.getloadavg()[0]:.2f}")
    print(f"1 camera {one:.2f} s/scene, 2 cameras (stereo rig) {two:.2f} s/scene: "
          f"the second camera costs {two / one - 1:.2f}x a one-camera scene (ratio {two / one:.2f})")


if __name__ == "__main__":
    main()
