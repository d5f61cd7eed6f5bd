"""The backend interface: ``--backend`` picks a ``Backend`` from the registry, and the runner hands
it the scenes to render without knowing which it is; a new backend is one registry entry."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from render_workers import options as options_module
from render_workers.backend import Backend
from render_workers.cli import main
from render_workers.job import JobSpec
from render_workers.joblog import read_log
from render_workers.local import LocalBackend
from render_workers.options import BACKENDS, RunOptions
from render_workers.progress import Reporter
from render_workers.ray_backend import RayBackend
from render_workers.runner import EXIT_INCOMPLETE, run_job
from render_workers.worker import SceneTask
from sim.errors import OptionError


class RecordingBackend(Backend):
    """Renders nothing: records what it was given and fails every scene."""

    name = "recording"
    takes_address = True

    def __init__(self) -> None:
        self.calls: list[tuple[list[int], RunOptions]] = []

    def default_threads(self, options: RunOptions) -> int:
        return 3

    def run(self, spec: JobSpec, todo: Sequence[int], options: RunOptions, reporter: Reporter,
            task: SceneTask | None = None) -> None:
        self.calls.append((list(todo), options))
        for index in todo:
            reporter.failed(index, 1, "RecordingBackend renders nothing")


def test_the_registry_names_the_local_pool_and_ray():
    assert {name: type(b) for name, b in BACKENDS.items()} == {"local": LocalBackend, "ray": RayBackend}
    assert type(RunOptions().executor) is LocalBackend
    assert type(RunOptions(backend="ray").executor) is RayBackend
    assert RunOptions(backend="ray").worker_threads() == 1


def test_unknown_backends_and_misplaced_addresses_are_refused():
    with pytest.raises(OptionError, match=r"^--backend: got 'slurm', expected one of local, ray$"):
        RunOptions(backend="slurm")
    with pytest.raises(OptionError, match=r"^--address: only with --backend ray$"):
        RunOptions(address="auto")


def test_a_registered_backend_gets_the_missing_scenes_from_the_runner(tmp_path, monkeypatch):
    backend = RecordingBackend()
    monkeypatch.setitem(options_module.BACKENDS, backend.name, backend)
    options = RunOptions(backend="recording", address="somewhere")
    assert options.worker_threads() == 3 and options.worker_cores(0) is None  # it pins nothing
    spec = JobSpec(out=Path(tmp_path), recipe="movi-a", scenes=3)
    monkeypatch.setattr(Reporter, "message", lambda self, text: None)
    assert run_job(spec, options) == EXIT_INCOMPLETE
    assert backend.calls == [([0, 1, 2], options)]
    start = read_log(tmp_path)[0]
    assert (start["event"], start["backend"], start["threads"]) == ("run_start", "recording", 3)
    assert len([r for r in read_log(tmp_path) if r["event"] == "scene_failed"]) == 3


@pytest.mark.parametrize(("address", "message"), [
    ("127.0.0.1:1", "--address 127.0.0.1:1: no Ray cluster answers there (Connection refused); start one "
                    "with 'ray start --head' or fix the address"),
    ("head-node", "--address: got 'head-node', expected auto or HOST:PORT"),
    ("ray://head:10001", "--address ray://head:10001: Ray Client (ray://) is not supported; run scenesim on "
                         "a node of the cluster with --address HEAD_IP:6379 (or auto)"),
])
def test_a_ray_address_where_no_cluster_answers_is_one_error_before_anything_is_written(
        tmp_path, capsys, address, message):
    pytest.importorskip("ray")
    out = tmp_path / "out"
    code = main(["render", "--recipe", "movi-a", "--out", str(out), "--backend", "ray", "--address", address])
    assert code == 2
    assert capsys.readouterr().err == f"scenesim: error: {message}\n"
    assert not out.exists()
