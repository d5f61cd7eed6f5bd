"""The pass registry: every per-frame output of a scene directory, declared once.

A pass is a ``PassSpec``: its name, file encoding (extension), in-memory dtype and channels, a
description (dtype, shape, units, convention: what ``docs/format.md`` and ``metadata.json`` say),
the render outputs it needs (``sim.frame.RENDER_OUTPUTS``) and its ``compute`` function, which gets
a ``FrameContext`` (frame t's render outputs, its neighbours t−1 and t+1, the scene's camera and
poses) and returns the array written for frame t. The renderer enables only the outputs the chosen
passes need (``required_outputs``), the sink computes and writes only the chosen passes, and the
writer, loader, datasets, preview and COCO export read names, dtypes and shapes from here.

Adding a pass = one ``PassSpec`` in ``PASSES`` plus its function. Passes are chosen per job with
``RenderSettings.passes`` (default ``DEFAULT_PASSES``; ``scenesim render --passes a,b,c``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim import annotate, stereo
from sim.categories import semantic_ids
from sim.errors import SceneValidationError
from sim.frame import GROUND_TRUTH_OUTPUTS
from sim.scene import Scene
from sim.trajectory import Trajectory
from sim.transforms import camera_to_world, intrinsics, pixel_rays


@dataclass(frozen=True)
class SceneContext:
    """What every frame's passes share: the scene, K (F, 3, 3) pixels per frame (they differ when
    the camera zooms), camera-to-world (F, 4, 4) in OpenCV axes, object-to-world (F, N, 4, 4) of all
    N scene objects and per scene object its semantic id (uint16 (N,),
    ``sim.categories.semantic_ids`` in ``categories``)."""

    scene: Scene
    K: np.ndarray
    cam2world: np.ndarray
    obj2world: np.ndarray
    semantic: np.ndarray

    @classmethod
    def build(cls, scene: Scene, trajectory: Trajectory, categories: tuple[str, ...]) -> SceneContext:
        return cls(scene, intrinsics(scene.camera, scene.resolution, scene.frames),
                   camera_to_world(scene.camera, scene.frames), trajectory.object_to_world(),
                   semantic_ids(scene, categories))

    def ray_z(self, t: int) -> np.ndarray:
        """float64 (H, W): the optical-axis component of the unit ray through each pixel centre in
        frame t."""
        return pixel_rays(self.K[t], self.scene.resolution)[..., 2]

    @functools.cached_property
    def stereo_baseline(self) -> float:
        """The stereo baseline (m) of the scene's rectified pair (``sim.stereo.rectified_baseline``),
        checked once per scene rather than once per frame."""
        return stereo.rectified_baseline(self.scene)


@dataclass
class FrameContext:
    """Frame t's render outputs (``cur``) and its neighbours' (``prev`` = t−1, ``nxt`` = t+1, None
    past either end of the scene), for the pass functions. ``value(name)`` computes a pass once per
    frame (passes share work: flow and its masks come from one computation)."""

    scene: SceneContext
    prev: Mapping[str, np.ndarray] | None
    cur: Mapping[str, np.ndarray]
    nxt: Mapping[str, np.ndarray] | None
    t: int
    _memo: dict[Any, Any] = field(default_factory=dict)

    def value(self, name: str) -> np.ndarray:
        """Pass ``name`` of this frame (computed on first use)."""
        return self.memo(name, lambda: PASSES[name].compute(self))

    def memo(self, key: Any, compute: Callable[[], Any]) -> Any:
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]


@dataclass(frozen=True)
class PassSpec:
    """One per-frame pass: file extension, in-memory dtype, channels (0 = a plain (H, W) array),
    description, the render outputs it needs and its compute function. ``toward``: the other frame a
    pass relates frame t to and reads (+1: t+1, −1: t−1; 0: frame t alone). ``per_instance``: one
    (H, W) plane per instance, shape (N, H, W) with N = len(scene.instances)."""

    name: str
    ext: str
    dtype: type
    channels: int
    description: str
    needs: tuple[str, ...]
    compute: Callable[[FrameContext], np.ndarray]
    toward: int = 0
    per_instance: bool = False

    def filename(self, frame: int) -> str:
        return f"{self.name}_{frame:05d}.{self.ext}"

    def shape(self, height: int, width: int, instances: int = -1) -> tuple[int, ...]:
        """The array's shape for one frame of ``height`` × ``width`` pixels and ``instances``
        instances (per-instance passes only; -1, the default, = any number: what a reader that
        does not know the scene's instance count checks against, see ``sim.io.decode_pass``)."""
        if self.per_instance:
            return (instances, height, width)
        return (height, width, self.channels) if self.channels else (height, width)


def _segmentation(ctx: FrameContext) -> np.ndarray:
    return annotate.segmentation(ctx.cur["object_index"], ctx.scene.scene)


def _z_depth(ctx: FrameContext) -> np.ndarray:
    return (ctx.cur["depth"] * ctx.scene.ray_z(ctx.t)).astype(np.float32)


def _semantic(ctx: FrameContext) -> np.ndarray:
    return np.concatenate([np.zeros(1, dtype=np.uint16), ctx.scene.semantic])[ctx.cur["object_index"]]


def _disparity(ctx: FrameContext) -> np.ndarray:
    geo = ctx.scene
    return stereo.disparity(ctx.value("z_depth"), geo.K[ctx.t][0, 0], geo.stereo_baseline)


def _flow(ctx: FrameContext, step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(flow, valid, occluded) from frame t toward t + step (``annotate.flow``), once per frame."""
    def compute() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        other = ctx.nxt if step > 0 else ctx.prev
        s, geo, cur = ctx.t + step, ctx.scene, ctx.cur
        if other is None:
            return annotate.flow(cur["depth"], cur["object_index"], None, None, geo.K[ctx.t], None,
                                 geo.cam2world[ctx.t], None, geo.obj2world[ctx.t], None)
        return annotate.flow(cur["depth"], cur["object_index"], other["depth"], other["object_index"],
                             geo.K[ctx.t], geo.K[s], geo.cam2world[ctx.t], geo.cam2world[s],
                             geo.obj2world[ctx.t], geo.obj2world[s])
    return ctx.memo(("flow", step), compute)


def _output(name: str) -> Callable[[FrameContext], np.ndarray]:
    """The compute function of a pass that is a render output as it is."""
    return lambda ctx: ctx.cur[name]


def _flow_part(step: int, part: int) -> Callable[[FrameContext], np.ndarray]:
    return lambda ctx: _flow(ctx, step)[part]


_FLOW_NEEDS = ("depth", "object_index")

PASSES: dict[str, PassSpec] = {p.name: p for p in (
    PassSpec("rgba", "png", np.uint8, 4, "uint8 (H, W, 4), sRGB colour and alpha", ("rgba",),
             _output("rgba")),
    PassSpec("segmentation", "png", np.uint16, 0,
             "uint16 (H, W): instance ids, 0 = background, k >= 1 = metadata.instances[k-1]",
             ("object_index",), _segmentation),
    PassSpec("depth", "tiff", np.float32, 0,
             "float32 (H, W), metres, Euclidean distance from the camera centre to the surface "
             "seen through the pixel centre; +inf where no surface", ("depth",), _output("depth")),
    PassSpec("z_depth", "tiff", np.float32, 0,
             "float32 (H, W), metres, planar depth: distance from the camera centre to the surface "
             "seen through the pixel centre measured along the optical axis (camera z), i.e. "
             "depth times the cosine of the angle between the pixel's ray and the optical axis; "
             "+inf where no surface", ("depth",), _z_depth),
    PassSpec("normal", "tiff", np.float32, 3,
             "float32 (H, W, 3), unit surface normal in world axes; 0 where no surface",
             ("normal",), _output("normal")),
    PassSpec("object_coordinates", "tiff", np.float32, 3,
             "float32 (H, W, 3), surface point in the object's own frame normalised to [0, 1] by "
             "its bounding box; 0 where background", ("object_coordinates",), _output("object_coordinates")),
    PassSpec("semantic", "png", np.uint16, 0,
             "uint16 (H, W): category ids, 0 = background, k >= 1 = metadata.categories[str(k)] "
             "(the job's table: the same category has the same id in every scene of a job)",
             ("object_index",), _semantic),
    PassSpec("disparity", "tiff", np.float32, 0,
             "float32 (H, W), pixels, stereo disparity fx * baseline / z_depth of a rectified pair "
             "(sim.stereo.stereo_rig), >= 0: the point seen at column x of the left view is at "
             "x - disparity in the right view (x + disparity in the left view from the right one); "
             "0 where no surface", ("depth",), _disparity),
    PassSpec("amodal", "npz", np.bool_, 0,
             "bool (N, H, W), N = number of instances: per instance k = 1..N (plane k-1) its amodal "
             "mask, the full silhouette as if nothing occluded it: exactly the pixels whose centre "
             "ray hits it when it is alone in the scene (inside the image only). File: one .npz per "
             "frame holding 'packed' = numpy.packbits(masks, axis=-1), uint8 (N, H, ceil(W/8)); "
             "numpy.unpackbits(packed, axis=-1, count=W).astype(bool) restores it. Opt-in: one extra "
             "Cycles view layer per instance", ("amodal",), _output("amodal"), per_instance=True),
    PassSpec("object_index", "png", np.uint16, 0,
             "uint16 (H, W): the scene object seen through the pixel centre, 0 = none, k >= 1 = "
             "scene.objects[k-1] (background objects included: the instances' and background "
             "objects' object_index in metadata.json is k-1); opt-in: sim.flow.between needs it for "
             "a scene with several background objects", ("object_index",), _output("object_index")),
    PassSpec("forward_flow", "tiff", np.float32, 2,
             "float32 (H, W, 2), pixels (dx, dy): position in frame t+1 minus position in frame t "
             "of the surface point seen at the pixel centre; NaN where invalid",
             _FLOW_NEEDS, _flow_part(1, 0), toward=1),
    PassSpec("backward_flow", "tiff", np.float32, 2,
             "float32 (H, W, 2), pixels (dx, dy): position in frame t-1 minus position in frame t; "
             "NaN where invalid", _FLOW_NEEDS, _flow_part(-1, 0), toward=-1),
    PassSpec("forward_flow_valid", "png", np.bool_, 0,
             "bool (H, W): forward flow defined (a surface is seen, frame t+1 exists and the point is "
             "in front of its camera)", _FLOW_NEEDS, _flow_part(1, 1), toward=1),
    PassSpec("backward_flow_valid", "png", np.bool_, 0,
             "bool (H, W): backward flow defined (a surface is seen, frame t-1 exists and the point is "
             "in front of its camera)", _FLOW_NEEDS, _flow_part(-1, 1), toward=-1),
    PassSpec("forward_occluded", "png", np.bool_, 0,
             "bool (H, W): the point is hidden or out of view in frame t+1 (where flow is valid)",
             _FLOW_NEEDS, _flow_part(1, 2), toward=1),
    PassSpec("backward_occluded", "png", np.bool_, 0,
             "bool (H, W): the point is hidden or out of view in frame t-1 (where flow is valid)",
             _FLOW_NEEDS, _flow_part(-1, 2), toward=-1),
)}
"""Every pass, in the order of ``metadata.json``'s ``passes`` list."""

DEFAULT_PASSES = ("rgba", "segmentation", "depth", "normal", "object_coordinates", "forward_flow",
                  "backward_flow", "forward_flow_valid", "backward_flow_valid", "forward_occluded",
                  "backward_occluded")
"""The passes of a job that chooses none (those of format 1.2)."""


def resolve_passes(names: Iterable[str], where: str = "passes") -> tuple[str, ...]:
    """``names`` checked and put in registry order without repeats; SceneValidationError (one
    line, naming the choices) for an unknown name or an empty choice."""
    names = list(names)
    for name in names:
        if name not in PASSES:
            raise SceneValidationError(f"{where}: unknown pass {name!r}; choose from {', '.join(PASSES)}")
    if not names:
        raise SceneValidationError(f"{where}: choose at least one pass of {', '.join(PASSES)}")
    return tuple(p for p in PASSES if p in names)


def check_scene(scene: Scene, passes: Iterable[str]) -> None:
    """Raises SceneValidationError (one line) before any work if a chosen pass cannot be computed for
    ``scene``: ``disparity`` needs the scene's cameras to be a rectified stereo pair."""
    if "disparity" in passes:
        for camera in scene.camera_names:
            stereo.rectified_baseline(scene.view(camera))


def required_outputs(passes: Iterable[str], point_tracks: bool = False) -> frozenset[str]:
    """The render outputs the passes need (their dependencies resolved): point tracks need depth and
    object index; any ground-truth output brings the object index (``metadata.json``'s 2D boxes and
    visibility come from it). Empty of ground truth: no ground-truth render at all."""
    outputs = {o for p in passes for o in PASSES[p].needs}
    if point_tracks:
        outputs |= {"depth", "object_index"}
    if outputs & GROUND_TRUTH_OUTPUTS:
        outputs.add("object_index")
    return frozenset(outputs)
