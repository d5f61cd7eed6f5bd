"""Fixtures shared by the tests: an empty asset cache, job directories and stand-ins for complete
scene directories."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from render_workers import jobdir
from render_workers.job import JobSpec
from sim.io import JSON_FILES


@pytest.fixture
def empty_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty asset cache directory (``SCENESIM_CACHE_DIR``) for this test."""
    root = tmp_path_factory.mktemp("scenesim_cache")
    monkeypatch.setenv("SCENESIM_CACHE_DIR", str(root))
    return root


@pytest.fixture
def new_job(tmp_path: Path) -> Callable[..., Path]:
    """``new_job(scenes=N, out=tmp_path)``: a prepared job directory of N movi-a scenes (job.json
    written, nothing rendered)."""
    def make(scenes: int = 1, out: Path = tmp_path) -> Path:
        jobdir.prepare(JobSpec(out=out, recipe="movi-a", scenes=scenes), restart=False)
        return out
    return make


@pytest.fixture
def complete_scene() -> Callable[[Path], Path]:
    """``complete_scene(path)``: a directory that counts as a complete scene (its JSON documents,
    empty), standing in for a rendered one where only completeness matters."""
    def make(path: Path) -> Path:
        path.mkdir()
        for name in JSON_FILES:
            (path / name).write_text("{}")
        return path
    return make
