"""Jobs rendered straight into WebDataset shards (``scenesim render --layout shards``).

A worker writes its scene directory as usual (``sim.io.SceneWriter``: atomic, resumable); the
driver then packs it, the moment it is reported done, into one file ``OUT/pending/<scene>.tar``
(the scene's sample of ``sim.export.webdataset``, per scene, written atomically) and deletes the
directory. Whenever ``shard_size`` scenes are pending, and at the end of every run, the pending
scenes (in name order) become one shard ``OUT/shard-NNNNNN.tar`` (temporary name, then renamed),
``OUT/index.json`` is rewritten to list it, and only then are its pending files deleted. So the job
directory holds, besides ``job.json`` and the logs, finished shards, their index, at most
``shard_size`` pending single-file scenes, and the directories of the scenes being rendered and
packed: never per-frame files of a finished scene. ``sim.shards.ShardDataset(OUT)`` reads it.

Crash safety (every step is a rename, an index rewrite or a deletion after one): at the start of a
run ``recover`` deletes temporary files, shards not in the index (a crash before the index
listed them: their scenes are still pending) and pending files of scenes the index lists (a crash
after it did), and packs complete scene directories a killed driver left behind. A scene is done
when the index lists it, it is pending, or its directory is complete (``done_scenes``). Shards hold
scenes in the order they were packed, so shard contents (not the set of samples) depend on timing.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

from sim.errors import OutputError
from sim.export.common import write_atomic
from sim.export.webdataset import (
    INDEX_FILE,
    ShardWriter,
    add_members,
    clear_shards,
    scene_samples,
    write_index,
)
from sim.io import is_complete, read_metadata

PENDING_DIR = "pending"


def read_job_index(out: Path) -> dict:
    """The job's ``index.json`` content, or an empty index when no shard is finished yet."""
    file = Path(out) / INDEX_FILE
    if not file.is_file():
        return {"shards": [], "passes": None}
    try:
        return json.loads(file.read_text())
    except json.JSONDecodeError as e:
        raise OutputError(f"{file}: not valid JSON ({e}); the job's shard index is damaged") from None


def sharded_scenes(out: Path) -> set[str]:
    """Names of the scenes in the job's finished shards."""
    return {name for shard in read_job_index(out)["shards"] for name in shard["scenes"]}


def done_scenes(out: Path) -> set[str]:
    """Names of the job's finished scenes: in a shard, pending, or a complete directory."""
    out = Path(out)
    pending = {p.stem for p in (out / PENDING_DIR).glob("scene_*.tar")}
    dirs = {p.name for p in out.glob("scene_*") if is_complete(p)}
    return sharded_scenes(out) | pending | dirs


def _sample_bytes(key: str, members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        add_members(tar, key, members)
    return buffer.getvalue()


def _read_sample(path: Path) -> tuple[str, list[tuple[str, bytes]]]:
    with tarfile.open(path) as tar:
        members = [(info.name.partition(".")[2], tar.extractfile(info).read()) for info in tar]
        return path.stem, members


class ShardPacker:
    """Packs the finished scenes of the job in ``out`` into shards of ``shard_size`` scenes (module
    docstring). ``add(scene)`` after each finished scene, ``close()`` at the end of a run."""

    def __init__(self, out: Path, shard_size: int) -> None:
        self.out, self.shard_size = Path(out), shard_size
        self.pending = self.out / PENDING_DIR
        self.pending.mkdir(exist_ok=True)

    def recover(self) -> None:
        """Cleans up after a killed run and packs the complete scene directories it left."""
        index = read_job_index(self.out)
        listed = {s["name"] for s in index["shards"]}
        for f in [*self.out.glob("*.tmp"), *self.pending.glob("*.tmp")]:
            f.unlink()
        for f in self.out.glob("shard-*.tar"):
            if f.name not in listed:
                f.unlink()
        sharded = sharded_scenes(self.out)
        for f in self.pending.glob("scene_*.tar"):
            if f.stem in sharded:
                f.unlink()
        for path in sorted(self.out.glob("scene_*")):
            if path.name in sharded:
                shutil.rmtree(path)
            elif is_complete(path):
                self.add(path.name)

    def add(self, scene: str) -> None:
        """Packs the complete scene directory ``out/scene`` into a pending file and deletes it;
        makes a shard when ``shard_size`` scenes are pending."""
        path = self.out / scene
        metadata = read_metadata(path)
        ((key, members),) = scene_samples(path, metadata, "scene")
        write_atomic(self.pending / f"{scene}.tar", _sample_bytes(key, members))
        shutil.rmtree(path)
        if len(list(self.pending.glob("scene_*.tar"))) >= self.shard_size:
            self.flush()

    def flush(self) -> None:
        """Makes one shard of every pending scene (none if nothing is pending)."""
        files = sorted(self.pending.glob("scene_*.tar"))
        if not files:
            return
        index = read_job_index(self.out)
        numbers = [int(s["name"][len("shard-"):-len(".tar")]) for s in index["shards"]]
        writer = ShardWriter(self.out, len(files), first=max(numbers, default=-1) + 1)
        passes = index["passes"]
        try:
            for f in files:
                key, members = _read_sample(f)
                if passes is None:
                    passes = json.loads(dict(members)["metadata.json"])["passes"]
                writer.add(key, members, key)
            shards = writer.close()
        except BaseException:
            writer.abort()
            raise
        write_index(self.out, index["shards"] + shards, per="scene", float_format="tiff", passes=passes,
                    source=str(self.out))
        for f in files:
            f.unlink()

    def close(self) -> None:
        """Shards whatever is pending (the end of a run)."""
        self.flush()


def clear(out: Path) -> None:
    """Deletes a shard job's shards, index and pending scenes (``--restart``)."""
    shutil.rmtree(Path(out) / PENDING_DIR, ignore_errors=True)
    clear_shards(Path(out))
