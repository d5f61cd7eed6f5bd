"""The import rules of docs/architecture.md: checked on the source (every import statement, at any
depth) and, for what matters at run time, in a fresh interpreter."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SINK_SIDE = ("sim/sink.py", "sim/sink_process.py", "sim/annotate.py", "sim/tracks.py", "sim/metadata.py",
             "sim/io.py", "sim/passes.py", "sim/frame.py", "sim/categories.py", "sim/dataset.py",
             "sim/coco.py", "sim/preview")


def _imports(path: Path, module_level_only: bool = False) -> list[tuple[str, int]]:
    """(imported module, line) of every import in ``path`` (``from a import b`` gives ``a`` and
    ``a.b``); with ``module_level_only``, only imports run when the module is imported."""
    tree = ast.parse(path.read_text(), str(path))
    typing_only = {id(n) for block in ast.walk(tree)  # ``if TYPE_CHECKING:`` bodies never run
                   if isinstance(block, ast.If) and _type_checking(block.test)
                   for stmt in block.body for n in ast.walk(stmt)}
    nodes = [n for n in ast.walk(tree) if id(n) not in typing_only]
    if module_level_only:  # imports inside module-level if/try blocks count, inside functions not
        nodes = [n for top in tree.body
                 for n in ([top] if isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                           else ast.walk(top)) if id(n) not in typing_only]
    found = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.module, node.lineno))
            found += [(f"{node.module}.{alias.name}", node.lineno) for alias in node.names]
    return found


def _type_checking(test: ast.expr) -> bool:
    """``if TYPE_CHECKING:`` or ``if typing.TYPE_CHECKING:``."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _files(*parts: str) -> list[Path]:
    out = []
    for part in parts:
        path = ROOT / part
        out += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return out


def _violations(files: list[Path], forbidden: tuple[str, ...], module_level_only: bool = False) -> list[str]:
    bad = []
    for path in files:
        for name, line in _imports(path, module_level_only):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return sorted(set(bad))


def _all_python() -> list[Path]:
    return _files("sim", "scenes", "render_workers", "bench")


def test_bpy_only_under_sim_render_and_the_bare_cycles_baseline():
    files = [p for p in _all_python() if not p.is_relative_to(ROOT / "sim" / "render")
             and p != ROOT / "bench" / "bare_cycles.py"]
    assert _violations(files, ("bpy",)) == []


def test_pybullet_only_in_physics_and_collision_decomposition():
    allowed = {ROOT / "sim" / "physics.py", ROOT / "sim" / "library" / "collision.py"}
    files = [p for p in _all_python() if p not in allowed]
    assert _violations(files, ("pybullet", "pybullet_utils")) == []


def test_sim_never_imports_recipes_jobs_or_the_benchmark():
    assert _violations(_files("sim"), ("scenes", "render_workers", "bench")) == []


def test_the_sink_side_never_imports_the_renderer():
    assert _violations(_files(*SINK_SIDE), ("sim.render",)) == []


def test_recipes_never_import_the_renderer_jobs_or_the_benchmark():
    assert _violations(_files("scenes"), ("sim.render", "render_workers", "bench")) == []


def test_the_job_package_imports_the_benchmark_only_in_the_bench_command():
    assert _violations(_files("render_workers"), ("bench",), module_level_only=True) == []


@pytest.mark.parametrize("modules", [
    "sim.sink, sim.sink_process, sim.io, sim.annotate, sim.tracks, sim.metadata, sim.passes, sim.frame",
    "sim.dataset, sim.coco, sim.preview",
    "render_workers.cli, render_workers.runner, render_workers.local, render_workers.status",
])
def test_importing_the_driver_and_sink_side_loads_no_blender_pybullet_or_benchmark(modules):
    code = (f"import sys, {modules}\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('bpy', 'bench', 'pybullet')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_the_rules_see_imports_at_any_depth(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nif TYPE_CHECKING:\n    import pybullet\n\n"
                      "def f():\n    from bench.harness import run\n    import bpy\n")
    names = [name for name, _ in _imports(sample)]
    assert {"os", "bench.harness", "bench.harness.run", "bpy"} <= set(names) and "pybullet" not in names
    assert [name for name, _ in _imports(sample, module_level_only=True)] == ["os"]
