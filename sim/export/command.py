"""``scenesim export webdataset|kubric|flo|kitti DIR OUT``: runs an export and prints what it wrote."""

from __future__ import annotations

import argparse

from sim.errors import OutputError
from sim.export.flow import export_flo, export_kitti
from sim.export.kubric import export_kubric
from sim.export.webdataset import export_webdataset

WEBDATASET_OPTIONS = ("per", "shard_size", "float_format")


def export_command(args: argparse.Namespace) -> int:
    """Exports ``args.dir`` to ``args.out`` in ``args.format``; one summary line on stdout."""
    given = [f"--{o.replace('_', '-')}" for o in WEBDATASET_OPTIONS if getattr(args, o, None) is not None]
    if args.format != "webdataset" and given:
        raise OutputError(f"{given[0]}: only for 'scenesim export webdataset', not {args.format}")
    if args.format == "webdataset":
        counts = export_webdataset(args.dir, args.out, per=args.per or "scene", shard_size=args.shard_size,
                                   float_format=args.float_format or "tiff", overwrite=args.overwrite)
    else:
        export = {"kubric": export_kubric, "flo": export_flo, "kitti": export_kitti}[args.format]
        counts = export(args.dir, args.out, overwrite=args.overwrite)
    print(f"{args.out}: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
    return 0
