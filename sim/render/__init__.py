"""Rendering with Blender Cycles: the only package that imports ``bpy`` (on the first ``render``
call, so importing ``sim.render`` stays cheap).

Modules: ``frames`` (``render``: the frame loop and timings; ``save_blend``), ``cycles`` (the RGB and
ground-truth Blender scenes and their Cycles settings), ``build`` (objects, materials, lights,
world, camera, poses), ``devices`` (the CPU or GPU that renders), ``exr`` (decoding the ground
truth), ``blender`` (output redirection, reset, one render call). What a frame is
(``RenderedFrame``) lives outside, in ``sim.frame``.
"""

from sim.frame import RenderedFrame
from sim.render.devices import resolve as resolve_device
from sim.render.frames import blender_version, render, save_blend

__all__ = ["RenderedFrame", "blender_version", "render", "resolve_device", "save_blend"]
