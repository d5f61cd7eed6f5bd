"""Tar shards in WebDataset conventions (``scenesim export webdataset JOB OUT``).

A shard ``OUT/shard-000000.tar`` is a plain tar of samples, each sample a run of consecutive members
that share a key (the file name up to its first dot); the rest of the name says what the member is
and, by its last extension, how to decode it. Shards are numbered from 0, each written under a
temporary name and renamed when complete (a ``shard-*.tar`` file is always whole);
``OUT/index.json`` is written last and lists the shards, their sample counts, sizes and scenes.

``per="scene"``: one sample per scene, key = the scene name (``scene_00000``), members ``json``
(``scene_info``: what a loader needs without parsing the whole metadata), ``scene.json``,
``metadata.json``, ``events.json``, ``point_tracks.npz`` (when the scene has point tracks) and
``<pass>_<t:05d>.<ext>`` per pass and frame (``scene_00000.rgba_00000.png``).

``per="frame"``: one sample per frame, key ``<scene>_<t:05d>``, members ``json`` (the frame's
camera and instances: ``frame_info``) and ``<pass>.<ext>`` (``scene_00000_00003.depth.tiff``).

Pass members carry the scene directory's own bytes (``sim.format``): ``png`` for rgba (uint8 RGBA),
segmentation (16-bit) and masks (8-bit, 0/255), ``tiff`` for float32 passes (zlib with the
floating-point predictor; ``tifffile`` reads them), so shards hold exactly the scene's data in about
its size. With ``float_format="npy"`` float passes are ``.npy`` instead (numpy's format,
uncompressed, which WebDataset's default decoders read). ``sim.shards`` streams shards back.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from sim.errors import OutputError
from sim.export.common import refuse_existing, source_scenes
from sim.format import PASSES, POINT_TRACKS_FILE
from sim.io import read_pass

SHARD_NAME = "shard-{:06d}.tar"
INDEX_FILE = "index.json"
INDEX_FORMAT = "scenesim-webdataset"
INDEX_VERSION = 1
PER = ("scene", "frame")
FLOAT_FORMATS = ("tiff", "npy")
DEFAULT_SHARD_SIZE = {"scene": 32, "frame": 768}
"""Samples per shard: 32 default movi-a scenes (~400 MB) either way."""

Member = tuple[str, bytes]


def scene_info(metadata: dict[str, Any], scene: str) -> dict[str, Any]:
    """The ``json`` member of a scene sample: ``scene``, ``frames``, ``resolution`` (W, H),
    ``passes``, ``K`` (3×3 pixels) and ``world_to_camera`` (F × 4×4, OpenCV axes)."""
    return {"scene": scene, "frames": metadata["scene"]["frames"],
            "resolution": metadata["scene"]["resolution"], "passes": metadata["passes"],
            "K": metadata["camera"]["K"], "world_to_camera": metadata["camera"]["world_to_camera"]}


def frame_info(metadata: dict[str, Any], scene: str, t: int) -> dict[str, Any]:
    """The ``json`` member of a frame sample: ``scene``, ``frame``, ``frames``, ``resolution`` (W, H),
    ``passes``, ``K`` (3×3 pixels), ``world_to_camera`` (4×4, OpenCV axes) and per instance its
    ``id`` (segmentation value), ``name``, ``category``, ``bbox_2d``, ``visibility``, ``position``
    and ``quaternion`` in frame t (units and conventions of ``metadata.json``)."""
    return {"scene": scene, "frame": t, "frames": metadata["scene"]["frames"],
            "resolution": metadata["scene"]["resolution"], "passes": metadata["passes"],
            "K": metadata["camera"]["K"], "world_to_camera": metadata["camera"]["world_to_camera"][t],
            "instances": [{"id": inst["id"], "name": inst["name"], "category": inst.get("category"),
                           "bbox_2d": inst["bbox_2d"][t], "visibility": inst["visibility"][t],
                           "position": inst["position"][t], "quaternion": inst["quaternion"][t]}
                          for inst in metadata["instances"]]}


def _pass_member(path: Path, name: str, t: int, resolution: tuple[int, int], float_format: str) -> Member:
    """(extension, bytes) of pass ``name`` of frame t: the file's own bytes, or ``.npy``."""
    spec = PASSES[name]
    if spec.ext == "tiff" and float_format == "npy":
        buffer = io.BytesIO()
        np.save(buffer, read_pass(path, name, t, resolution), allow_pickle=False)
        return "npy", buffer.getvalue()
    return spec.ext, (path / spec.filename(t)).read_bytes()


def scene_samples(path: Path, metadata: dict[str, Any], per: str,
                  float_format: str = "tiff") -> Iterator[tuple[str, list[Member]]]:
    """The samples (key, [(member suffix, bytes)]) of the scene directory ``path`` (module docstring)."""
    frames, resolution = metadata["scene"]["frames"], tuple(metadata["scene"]["resolution"])
    passes = [p for p in PASSES if p in metadata["passes"]]
    if per == "scene":
        members = [("json", json.dumps(scene_info(metadata, path.name)).encode())]
        members += [(name, (path / name).read_bytes())
                    for name in ("scene.json", "metadata.json", "events.json")]
        if (path / POINT_TRACKS_FILE).is_file():
            members.append((POINT_TRACKS_FILE, (path / POINT_TRACKS_FILE).read_bytes()))
        for name in passes:
            for t in range(frames):
                ext, data = _pass_member(path, name, t, resolution, float_format)
                members.append((f"{name}_{t:05d}.{ext}", data))
        yield path.name, members
        return
    for t in range(frames):
        members = [("json", json.dumps(frame_info(metadata, path.name, t)).encode())]
        for name in passes:
            ext, data = _pass_member(path, name, t, resolution, float_format)
            members.append((f"{name}.{ext}", data))
        yield f"{path.name}_{t:05d}", members


def add_members(tar: tarfile.TarFile, key: str, members: list[Member]) -> None:
    """Appends one sample's members to ``tar`` as ``<key>.<suffix>`` (mtime 0, mode 644)."""
    for suffix, data in members:
        info = tarfile.TarInfo(f"{key}.{suffix}")
        info.size, info.mtime, info.mode = len(data), 0, 0o644
        tar.addfile(info, io.BytesIO(data))


class ShardWriter:
    """Writes samples into numbered shards ``out/shard-NNNNNN.tar`` of ``shard_size`` samples each
    (the last may hold fewer), starting at shard number ``first``. A shard is written as
    ``….tar.tmp`` and renamed when full or on ``close()``; ``shards`` lists the finished ones
    (``{"name", "samples", "bytes", "scenes"}``). Members get mtime 0, so the same samples give the
    same bytes."""

    def __init__(self, out: Path, shard_size: int, first: int = 0) -> None:
        if shard_size < 1:
            raise OutputError(f"shard size: got {shard_size}, expected a positive number of samples")
        self.out, self.shard_size, self.next_number = Path(out), shard_size, first
        self.shards: list[dict[str, Any]] = []
        self._tar: tarfile.TarFile | None = None
        self._samples = 0
        self._scenes: list[str] = []

    def add(self, key: str, members: list[Member], scene: str) -> None:
        """Appends one sample (its members in order) of scene ``scene``."""
        if "." in key or "/" in key:
            raise OutputError(f"sample key {key!r}: must not contain '.' or '/'")
        if self._tar is None:
            self._tar = tarfile.open(self._tmp_path(), "w", format=tarfile.PAX_FORMAT)
        add_members(self._tar, key, members)
        self._samples += 1
        if not self._scenes or self._scenes[-1] != scene:
            self._scenes.append(scene)
        if self._samples == self.shard_size:
            self._finish_shard()

    def close(self) -> list[dict[str, Any]]:
        """Finishes the open shard (if any); returns ``shards``."""
        if self._tar is not None:
            self._finish_shard()
        return self.shards

    def abort(self) -> None:
        """Drops the open shard's temporary file (finished shards stay)."""
        if self._tar is not None:
            self._tar.close()
            self._tar = None
            self._tmp_path().unlink(missing_ok=True)

    def _tmp_path(self) -> Path:
        return self.out / (SHARD_NAME.format(self.next_number) + ".tmp")

    def _finish_shard(self) -> None:
        assert self._tar is not None
        self._tar.close()
        self._tar = None
        name = SHARD_NAME.format(self.next_number)
        os.replace(self._tmp_path(), self.out / name)
        self.shards.append({"name": name, "samples": self._samples, "bytes": (self.out / name).stat().st_size,
                            "scenes": self._scenes})
        self.next_number += 1
        self._samples, self._scenes = 0, []


def write_index(out: Path, shards: list[dict[str, Any]], *, per: str, float_format: str,
                passes: list[str], source: str) -> None:
    """Writes ``out/index.json`` (atomically): the shards and what their samples hold."""
    index = {"format": INDEX_FORMAT, "version": INDEX_VERSION, "per": per, "float_format": float_format,
             "passes": passes, "source": source, "samples": sum(s["samples"] for s in shards),
             "shards": shards}
    tmp = out / (INDEX_FILE + ".tmp")
    tmp.write_text(json.dumps(index, indent=1))
    os.replace(tmp, out / INDEX_FILE)


def clear_shards(out: Path) -> None:
    """Removes the files of an earlier export from ``out`` (shards, index, temporaries)."""
    for pattern in ("shard-*.tar", "shard-*.tar.tmp", INDEX_FILE, INDEX_FILE + ".tmp"):
        for f in out.glob(pattern):
            f.unlink()


def export_webdataset(root: Path, out: Path, *, per: str = "scene", shard_size: int | None = None,
                      float_format: str = "tiff", overwrite: bool = False) -> dict[str, int]:
    """Writes every complete scene of ``root`` into shards in ``out`` (module docstring); returns the
    counts of scenes, samples, shards and bytes. All scenes must have the same passes."""
    if per not in PER:
        raise OutputError(f"per: got {per!r}, expected one of {', '.join(PER)}")
    if float_format not in FLOAT_FORMATS:
        raise OutputError(f"float format: got {float_format!r}, expected one of {', '.join(FLOAT_FORMATS)}")
    scenes = source_scenes(root, (), "webdataset")
    passes = scenes[0][1]["passes"]
    for path, metadata in scenes:
        if metadata["passes"] != passes:
            raise OutputError(f"{path.name}: passes {metadata['passes']} differ from {scenes[0][0].name}'s "
                              f"{passes}; shard scenes of one job")
    out = Path(out)
    refuse_existing(out, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    clear_shards(out)
    writer = ShardWriter(out, shard_size or DEFAULT_SHARD_SIZE[per])
    try:
        for path, metadata in scenes:
            for key, members in scene_samples(path, metadata, per, float_format):
                writer.add(key, members, path.name)
        shards = writer.close()
    except BaseException:
        writer.abort()
        raise
    write_index(out, shards, per=per, float_format=float_format, passes=passes, source=str(Path(root)))
    return {"scenes": len(scenes), "samples": sum(s["samples"] for s in shards), "shards": len(shards),
            "bytes": sum(s["bytes"] for s in shards)}
