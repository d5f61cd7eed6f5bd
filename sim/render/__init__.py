"""Rendering with Blender Cycles: the only package that imports ``bpy`` (on the first ``render``
call, so importing ``sim.render`` stays cheap).

Modules: ``frames`` (``render``: the frame loop and timings; ``save_blend``), ``cycles`` (the RGB and
ground-truth Blender scenes and their Cycles settings), ``build`` (objects, materials, lights,
world, camera, poses), ``devices`` (the CPU or GPU that renders), ``exr`` (decoding the ground
truth), ``blender`` (output redirection, reset, one render call). What a frame is
(``RenderedFrame``) lives outside, in ``sim.frame``.

The package itself is callable and calling it is calling ``render``: once ``sim.render`` is
imported, Python makes the package the ``render`` attribute of ``sim``, so ``from sim import render``
gives the package or the function depending on what was imported before; both work the same.
"""

import sys
import types
from typing import Any

from sim.frame import RenderedFrame
from sim.render.devices import resolve as resolve_device
from sim.render.frames import blender_version, render, save_blend

__all__ = ["RenderedFrame", "blender_version", "render", "resolve_device", "save_blend"]


class _RenderPackage(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return render(*args, **kwargs)


sys.modules[__name__].__class__ = _RenderPackage
