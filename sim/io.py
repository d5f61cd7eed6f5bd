"""Writes a scene directory atomically and reads it back (docs/format.md).

A scene is written into ``<out_dir>/<name>.partial/`` and renamed to ``<out_dir>/<name>/`` only when
every file is complete, so a directory without the suffix is always whole. File names, dtypes and
shapes come from ``sim.format.PASSES``: uint8/uint16 passes are PNG, bool masks 8-bit PNG (0 or
255), float32 passes TIFF with the floating-point predictor and zlib level 1 (lossless: NaN and ±inf
survive bit for bit; imagecodecs encodes it: half the size of plain zlib in the same time). Optional
point tracks go to ``point_tracks.npz`` (``sim.format.POINT_TRACK_FIELDS``).

Readers decode lazily: ``load_scene(path, passes, frames)`` and ``read_pass`` open only the files of
the passes and frames asked for; ``find_scenes`` lists the scenes of a job directory.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import types
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Self

import imageio.v3 as iio
import numpy as np
import tifffile

from sim.errors import OutputError, writing
from sim.format import (
    FORMAT_HISTORY,
    PARTIAL_SUFFIX,
    PASSES,
    POINT_TRACK_FIELDS,
    POINT_TRACKS_FILE,
    PassSpec,
)
from sim.scene import Scene

SUPPORTED_FORMAT_VERSIONS = tuple(FORMAT_HISTORY)
JSON_FILES = ("scene.json", "metadata.json", "events.json")


def _write_json(path: Path, value: Any, indent: int | None = 2) -> None:
    """Writes ``value`` as JSON via a temporary file and an atomic rename; ``indent`` None writes
    one line (Python's C encoder: ~10x faster than indenting, which matters for metadata.json)."""
    try:
        text = json.dumps(value, indent=indent, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise OutputError(f"{path.name}: not JSON-native ({e}); build it with sim.metadata") from None
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise OutputError(f"{path}: not valid JSON ({e}); the scene directory is damaged") from None


def _encode(spec: PassSpec, path: Path, array: np.ndarray) -> None:
    if spec.ext == "npz":  # bit-packed bool planes (PassSpec description)
        with open(path, "wb") as f:
            np.savez_compressed(f, packed=np.packbits(array, axis=-1))
    elif spec.ext == "tiff":
        tifffile.imwrite(path, array, photometric="minisblack", planarconfig="contig",
                         compression="zlib", compressionargs={"level": 1}, predictor=3)
    elif spec.dtype is np.bool_:
        iio.imwrite(path, array.astype(np.uint8) * 255)
    else:
        iio.imwrite(path, array)


def _read_packed(stream: Path | io.BytesIO, width: int) -> np.ndarray:
    """bool (N, H, W) planes of an ``npz`` pass (``packed`` = numpy.packbits(planes, axis=-1))."""
    with np.load(stream, allow_pickle=False) as npz:
        packed = npz["packed"]
    if packed.dtype != np.uint8 or packed.ndim != 3 or packed.shape[-1] != (width + 7) // 8:
        raise ValueError(f"packed is {packed.dtype} {packed.shape}, expected uint8 (N, H, "
                         f"{(width + 7) // 8})")
    return np.unpackbits(packed, axis=-1, count=width).astype(bool)


def decode_pass(spec: PassSpec, source: Path | bytes, shape: tuple[int, ...],
                where: str | None = None) -> np.ndarray:
    """The array of pass ``spec`` in ``source``, a file or a file's bytes (a shard member; ``where``
    names it in errors), checked against its dtype and ``shape`` (for a per-instance pass a leading
    -1 accepts any number of instances); 0/255 masks become bool."""
    where = where or str(source)
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        if spec.ext == "npz":
            array = _read_packed(stream, shape[-1])
        elif spec.ext == "tiff":
            array = tifffile.imread(stream)
        else:
            array = iio.imread(stream, extension=f".{spec.ext}")
    except Exception as e:  # any decoder failure means a damaged file; say so in one line
        raise OutputError(f"{where}: not a readable {spec.ext.upper()} file ({type(e).__name__}: "
                          f"damaged or truncated); re-render the scene") from None
    if spec.dtype is np.bool_ and array.dtype == np.uint8:
        array = array > 127
    if spec.per_instance and shape[0] < 0:
        shape = (array.shape[0], *shape[1:])
    if array.dtype != spec.dtype or array.shape != shape:
        raise OutputError(f"{where}: {array.dtype} {array.shape}, expected {np.dtype(spec.dtype)} {shape}")
    return array


def read_pass(scene_dir: Path, name: str, frame: int, resolution: tuple[int, int],
              instances: int | None = None) -> np.ndarray:
    """Decodes one file: pass ``name`` of frame ``frame`` in ``scene_dir`` (a scene of ``resolution``
    (width, height) and, for a per-instance pass, ``instances`` instances: None = as many as the
    file holds), as an array of the pass's ``PassSpec`` dtype and shape."""
    spec = PASSES.get(name)
    if spec is None:
        raise OutputError(f"pass {name!r}: unknown; known: {', '.join(PASSES)}")
    file = Path(scene_dir) / spec.filename(frame)
    if not file.is_file():
        raise OutputError(f"{file}: missing; the scene directory is damaged, render it again")
    width, height = resolution
    return decode_pass(spec, file, spec.shape(height, width, -1 if instances is None else instances))


def _check_point_tracks(arrays: Mapping[str, np.ndarray], frames: int, where: str) -> dict[str, np.ndarray]:
    """The arrays of ``POINT_TRACK_FIELDS`` from ``arrays`` after checking names, dtypes and shapes
    (N points, ``frames`` frames)."""
    if set(arrays) != set(POINT_TRACK_FIELDS):
        raise OutputError(f"{where}: arrays {sorted(arrays)}, expected {sorted(POINT_TRACK_FIELDS)}")
    n = np.shape(arrays["query_frame"])[:1]
    out = {}
    for name, field in POINT_TRACK_FIELDS.items():
        array = np.asarray(arrays[name])
        shape = tuple(n[0] if n and d == "N" else frames if d == "F" else d for d in field.dims)
        if array.dtype != field.dtype or array.shape != shape:
            raise OutputError(f"{where}: {name} is {array.dtype} {array.shape}, expected "
                              f"{np.dtype(field.dtype)} {shape}")
        out[name] = array
    return out


class _AtomicDirectory:
    """A directory ``out_dir/name`` built as ``name.partial`` inside a with-block and renamed into
    place by ``_commit`` (an existing ``out_dir/name`` is replaced only with ``overwrite=True``);
    leaving the block without it, or by an exception, removes the partial directory."""

    def __init__(self, out_dir: Path, name: str, *, overwrite: bool = False) -> None:
        if not name or name in (".", "..") or "/" in name or os.sep in name or name.endswith(PARTIAL_SUFFIX):
            raise OutputError(f"scene name: got {name!r}, expected a plain directory name")
        self.final_path = Path(out_dir) / name
        self.partial_path = Path(out_dir) / (name + PARTIAL_SUFFIX)
        self.overwrite = overwrite
        self._open = False

    def __enter__(self) -> Self:
        self._refuse_existing()
        with writing(self.partial_path):
            if self.partial_path.exists():
                shutil.rmtree(self.partial_path)  # left by a crashed or killed run
            self.partial_path.mkdir(parents=True)
        self._open = True
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: types.TracebackType | None) -> None:
        if not self._open:
            return
        self._open = False
        shutil.rmtree(self.partial_path, ignore_errors=True)
        if exc_type is None:
            raise OutputError(f"{self.final_path.name}: writer closed without finish(); nothing written")

    def _refuse_existing(self) -> None:
        if self.final_path.exists() and not self.overwrite:
            raise OutputError(f"{self.final_path}: already exists; pass overwrite=True to replace it")

    def _check_open(self, what: str) -> None:
        if not self._open:
            raise OutputError(f"{what}: use the {type(self).__name__} inside a with-block")

    def _commit(self, scene: Scene, metadata: Mapping[str, Any], events: list[Any]) -> Path:
        """Writes ``scene.json``, ``metadata.json`` and ``events.json`` and renames the directory into
        place; returns the final path."""
        with writing(self.partial_path):
            _write_json(self.partial_path / "scene.json", scene.to_dict())
            _write_json(self.partial_path / "metadata.json", metadata, indent=None)
            _write_json(self.partial_path / "events.json", events, indent=None)
            self._refuse_existing()
            if self.final_path.exists():
                stale = self.final_path.with_name(self.final_path.name + ".replaced" + PARTIAL_SUFFIX)
                shutil.rmtree(stale, ignore_errors=True)
                os.replace(self.final_path, stale)
                os.replace(self.partial_path, self.final_path)
                shutil.rmtree(stale)
            else:
                os.replace(self.partial_path, self.final_path)
        self._open = False
        return self.final_path


class SceneWriter(_AtomicDirectory):
    """Context manager writing one scene directory ``out_dir/name``.

    ``write_frame(t, passes)`` per frame, then ``finish(scene, metadata, events)``, inside the
    with-block. If the block raises (or ends without ``finish``), the partial directory is removed.
    An existing complete ``out_dir/name`` is replaced only with ``overwrite=True``.
    """

    def __init__(self, out_dir: Path, name: str, *, overwrite: bool = False) -> None:
        super().__init__(out_dir, name, overwrite=overwrite)
        self._size: tuple[int, int] | None = None  # (H, W) of the first pass written
        self._written: dict[int, set[str]] = {}

    def write_frame(self, t: int, passes: Mapping[str, np.ndarray]) -> None:
        """Writes frame ``t``'s passes, each a numpy array of its ``PASSES`` dtype and shape."""
        self._check_open("write_frame")
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or t < 0:
            raise OutputError(f"frame: got {t!r}, expected an integer >= 0")
        for name, array in passes.items():
            spec = PASSES.get(name)
            if spec is None:
                raise OutputError(f"pass {name!r}: unknown; known: {', '.join(PASSES)}")
            if not isinstance(array, np.ndarray) or array.dtype != spec.dtype:
                got = array.dtype if isinstance(array, np.ndarray) else type(array).__name__
                raise OutputError(f"pass {name!r}: got {got}, expected {np.dtype(spec.dtype)}")
            plane = array.shape[1:3] if spec.per_instance else array.shape[:2]
            size = self._size or plane
            expected = spec.shape(*size, array.shape[0] if spec.per_instance else 0) if len(size) == 2 \
                else spec.description
            if array.ndim < 2 or array.shape != expected:
                raise OutputError(f"pass {name!r}: shape {array.shape}, expected {expected}")
            self._size = size
            path = self.partial_path / spec.filename(int(t))
            with writing(path):
                _encode(spec, path, array)
            self._written.setdefault(int(t), set()).add(name)

    def read_frame(self, t: int, names: Iterable[str]) -> dict[str, np.ndarray]:
        """Decodes passes ``names`` of frame ``t`` written so far (for a second pass over the frames
        that keeps only one frame in memory)."""
        if not self._open or self._size is None:
            raise OutputError("read_frame: write frames inside the with-block first")
        height, width = self._size
        return {name: read_pass(self.partial_path, name, t, (width, height)) for name in names}

    def write_point_tracks(self, arrays: Mapping[str, np.ndarray], frames: int) -> None:
        """Writes ``point_tracks.npz``: the arrays of ``sim.format.POINT_TRACK_FIELDS`` for a scene of
        ``frames`` frames."""
        self._check_open("write_point_tracks")
        checked = _check_point_tracks(arrays, frames, "point tracks")
        tmp = self.partial_path / (POINT_TRACKS_FILE + ".tmp")
        with writing(tmp):
            with open(tmp, "wb") as f:
                np.savez_compressed(f, **checked)
            os.replace(tmp, self.partial_path / POINT_TRACKS_FILE)

    def finish(self, scene: Scene, metadata: Mapping[str, Any], events: list[Any]) -> Path:
        """Writes ``scene.json``, ``metadata.json`` (with ``"passes"``: the passes written) and
        ``events.json``, checks every frame of the scene has the same passes, and renames the
        directory into place. Returns the final path."""
        self._check_open("finish")
        width, height = scene.resolution
        if self._size is not None and self._size != (height, width):
            raise OutputError(f"passes: {self._size[1]}x{self._size[0]} pixels, expected the scene's "
                              f"resolution {width}x{height}")
        missing = sorted(set(range(scene.frames)) - set(self._written))
        extra = sorted(set(self._written) - set(range(scene.frames)))
        if missing or extra:
            raise OutputError(f"frames: missing {missing[:5]}, beyond the scene's {scene.frames} frames "
                              f"{extra[:5]}; write every frame 0…{scene.frames - 1}")
        names = self._written[0]
        for t, written in self._written.items():
            if written != names:
                raise OutputError(f"frame {t}: passes {sorted(written)}, expected {sorted(names)}")
        written = [p for p in PASSES if p in names]
        return self._commit(scene, {**metadata, "passes": written}, events)


class CameraSetWriter(_AtomicDirectory):
    """Context manager writing a multi-camera scene ``out_dir/name``: inside the with-block, one
    complete scene directory per camera is written into ``partial_path`` (e.g. a ``SceneWriter``
    with ``out_dir=partial_path`` and the camera's name), then ``finish`` checks they are all there,
    writes the scene's own JSON files and renames the whole into place."""

    def finish(self, scene: Scene, metadata: Mapping[str, Any], events: list[Any]) -> Path:
        self._check_open("finish")
        missing = [c for c in scene.camera_names if not is_complete(self.partial_path / c)]
        if missing:
            raise OutputError(f"cameras: {', '.join(missing)} not written; "
                              "write one scene directory per camera")
        return self._commit(scene, metadata, events)


def is_complete(path: Path) -> bool:
    """True if ``path`` is a finished scene directory (not ``.partial``, with its JSON files)."""
    path = Path(path)
    return (not path.name.endswith(PARTIAL_SUFFIX) and path.is_dir()
            and all((path / f).is_file() for f in JSON_FILES))


def find_scenes(root: Path) -> list[Path]:
    """``[root]`` if ``root`` is a complete scene directory, else the complete scene directories
    directly inside ``root`` (a job directory), sorted by name; unfinished ones are skipped."""
    root = Path(root)
    if is_complete(root):
        return [root]
    if not root.is_dir():
        raise OutputError(f"{root}: no such scene or job directory")
    scenes = sorted(p for p in root.iterdir() if is_complete(p))
    if not scenes:
        raise OutputError(f"{root}: no complete scene directory in it; render one with 'scenesim render'")
    return scenes


def find_views(root: Path, camera: str | None = None) -> list[Path]:
    """Like ``find_scenes``, with every multi-camera scene replaced by its cameras' scene directories
    (only camera ``camera``'s when given, which every scene must then have): the directories that
    ``load_scene`` reads without a ``camera`` argument, one per (scene, camera)."""
    views = []
    for path in find_scenes(root):
        cameras = read_metadata(path).get("cameras")
        if cameras is None or camera is not None:
            views.append(camera_directory(path, camera))
        else:
            views.extend(path / c for c in cameras)
    return views


def load_point_tracks(path: Path, frames: int) -> dict[str, np.ndarray] | None:
    """The arrays of ``point_tracks.npz`` in scene directory ``path`` (a scene of ``frames`` frames),
    checked against ``POINT_TRACK_FIELDS``, or None when the scene has no point tracks."""
    file = Path(path) / POINT_TRACKS_FILE
    if not file.is_file():
        return None
    try:
        with np.load(file, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except Exception as e:  # any failure of the zip or array decoder means a damaged file
        raise OutputError(f"{file}: cannot be read ({type(e).__name__}: {e}); re-render the scene") from None
    return _check_point_tracks(arrays, frames, str(file))


def read_metadata(path: Path) -> dict[str, Any]:
    """``metadata.json`` of the complete scene directory ``path``, after checking the directory is
    complete and of a supported format version (the cheap way to index many scenes)."""
    path = Path(path)
    if path.name.endswith(PARTIAL_SUFFIX):
        raise OutputError(f"{path}: an unfinished scene ({PARTIAL_SUFFIX}); render it again")
    if not path.is_dir():
        raise OutputError(f"{path}: no such scene directory")
    for name in JSON_FILES:
        if not (path / name).is_file():
            raise OutputError(f"{path}: missing {name}; not a complete scene directory")
    metadata = _read_json(path / "metadata.json")
    version = metadata.get("format_version")
    if version not in SUPPORTED_FORMAT_VERSIONS:
        raise OutputError(f"{path}: format_version {version!r}, supported: "
                          f"{', '.join(SUPPORTED_FORMAT_VERSIONS)}")
    return metadata


def camera_directory(path: Path, camera: str | None = None) -> Path:
    """The scene directory holding camera ``camera``'s view of the complete scene ``path``: ``path``
    itself for a one-camera scene (``camera`` None or its camera's name), ``path/<camera>`` for a
    multi-camera scene (whose ``metadata.json`` lists ``cameras``; ``camera`` is then required).
    OutputError naming the cameras otherwise."""
    path = Path(path)
    metadata = read_metadata(path)
    cameras = metadata.get("cameras")
    if cameras is None:
        own = metadata.get("camera", {}).get("name", "camera")
        if camera not in (None, own):
            raise OutputError(f"camera {camera!r}: {path} has one camera, {own!r}")
        return path
    if camera not in cameras:
        raise OutputError(f"{path}: a scene of cameras {', '.join(cameras)}; "
                          + ("choose one (camera=NAME)" if camera is None else f"no camera {camera!r}"))
    return path / camera


def load_scene(path: Path, passes: Iterable[str] | None = None,
               frames: Iterable[int] | None = None, camera: str | None = None) -> dict[str, Any]:
    """Reads a scene directory: ``{"scene": Scene, "metadata": dict, "events": list}``, plus
    ``"point_tracks"`` (a dict of ``POINT_TRACK_FIELDS`` arrays) when the scene has them, plus, per
    pass in ``passes`` (None = every pass written, ``metadata["passes"]``; a pass the scene lacks is
    an OutputError naming it and the passes it has), an array (T, *PassSpec.shape) of its documented
    dtype over ``frames`` (frame indices, None = all F frames, T = how many; a per-instance pass
    such as ``amodal`` is (T, N, H, W), N = instances). Only the requested passes and frames are
    decoded. A multi-camera scene is read one camera at a time: ``camera`` names it
    (``camera_directory``); its ``scene`` is the scene seen by that camera (``Scene.view``)."""
    path = camera_directory(path, camera)
    metadata = read_metadata(path)
    scene = Scene.from_json((path / "scene.json").read_text())
    available = metadata.get("passes", [])
    wanted = list(available if passes is None else passes)
    for name in wanted:
        if name not in PASSES:
            raise OutputError(f"pass {name!r}: unknown; known: {', '.join(PASSES)}")
        if name not in available:
            raise OutputError(f"pass {name!r}: {path} was rendered without it (it has "
                              f"{', '.join(available)}); render with --passes including it")
    times = list(range(scene.frames) if frames is None else frames)
    for t in times:
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not 0 <= t < scene.frames:
            raise OutputError(f"frames: got {t!r}, expected frame indices in [0, {scene.frames - 1}]")
    out: dict[str, Any] = {"scene": scene, "metadata": metadata,
                           "events": _read_json(path / "events.json")}
    tracks = load_point_tracks(path, scene.frames)
    if tracks is not None:
        out["point_tracks"] = tracks
    width, height = scene.resolution
    for name in wanted:
        spec = PASSES[name]
        n = len(scene.instances)
        stack = np.empty((len(times), *spec.shape(height, width, n)), dtype=spec.dtype)
        for i, t in enumerate(times):
            stack[i] = read_pass(path, name, int(t), scene.resolution, n)
        out[name] = stack
    return out
