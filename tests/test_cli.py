"""The ``scenesim`` command line: every bad input is one ``scenesim: error:`` line and exit 2,
before anything is written; ``status`` and ``recipes`` print summaries."""

from __future__ import annotations

import importlib.util

import pytest

from render_workers import jobdir
from render_workers.cli import main
from render_workers.job import JobSpec


def _error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        code = main(argv)
        raise SystemExit(code)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("scenesim: error: "), err
    return err.strip().removeprefix("scenesim: error: ")


@pytest.mark.parametrize(("args", "message"), [
    (["--workers", "0"], "argument --workers: 0 must be positive"),
    (["--timeout", "-3"], "argument --timeout: -3 must be a positive number of seconds"),
    (["--retries", "x"], "argument --retries: 'x' is not an integer"),
    (["--backend", "slurm"], "argument --backend: invalid choice: 'slurm'"),
    (["--resolution", "12x"], "argument --resolution: resolution '12x' is not N or WxH"),
    (["--address", "auto"], "--address: only with --backend ray"),
    (["--param", "max_objects=99"], "recipe movi-a: parameter max_objects=99 is outside [1, 30]"),
    (["--param", "colour=1"], "recipe movi-a: unknown parameter 'colour'"),
    (["--frames", "100001"], "frames: got 100001, expected an integer in [1, 100000]"),
    (["--adaptive-threshold", "1.5"], "argument --adaptive-threshold: 1.5 must be in [0, 1]"),
])
def test_bad_render_arguments(tmp_path, capsys, args, message):
    out = tmp_path / "out"
    error = _error(capsys, ["render", "--recipe", "movi-a", "--out", str(out), *args])
    assert error.startswith(message), error
    assert not out.exists()  # refused before any work


def test_sampling_and_denoising_flags_reach_the_job_spec(tmp_path):
    from render_workers.cli import build_parser

    args = build_parser().parse_args(["render", "--recipe", "movi-a", "--out", str(tmp_path),
                                      "--adaptive-threshold", "0.02", "--denoise-guides", "--samples", "32"])
    settings = JobSpec.from_args(args).settings
    assert (settings.adaptive_threshold, settings.denoise_guides, settings.samples) == (0.02, True, 32)
    defaults = JobSpec.from_args(build_parser().parse_args(
        ["render", "--recipe", "movi-a", "--out", str(tmp_path)])).settings
    assert (defaults.adaptive_threshold, defaults.denoise_guides, defaults.samples) == (0.01, False, 64)


def test_unknown_recipe_and_scene_file_errors(tmp_path, capsys):
    assert _error(capsys, ["render", "--recipe", "nope", "--out", str(tmp_path / "o")]).startswith(
        "recipe: unknown recipe 'nope'")
    assert _error(capsys, ["render", "--scene", str(tmp_path / "missing.json"), "--out", str(tmp_path)]) \
        .startswith("--scene: cannot read")
    assert _error(capsys, ["render", "--recipe", str(tmp_path / "r.py") + ":build", "--out", str(tmp_path)]) \
        .startswith("recipe: file")


def test_ray_backend_without_ray_is_refused(tmp_path, capsys, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ray" else real(name, *a))
    error = _error(capsys, ["render", "--recipe", "movi-a", "--out", str(tmp_path / "o"), "--backend", "ray"])
    assert error == "--backend ray: ray is not installed; pip install 'scenesim[ray]'"


def test_a_changed_job_is_refused(tmp_path, capsys, new_job):
    new_job(scenes=2)
    error = _error(capsys, ["render", "--recipe", "movi-a", "--scenes", "3", "--out", str(tmp_path)])
    assert error.startswith(f"{tmp_path} holds a different job (scenes: 2 -> 3); continue it with")


def test_resume_and_status_need_a_job_directory(tmp_path, capsys):
    for command in ("resume", "status"):
        assert _error(capsys, [command, str(tmp_path)]) == (
            f"{tmp_path}: no job.json, not a scenesim job directory (start one with scenesim render)")


def test_status_and_recipes_print(tmp_path, capsys, new_job):
    new_job(scenes=3)
    assert main(["status", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith(f"{tmp_path}: 0/3 scenes done, 0 failed, 3 remaining")
    assert main(["recipes"]) == 0
    assert capsys.readouterr().out.startswith("movi-a: ")


def test_nothing_to_do_exits_zero(tmp_path, capsys, new_job, complete_scene):
    complete_scene(new_job(scenes=1) / "scene_00000")
    assert main(["resume", str(tmp_path)]) == 0
    assert "1 of 1 scenes complete (0 rendered" in capsys.readouterr().err


def test_usage_hints_name_the_command(capsys):
    with pytest.raises(SystemExit):
        main([])
    assert capsys.readouterr().err.endswith("(see 'scenesim --help')\n")
    with pytest.raises(SystemExit):
        main(["render", "--out", "x"])
    assert capsys.readouterr().err.endswith("(see 'scenesim render --help')\n")


def test_param_with_a_scene_file_is_refused(tmp_path, capsys):
    from sim.scene import Scene

    scene_file = tmp_path / "scene.json"
    scene_file.write_text(Scene().to_json())
    out = tmp_path / "out"
    assert _error(capsys, ["render", "--scene", str(scene_file), "--param", "n=3", "--out", str(out)]) == (
        "--param n: recipe parameters need --recipe; a scene file (--scene) is rendered as written")
    assert not out.exists()


def test_an_output_path_that_is_a_file_is_named_as_such(tmp_path, capsys):
    out = tmp_path / "data"
    out.write_text("mine")
    assert _error(capsys, ["render", "--recipe", "movi-a", "--out", str(out)]) == (
        f"--out {out}: is a file, not a directory; choose a directory path")


def test_a_non_empty_directory_that_is_no_job_is_refused_unless_asked(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert _error(capsys, ["render", "--recipe", "movi-a", "--out", str(tmp_path)]).startswith(
        f"--out {tmp_path}: not empty and not a scenesim job directory (holds notes.txt); choose a new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]  # nothing written
    jobdir.check_out(tmp_path, allow_nonempty=True)  # asked: accepted
    jobdir.check_out(tmp_path / "new")               # a new directory and an empty one are fine
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / ".DS_Store").write_text("")  # hidden entries do not count
    jobdir.check_out(tmp_path / "empty")


def test_recipes_lists_the_recipes_a_file_declares(tmp_path, capsys):
    recipe = tmp_path / "my_recipes.py"
    recipe.write_text(
        "from scenes import Param, register\n"
        "from sim.scene import Scene\n\n"
        "@register('cli-test-recipe', 'a test recipe', (Param('n', 3, 'how many', 1, 9),))\n"
        "def build(rng, *, n=3):\n    return Scene()\n")
    assert main(["recipes", str(recipe)]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[:2] == ["cli-test-recipe: a test recipe", "    n = 3 [1, 9]  how many"]
    assert not [line for line in listed if not line.startswith("    ")][1:]  # that recipe only
    plain = tmp_path / "plain.py"
    plain.write_text("def build(rng):\n    pass\n")
    assert _error(capsys, ["recipes", str(plain)]) == (
        f"recipe: {plain} declares no recipe with @register; render one of its functions with "
        f"--recipe {plain}:FUNCTION")
