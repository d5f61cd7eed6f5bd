"""The public API of ``sim`` as the README uses it, in fresh interpreters (import order matters)."""

import subprocess
import sys

import pytest

CALL = """
import numpy as np
from sim import Scene, RenderSettings, Trajectory
from sim.errors import RenderError
scene = Scene()
empty = Trajectory(np.zeros((1, 0, 3)), np.zeros((1, 0, 4)), np.zeros((1, 0, 3)), np.zeros((1, 0, 3)), [])
try:
    render(scene, empty, RenderSettings())
except RenderError as e:
    print("RenderError", e)
"""


@pytest.mark.parametrize("imports", [
    "from sim import render",
    "from sim import run_scene\nfrom sim import render",          # sim.render imported first
    "from sim import load_scene, run_scene, render, simulate",
    "import sim.render\nfrom sim import render",
])
def test_render_from_sim_is_callable_in_any_import_order(imports):
    out = subprocess.run([sys.executable, "-c", imports + CALL], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("RenderError trajectory: 1 frames x 0 objects"), out.stdout + out.stderr
