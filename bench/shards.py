"""Scene directories against WebDataset shards: files, bytes and loader throughput.

``python -m bench.shards --job DIR`` renders a movi-a job into DIR when it holds no scenes
(``--scenes``, ``--resolution``, ``--frames``, ``--samples``), exports it to shards per scene and
per frame, and prints per scene: files and bytes (apparent and allocated on disk) of the
directories and of the shards; and samples/s of the loaders over the same data with every pass and
with RGB + forward flow: ``SceneDataset`` (clip mode, one sample per scene) against ``ShardDataset``
per scene, and against ``ShardDataset`` per frame (frames/s). Loader figures are medians of
``--repeats`` interleaved passes, warm (the files in the page cache) and cold (every file evicted
from the page cache first with ``posix_fadvise``), single process, as samples per wall second and
per CPU second; ratios (shards / directories, scenes/s) are taken within each repeat. Also the
time to copy the scenes (cold), directories against shards. The load average at start and end is
printed: the machine is shared, so read ratios, not absolutes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from sim.dataset import SceneDataset
from sim.export.webdataset import export_webdataset
from sim.io import find_scenes, read_metadata
from sim.shards import ShardDataset

SUBSET = ("rgba", "forward_flow")


def disk_usage(paths: Iterable[Path]) -> tuple[int, int, int]:
    """(files, apparent bytes, allocated bytes) of every file under ``paths``."""
    files = apparent = allocated = 0
    for root in paths:
        for f in (p for p in Path(root).rglob("*") if p.is_file()) if Path(root).is_dir() else [Path(root)]:
            st = f.stat()
            files, apparent, allocated = files + 1, apparent + st.st_size, allocated + st.st_blocks * 512
    return files, apparent, allocated


def evict(paths: Iterable[Path]) -> None:
    """Drops every file under ``paths`` from the page cache (``posix_fadvise`` DONTNEED, after a
    ``sync`` so the pages are clean), so the next read comes from the disk."""
    os.sync()
    for root in paths:
        for f in (p for p in Path(root).rglob("*") if p.is_file()):
            fd = os.open(f, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def timed(make: Callable[[], Iterable[Any]], cold: Iterable[Path] | None) -> tuple[float, float, int]:
    """(wall s, CPU s, samples) of one pass over ``make()``, after evicting ``cold`` if given."""
    if cold is not None:
        evict(cold)
    wall, cpu = time.perf_counter(), time.process_time()
    n = sum(1 for _ in make())
    return time.perf_counter() - wall, time.process_time() - cpu, n


def ensure_job(job: Path, args: argparse.Namespace) -> None:
    """Renders the benchmark job into ``job`` unless it already holds complete scenes."""
    if job.is_dir() and any(p.name.startswith("scene_") for p in job.iterdir()):
        return
    cmd = [sys.executable, "-m", "render_workers.cli", "render", "--recipe", "movi-a", "--out", str(job),
           "--scenes", str(args.scenes), "--resolution", str(args.resolution), "--frames", str(args.frames),
           "--samples", str(args.samples)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def run(job: Path, repeats: int) -> dict[str, Any]:
    scenes = find_scenes(job)
    frames = sum(read_metadata(p)["scene"]["frames"] for p in scenes)
    figures: dict[str, Any] = {"scenes": len(scenes), "frames": frames, "load_average_start": os.getloadavg()}
    files, apparent, allocated = disk_usage(scenes)
    figures["directories"] = {"files_per_scene": files / len(scenes),
                              "bytes_per_scene": apparent / len(scenes),
                              "allocated_per_scene": allocated / len(scenes)}
    work = Path(tempfile.mkdtemp(prefix="bench-shards-"))
    try:
        for per in ("scene", "frame"):
            start = time.perf_counter()
            export_webdataset(job, work / per, per=per)
            seconds = time.perf_counter() - start
            files, apparent, allocated = disk_usage([work / per])
            figures[f"shards_per_{per}"] = {"files": files, "bytes_per_scene": apparent / len(scenes),
                                            "allocated_per_scene": allocated / len(scenes),
                                            "export_s_per_scene": seconds / len(scenes)}
        everything = read_metadata(scenes[0])["passes"]
        loaders: dict[str, tuple[Callable[[], Iterable[Any]], list[Path]]] = {}
        for label, passes in (("all", everything), ("rgba_flow", list(SUBSET))):
            loaders[f"directories_{label}"] = (lambda p=passes: SceneDataset(job, passes=p), scenes)
            loaders[f"shards_scene_{label}"] = (lambda p=passes: ShardDataset(work / "scene", passes=p),
                                                [work / "scene"])
            loaders[f"shards_frame_{label}"] = (lambda p=passes: ShardDataset(work / "frame", passes=p),
                                                [work / "frame"])
        runs: dict[str, list[tuple[float, float, int]]] = {
            f"{k}_{c}": [] for k in loaders for c in ("warm", "cold")}
        copies: dict[str, list[float]] = {"directories": [], "shards_scene": []}
        for _ in range(repeats):  # interleaved, so drifting load hits every kind alike
            for name, (make, paths) in loaders.items():
                timed(make, None)  # warm-up
                runs[f"{name}_warm"].append(timed(make, None))
                runs[f"{name}_cold"].append(timed(make, paths))
            for name, paths in (("directories", scenes), ("shards_scene", [work / "scene"])):
                evict(paths)
                start = time.perf_counter()
                for p in paths:
                    shutil.copytree(p, work / "copy" / p.name)
                copies[name].append(time.perf_counter() - start)
                shutil.rmtree(work / "copy")
        for key, values in runs.items():
            n = values[0][2]
            figures[key] = {"samples": n, "samples_per_s": statistics.median(n / w for w, _, _ in values),
                            "samples_per_cpu_s": statistics.median(n / c for _, c, _ in values)}
        for label in ("all", "rgba_flow"):
            for c in ("warm", "cold"):
                d, s = runs[f"directories_{label}_{c}"], runs[f"shards_scene_{label}_{c}"]
                figures[f"shards_vs_directories_{label}_{c}"] = statistics.median(
                    dw / sw for (dw, _, _), (sw, _, _) in zip(d, s, strict=True))
        figures["copy_s_per_scene_cold"] = {k: statistics.median(v) / len(scenes) for k, v in copies.items()}
    finally:
        shutil.rmtree(work)
    figures["load_average_end"] = os.getloadavg()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--job", type=Path, required=True,
                        help="job directory (rendered if it has no scenes)")
    parser.add_argument("--scenes", type=int, default=8)
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    ensure_job(args.job, args)
    figures = run(args.job, args.repeats)
    print(json.dumps(figures, indent=1))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
