"""The benchmark's targets (issue 6) and its printed report."""

from __future__ import annotations

from typing import Any

from bench.passes import format_passes
from sim.pipeline import STAGES

TARGETS = (
    ("overhead_ratio", "<=", 1.05, "scenesim total / bare Cycles, same frames and passes"),
    ("default_psnr_vs_kubric_like_db", ">=", -0.5, "default PSNR - Kubric-like PSNR (dB)"),
    ("default_time_ratio_vs_kubric_like", "<=", 1 / 3, "default render time / Kubric-like"),
    ("gt_only_fps", ">=", 20.0, "ground truth only, frames/s end to end"),
    ("labels_ratio_vs_bare", "<=", 1.2, "depth+segmentation job / bare 1-sample Cycles"),
    ("workers_2v1", ">=", 1.0, "throughput of 2 workers / 1 worker"),
    ("scaling_per_scene_ratio", "<=", 1.05, "per-scene seconds, large job / small job"),
)
"""(key, comparison, bound, meaning); ``scaling_per_scene_ratio`` allows 5% for timing noise."""


def targets(figures: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per target key: ``value``, ``target`` (e.g. "<= 1.05"), ``met`` (bool; None when the value is
    missing), ``meaning``."""
    values = {**figures, "default_psnr_vs_kubric_like_db":
              figures["default_psnr_db"] - figures["kubric_like_psnr_db"]}
    out = {}
    for key, op, bound, meaning in TARGETS:
        value = values.get(key)
        met = None if value is None else (value <= bound if op == "<=" else value >= bound)
        out[key] = {"value": value, "target": f"{op} {bound:.3g}", "met": met, "meaning": meaning}
    return out


def _row(label: str, *cells: str) -> str:
    return f"  {label:<54}" + "".join(f"{c:>11}" for c in cells)


def format_report(f: dict[str, Any]) -> str:
    """The figures of ``bench.harness.run_benchmark`` as a plain-text report."""
    m, c, st = f["machine"], f["config"], f["stages"]
    frames = c["frames"]
    lines = [f"scenesim bench ({c['name']}): movi-a seed 0, {c['resolution']}x{c['resolution']}, "
             f"{frames} frames, medians of {c['repeats']} runs",
             f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['os']}, "
             f"Python {m['python']}, Blender {m['blender']}; "
             f"load average {m['load_average_start']:.1f} -> {m['load_average_end']:.1f}",
             "", "Stages of one scene, default settings", _row("stage", "s", "ms/frame")]
    for key in STAGES:
        lines.append(_row(key.removesuffix("_s"), f"{st['stages_s'][key]:.2f}",
                          f"{1000 * st['stages_s'][key] / frames:.1f}"))
    lines += [_row("total (run_scene wall)", f"{st['total_s']:.2f}", f"{1000 * st['total_s'] / frames:.1f}"),
              _row("bare Cycles, same frames and passes", f"{st['bare_s']:.2f}",
                   f"{1000 * st['bare_s'] / frames:.1f}"),
              _row("  of which RGB / ground truth renders", f"{st['bare_rgb_s']:.2f}",
                   f"{st['bare_gt_s']:.2f}"),
              _row("overhead ratio (median of total / bare per run)", f"{st['overhead_ratio']:.3f}"),
              "    per run (total s / bare s): " + ", ".join(f"{r['total_s']:.1f} / {r['bare_s']:.1f}"
                                                          for r in st["runs"]),
              _row("bare vs scenesim RGB, max |diff| (0-255)", str(st["bare_max_abs_diff"]))]
    q = f["quality"]
    lines += ["", f"Quality per time: {c['quality_resolution']}x{c['quality_resolution']}, frames "
              f"{', '.join(map(str, q['frames']))} against "
              f"{q['reference']['description']} ({q['reference']['s_per_frame']:.1f} s/frame)",
              _row("setting", "s/frame", "x kubric", "PSNR dB", "SSIM")]
    for row in q["settings"]:
        ratio = "" if row["time_vs_kubric_like"] is None else f"{row['time_vs_kubric_like']:.2f}"
        lines.append(_row(row["name"], f"{row['s_per_frame']:.2f}", ratio, f"{row['psnr_db']:.2f}",
                          f"{row['ssim']:.4f}"))
        lines.append(f"    {row['description']}")
    g = f["gt_only"]
    lines += ["", "Ground truth only (no RGB)",
              _row("frames/s, scene directory written", f"{g['fps']:.1f}"),
              _row("frames/s, render() in memory", f"{g['render_fps']:.1f}")]
    lines += ["", *format_passes(f["passes"])]
    w = f["workers"]
    lines += ["", f"Job throughput: {w['scenes']} scenes, {w['resolution']}x{w['resolution']}, "
              f"{w['frames']} frames",
              _row("run", "wall s", "scenes/min")]
    for kind in ("local_1", "local_2", "local_2_all_threads", "ray_2"):
        if kind in w:
            lines.append(_row(kind, f"{w[kind]['wall_s']:.1f}", f"{w[kind]['scenes_per_min']:.1f}"))
    lines.append(_row("2 workers / 1", f"{w['workers_2v1']:.2f}"))
    lines.append(_row("2 workers with all cores' threads / 1", f"{w['workers_2v1_all_threads']:.2f}"))
    if w.get("ray_2v1") is not None:
        lines.append(_row("Ray, 2 workers / 1 local", f"{w['ray_2v1']:.2f}"))
    s = f["scaling"]
    small, large = c["scaling_counts"]
    lines += ["", f"Per-scene cost: {s['resolution']}x{s['resolution']}, {s['frames']} frames, 4 spp, "
              "1 worker",
              _row("scenes", "wall s", "wall/scene", "median s")]
    for n in (small, large):
        lines.append(_row(str(n), f"{s[str(n)]['wall_s']:.1f}", f"{s[str(n)]['wall_per_scene_s']:.3f}",
                          f"{s[str(n)]['median_scene_s']:.3f}"))
    lines.append(_row(f"per-scene ratio {large} / {small}; marginal s/scene", f"{s['per_scene_ratio']:.3f}",
                      f"{s['marginal_scene_s']:.3f}"))
    lines += ["", "Targets"]
    for t in f["targets"].values():
        verdict = {True: "met", False: "MISSED", None: "n/a"}[t["met"]]
        value = "n/a" if t["value"] is None else f"{t['value']:.3f}"
        lines.append(_row(t["meaning"], value, t["target"], verdict))
    return "\n".join(lines)
