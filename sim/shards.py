"""Streaming reader of the WebDataset shards that ``scenesim export webdataset`` writes.

``ShardDataset(root, passes)`` iterates the samples of the shards listed in ``root/index.json``,
decoding only the requested passes: the tar headers are read, the data of other members and of
other consumers' samples is skipped by seeking. Samples are numpy dicts:

- per frame: ``key`` str, ``scene`` str, ``frame`` int, ``K`` float32 (3, 3) pixels,
  ``world_to_camera`` float32 (4, 4) (OpenCV axes), and each pass (H, W[, C]) with its
  ``sim.format.PASSES`` dtype (rgba uint8, segmentation uint16, float passes float32, masks bool);
- per scene: ``key``, ``scene``, ``frames`` int64 (F,), ``K``, ``world_to_camera`` (F, 4, 4) and each
  pass (F, H, W[, C]), as ``sim.dataset.SceneDataset``'s clip mode.

**Splitting.** The consumers are the (rank, DataLoader worker) pairs: ``rank``/``world_size`` as
given, else from ``torch.distributed`` when it is initialised, else 0/1; workers from
``torch.utils.data.get_worker_info()``. The shards are read in one order (the same for every
consumer: sorted, or permuted by ``seed`` and the epoch when shuffling) and sample i of that
sequence goes to worker w of rank r when ``i mod (world_size · workers) = w · world_size + r``: every
sample is read once per epoch, consumers' counts differ by at most one whatever the number of
shards, and rank r's samples (those with ``i mod world_size = r``) do not depend on its number of
workers.

**Shuffling.** ``shuffle=N`` (> 0) permutes the shard order per epoch and passes each consumer's
samples through a buffer of N (undecoded) samples, yielding a random one as each new one arrives;
``set_epoch(e)`` before each epoch varies both. ``shuffle=0`` keeps the written order.

``TorchShardDataset`` is the ``torch.utils.data.IterableDataset`` of the same samples as tensors,
channels-first as ``sim.dataset.TorchSceneDataset``. It needs torch (``pip install
'scenesim[torch]'``); this module imports without it.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from sim.errors import OutputError
from sim.export.webdataset import INDEX_FILE, INDEX_FORMAT
from sim.format import PASSES
from sim.io import decode_pass

try:
    import torch
    from torch.utils.data import IterableDataset as _TorchIterable
except ImportError:  # torch is optional: only TorchShardDataset needs it
    torch = None
    _TorchIterable = object

RawSample = tuple[str, dict[str, bytes]]


def read_index(root: Path) -> dict[str, Any]:
    """``root/index.json`` after checking it is a scenesim shard index."""
    file = Path(root) / INDEX_FILE
    if not file.is_file():
        raise OutputError(f"{root}: no {INDEX_FILE}; not a finished 'scenesim export webdataset' directory")
    try:
        index = json.loads(file.read_text())
    except json.JSONDecodeError as e:
        raise OutputError(f"{file}: not valid JSON ({e})") from None
    if index.get("format") != INDEX_FORMAT:
        raise OutputError(f"{file}: format {index.get('format')!r}, expected {INDEX_FORMAT!r}")
    return index


def decode_member(name: str, ext: str, data: bytes, shape: tuple[int, ...], where: str) -> np.ndarray:
    """The array of pass ``name`` from a member's bytes: the scene file's own encoding
    (``sim.io.decode_pass``) or ``npy``; checked against its ``PASSES`` dtype and ``shape``."""
    spec = PASSES[name]
    if ext != "npy":
        return decode_pass(spec, data, shape, where)
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as e:  # any decoder failure means a damaged member
        raise OutputError(f"{where}: cannot be read ({type(e).__name__}: {e}); export it again") from None
    if array.dtype != spec.dtype or array.shape != shape:
        raise OutputError(f"{where}: {array.dtype} {array.shape}, expected {np.dtype(spec.dtype)} {shape}")
    return array


def member_table(f: BinaryIO) -> list[tuple[str, int, int]]:
    """(name, data offset, size) of every file in the tar archive ``f`` (a binary file), in order.
    Plain ustar headers (what ``sim.export.webdataset`` writes) are parsed here, reading 512 bytes
    per member and seeking past the data, 30x faster than ``tarfile``; an archive with any other
    header (PAX, GNU long names, links) is listed by ``tarfile``."""
    table, offset = [], 0
    while True:
        f.seek(offset)
        header = f.read(512)
        if len(header) < 512 or header == bytes(512):
            return table
        if header[257:262] != b"ustar" or header[156:157] not in (b"0", b"\0") or header[124] & 0x80 \
                or header[345:500].strip(b"\0"):
            break
        size = int(header[124:136].split(b"\0", 1)[0].strip() or b"0", 8)
        table.append((header[:100].split(b"\0", 1)[0].decode(), offset + 512, size))
        offset += 512 + (size + 511) // 512 * 512
    f.seek(0)
    with tarfile.open(fileobj=f, mode="r:") as tar:
        return [(m.name, m.offset_data, m.size) for m in tar if m.isfile()]


def _consumer(rank: int | None, world_size: int | None) -> tuple[int, int]:
    """(this consumer's number, number of consumers) over ranks and DataLoader workers."""
    if rank is None and world_size is None and torch is not None and torch.distributed.is_available() \
            and torch.distributed.is_initialized():
        rank, world_size = torch.distributed.get_rank(), torch.distributed.get_world_size()
    rank, world_size = rank or 0, world_size or 1
    if not 0 <= rank < world_size:
        raise OutputError(f"rank: got {rank}, expected 0 <= rank < world_size ({world_size})")
    worker, workers = 0, 1
    info = torch.utils.data.get_worker_info() if torch is not None else None
    if info is not None:
        worker, workers = info.id, info.num_workers
    return worker * world_size + rank, world_size * workers


class ShardDataset:
    """Iterable numpy dataset over the shards in ``root`` (module docstring).

    ``passes``: pass names to decode (default: every pass the shards hold). ``shuffle``: shuffle
    buffer size in samples (0 = written order). ``seed``: shuffling seed. ``rank``, ``world_size``:
    this process's share (default: torch.distributed's when initialised, else the whole).
    """

    def __init__(self, root: Path, passes: Sequence[str] | None = None, *, shuffle: int = 0, seed: int = 0,
                 rank: int | None = None, world_size: int | None = None) -> None:
        self.root = Path(root)
        self.index = read_index(self.root)
        available = self.index["passes"]
        self.passes = tuple(available if passes is None else passes)
        for name in self.passes:
            if name not in PASSES:
                raise OutputError(f"passes: unknown {name!r}; known: {', '.join(PASSES)}")
            if name not in available:
                raise OutputError(f"pass {name!r}: not in the shards of {self.root}; they have "
                                  f"{', '.join(available)}")
        if shuffle < 0:
            raise OutputError(f"shuffle: got {shuffle}, expected a buffer size >= 0")
        self.per, self.shuffle, self.seed = self.index["per"], shuffle, seed
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        self.num_samples = int(self.index["samples"])

    def set_epoch(self, epoch: int) -> None:
        """Varies the shard order and shuffle buffer per epoch (when shuffling)."""
        self.epoch = epoch

    def _wanted(self, suffix: str) -> bool:
        stem = suffix.rsplit(".", 1)[0]
        if stem == "json":
            return True
        name = stem if self.per == "frame" else stem.rpartition("_")[0]
        return name in self.passes

    def _raw(self, consumer: int, consumers: int) -> Iterator[RawSample]:
        """This consumer's samples, undecoded, in shard order."""
        shards = [s["name"] for s in self.index["shards"]]
        if self.shuffle:
            order = np.random.default_rng((self.seed, self.epoch)).permutation(len(shards))
            shards = [shards[i] for i in order]
        i = -1
        for name in shards:
            with open(self.root / name, "rb") as f:
                key, members = None, {}
                for member, offset, size in member_table(f):
                    sample_key, _, suffix = member.partition(".")
                    if sample_key != key:
                        if key is not None and i % consumers == consumer:
                            yield key, members
                        key, members, i = sample_key, {}, i + 1
                    if i % consumers == consumer and self._wanted(suffix):
                        f.seek(offset)
                        members[suffix] = f.read(size)
                if key is not None and i % consumers == consumer:
                    yield key, members

    def _shuffled(self, samples: Iterator[RawSample], consumer: int) -> Iterator[RawSample]:
        rng = np.random.default_rng((self.seed, self.epoch, consumer))
        buffer: list[RawSample] = []
        for sample in samples:
            if len(buffer) < self.shuffle:
                buffer.append(sample)
                continue
            j = int(rng.integers(len(buffer)))
            yield buffer[j]
            buffer[j] = sample
        for j in rng.permutation(len(buffer)):
            yield buffer[j]

    def decode(self, key: str, members: dict[str, bytes]) -> dict[str, Any]:
        """A sample dict (module docstring) from a sample's raw members."""
        where = f"{self.root}: sample {key}"
        if "json" not in members:
            raise OutputError(f"{where}: no 'json' member; not a sample of 'scenesim export webdataset'")
        if self.per == "frame":
            info = json.loads(members["json"])
            sample: dict[str, Any] = {"key": key, "scene": info["scene"], "frame": int(info["frame"]),
                                      "K": np.asarray(info["K"], np.float32),
                                      "world_to_camera": np.asarray(info["world_to_camera"], np.float32)}
            width, height = info["resolution"]
            for suffix, data in members.items():
                name, _, ext = suffix.rpartition(".")
                if name in self.passes:
                    sample[name] = decode_member(name, ext, data, PASSES[name].shape(height, width),
                                                 f"{where}.{suffix}")
            return sample
        info = json.loads(members["json"])
        frames = int(info["frames"])
        sample = {"key": key, "scene": info["scene"], "frames": np.arange(frames, dtype=np.int64),
                  "K": np.asarray(info["K"], np.float32),
                  "world_to_camera": np.asarray(info["world_to_camera"], np.float32)}
        width, height = info["resolution"]
        by_stem = {suffix.rsplit(".", 1)[0]: suffix for suffix in members}
        for name in self.passes:
            stack = []
            for t in range(frames):
                suffix = by_stem.get(f"{name}_{t:05d}")
                if suffix is None:
                    raise OutputError(f"{where}: no member for pass {name!r} frame {t}; the shard is damaged")
                ext = suffix.rsplit(".", 1)[1]
                stack.append(decode_member(name, ext, members[suffix], PASSES[name].shape(height, width),
                                           f"{where}.{suffix}"))
            sample[name] = np.stack(stack)
        return sample

    def __iter__(self) -> Iterator[dict[str, Any]]:
        consumer, consumers = _consumer(self.rank, self.world_size)
        samples = self._raw(consumer, consumers)
        if self.shuffle:
            samples = self._shuffled(samples, consumer)
        return (self.decode(key, members) for key, members in samples)


class TorchShardDataset(_TorchIterable):
    """``torch.utils.data.IterableDataset`` over shards: ``ShardDataset``'s samples as tensors
    (channels-first images, segmentation int64; see ``sim.dataset``). Same arguments."""

    def __init__(self, root: Path, passes: Sequence[str] | None = None, *, shuffle: int = 0, seed: int = 0,
                 rank: int | None = None, world_size: int | None = None) -> None:
        if torch is None:
            raise ImportError("TorchShardDataset needs PyTorch: pip install 'scenesim[torch]' "
                              "(or iterate the numpy ShardDataset)")
        self.samples = ShardDataset(root, passes, shuffle=shuffle, seed=seed, rank=rank,
                                    world_size=world_size)

    def set_epoch(self, epoch: int) -> None:
        self.samples.set_epoch(epoch)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        from sim.dataset import _tensor

        return ({k: _tensor(k, v) for k, v in sample.items()} for sample in self.samples)
