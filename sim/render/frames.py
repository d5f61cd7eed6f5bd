"""``render``: Scene + Trajectory -> one ``RenderedFrame`` at a time; ``save_blend``: the same Blender
scenes saved to a .blend file (bpy is imported on first use)."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import imageio.v3 as iio
import numpy as np

from sim import tempdirs
from sim.console import quiet_output
from sim.errors import RenderError
from sim.frame import GROUND_TRUTH_OUTPUTS, RenderedFrame
from sim.passes import required_outputs
from sim.scene import Scene
from sim.settings import RenderSettings
from sim.trajectory import Trajectory
from sim.transforms import camera_to_world, camera_to_world_at, focal_lengths_at, intrinsics, pixel_rays

TIMING_KEYS = ("build_s", "rgb_render_s", "gt_render_s", "decode_s")
_active = False


def render(scene: Scene, trajectory: Trajectory, settings: RenderSettings, log_path: Path | None = None,
           timings: dict[str, float] | None = None) -> Iterator[RenderedFrame]:
    """Renders every frame of ``scene`` posed by ``trajectory``; yields frames 0…F−1 in order, one
    at a time (nothing is kept between frames).

    A frame holds the render outputs that ``settings.passes`` (and point tracks) need
    (``sim.passes.required_outputs``); only those are rendered and decoded. Blender is reset at
    the start, so a persistent process may call this many times, but only one
    render may be in progress per process (Blender's state is global): exhaust or ``close()`` the
    iterator first. Blender's console output goes to ``log_path`` (appended) or nowhere.
    ``timings``, if given, is filled in place with the seconds spent so far: ``build_s`` (reset and
    scene building), ``rgb_render_s`` and ``gt_render_s`` (Cycles, summed over frames, including file
    writing) and ``decode_s`` (reading the files back).

    Raises RenderError (at call time) if the trajectory does not match the scene, and (while
    iterating) if Blender fails or its output cannot be read.
    """
    _check_trajectory(scene, trajectory)
    return _frames(scene, trajectory, settings, log_path, timings if timings is not None else {})


def _frames(scene: Scene, trajectory: Trajectory, settings: RenderSettings, log_path: Path | None,
            timings: dict[str, float]) -> Iterator[RenderedFrame]:
    global _active
    if _active:
        raise RenderError("render: another render() of this process is still in progress; "
                          "exhaust or close() it first")
    _active = True
    try:
        with quiet_output(log_path):  # importing bpy prints to the console
            from sim.render import blender, build, cycles, exr

        timings.update(dict.fromkeys(TIMING_KEYS, 0.0))
        outputs = required_outputs(settings.passes, settings.point_tracks > 0)
        ground_truth = bool(outputs & GROUND_TRUTH_OUTPUTS)
        K = intrinsics(scene.camera, scene.resolution, scene.frames)
        cam_to_world = camera_to_world(scene.camera, scene.frames)
        with tempfile.TemporaryDirectory(prefix=tempdirs.prefix("render")) as tmp:
            start = time.perf_counter()
            blur = settings.rgb and scene.shutter > 0
            with quiet_output(log_path):
                blender.reset()
                stage = cycles.build_stage(scene, settings, outputs)
                if blur:
                    _keyframe(stage, scene, trajectory, blur=True)
            timings["build_s"] += time.perf_counter() - start

            for t in range(scene.frames):
                rgb_path, gt_path = Path(tmp, f"rgb_{t:05d}.png"), Path(tmp, f"gt_{t:05d}.exr")
                with quiet_output(log_path):
                    if blur:  # the keyframes pose frame t exactly; Cycles samples around it
                        stage.rgb.frame_set(t)
                        stage.gt.frame_set(t)
                    else:
                        build.set_poses(stage.objects, trajectory.positions[t], trajectory.quaternions[t])
                        build.set_camera_pose(stage.camera, cam_to_world[t], scene.camera.focal_length_at(t))
                    if "rgba" in outputs:
                        start = time.perf_counter()
                        blender.render_still(stage.rgb, rgb_path)
                        timings["rgb_render_s"] += time.perf_counter() - start
                    if ground_truth:
                        start = time.perf_counter()
                        blender.render_still(stage.gt, gt_path)
                        timings["gt_render_s"] += time.perf_counter() - start

                start = time.perf_counter()
                arrays = {}
                if "rgba" in outputs:
                    arrays["rgba"] = _read_rgba(rgb_path, scene.resolution)
                if ground_truth:
                    arrays.update(exr.decode_ground_truth(
                        gt_path, cycles.GT_LAYER, build.OBJECT_COORDINATES_AOV,
                        pixel_rays(K[t], scene.resolution)[..., 2], outputs, stage.amodal_layers))
                    gt_path.unlink()
                timings["decode_s"] += time.perf_counter() - start
                yield RenderedFrame(t, arrays)
    finally:
        _active = False


def save_blend(scene: Scene, trajectory: Trajectory, settings: RenderSettings, path: Path,
               log_path: Path | None = None) -> None:
    """Saves to ``path`` the Blender data ``render`` renders ``scene`` with: the Blender scenes
    ``rgb`` and ``gt`` (view layer ``cycles.GT_LAYER``; each set up for the outputs
    ``settings.passes`` need, ``cycles.build_stage``), which share the objects and the camera,
    every frame t = 0…F−1 keyframed (frame range 0…F−1; with a shutter, the sub-frame samples of
    ``Trajectory`` with linear interpolation, and motion blur on ``rgb``), and their Cycles and
    output settings (8-bit RGBA PNG for ``rgb``, float32 multilayer EXR for ``gt``). Setting a
    scene's frame to t and rendering it gives what ``render`` computes for frame t: a plain bpy
    script can reproduce a scene (``scenesim bench`` times bare Cycles that way), and Blender can
    open it.

    Blender is reset first, so this may not run while a ``render`` iterator is open (RenderError)."""
    global _active
    _check_trajectory(scene, trajectory)
    if _active:
        raise RenderError("save_blend: a render() of this process is in progress; exhaust or close() it")
    _active = True
    try:
        with quiet_output(log_path):
            import bpy

            from sim.render import blender, cycles

            blender.reset()
            stage = cycles.build_stage(scene, settings, required_outputs(settings.passes,
                                                                         settings.point_tracks > 0))
            _keyframe(stage, scene, trajectory, blur=settings.rgb and scene.shutter > 0)
            for b_scene in (stage.rgb, stage.gt):
                b_scene.frame_start, b_scene.frame_end = 0, scene.frames - 1
            try:
                bpy.ops.wm.save_as_mainfile(filepath=str(path), check_existing=False, copy=True)
            except RuntimeError as e:
                raise RenderError(f"save_blend: cannot write {path}: {str(e).strip()}") from None
    finally:
        _active = False


def _keyframe(stage: Any, scene: Scene, trajectory: Trajectory, blur: bool) -> None:
    """Keyframes the objects and the camera of ``stage`` (a ``cycles.Stage``): at every frame with
    constant interpolation, or, with ``blur``, at every sub-frame sample of the shutter intervals
    (``Trajectory.shutter_offsets``; the camera before frame 0 as at frame 0, like the objects)
    with linear interpolation between them, and motion blur configured."""
    from sim.render import build, cycles

    if not blur:
        times = np.arange(scene.frames, dtype=np.float64)
        positions, quaternions = trajectory.positions, trajectory.quaternions
    else:
        times = (np.arange(scene.frames)[:, None] + trajectory.shutter_offsets).ravel()
        n = len(scene.objects)
        positions = trajectory.shutter_positions.reshape(-1, n, 3)
        quaternions = trajectory.shutter_quaternions.reshape(-1, n, 4)
        cycles.configure_motion_blur(stage, scene.shutter, len(trajectory.shutter_offsets))
    camera_times = np.maximum(times, 0.0)
    build.keyframe_poses(stage.objects, stage.camera, times, positions, quaternions,
                         camera_to_world_at(scene.camera, camera_times),
                         focal_lengths_at(scene.camera, camera_times),
                         interpolation="LINEAR" if blur else "CONSTANT")


def blender_version() -> str:
    """The version string of the bpy module in use (imports bpy, quietly)."""
    with quiet_output(None):
        import bpy
    return bpy.app.version_string


def _check_trajectory(scene: Scene, trajectory: Trajectory) -> None:
    f, n = trajectory.positions.shape[:2]
    if (f, n) != (scene.frames, len(scene.objects)):
        raise RenderError(f"trajectory: {f} frames x {n} objects, but the scene has {scene.frames} "
                          f"frames x {len(scene.objects)} objects; simulate this scene to get its trajectory")


def _read_rgba(path: Path, resolution: tuple[int, int]) -> np.ndarray:
    """The 8-bit RGBA PNG Blender wrote, as uint8 (H, W, 4); the file is deleted."""
    try:
        rgba = iio.imread(path)
    except OSError as e:
        raise RenderError(f"cannot read render output {path}: {e}") from None
    path.unlink()
    width, height = resolution
    if rgba.shape != (height, width, 4):
        raise RenderError(f"render output {path}: shape {rgba.shape}, expected {(height, width, 4)}")
    return rgba
