"""Two Blender scenes sharing one set of objects and one camera (imports bpy).

- ``rgb``: the image. Cycles on ``settings.device`` (the CPU by default; ``devices``) with
  ``RenderSettings`` (samples, OpenImageDenoise, adaptive sampling, bounces, threads), lights and
  the background world; written as an 8-bit RGBA PNG through the 'Standard' view transform, i.e. the
  plain sRGB transfer curve on linear colours clipped to [0, 1] (not AgX/Filmic tone mapping, so a
  colour of 0.5 in the scene and in the image agree). Fixed choices, measured (README, Performance):
  blue-noise sampling (+0.9 dB at 16 spp over tabulated Sobol on movi-a), adaptive sampling from
  ``ADAPTIVE_MIN_SAMPLES`` on, and OpenImageDenoise on the colour alone unless
  ``settings.denoise_guides``: on movi-a as good as with albedo and normal guides and their accurate
  prefilter, at less time; environment-lit scenes (movi-c) gain ~0.9 dB from the guides at ~1.13x
  the time. The fast prefilter lost quality.
- ``gt``: the ground truth, always on the CPU (so bit-identical whatever renders the image). 1
  sample, 0 bounces, no lights, no world, box filter of the minimum width (0.01 px; Cycles traces
  sample 0 through the pixel centre anyway), every object drawn with ``build.ground_truth_material``
  (an emission closure and the object-coordinate AOV), with the Cycles passes the chosen render
  outputs need (``CYCLES_PASSES``: object index always, Z for depth, normal, the AOV for object
  coordinates) written as a float32 multilayer EXR. Its cost is tracing one camera ray per pixel and
  evaluating that small material once. Not rendered at all when no ground-truth output is needed.
  For the ``amodal`` output, one more view layer per instance (``AMODAL_LAYER``) holds that object
  alone (a collection of its own; every other collection excluded) with the object index pass only:
  Cycles renders every view layer of the scene in the one render call, into the one EXR, so each
  instance's mask is exactly what rendering it alone gives, at the same pixel centres. (Blender
  5.0.1 aborts the process, "double free or corruption", when it cannot write a multilayer EXR of
  several view layers, e.g. on a full disk: with ``amodal`` such a failure ends the worker instead
  of raising RenderError; a job retries the scene as after any worker crash.)

Two scenes rather than two view layers of one scene, so each part renders and is timed separately
and each keeps its own persistent Cycles session (``use_persistent_data``): between frames only
object and camera transforms change, so neither re-syncs shaders nor rebuilds meshes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import bpy

from sim.render import devices
from sim.render.build import (
    OBJECT_COORDINATES_AOV,
    add_camera,
    add_lights,
    add_objects,
    ground_truth_material,
    make_world,
    pixel_aspect,
)
from sim.scene import Scene
from sim.settings import RenderSettings

SEED = 0
"""Cycles' sampling seed, fixed (and not animated) so renders are reproducible."""
GT_LAYER = "gt"
"""View layer of the ground-truth scene: EXR channels are named ``gt.<pass>.<channel>``."""
AMODAL_LAYER = "amodal_{:05d}"
"""View layer of instance k (1-based) for the ``amodal`` output: that object alone, object index
only (EXR channel ``amodal_0000k.Object Index.X``)."""
ADAPTIVE_MIN_SAMPLES = 4
"""Adaptive sampling's minimum samples per pixel. Cycles tests convergence every 16 samples, so in
effect every pixel gets at least 16. (0, Cycles' automatic minimum of ~16 / threshold^0.3, spent
2.2x the render time for +1.5 dB at threshold 0.035 on a movi-a scene: lowering the threshold buys
more quality per time.)"""


CYCLES_PASSES = {"depth": "use_pass_z", "normal": "use_pass_normal"}
"""View-layer flag of the Cycles pass behind a render output (object index is always on: it marks
where there is no surface; object coordinates come from the AOV ``OBJECT_COORDINATES_AOV``)."""


@dataclass
class Stage:
    """The built Blender data: ``objects[k]`` is ``scene.objects[k]``; ``amodal_layers[k-1]`` is the
    view layer of instance k (empty without the ``amodal`` output)."""

    rgb: bpy.types.Scene
    gt: bpy.types.Scene
    objects: list[bpy.types.Object]
    camera: bpy.types.Object
    amodal_layers: list[str]


def _configure_common(b_scene: bpy.types.Scene, scene: Scene, threads: int) -> None:
    render = b_scene.render
    render.engine = "CYCLES"
    b_scene.cycles.device = "CPU"
    render.resolution_x, render.resolution_y = scene.resolution
    render.resolution_percentage = 100
    render.pixel_aspect_x, render.pixel_aspect_y = pixel_aspect(scene.camera)
    render.use_persistent_data = True
    render.threads_mode = "FIXED" if threads else "AUTO"
    if threads:
        render.threads = threads
    render.use_motion_blur = False
    render.film_transparent = False
    render.use_file_extension = False
    b_scene.cycles.seed = SEED
    b_scene.cycles.use_animated_seed = False


def _configure_rgb(b_scene: bpy.types.Scene, settings: RenderSettings, device: str) -> None:
    devices.configure(b_scene, device)
    cyc = b_scene.cycles
    cyc.samples = settings.samples
    cyc.sampling_pattern = "BLUE_NOISE"
    cyc.use_adaptive_sampling = settings.adaptive_threshold > 0
    if settings.adaptive_threshold > 0:
        cyc.adaptive_threshold = settings.adaptive_threshold
        cyc.adaptive_min_samples = ADAPTIVE_MIN_SAMPLES
    cyc.use_denoising = settings.denoise
    cyc.denoiser = "OPENIMAGEDENOISE"
    cyc.denoising_input_passes = "RGB_ALBEDO_NORMAL" if settings.denoise_guides else "RGB"
    cyc.denoising_prefilter = "ACCURATE"
    cyc.denoising_use_gpu = device != "cpu"  # OIDN on the GPU that renders (not measured)
    # max_bounces is the only bounce limit: the per-kind limits (diffuse 4, glossy 4, …) are raised to it
    cyc.max_bounces = settings.max_bounces
    cyc.diffuse_bounces = cyc.glossy_bounces = cyc.transmission_bounces = settings.max_bounces
    view = b_scene.view_settings
    view.view_transform = "Standard"
    view.look = "None"
    view.exposure = 0.0
    view.gamma = 1.0
    b_scene.display_settings.display_device = "sRGB"
    b_scene.render.dither_intensity = 0.0
    image = b_scene.render.image_settings
    image.file_format = "PNG"
    image.color_mode = "RGBA"
    image.color_depth = "8"
    image.compression = 0


def _configure_gt(b_scene: bpy.types.Scene, outputs: frozenset[str]) -> None:
    """Ground-truth settings; Cycles passes for the render outputs in ``outputs`` only."""
    cyc = b_scene.cycles
    cyc.samples = 1
    cyc.use_adaptive_sampling = False
    cyc.use_denoising = False
    cyc.max_bounces = 0
    cyc.pixel_filter_type = "BOX"
    cyc.filter_width = 0.01
    b_scene.world = None
    layer = b_scene.view_layers[0]
    layer.name = GT_LAYER
    layer.material_override = ground_truth_material()
    layer.use_pass_combined = False  # the colour of the emission material: nobody reads it
    layer.use_pass_object_index = True
    for output, flag in CYCLES_PASSES.items():
        setattr(layer, flag, output in outputs)
    if "object_coordinates" in outputs:
        aov = layer.aovs.add()
        aov.name = OBJECT_COORDINATES_AOV
        aov.type = "COLOR"
    image = b_scene.render.image_settings
    image.media_type = "MULTI_LAYER_IMAGE"  # must precede file_format in Blender 5
    image.file_format = "OPEN_EXR_MULTILAYER"
    image.color_depth = "32"
    image.exr_codec = "NONE"


MAX_MOTION_STEPS = 5
"""Most Cycles motion steps per object: 2^steps + 1 = 33 transforms over the shutter interval."""


def configure_motion_blur(stage: Stage, shutter: float, samples: int) -> None:
    """Motion blur on the RGB scene only: a box shutter open ``shutter`` of the frame interval,
    centred on the frame time, and per object and camera the fewest Cycles motion steps giving at
    least ``samples`` transforms over it (Cycles takes 2^steps + 1, evenly spaced; at most
    ``MAX_MOTION_STEPS``), interpolated from the keyframed sub-frame poses; rigid motion only (no
    deformation motion). The ground-truth scene stays unblurred."""
    render = stage.rgb.render
    render.use_motion_blur = True
    render.motion_blur_shutter = shutter
    render.motion_blur_position = "CENTER"
    steps = min(max(1, math.ceil(math.log2(max(samples - 1, 2)))), MAX_MOTION_STEPS)
    for b_obj in (*stage.objects, stage.camera):
        b_obj.cycles.use_motion_blur = True
        b_obj.cycles.motion_steps = steps
        b_obj.cycles.use_deform_motion = False


def _add_amodal_layers(b_scene: bpy.types.Scene, instances: list[bpy.types.Object],
                       camera: bpy.types.Collection) -> list[str]:
    """One view layer per instance holding that object alone (object index pass only): every
    collection but its own and the ``camera`` one excluded; the main layer excludes theirs. Returns
    the layer names, in instance order."""
    names, collections = [], []
    for k, b_obj in enumerate(instances, start=1):
        collection = bpy.data.collections.new(AMODAL_LAYER.format(k))
        collection.objects.link(b_obj)
        b_scene.collection.children.link(collection)
        collections.append(collection)
    main = b_scene.view_layers[GT_LAYER]
    for collection in collections:
        main.layer_collection.children[collection.name].exclude = True
    for collection in collections:
        layer = b_scene.view_layers.new(collection.name)
        layer.material_override = main.material_override
        layer.use_pass_combined = layer.use_pass_z = False
        layer.use_pass_object_index = True
        for child in layer.layer_collection.children:
            child.exclude = child.name not in (collection.name, camera.name)
        names.append(layer.name)
    return names


def build_stage(scene: Scene, settings: RenderSettings, outputs: frozenset[str]) -> Stage:
    """Builds both Blender scenes in an empty Blender (see ``blender.reset``) for the render outputs
    ``outputs`` (``sim.passes.required_outputs``): lights and the world only with ``rgba``, the
    ground-truth scene's passes as ``_configure_gt`` says. The RGB scene renders on
    ``settings.device`` (resolved here if ``auto``; ``RenderError`` if Cycles does not see it), the
    ground truth always on the CPU."""
    device = devices.resolve(settings.device)
    rgb = bpy.data.scenes[0]
    rgb.name = "rgb"
    gt = bpy.data.scenes.new("gt")
    shared = bpy.data.collections.new("objects")
    rgb.collection.children.link(shared)
    gt.collection.children.link(shared)
    objects = add_objects(scene.objects, shared)
    cameras = bpy.data.collections.new("camera")
    rgb.collection.children.link(cameras)
    gt.collection.children.link(cameras)
    camera = add_camera(scene.camera, scene.resolution, cameras)
    for b_scene in (rgb, gt):
        b_scene.camera = camera
        _configure_common(b_scene, scene, settings.threads)
    _configure_gt(gt, outputs)
    if scene.camera.fy_over_fx != 1.0:
        # Blender 5.0.1 fails to write a multi-part EXR of non-square pixels ("conflicting attributes
        # ... pixelAspectRatio"); one interleaved part holds the same channels.
        gt.render.image_settings.use_exr_interleave = True
    instances = [b for b, o in zip(objects, scene.objects, strict=True) if not o.background]
    amodal = _add_amodal_layers(gt, instances, cameras) if "amodal" in outputs else []
    if "rgba" in outputs:
        _configure_rgb(rgb, settings, device)
        lights = bpy.data.collections.new("lights")
        rgb.collection.children.link(lights)
        add_lights(scene.lights, lights)
        rgb.world = make_world(scene.background)
    return Stage(rgb=rgb, gt=gt, objects=objects, camera=camera, amodal_layers=amodal)
