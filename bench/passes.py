"""The cost of ground-truth passes (``scenesim bench``, section ``passes``; alone with
``scenesim bench --passes-only``): scenes rendered ground truth only with a few passes, with every
ground-truth pass and with amodal masks, each against Blender's bare 1-sample render of the same
frames and passes (``bench/bare_cycles.py`` on the .blend ``save_blend`` writes for those passes:
the ground-truth scene with only the Cycles passes and view layers they need).
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import time
from pathlib import Path
from typing import Any

from bench import bare_cycles
from sim import sink_process
from sim.passes import PASSES
from sim.physics import simulate
from sim.pipeline import run_scene
from sim.render import save_blend
from sim.scene import Scene
from sim.settings import RenderSettings

PASS_SETS = {
    "labels": ("depth", "segmentation"),
    "all_ground_truth": tuple(p for p in PASSES if p not in ("rgba", "amodal", "disparity")),
    "segmentation": ("segmentation",),
    "amodal": ("segmentation", "amodal"),
}
"""Name -> passes timed (every ground-truth pass but amodal and disparity, which needs a stereo rig).
``amodal`` against ``segmentation`` gives the amodal pass's own cost."""


def _progress(message: str) -> None:
    import sys

    print(f"scenesim bench: {message}", file=sys.stderr, flush=True)


def _cpu_seconds() -> float:
    """CPU seconds (user + system) of this process, all threads, plus the sink's helper process."""
    total = time.process_time()
    helper = sink_process._helper
    stat = Path(f"/proc/{helper.process.pid}/stat") if helper is not None else None
    if stat is not None and stat.exists():
        fields = stat.read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    return total


def run_passes(scene: Scene, repeats: int, work: Path, log_path: Path) -> dict[str, Any]:
    """Per pass set of ``PASS_SETS``: ``fps`` (frames / median wall of ``run_scene``, scene directory
    written), ``bare_fps`` (frames / median wall of the bare loop), ``ratio_vs_bare`` (median over
    repeats of run_scene wall / bare wall of the same repeat), ``cpu_ratio_vs_bare`` (the same with
    CPU seconds: this process and the sink's helper process against the bare script's frame loop;
    less sensitive than wall time to other work on a shared machine) and ``runs``. Plus ``instances`` and the
    amodal pass's cost: ``amodal_ms_per_frame`` and ``amodal_ms_per_instance_frame`` (median wall of
    the amodal set minus that of segmentation alone, per frame and per instance and frame), the same
    for Blender alone (``amodal_bare_ms_per_frame``), in CPU time per instance and frame
    (``amodal_cpu_ms_per_instance_frame``, ``amodal_bare_cpu_ms_per_instance_frame``), and
    ``amodal_bytes_per_frame`` (file size)."""
    trajectory = simulate(scene)
    run_scene(dataclasses.replace(scene, resolution=(16, 16), frames=2),
              RenderSettings(passes=PASS_SETS["labels"]), work, "passes_warm_up", log_path=log_path,
              overwrite=True)
    out: dict[str, Any] = {"instances": len(scene.instances), "frames": scene.frames,
                           "resolution": list(scene.resolution)}
    for name, passes in PASS_SETS.items():
        settings = RenderSettings(passes=passes)
        blend = work / f"passes_{name}.blend"
        save_blend(scene, trajectory, settings, blend, log_path)
        runs = []
        for r in range(repeats):
            _progress(f"passes {name} ({','.join(passes)}), run {r + 1}/{repeats}")
            start, cpu = time.perf_counter(), _cpu_seconds()
            result = run_scene(scene, settings, work, f"passes_{name}", log_path=log_path, overwrite=True)
            total, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
            bare = bare_cycles.run({"blend": str(blend), "out_dir": str(work), "scenes": ["gt"],
                                    "frames": list(range(scene.frames))}, log_path)
            runs.append({"total_s": total, "bare_s": bare["total_s"], "cpu_s": cpu,
                         "bare_cpu_s": bare["cpu_s"]})
        out[name] = {
            "passes": list(passes),
            "fps": scene.frames / statistics.median(r["total_s"] for r in runs),
            "bare_fps": scene.frames / statistics.median(r["bare_s"] for r in runs),
            "ratio_vs_bare": statistics.median(r["total_s"] / r["bare_s"] for r in runs),
            "cpu_ratio_vs_bare": statistics.median(r["cpu_s"] / r["bare_cpu_s"] for r in runs),
            "runs": runs,
        }
        if name == "amodal":
            out["amodal_bytes_per_frame"] = sum(
                p.stat().st_size for p in result.path.glob("amodal_*.npz")) / scene.frames
    per_frame = {kind: 1000 * (scene.frames / out["amodal"][kind] - scene.frames / out["segmentation"][kind])
                 / scene.frames for kind in ("fps", "bare_fps")}
    per_frame.update({kind: 1000 * (statistics.median(r[kind] for r in out["amodal"]["runs"])
                                    - statistics.median(r[kind] for r in out["segmentation"]["runs"]))
                      / scene.frames for kind in ("cpu_s", "bare_cpu_s")})
    n = max(1, len(scene.instances))
    out["amodal_ms_per_frame"] = per_frame["fps"]
    out["amodal_bare_ms_per_frame"] = per_frame["bare_fps"]
    out["amodal_ms_per_instance_frame"] = per_frame["fps"] / n
    out["amodal_cpu_ms_per_instance_frame"] = per_frame["cpu_s"] / n
    out["amodal_bare_cpu_ms_per_instance_frame"] = per_frame["bare_cpu_s"] / n
    return out


def format_passes(p: dict[str, Any]) -> list[str]:
    """Report lines of ``run_passes``'s figures."""
    width, height = p["resolution"]
    lines = [f"Ground-truth passes: {width}x{height}, {p['frames']} frames, {p['instances']} instances, "
             "no RGB",
             f"  {'passes':<54}{'frames/s':>11}{'bare f/s':>11}{'x bare':>11}{'CPU x bare':>11}"]
    for name in PASS_SETS:
        row = p[name]
        label = ",".join(row["passes"]) if len(row["passes"]) <= 3 else f"{name} ({len(row['passes'])})"
        lines.append(f"  {label:<54}{row['fps']:>11.1f}{row['bare_fps']:>11.1f}{row['ratio_vs_bare']:>11.3f}"
                     f"{row['cpu_ratio_vs_bare']:>11.3f}")
    lines += [f"  {'amodal pass, ms per frame (scenesim / Blender alone)':<54}"
              f"{p['amodal_ms_per_frame']:>11.1f}{p['amodal_bare_ms_per_frame']:>11.1f}",
              f"  {'amodal pass, ms per instance and frame':<54}{p['amodal_ms_per_instance_frame']:>11.2f}",
              f"  {'  the same in CPU ms (scenesim / Blender alone)':<54}"
              f"{p['amodal_cpu_ms_per_instance_frame']:>11.2f}{p['amodal_bare_cpu_ms_per_instance_frame']:>11.2f}",
              f"  {'amodal file, bytes per frame':<54}{p['amodal_bytes_per_frame']:>11.0f}"]
    return lines
