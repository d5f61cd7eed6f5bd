"""Cost of motion blur: the reference movi-a scene rendered (RGB + ground truth, in memory, default
render settings) with and without a shutter, interleaved in one run; prints seconds per frame, the
ratio blur / no blur and the load average.

    python -m bench.motion_blur [--resolution 256] [--frames 4] [--shutter 0.5] [--repeats 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import time

from bench.harness import reference_scene
from sim.physics import simulate
from sim.render import render
from sim.settings import RenderSettings


def time_render(scene, trajectory, settings: RenderSettings) -> tuple[float, float]:
    """(wall seconds, Cycles RGB seconds) per frame of rendering every frame of ``scene``."""
    timings: dict[str, float] = {}
    start = time.perf_counter()
    for _ in render(scene, trajectory, settings, timings=timings):
        pass
    return (time.perf_counter() - start) / scene.frames, timings["rgb_render_s"] / scene.frames


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--shutter", type=float, default=0.5)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    sharp = reference_scene(args.resolution, args.frames)
    blurred = dataclasses.replace(sharp, shutter=args.shutter)
    runs = {"sharp": (sharp, simulate(sharp)), "blur": (blurred, simulate(blurred))}
    settings = RenderSettings()
    load_start = os.getloadavg()
    time_render(*runs["sharp"], dataclasses.replace(settings, samples=1))  # warm-up: Blender import
    walls: dict[str, list[float]] = {k: [] for k in runs}
    rgbs: dict[str, list[float]] = {k: [] for k in runs}
    ratios, rgb_ratios = [], []
    for _ in range(args.repeats):
        for kind, (scene, trajectory) in runs.items():
            wall, rgb = time_render(scene, trajectory, settings)
            walls[kind].append(wall)
            rgbs[kind].append(rgb)
        ratios.append(walls["blur"][-1] / walls["sharp"][-1])
        rgb_ratios.append(rgbs["blur"][-1] / rgbs["sharp"][-1])
    out = {"resolution": args.resolution, "frames": args.frames, "shutter": args.shutter,
           "sharp_s_per_frame": statistics.median(walls["sharp"]),
           "blur_s_per_frame": statistics.median(walls["blur"]),
           "blur_ratio": statistics.median(ratios), "blur_rgb_ratio": statistics.median(rgb_ratios),
           "load_average_start": load_start[0], "load_average_end": os.getloadavg()[0]}
    print(f"movi-a seed 0, {args.resolution}², {args.frames} frames, shutter {args.shutter}, "
          f"{args.repeats} repeats (interleaved), default render settings")
    print(f"no blur: {out['sharp_s_per_frame']:.2f} s/frame; blur: {out['blur_s_per_frame']:.2f} s/frame")
    print(f"blur / no blur: {out['blur_ratio']:.3f} (whole frame), {out['blur_rgb_ratio']:.3f} (Cycles RGB "
          f"only); per repeat {', '.join(f'{r:.3f}' for r in ratios)}")
    print(f"load average: {load_start[0]:.2f} at start, {out['load_average_end']:.2f} at end")
    return out


if __name__ == "__main__":
    main()
