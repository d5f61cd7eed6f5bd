"""Preview images of a scene or job directory: an animated GIF (MP4 with PyAV) and a contact sheet.

One row per scene (a job directory shows its first ``scenes`` scenes), four panels per row, each
with a caption above it:

    RGB (+ point tracks as dots) | segmentation | depth (range printed) | forward flow (scale printed)

followed by the semantic ids (one colour per category id, the same in every scene of a job) and the
amodal masks (each instance's full silhouette outlined in its segmentation colour over the dimmed
segmentation) when the scene has those passes (``OPTIONAL_PANELS``).

Every panel is the scene's image scaled up by an integer factor (nearest neighbour: each pixel a
block of ``Layout.scale`` × ``Layout.scale``, ground truth stays crisp) so it is at least
``MIN_PANEL_WIDTH`` pixels wide. The depth colour range and the flow scale are fixed per scene over
all its frames, so colours compare across frames. Frame t of the GIF shows frame t of each scene (a
shorter scene holds its last frame); the contact sheet shows ``sheet_frames`` evenly spaced frames
per scene, one row each. The four passes of the scenes shown are read whole (a preview is for
short clips, not for long videos).
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import imageio.v3 as iio
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from sim.errors import OutputError
from sim.io import find_views, load_scene, read_metadata
from sim.preview.colors import (
    amodal_to_rgb,
    depth_range,
    depth_to_rgb,
    flow_key,
    flow_magnitude_max,
    flow_to_rgb,
    segmentation_palette,
    segmentation_to_rgb,
)

PANELS = ("rgba", "segmentation", "depth", "forward_flow")
"""The pass shown in each panel, left to right."""
OPTIONAL_PANELS = ("semantic", "amodal")
"""Panels after ``PANELS``, shown for scenes that have these passes."""
MIN_PANEL_WIDTH = 160
CAPTION_PX = 14
GAP_PX = 4
BACKDROP = (24, 24, 24)
TEXT = (235, 235, 235)
MISSING = (64, 64, 64)
"""Fill of a panel whose pass the scene does not have (the RGB of a ``--gt-only`` scene)."""


@dataclass(frozen=True)
class Layout:
    """Pixel geometry of one row of panels for a scene of ``width`` × ``height`` pixels."""

    width: int
    height: int
    panels: int = len(PANELS)

    @property
    def scale(self) -> int:
        return max(1, math.ceil(MIN_PANEL_WIDTH / self.width))

    @property
    def panel_size(self) -> tuple[int, int]:
        """(width, height) of one panel's image, without its caption."""
        return self.width * self.scale, self.height * self.scale

    @property
    def row_size(self) -> tuple[int, int]:
        """(width, height) of a row: panels, the gaps between them, captions."""
        w, h = self.panel_size
        return self.panels * w + (self.panels - 1) * GAP_PX, CAPTION_PX + h

    def panel_origin(self, column: int) -> tuple[int, int]:
        """(x, y) of panel ``column``'s image (below its caption) within the row."""
        return column * (self.panel_size[0] + GAP_PX), CAPTION_PX


@dataclass
class _SceneView:
    """What a row needs of one scene: its arrays, colour ranges and point tracks."""

    name: str
    data: dict[str, Any]
    panels: tuple[str, ...]
    layout: Layout
    frames: int
    depth_range: tuple[float, float] | None
    flow_max: float | None

    @classmethod
    def load(cls, path: Path) -> _SceneView:
        available = read_metadata(path)["passes"]
        panels = PANELS + tuple(p for p in OPTIONAL_PANELS if p in available)
        data = load_scene(path, passes=[p for p in panels if p in available])
        width, height = data["scene"].resolution
        depth = data.get("depth")
        flow = data.get("forward_flow")
        return cls(path.name, data, panels, Layout(width, height, len(panels)), data["scene"].frames,
                   None if depth is None else depth_range(depth),
                   None if flow is None else flow_magnitude_max(flow))


def _upscale(image: np.ndarray, scale: int) -> np.ndarray:
    return np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)


def _panel_images(view: _SceneView, t: int) -> list[np.ndarray | None]:
    """The uint8 (H, W, 3) panel images of frame ``t`` (None: pass not in the scene)."""
    seg = view.data["segmentation"][t] if "segmentation" in view.data else None
    colour = {"rgba": lambda a: a[..., :3], "segmentation": segmentation_to_rgb,
              "depth": lambda a: depth_to_rgb(a, *view.depth_range),
              "forward_flow": lambda a: flow_to_rgb(a, view.flow_max), "semantic": segmentation_to_rgb,
              "amodal": lambda a: amodal_to_rgb(a, seg)}
    return [colour[p](view.data[p][t]) if p in view.data else None for p in view.panels]


def _captions(view: _SceneView, t: int) -> list[str]:
    depth = "depth: none" if view.depth_range is None else \
        f"depth {view.depth_range[0]:.2f}-{view.depth_range[1]:.2f} m"
    flow = "flow: none" if view.flow_max is None else f"fwd flow, rim {view.flow_max:.2f} px"
    captions = {"rgba": f"{view.name} t={t}/{view.frames - 1}", "segmentation": "segmentation",
                "depth": depth, "forward_flow": flow, "semantic": "semantic (categories)",
                "amodal": "amodal outlines"}
    return [captions[p] for p in view.panels]


def _row(view: _SceneView, t: int) -> np.ndarray:
    """uint8 (height, width, 3) image of frame ``t`` of a scene, (width, height) = ``Layout.row_size``."""
    layout = view.layout
    row_w, row_h = layout.row_size
    pw, ph = layout.panel_size
    canvas = np.empty((row_h, row_w, 3), dtype=np.uint8)
    canvas[:] = BACKDROP
    for column, image in enumerate(_panel_images(view, t)):
        x, y = layout.panel_origin(column)
        canvas[y:y + ph, x:x + pw] = MISSING if image is None else _upscale(image, layout.scale)
    picture = Image.fromarray(canvas)
    draw = ImageDraw.Draw(picture)
    font = ImageFont.load_default()
    for column, text in enumerate(_captions(view, t)):
        draw.text((layout.panel_origin(column)[0] + 1, 1), text, fill=TEXT, font=font)
    if view.flow_max is not None:
        key = flow_key(CAPTION_PX - 2)
        x = layout.panel_origin(3)[0] + pw - key.shape[1]
        picture.paste(Image.fromarray(key), (x, 1))
    _draw_tracks(picture, view, t)
    return np.asarray(picture)


def _draw_tracks(picture: Image.Image, view: _SceneView, t: int) -> None:
    """Dots on the RGB panel at the point tracks visible in frame ``t``, one colour per point; a dot
    near the panel's edge is cut there (it never spills into the next panel)."""
    tracks = view.data.get("point_tracks")
    if tracks is None:
        return
    scale = view.layout.scale
    x0, y0 = view.layout.panel_origin(0)
    pw, ph = view.layout.panel_size
    panel = picture.crop((x0, y0, x0 + pw, y0 + ph))
    draw = ImageDraw.Draw(panel)
    radius = max(1.5, scale / 2)
    colours = segmentation_palette(len(tracks["tracks"]) + 1)[1:]
    for (x, y), occluded, colour in zip(tracks["tracks"][:, t], tracks["occluded"][:, t], colours,
                                        strict=True):
        if occluded:
            continue
        cx, cy = x * scale, y * scale
        if 0 <= cx < pw and 0 <= cy < ph:
            draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius),
                         fill=tuple(int(c) for c in colour), outline=(0, 0, 0))
    picture.paste(panel, (x0, y0))


def _stack_rows(rows: list[np.ndarray]) -> np.ndarray:
    """Rows one above the other, GAP_PX apart, left-aligned on the backdrop."""
    width = max(r.shape[1] for r in rows)
    height = sum(r.shape[0] for r in rows) + GAP_PX * (len(rows) - 1)
    out = np.empty((height, width, 3), dtype=np.uint8)
    out[:] = BACKDROP
    y = 0
    for r in rows:
        out[y:y + r.shape[0], :r.shape[1]] = r
        y += r.shape[0] + GAP_PX
    return out


def _sheet_frames(frames: int, count: int) -> list[int]:
    return sorted({int(round(t)) for t in np.linspace(0, frames - 1, min(count, frames))})


def write_preview(root: Path, out: Path | None = None, *, scenes: int = 4,
                  sheet_frames: int = 4) -> tuple[Path, Path]:
    """Writes the animated preview of a scene or job directory ``root`` to ``out`` (default
    ``root/preview.gif``; ``.gif``, or ``.mp4`` where PyAV is installed) and the contact sheet PNG
    beside it (``<out stem>_sheet.png``). Shows the first ``scenes`` scenes and ``sheet_frames``
    frames per scene on the sheet. Returns (animation path, sheet path)."""
    root = Path(root)
    out = Path(out) if out is not None else root / "preview.gif"
    if out.suffix.lower() not in (".gif", ".mp4"):
        raise OutputError(f"--out: {out.name} must end in .gif or .mp4")
    if scenes < 1 or sheet_frames < 1:
        raise OutputError(f"scenes, sheet_frames: got {scenes}, {sheet_frames}; expected >= 1")
    paths = find_views(root)[:scenes]
    views = [_SceneView.load(p) for p in paths]
    length = max(v.frames for v in views)
    movie = [_stack_rows([_row(v, min(t, v.frames - 1)) for v in views])
             for t in range(length)]  # the t= caption differs per frame, so no GIF frame repeats
    fps = views[0].data["scene"].frame_rate
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_movie(out, movie, fps)
    sheet_rows = [_row(v, t) for v in views for t in _sheet_frames(v.frames, sheet_frames)]
    sheet = out.with_name(out.stem + "_sheet.png")
    iio.imwrite(sheet, _stack_rows(sheet_rows))
    return out, sheet


def _write_movie(out: Path, frames: list[np.ndarray], fps: float) -> None:
    if out.suffix.lower() == ".gif":
        iio.imwrite(out, np.stack(frames), extension=".gif", duration=1000.0 / fps, loop=0)
        return
    try:
        import av  # noqa: F401  (imageio's MP4 writer)
    except ImportError:
        raise OutputError(f"--out {out.name}: MP4 needs PyAV ('pip install av'); or write a .gif") from None
    even = [f[: f.shape[0] // 2 * 2, : f.shape[1] // 2 * 2] for f in frames]  # H.264 wants even sizes
    iio.imwrite(out, np.stack(even), plugin="pyav", codec="libx264", fps=fps)


def preview_command(args: argparse.Namespace) -> int:
    """``scenesim preview DIR [--out FILE] [--scenes N]``: writes both files and prints their paths."""
    for path in write_preview(args.dir, args.out, scenes=args.scenes):
        print(path)
    return 0
