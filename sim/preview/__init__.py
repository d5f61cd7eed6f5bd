"""Previews of rendered data: ``write_preview`` (animated GIF + contact sheet) and its colour maps.

``scenesim preview DIR [--out FILE]`` calls ``write_preview``.
"""

from sim.preview.colors import (
    amodal_to_rgb,
    depth_to_rgb,
    flow_key,
    flow_to_rgb,
    flow_wheel,
    segmentation_palette,
    segmentation_to_rgb,
)
from sim.preview.sheet import OPTIONAL_PANELS, PANELS, Layout, preview_command, write_preview

__all__ = ["OPTIONAL_PANELS", "PANELS", "Layout", "amodal_to_rgb", "depth_to_rgb", "flow_key", "flow_to_rgb",
           "flow_wheel",
           "preview_command", "segmentation_palette", "segmentation_to_rgb", "write_preview"]
