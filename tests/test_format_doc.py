"""docs/format.md is what ``render_workers.format_doc`` generates from the code, and the generator
describes every key a real ``metadata.json``, ``events.json`` and ``job.json`` has, no more."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from render_workers.format_doc import EVENT_KEYS, JOB_KEYS, METADATA_KEYS, OPTIONAL_METADATA_KEYS, generate
from render_workers.job import JobSpec
from sim.format import FORMAT_HISTORY, FORMAT_VERSION
from sim.metadata import build_events
from sim.settings import RenderSettings
from tests.synthetic_scenes import make_scene, still_trajectory, write_synthetic_scene

DOC = Path(__file__).resolve().parents[1] / "docs" / "format.md"
UNSPECIFIED = ("conventions", "render_settings", "timings", "material", "categories")
"""Dict values documented as a whole (their keys are the conventions table, RenderSettings' fields,
the pipeline's stages, the material's fields and the category ids)."""


def _paths(value: dict[str, Any], prefix: str = "") -> set[str]:
    out = set()
    for key, item in value.items():
        out.add(prefix + key)
        if key in UNSPECIFIED:
            continue
        if isinstance(item, dict):
            out |= _paths(item, f"{prefix}{key}.")
        elif isinstance(item, list) and item and all(isinstance(e, dict) for e in item):
            for entry in item:
                out |= _paths(entry, f"{prefix}{key}[].")
    return out


def test_the_committed_format_document_is_the_generated_one():
    assert DOC.read_text() == generate(), (
        "docs/format.md is stale: run python -m render_workers.format_doc --out docs/format.md")


def test_every_metadata_key_is_documented_and_every_documented_key_exists(tmp_path):
    path, _ = write_synthetic_scene(tmp_path, point_tracks=4)
    metadata = json.loads((path / "metadata.json").read_text())
    found = _paths(metadata)
    # background_objects[] entries have a subset of the instance keys, documented with them
    found = {k for k in found if not k.startswith("background_objects[].")}
    assert not found - set(METADATA_KEYS), (
        f"metadata.json keys without a description in render_workers/format_doc.py METADATA_KEYS: "
        f"{sorted(found - set(METADATA_KEYS))}")
    missing = set(METADATA_KEYS) - found - OPTIONAL_METADATA_KEYS
    assert not missing, f"described but not written: {sorted(missing)}"


def test_every_event_key_is_documented():
    from sim.trajectory import CollisionEvent

    scene = make_scene(2)
    trajectory = still_trajectory(scene)
    trajectory = type(trajectory)(trajectory.positions, trajectory.quaternions, trajectory.linear_velocities,
                                  trajectory.angular_velocities,
                                  (CollisionEvent(1, 1, 2, (0.0, 0.0, 1.0), (1.0, 0.0, 0.0), 3.0),))
    (event,) = build_events(scene, trajectory)
    assert set(event) == set(EVENT_KEYS)


def test_every_job_key_is_documented(tmp_path):
    spec = JobSpec(out=tmp_path, recipe="movi-a", settings=RenderSettings(point_tracks=2))
    assert set(spec.to_dict()) == set(JOB_KEYS)


def test_the_format_version_is_the_last_of_the_history():
    assert list(FORMAT_HISTORY)[-1] == FORMAT_VERSION
    versions = [tuple(int(part) for part in v.split(".")) for v in FORMAT_HISTORY]
    assert versions == sorted(set(versions))  # oldest first
