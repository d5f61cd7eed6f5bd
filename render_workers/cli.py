"""The ``scenesim`` command line. Bad arguments or inputs: one ``scenesim: error: …`` line, exit 2."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from render_workers.options import BACKENDS, RunOptions
from sim.errors import OptionError, OutputError, SceneSimError, SceneValidationError
from sim.settings import DEVICES


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"scenesim: error: {message} (see '{self.prog} --help')\n")


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


def _int_at_least(minimum: int, meaning: str) -> Callable[[str], int]:
    """An argparse type: an integer >= ``minimum``; ``meaning`` words the bound in the error."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} must be {meaning}")
        return value
    return parse


_positive = _int_at_least(1, "positive")
_count = _int_at_least(0, ">= 0")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be a positive number of seconds")
    return value


def _threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text} must be in [0, 1]")
    return value


def _pass_list(text: str) -> tuple[str, ...]:
    """``a,b,c``: pass names of the registry (``sim.passes.PASSES``), checked."""
    from sim.passes import resolve_passes

    try:
        return resolve_passes([p.strip() for p in text.split(",") if p.strip()], "--passes")
    except SceneValidationError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("--passes: ")) from None


def _category_list(text: str) -> tuple[str, ...]:
    """``a,b``: category names to append to the default category table."""
    from sim.scene import CATEGORY_PATTERN

    names = tuple(n.strip() for n in text.split(",") if n.strip())
    bad = [n for n in names if not CATEGORY_PATTERN.fullmatch(n)]
    if not names or bad:
        raise argparse.ArgumentTypeError(f"{(bad or [text])[0]!r} is not a category name (lowercase "
                                         "letters, digits, '_', '-')")
    return names


def _param(text: str) -> tuple[str, Any]:
    """``name=value`` with value parsed as JSON when it can be (``3``, ``0.5``, ``true``), else text."""
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"parameter {text!r} is not name=value")
    try:
        return name, json.loads(raw)
    except json.JSONDecodeError:
        return name, raw


def _add_render_args(p: argparse.ArgumentParser) -> argparse._MutuallyExclusiveGroup:
    """What to render (the job spec, ``JobSpec.from_args``); returns the required group of the
    scene source (--recipe | --scene) for a command to add its own alternative to."""
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--recipe", help="registered recipe name (see 'scenesim recipes') or file.py:function")
    src.add_argument("--scene", type=Path, help="a scene JSON file (as written to scene.json)")
    p.add_argument("--param", type=_param, action="append", default=[], metavar="NAME=VALUE",
                   help="recipe parameter, repeatable")
    p.add_argument("--seed", type=int, default=0, help="job seed; scene k uses a seed derived from it")
    p.add_argument("--scenes", type=_positive, default=1, help="number of scenes (recipe only)")
    p.add_argument("--resolution", type=_resolution, help="N or WxH pixels (default: the scene's, 256)")
    p.add_argument("--frames", type=_positive, help="frames per scene (default: the scene's, 24)")
    p.add_argument("--samples", type=_positive, help="most Cycles samples per pixel for RGB (default 64; "
                   "adaptive sampling stops earlier where a pixel has converged)")
    p.add_argument("--adaptive-threshold", type=_threshold, metavar="T",
                   help="adaptive sampling's noise threshold, lower = more samples (default 0.01; "
                        "0 = every pixel gets --samples)")
    p.add_argument("--no-denoise", action="store_true", help="turn OpenImageDenoise off")
    p.add_argument("--denoise-guides", action="store_true",
                   help="denoise with albedo and normal guides: better on environment-lit scenes "
                        "(movi-c..e; slower: README, Performance)")
    p.add_argument("--passes", type=_pass_list, metavar="A,B,...",
                   help="passes to write (default: rgba, segmentation, depth, normal, object_coordinates, "
                        "both flows and their masks; also z_depth, semantic); Cycles renders only what "
                        "they need")
    p.add_argument("--gt-only", action="store_true", help="skip RGB: the passes (default or --passes) "
                   "without rgba")
    p.add_argument("--categories", type=_category_list, metavar="A,B,...",
                   help="categories of your recipe's objects to add to the category table (semantic ids "
                        "after the catalogue's)")
    p.add_argument("--point-tracks", type=_count, metavar="N",
                   help="also write N long-range point tracks per scene (point_tracks.npz; default 0)")
    p.add_argument("--layout", choices=["directories", "shards"], default="directories",
                   help="a directory per scene, or WebDataset shards of --shard-size scenes (each scene "
                        "packed into one file when done, no per-frame files left)")
    p.add_argument("--shard-size", type=_positive, metavar="N", help="scenes per shard with --layout shards "
                   "(default 32)")
    p.add_argument("--device", choices=DEVICES, help="what renders the RGB image: cpu (default: the "
                   "same pixels on any machine), auto (a GPU if Cycles sees one, else cpu) or a GPU kind; "
                   "ground truth is always traced on the CPU")
    return src


def _add_run_args(p: argparse.ArgumentParser) -> None:
    """How to run (may change on resume without changing any output)."""
    g = p.add_argument_group("running")
    g.add_argument("--workers", type=_positive, help="worker processes (local, default 1); most Ray tasks "
                   "in flight (ray, default: as many as the cluster's CPUs fit)")
    g.add_argument("--threads", type=_positive, help="Cycles threads per worker (default: cores // workers; "
                   "1 per Ray task)")
    g.add_argument("--retries", type=_count, default=2, help="attempts after the first for a failing scene")
    g.add_argument("--timeout", type=_seconds, help="seconds one scene may take before its worker is "
                   "killed and the scene retried (default: no limit)")
    g.add_argument("--recycle-after", type=_positive, default=200, metavar="N",
                   help="replace a worker by a fresh process after N scenes")
    g.add_argument("--max-memory", type=_count, default=4096, metavar="MIB",
                   help="replace a local worker whose resident memory passes MIB after a scene (0: never)")
    g.add_argument("--backend", choices=BACKENDS, default="local", help="where scenes render")
    g.add_argument("--address", help="Ray cluster address (auto, or HOST:PORT of the head node); "
                   "default: start a local Ray instance")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="scenesim", description="Simulate and render labelled 3D scenes.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    render = sub.add_parser("render", help="render scenes from a recipe or a scene file "
                            "(re-running the same command resumes)")
    _add_render_args(render)
    render.add_argument("--out", type=Path, required=True, help="output (job) directory")
    render.add_argument("--restart", action="store_true",
                        help="OUT holds another job: delete its scenes and log, start this one")
    render.add_argument("--allow-nonempty", action="store_true",
                        help="OUT is a non-empty directory that is not a job directory: write the job into "
                             "it anyway, beside its files (refused otherwise)")
    _add_run_args(render)
    resume = sub.add_parser("resume", help="render what is missing of the job in DIR")
    resume.add_argument("dir", type=Path, metavar="DIR", help="a job directory (holding job.json)")
    _add_run_args(resume)
    status = sub.add_parser("status", help="summarise the job in DIR")
    status.add_argument("dir", type=Path, metavar="DIR", help="a job directory (holding job.json)")
    recipes = sub.add_parser("recipes", help="list recipes and their parameters")
    recipes.add_argument("files", type=Path, nargs="*", metavar="FILE.py",
                         help="list the recipes a file declares with @register (default: the built-in ones)")
    preview = sub.add_parser("preview", help="animated GIF + contact sheet (RGB, segmentation, depth, flow)")
    preview.add_argument("dir", type=Path, metavar="DIR", help="a scene or job directory")
    preview.add_argument("--out", type=Path, help="GIF or .mp4 path (default DIR/preview.gif); the sheet "
                         "goes beside it as <name>_sheet.png")
    preview.add_argument("--scenes", type=_positive, default=4, help="rows: the first N scenes of a job")
    export = sub.add_parser("export", help="export annotations of a scene or job directory")
    export.add_argument("format", choices=["coco", "webdataset", "kubric", "flo", "kitti"],
                        help="coco: instance masks (RLE), boxes, categories; webdataset: tar shards; "
                             "kubric: Kubric's MOVi layout; flo: Sintel layout with .flo flow; kitti: "
                             "KITTI flow PNGs")
    export.add_argument("dir", type=Path, metavar="DIR", help="a scene or job directory")
    export.add_argument("out", type=Path, metavar="OUT", help="output file (coco: OUT.json) or directory")
    export.add_argument("--overwrite", action="store_true",
                        help="replace an existing OUT (directory exports)")
    export.add_argument("--per", choices=["scene", "frame"], help="webdataset: one sample per scene "
                        "(default) or per frame")
    export.add_argument("--shard-size", type=_positive, metavar="N", help="webdataset: samples per shard "
                        "(default 32 scenes or 768 frames)")
    export.add_argument("--float-format", choices=["tiff", "npy"], help="webdataset: float passes as the "
                        "scene's compressed TIFF (default) or as .npy")
    export.add_argument("--amodal", action="store_true",
                        help="coco: add amodal masks, boxes and visible fractions (scenes with the amodal "
                             "pass)")
    bench = sub.add_parser("bench", help="measure stage times, overhead over bare Cycles, quality per time, "
                           "ground-truth speed and worker scaling (README, Performance)")
    bench.add_argument("--quick", action="store_true", help="a smaller scene and fewer runs (a few minutes)")
    bench.add_argument("--json", type=Path, metavar="FILE", help="also write the figures to FILE as JSON")
    bench.add_argument("--passes-only", action="store_true",
                       help="only the ground-truth passes section: label-only and every pass against bare "
                            "Cycles, the amodal pass's cost")
    _add_estimate_parser(sub)
    _add_stats_parser(sub)
    return parser


def _cmd_recipes(args: argparse.Namespace) -> int:
    from scenes import file_recipes, recipes

    listed = recipes() if not args.files else {
        name: recipe for path in args.files for name, recipe in file_recipes(path).items()}
    for name, recipe in listed.items():
        print(f"{name}: {recipe.description}")
        for p in recipe.params:
            bounds = f" [{p.lo}, {p.hi}]" if p.lo is not None or p.hi is not None else ""
            print(f"    {p.name} = {p.default!r}{bounds}  {p.help}")
    return 0


def _options(args: argparse.Namespace) -> RunOptions:
    return RunOptions(backend=args.backend, workers=args.workers, threads=args.threads or 0,
                      retries=args.retries, timeout_s=args.timeout, recycle_after=args.recycle_after,
                      max_memory_mb=args.max_memory, address=args.address)


def _cmd_render(args: argparse.Namespace) -> int:
    from render_workers.job import JobSpec
    from render_workers.runner import run_job

    options = _options(args)
    if args.scene is not None and args.scenes != 1:
        raise OptionError("--scenes: a scene file renders one scene; use --recipe for many")
    if args.scene is not None and args.param:
        raise OptionError(f"--param {args.param[0][0]}: recipe parameters need --recipe; a scene file "
                          "(--scene) is rendered as written")
    return run_job(JobSpec.from_args(args), options, restart=args.restart,
                   allow_nonempty=args.allow_nonempty)


def _cmd_resume(args: argparse.Namespace) -> int:
    from render_workers.jobdir import load_job
    from render_workers.runner import run_job

    options = _options(args)
    return run_job(load_job(args.dir), options)


def _cmd_status(args: argparse.Namespace) -> int:
    from render_workers.status import format_status, job_status

    print(format_status(job_status(args.dir)))
    return 0


def _cmd_preview(args: argparse.Namespace) -> int:
    from sim.preview import preview_command

    return preview_command(args)


def _cmd_export(args: argparse.Namespace) -> int:
    if args.format == "coco":
        from sim.coco import export_command

        return export_command(args)
    if args.amodal:
        raise OutputError(f"--amodal: only 'export coco' writes amodal masks, not {args.format!r}")
    from sim.export.command import export_command

    return export_command(args)


def _cmd_bench(args: argparse.Namespace) -> int:
    from bench.harness import FULL, QUICK, run_benchmark, run_passes_benchmark

    (run_passes_benchmark if args.passes_only else run_benchmark)(QUICK if args.quick else FULL, args.json)
    return 0


def _write_output(path: Path, text: str, flag: str) -> None:
    try:
        path.write_text(text)
    except OSError as e:
        raise OutputError(f"{flag} {path}: cannot be written ({e.strerror})") from None


def _add_estimate_parser(sub: argparse._SubParsersAction) -> None:
    est = sub.add_parser("estimate", help="predict wall time, core-hours, disk bytes and files of a job from "
                         "a few sample scenes (or a finished job's log)")
    first = len(est._actions)
    source = _add_render_args(est)
    spec_defaults = {a.dest: a.default for a in est._actions[first:] if a.dest not in ("recipe", "scene")}
    source.add_argument("--from", dest="from_job", type=Path, metavar="JOB",
                        help="measure the rendered scenes in the log of the job in JOB (its settings) "
                             "instead of rendering samples")
    est.set_defaults(scenes=None, spec_defaults=spec_defaults)
    est.add_argument("--sample-scenes", type=_positive, default=3, metavar="K",
                     help="sample scenes to render (the job's first K, in a temporary directory; default 3)")
    target = est.add_mutually_exclusive_group()
    target.add_argument("--workers", type=_positive, help="local worker processes of the job (this machine)")
    target.add_argument("--cores", type=_positive, help="predict for C cores (another machine or a cluster)")
    est.add_argument("--threads", type=_positive, help="Cycles threads per worker (default as for render)")
    est.add_argument("--json", type=Path, metavar="FILE", help="also write the estimate to FILE as JSON")


def _cmd_estimate(args: argparse.Namespace) -> int:
    from render_workers.estimate import estimate_command, format_estimate
    from render_workers.job import JobSpec

    spec = None
    if args.from_job is not None:
        given = [d for d, default in args.spec_defaults.items()
                 if d != "scenes" and getattr(args, d) != default]
        if given:
            raise OptionError(f"--{given[0].replace('_', '-')}: --from JOB estimates with that "
                              "job's settings; drop it")
    elif args.scenes is None:
        raise OptionError("--scenes: give the number of scenes of the job to estimate")
    else:
        one = args.scene is not None  # a scene file is a one-scene job: measure it, predict N copies
        spec = JobSpec.from_args(argparse.Namespace(**{**vars(args), "out": Path("estimate"),
                                                       "scenes": 1 if one else args.scenes}))
    estimate = estimate_command(spec, args.from_job, args.scenes, args.sample_scenes, args.workers,
                                args.threads, args.cores)
    print(format_estimate(estimate))
    if args.json is not None:
        _write_output(args.json, json.dumps(estimate.to_dict(), indent=2), "--json")
    return 0


def _add_stats_parser(sub: argparse._SubParsersAction) -> None:
    stats = sub.add_parser("stats", help="the distributions of a job's data (objects, categories, "
                           "visibility, sizes, flow, depth, collisions, camera motion, failures): text, "
                           "PNG plots, JSON")
    stats.add_argument("dir", type=Path, metavar="JOB", help="a job directory (or a directory of scenes, "
                       "or a scene); a running job's complete scenes are read")
    stats.add_argument("--out", type=Path, help="directory for summary.txt, the plots and the per-scene "
                       "cache (default JOB/stats, or SCENE_stats beside a scene directory)")
    stats.add_argument("--json", type=Path, metavar="FILE", help="also write the figures to FILE as JSON")
    stats.add_argument("--no-plots", action="store_true", help="text and JSON only (no matplotlib needed)")


def _cmd_stats(args: argparse.Namespace) -> int:
    from render_workers.job import JOB_FILE
    from render_workers.status import job_status
    from sim.io import is_complete
    from sim.stats_plots import pyplot, write_plots
    from sim.stats_summary import format_summary, job_stats

    if not args.no_plots:
        pyplot()  # matplotlib missing: say so before any work
    directory = args.dir
    out = args.out or (directory.parent / f"{directory.name}_stats" if is_complete(directory)
                       else directory / "stats")
    job = None
    if (directory / JOB_FILE).is_file():
        status = job_status(directory)
        job = {"total": status.total, "failed": status.failed, "remaining": status.remaining,
               "running": status.running_pid is not None}
    summary, computed = job_stats(directory, out, job)
    text = format_summary(summary)
    _write_output(out / "summary.txt", text + "\n", "--out")
    print(text)
    if not args.no_plots:
        paths = write_plots(summary, out)
        print(f"plots: {len(paths)} PNG files in {out} (overview.png has every panel)")
    print(f"{computed} scenes read, {summary['scenes']['complete'] - computed} from the cache "
          f"({out / 'scene_stats.jsonl'})")
    if args.json is not None:
        _write_output(args.json, json.dumps(summary, indent=2), "--json")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = {"render": _cmd_render, "resume": _cmd_resume, "status": _cmd_status,
               "recipes": _cmd_recipes, "preview": _cmd_preview, "export": _cmd_export,
               "bench": _cmd_bench, "estimate": _cmd_estimate,
               "stats": _cmd_stats}[args.command]
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
