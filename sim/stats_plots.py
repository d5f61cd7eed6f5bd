"""PNG plots of a job's distributions (``sim.stats_summary.summarise``'s dict) with matplotlib, an
optional dependency (``pip install 'scenesim[plots]'``).

``write_plots(summary, out_dir)`` writes one PNG per panel (``PANELS``: ``instances.png``,
``categories.png``, …) and ``overview.png`` with every panel on one sheet; a panel whose data the
job lacks (a pass not rendered) says so in place of its plot. Everything is drawn from the summary
alone, so plots can be redrawn from a ``--json`` file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sim.errors import OutputError

Axes = Any
"""A ``matplotlib.axes.Axes`` (matplotlib is imported only when plots are drawn)."""


def _bars(ax: Axes, histogram: dict[str, list[float]], *, log_x: bool = False, color: str = "C0") -> None:
    """A filled step histogram; on a log x axis the open ends (0 of the underflow bin, inf of the
    overflow bin) are drawn one decade beyond their other edge."""
    edges, counts = list(histogram["edges"]), histogram["counts"]
    if log_x and len(edges) > 1:
        edges[0] = edges[0] or edges[1] / 10
        edges[-1] = min(edges[-1], edges[-2] * 10)
        ax.set_xscale("log")
        if edges[-1] < 100 * edges[0]:  # two decades or less: label 1, 2, 5 of each decade
            from matplotlib.ticker import LogLocator

            ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter("{x:g}")
        ax.xaxis.set_minor_formatter("")
    ax.stairs(counts, edges, fill=True, color=color)


def _scene_counts(ax: Axes) -> None:
    """Integer ticks on a y axis that counts scenes or instances."""
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def _missing(ax: Axes, what: str) -> None:
    ax.text(0.5, 0.5, what, ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def _instances(ax: Axes, s: dict[str, Any]) -> None:
    for shift, key, label, color in ((-0.2, "objects_per_scene", "objects (with background)", "C7"),
                                     (0.2, "instances_per_scene", "instances", "C0")):
        counts = s[key]["counts"]
        ax.bar([int(k) + shift for k in counts], list(counts.values()), width=0.4, color=color, label=label)
    ax.set(title="objects and instances per scene", xlabel="per scene", ylabel="scenes")
    ax.legend(fontsize="small", framealpha=0.6)
    _scene_counts(ax)


def _categories(ax: Axes, s: dict[str, Any]) -> None:
    cats = list(s["categories"].items())[:20][::-1]
    ax.barh([k for k, _ in cats], [c["instances"] for _, c in cats], color="C1")
    ax.set(title="category balance", xlabel="instances")
    ax.tick_params(axis="y", labelsize="small")


def _visibility(ax: Axes, s: dict[str, Any]) -> None:
    vis = s["visibility"]
    if vis["visible_fraction"]:
        _bars(ax, vis["visible_fraction"]["histogram"], color="C2")
        ax.set(title="visible fraction (visible / amodal px)", xlabel="fraction", ylabel="instance-frames")
    elif vis["frames_visible_fraction"]:
        _bars(ax, vis["frames_visible_fraction"]["histogram"], color="C2")
        ax.set(title=f"frames visible per instance ({vis['never_visible']} never)",
               xlabel="fraction of frames", ylabel="instances")
    else:
        _missing(ax, "no instances")


def _size(ax: Axes, s: dict[str, Any]) -> None:
    if s["object_size_px"] is None:
        return _missing(ax, "no visible instance")
    _bars(ax, s["object_size_px"]["histogram"], log_x=True, color="C4")
    ax.set(title="object size", xlabel="visible pixels per instance-frame", ylabel="instance-frames")


def _occlusion(ax: Axes, s: dict[str, Any]) -> None:
    occ = s["occlusion"]
    if occ is None or occ["per_scene"] is None:
        return _missing(ax, "no flow occlusion masks")
    _bars(ax, occ["per_scene"]["histogram"], color="C5")
    ax.set(title=f"occlusion rate (job {100 * occ['rate']:.1f}%)", xlabel="occluded / valid flow pixels",
           ylabel="scenes")
    _scene_counts(ax)


def _log_pixels(name: str, title: str, unit: str, color: str) -> Callable[[Axes, dict[str, Any]], None]:
    def panel(ax: Axes, s: dict[str, Any]) -> None:
        d = s[name]
        if d is None:
            return _missing(ax, f"no {name} pass")
        _bars(ax, d["histogram"], log_x=True, color=color)
        ax.set_yscale("log")
        edges, counts = d["histogram"]["edges"], d["histogram"]["counts"]
        label = title
        if edges[0] == 0:  # the bin below the first edge: values that read as 0
            label = f"{title} ({100 * counts[0] / sum(counts):.0f}% < {edges[1]:g} {unit})"
        for i, (q, v) in enumerate(d["percentiles"].items()):
            if v <= 0:
                continue  # off a log axis (a percentile in the bin below its first edge)
            ax.axvline(v, color="k", lw=0.8, ls=":")
            ax.text(v, 0.95 - 0.08 * i, f" {q}", transform=ax.get_xaxis_transform(), fontsize="x-small")
        ax.set(title=label, xlabel=unit, ylabel="pixels")
    return panel


def _per_scene(key: str, sub: str | None, title: str, xlabel: str, color: str
               ) -> Callable[[Axes, dict[str, Any]], None]:
    def panel(ax: Axes, s: dict[str, Any]) -> None:
        d = s[key][sub] if sub else s[key]
        _bars(ax, d["histogram"], color=color)
        ax.set(title=title, xlabel=xlabel, ylabel="scenes")
        _scene_counts(ax)
    return panel


PANELS: dict[str, Callable[[Axes, dict[str, Any]], None]] = {
    "instances": _instances,
    "categories": _categories,
    "visibility": _visibility,
    "object_size": _size,
    "occlusion": _occlusion,
    "flow_magnitude": _log_pixels("flow", "forward flow magnitude", "px", "C3"),
    "depth": _log_pixels("depth", "depth", "m", "C9"),
    "collisions": _per_scene("collisions_per_scene", None, "collision events per scene", "events", "C6"),
    "camera_path": _per_scene("camera", "path_m", "camera path length", "metres", "C8"),
    "camera_rotation": _per_scene("camera", "rotation_deg", "camera rotation", "degrees", "C8"),
}
"""Panel name (the PNG's stem) -> function drawing it into an Axes from the summary."""


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend; ``OutputError`` in one line when matplotlib is missing."""
    try:
        import matplotlib
    except ImportError:
        raise OutputError("stats plots need matplotlib: pip install 'scenesim[plots]' (or pass "
                          "--no-plots)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_plots(summary: dict[str, Any], out_dir: Path) -> list[Path]:
    """Writes ``<panel>.png`` for every panel and ``overview.png`` into ``out_dir``; returns the
    paths. ``OutputError`` when matplotlib is missing."""
    plt = pyplot()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, draw in PANELS.items():
        fig, ax = plt.subplots(figsize=(5, 3.6), layout="constrained")
        draw(ax, summary)
        paths.append(out_dir / f"{name}.png")
        fig.savefig(paths[-1], dpi=100)
        plt.close(fig)
    fig, axes = plt.subplots(2, 5, figsize=(22, 8), layout="constrained")
    for ax, draw in zip(axes.flat, PANELS.values(), strict=True):
        draw(ax, summary)
    scenes = summary["scenes"]["complete"]
    fig.suptitle(f"{summary['directory']}: {scenes} scenes, {summary['frames']} frames")
    paths.append(out_dir / "overview.png")
    fig.savefig(paths[-1], dpi=80)
    plt.close(fig)
    return paths
