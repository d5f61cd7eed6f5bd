"""The Cycles devices this machine has, and which one renders (imports bpy when asked).

``resolve(device)`` turns a ``RenderSettings.device`` into the device that renders: ``auto`` is the
first kind of GPU in ``GPU_PREFERENCE`` that Cycles sees, else ``cpu``; a named kind must be seen
by Cycles, else ``RenderError`` naming what it does see. ``probe(device)`` answers the same in a
short-lived Python process (``main``), so a job driver checks the device
before any scene renders without loading Blender itself (and a driver crash in Cycles' device query,
which Blender warns can happen, ends the probe, not the job). ``configure`` sets a Blender scene to
render on the device.

Guarantees: only the RGB image renders on the chosen device. Ground truth is always traced on the
CPU (one sample per pixel: a few per cent of a default frame's time), so every label is
bit-identical whatever renders the image. The RGB image of a GPU is not bit-identical to the CPU's
(Cycles' kernels and denoiser differ in floating-point detail), nor across GPU models or drivers;
which is why a job records the device it renders on and keeps it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sim.console import quiet_output
from sim.errors import RenderError

GPU_PREFERENCE = ("optix", "cuda", "hip", "metal", "oneapi")
"""The kinds of GPU ``auto`` takes, best first (OptiX before CUDA on the same NVIDIA card)."""
_CYCLES_NAME = {"cpu": "CPU", "cuda": "CUDA", "optix": "OPTIX", "hip": "HIP", "metal": "METAL",
                "oneapi": "ONEAPI"}
LABELS = {"cpu": "CPU", "cuda": "CUDA", "optix": "OptiX", "hip": "HIP", "metal": "Metal", "oneapi": "oneAPI"}
"""How messages name each device kind."""
_PROBE = "from sim.render.devices import main; main()"
_PROBE_MARK = "scenesim-devices: "
PROBE_TIMEOUT_S = 300.0
_seen: dict[str, list[str]] | None = None


def visible() -> dict[str, list[str]]:
    """Kind (``cpu``, ``cuda``, …) -> names of the devices of that kind Cycles sees here; kinds with
    none are left out (``cpu`` is always there). Asked once per process."""
    global _seen
    if _seen is None:
        with quiet_output(None):  # Cycles prints a warning per missing GPU library
            import bpy

            prefs = bpy.context.preferences.addons["cycles"].preferences
            seen: dict[str, list[str]] = {}
            for kind, name in _CYCLES_NAME.items():
                try:
                    entries = prefs.get_devices_for_type(name)
                except (ValueError, TypeError, RuntimeError):  # a kind this build does not know
                    continue
                names = [str(entry.name) for entry in entries if entry.type == name]
                if names:
                    seen[kind] = names
        _seen = seen
    return _seen


def describe(seen: dict[str, list[str]]) -> str:
    """``CPU (AMD EPYC), CUDA (NVIDIA A100, NVIDIA A100)``."""
    return ", ".join(f"{LABELS[kind]} ({', '.join(names)})" for kind, names in seen.items())


def resolve(device: str) -> str:
    """The device that renders for ``device`` (a ``sim.settings.DEVICES`` value) on this machine:
    never ``auto``. ``RenderError`` when Cycles sees no device of the kind asked for."""
    if device == "cpu":
        return device
    seen = visible()
    if device == "auto":
        return next((kind for kind in GPU_PREFERENCE if kind in seen), "cpu")
    if device not in seen:
        raise RenderError(f"device {device!r}: Cycles sees no {LABELS[device]} device "
                          f"on this machine, only {describe(seen)}; use --device cpu or auto")
    return device


def configure(b_scene: Any, device: str) -> None:
    """Makes Blender scene ``b_scene`` render on ``device`` (a ``resolve`` result): every device of
    that kind, without the CPU beside them (no mixed CPU+GPU rendering)."""
    if device == "cpu":
        b_scene.cycles.device = "CPU"
        return
    import bpy

    kind = _CYCLES_NAME[device]
    prefs = bpy.context.preferences.addons["cycles"].preferences
    prefs.compute_device_type = kind
    for entry in prefs.get_devices_for_type(kind):
        entry.use = entry.type == kind
    b_scene.cycles.device = "GPU"


def probe(device: str) -> str:
    """``resolve(device)`` in a separate Python process (this one never imports bpy); the same
    ``RenderError`` when the device is missing, or when the probe itself fails."""
    if device == "cpu":
        return device
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (root, os.environ.get("PYTHONPATH"))))}
    try:
        run = subprocess.run([sys.executable, "-c", _PROBE, device], capture_output=True,
                             text=True, env=env, timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise RenderError(f"device {device!r}: Cycles' device query did not answer in "
                          f"{PROBE_TIMEOUT_S:g} s (a GPU driver problem?); use --device cpu") from None
    answers = [line[len(_PROBE_MARK):] for line in run.stdout.splitlines() if line.startswith(_PROBE_MARK)]
    if run.returncode != 0 or not answers:
        raise RenderError(f"device {device!r}: Cycles' device query failed (exit status {run.returncode}; "
                          "a GPU driver problem?); use --device cpu")
    answer = json.loads(answers[-1])
    if "error" in answer:
        raise RenderError(answer["error"])
    return str(answer["device"])


def main() -> None:
    """The probe process (``python -c "from sim.render.devices import main; main()" DEVICE``):
    prints ``scenesim-devices: {"device": …, "seen": …}`` or ``scenesim-devices: {"error": …}``."""
    try:
        answer: dict[str, Any] = {"device": resolve(sys.argv[1]), "seen": visible()}
    except RenderError as e:
        answer = {"error": str(e)}
    print(_PROBE_MARK + json.dumps(answer), flush=True)

