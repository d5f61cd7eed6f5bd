"""What the renderer hands on per frame: a plain mapping of render-output name to numpy array.

No Blender here: the sink (``sim.sink``) consumes frames as data, in this or another process.
``RENDER_OUTPUTS`` declares every output the renderer can produce; which ones a frame holds depends
on the passes chosen (``sim.passes.required_outputs``). Every ground-truth output is the exact value
at the pixel centre (one un-filtered sample), never a blend across object edges.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

RENDER_OUTPUTS: dict[str, str] = {
    "rgba": "uint8 (H, W, 4) sRGB ('Standard' view transform, alpha 255): the RGB render",
    "depth": "float32 (H, W) metres, Euclidean distance from the camera centre to the surface seen "
             "through the pixel centre; +inf where no surface",
    "normal": "float32 (H, W, 3) unit surface normal in world axes; 0 where no surface",
    "object_index": "uint16 (H, W): 0 = no surface, k >= 1 = scene.objects[k-1] (every object, "
                    "background ones included; sim.annotate maps these to instance ids)",
    "object_coordinates": "float32 (H, W, 3) surface point in the object's canonical frame mapped to "
                          "[0, 1] by sim.assets.canonical_bounds ((p - lo) / (hi - lo)); 0 where no "
                          "surface",
    "amodal": "bool (N, H, W), N = len(scene.instances): per instance k = 1…N its full silhouette "
              "as if nothing occluded it: the pixels whose centre ray hits it when it is alone in "
              "the scene (inside the image only)",
}
"""Render output name -> dtype, shape and convention (H, W = scene.resolution[1], [0]; row 0 is the
image top). Every output but ``rgba`` comes from the one ground-truth render."""
GROUND_TRUTH_OUTPUTS = frozenset(RENDER_OUTPUTS) - {"rgba"}


@dataclass(frozen=True)
class RenderedFrame(Mapping[str, np.ndarray]):
    """Frame ``frame`` (t in 0…F−1) as a read-only mapping: render output name (``RENDER_OUTPUTS``)
    -> array. It holds exactly the outputs the chosen passes need, e.g. ``frame["depth"]``."""

    frame: int
    outputs: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.outputs) - set(RENDER_OUTPUTS))
        if unknown:
            raise ValueError(f"RenderedFrame: unknown output {unknown[0]!r}; known: "
                             f"{', '.join(RENDER_OUTPUTS)}")

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.outputs[name]
        except KeyError:
            raise KeyError(f"frame {self.frame} has no render output {name!r}; it has "
                           f"{', '.join(self.outputs) or 'none'}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.outputs)

    def __len__(self) -> int:
        return len(self.outputs)
