"""``movi-f``: ``movi-e`` with motion blur (Kubric's MOVi-F): each scene draws its shutter, the
fraction of the frame interval the shutter is open (centred on the frame time), uniformly in
[``min_shutter``, ``max_shutter``] (default [0, 1]: from no blur to a shutter open the whole frame
interval). The shutter is drawn after everything else, so scene k of ``movi-f`` is scene k of
``movi-e`` (same seed and parameters) with a shutter. Only the RGB image is blurred; the ground truth
is that of the frame time (``Scene.shutter``)."""

from __future__ import annotations

import dataclasses

import numpy as np

from scenes.movi_c import check_ranges
from scenes.movi_e import PARAMS as MOVI_E_PARAMS
from scenes.movi_e import build as build_movi_e
from scenes.registry import Param, register
from sim.scene import Scene

PARAMS = (
    *MOVI_E_PARAMS,
    Param("min_shutter", 0.0, "least shutter per scene (fraction of the frame interval)", 0.0, 1.0),
    Param("max_shutter", 1.0, "largest shutter per scene (fraction of the frame interval)", 0.0, 1.0),
)


@register("movi-f", "movi-e with motion blur: a random shutter per scene", PARAMS)
def build(rng: np.random.Generator, *, min_shutter: float = 0.0, max_shutter: float = 1.0,
          **params: object) -> Scene:
    """The ``movi-e`` scene (same parameters) with a shutter uniform in [min_shutter, max_shutter]."""
    check_ranges("movi-f", shutter=(min_shutter, max_shutter))
    scene = build_movi_e(rng, **params)  # type: ignore[arg-type]
    return dataclasses.replace(scene, shutter=float(rng.uniform(min_shutter, max_shutter)))
