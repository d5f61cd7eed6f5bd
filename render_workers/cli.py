"""The ``scenesim`` command line. Bad arguments or inputs: one ``scenesim: error: …`` line, exit 2."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from sim.errors import SceneSimError, SceneValidationError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"scenesim: error: {message} (see 'scenesim {self.prog.split()[-1]} --help')\n")


def _resolution(text: str) -> tuple[int, int]:
    """``256`` (square) or ``320x240`` (width x height)."""
    parts = text.lower().split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"resolution {text!r} is not N or WxH") from None
    if len(values) not in (1, 2) or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"resolution {text!r} must be positive: N or WxH")
    return (values[0], values[-1])


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} must be positive")
    return value


def _param(text: str) -> tuple[str, Any]:
    """``name=value`` with value parsed as JSON when it can be (``3``, ``0.5``, ``true``), else text."""
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"parameter {text!r} is not name=value")
    try:
        return name, json.loads(raw)
    except json.JSONDecodeError:
        return name, raw


def _add_render_args(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--recipe", help="registered recipe name (see 'scenesim recipes') or file.py:function")
    src.add_argument("--scene", type=Path, help="a scene JSON file (as written to scene.json)")
    p.add_argument("--out", type=Path, required=True, help="output (job) directory")
    p.add_argument("--param", type=_param, action="append", default=[], metavar="NAME=VALUE",
                   help="recipe parameter, repeatable")
    p.add_argument("--seed", type=int, default=0, help="job seed; scene k uses a seed derived from it")
    p.add_argument("--scenes", type=_positive, default=1, help="number of scenes (recipe only)")
    p.add_argument("--resolution", type=_resolution, help="N or WxH pixels (default: the scene's, 256)")
    p.add_argument("--frames", type=_positive, help="frames per scene (default: the scene's, 24)")
    p.add_argument("--samples", type=_positive, help="Cycles samples per pixel for RGB (default 64)")
    p.add_argument("--no-denoise", action="store_true", help="turn OpenImageDenoise off")
    p.add_argument("--gt-only", action="store_true", help="skip RGB: ground truth only")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="scenesim", description="Simulate and render labelled 3D scenes.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_render_args(sub.add_parser("render", help="render scenes from a recipe or a scene file"))
    sub.add_parser("recipes", help="list recipes and their parameters")
    return parser


def _cmd_recipes(_: argparse.Namespace) -> int:
    from scenes import recipes

    for name, recipe in recipes().items():
        print(f"{name}: {recipe.description}")
        for p in recipe.params:
            bounds = f" [{p.lo}, {p.hi}]" if p.lo is not None or p.hi is not None else ""
            print(f"    {p.name} = {p.default!r}{bounds}  {p.help}")
    return 0


def _cmd_render(args: argparse.Namespace) -> int:
    from render_workers.job import JobSpec, run_job

    if args.scene is not None and args.scenes != 1:
        raise SceneValidationError("--scenes: a scene file renders one scene; use --recipe for many")
    spec = JobSpec.from_args(args)
    return run_job(spec)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = {"render": _cmd_render, "recipes": _cmd_recipes}[args.command]
    try:
        return handler(args)
    except SceneSimError as e:
        print(f"scenesim: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("scenesim: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
