"""What every export shares: the scenes of a source, the passes it needs, atomic outputs.

An export into a directory ``OUT`` is written as ``OUT.partial/`` and renamed to ``OUT`` when
complete (``staged_directory``), so a directory named ``OUT`` is always a whole export; an existing
``OUT`` is replaced only with ``overwrite=True`` (and only once the new export is complete).
Single files are written under a temporary name and renamed (``write_atomic``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sim.errors import OutputError
from sim.format import PARTIAL_SUFFIX
from sim.io import find_scenes, read_metadata


def write_atomic(path: Path, data: bytes) -> None:
    """Writes ``data`` to ``path`` via ``path.tmp`` and an atomic rename."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def refuse_existing(out: Path, overwrite: bool) -> None:
    """Raises OutputError if ``out`` exists and is not an empty directory, unless ``overwrite``."""
    out = Path(out)
    if out.is_file():
        raise OutputError(f"{out}: is a file, not a directory; give a directory path")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise OutputError(f"{out}: already exists and is not empty; pass --overwrite to replace it")


@contextlib.contextmanager
def staged_directory(out: Path, overwrite: bool) -> Iterator[Path]:
    """Yields ``OUT.partial`` (fresh) to write into; on success renames it to ``out`` (replacing an
    old ``out`` when ``overwrite``), on any exception deletes it and leaves ``out`` untouched."""
    out = Path(out)
    refuse_existing(out, overwrite)
    partial = out.with_name(out.name + PARTIAL_SUFFIX)
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        yield partial
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if out.exists():
        stale = out.with_name(out.name + ".replaced" + PARTIAL_SUFFIX)
        shutil.rmtree(stale, ignore_errors=True)
        os.replace(out, stale)
        os.replace(partial, out)
        shutil.rmtree(stale)
    else:
        os.replace(partial, out)


def source_scenes(root: Path, needs: Iterable[str], what: str) -> list[tuple[Path, dict[str, Any]]]:
    """(path, metadata) of every complete scene of a scene or job directory, after checking each
    has the passes in ``needs`` (one-line OutputError naming the scene, the pass and ``what``
    needs it)."""
    root = Path(root)
    if (root / "index.json").is_file() and not any(root.glob("scene_*/metadata.json")):
        raise OutputError(f"{root}: holds shards, not scene directories; read them with "
                          "sim.shards.ShardDataset")
    scenes = [(p, read_metadata(p)) for p in find_scenes(root)]
    for path, metadata in scenes:
        have = metadata.get("passes", [])
        missing = [n for n in needs if n not in have]
        if missing:
            raise OutputError(f"{path.name}: has no {missing[0]!r} pass (it has "
                              f"{', '.join(have) or 'none'}); the {what} export needs {', '.join(needs)}")
    return scenes
