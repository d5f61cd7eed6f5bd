"""Writes a scene directory atomically and reads it back (DESIGN §4, §5).

A scene is written into ``<out_dir>/<name>.partial/`` and renamed to ``<out_dir>/<name>/`` only when
every file is complete, so a directory without the suffix is always whole. File names, dtypes and
shapes come from ``sim.format.PASSES``: uint8/uint16 passes are PNG, bool masks 8-bit PNG (0 or
255), float32 passes zlib-compressed TIFF (lossless: NaN and ±inf survive bit for bit).
"""

from __future__ import annotations

import json
import os
import shutil
import types
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import imageio.v3 as iio
import numpy as np
import tifffile

from sim.errors import OutputError
from sim.format import FORMAT_VERSION, PARTIAL_SUFFIX, PASSES, PassSpec
from sim.scene import Scene

SUPPORTED_FORMAT_VERSIONS = (FORMAT_VERSION,)
JSON_FILES = ("scene.json", "metadata.json", "events.json")


def _write_json(path: Path, value: Any) -> None:
    """Writes ``value`` as JSON via a temporary file and an atomic rename."""
    try:
        text = json.dumps(value, indent=2, allow_nan=False)
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
    if spec.ext == "tiff":
        tifffile.imwrite(path, array, photometric="minisblack", planarconfig="contig",
                         compression="zlib", compressionargs={"level": 1})
    elif spec.dtype is np.bool_:
        iio.imwrite(path, array.astype(np.uint8) * 255)
    else:
        iio.imwrite(path, array)


def _decode(spec: PassSpec, path: Path, shape: tuple[int, ...]) -> np.ndarray:
    try:
        array = tifffile.imread(path) if spec.ext == "tiff" else iio.imread(path)
    except Exception as e:  # any decoder failure means a damaged file
        raise OutputError(f"{path}: cannot be read ({type(e).__name__}: {e}); re-render the scene") from None
    if spec.dtype is np.bool_ and array.dtype == np.uint8:
        array = array > 127
    if array.dtype != spec.dtype or array.shape != shape:
        raise OutputError(f"{path}: {array.dtype} {array.shape}, expected {np.dtype(spec.dtype)} {shape}")
    return array


class SceneWriter:
    """Context manager writing one scene directory ``out_dir/name``.

    ``write_frame(t, passes)`` per frame, then ``finish(scene, metadata, events)``, inside the
    with-block. If the block raises (or ends without ``finish``), the partial directory is removed.
    An existing complete ``out_dir/name`` is replaced only with ``overwrite=True``.
    """

    def __init__(self, out_dir: Path, name: str, *, overwrite: bool = False) -> None:
        if not name or name in (".", "..") or "/" in name or os.sep in name or name.endswith(PARTIAL_SUFFIX):
            raise OutputError(f"scene name: got {name!r}, expected a plain directory name")
        self.final_path = Path(out_dir) / name
        self.partial_path = Path(out_dir) / (name + PARTIAL_SUFFIX)
        self.overwrite = overwrite
        self._size: tuple[int, int] | None = None  # (H, W) of the first pass written
        self._written: dict[int, set[str]] = {}
        self._open = False

    def __enter__(self) -> SceneWriter:
        self._refuse_existing()
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

    def write_frame(self, t: int, passes: Mapping[str, np.ndarray]) -> None:
        """Writes frame ``t``'s passes, each a numpy array of its ``PASSES`` dtype and shape."""
        if not self._open:
            raise OutputError("write_frame: use the SceneWriter inside a with-block")
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or t < 0:
            raise OutputError(f"frame: got {t!r}, expected an integer >= 0")
        for name, array in passes.items():
            spec = PASSES.get(name)
            if spec is None:
                raise OutputError(f"pass {name!r}: unknown; known: {', '.join(PASSES)}")
            if not isinstance(array, np.ndarray) or array.dtype != spec.dtype:
                got = array.dtype if isinstance(array, np.ndarray) else type(array).__name__
                raise OutputError(f"pass {name!r}: got {got}, expected {np.dtype(spec.dtype)}")
            size = self._size or array.shape[:2]
            if array.ndim < 2 or array.shape != spec.shape(*size):
                expected = spec.shape(*size) if len(size) == 2 else spec.description
                raise OutputError(f"pass {name!r}: shape {array.shape}, expected {expected}")
            self._size = size
            _encode(spec, self.partial_path / spec.filename(int(t)), array)
            self._written.setdefault(int(t), set()).add(name)

    def finish(self, scene: Scene, metadata: Mapping[str, Any], events: list[Any]) -> Path:
        """Writes ``scene.json``, ``metadata.json`` (with ``"passes"``: the passes written) and
        ``events.json``, checks every frame of the scene has the same passes, and renames the
        directory into place. Returns the final path."""
        if not self._open:
            raise OutputError("finish: use the SceneWriter inside a with-block")
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
        _write_json(self.partial_path / "scene.json", scene.to_dict())
        written = [p for p in PASSES if p in names]
        _write_json(self.partial_path / "metadata.json", {**metadata, "passes": written})
        _write_json(self.partial_path / "events.json", events)
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


def is_complete(path: Path) -> bool:
    """True if ``path`` is a finished scene directory (not ``.partial``, with its JSON files)."""
    path = Path(path)
    return (not path.name.endswith(PARTIAL_SUFFIX) and path.is_dir()
            and all((path / f).is_file() for f in JSON_FILES))


def load_scene(path: Path, passes: Iterable[str] | None = None) -> dict[str, Any]:
    """Reads a scene directory: ``{"scene": Scene, "metadata": dict, "events": list}`` plus, per
    pass in ``passes`` (None = every pass written), an array (F, *PassSpec.shape) of its documented
    dtype. Only the requested passes are decoded."""
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
    scene = Scene.from_json((path / "scene.json").read_text())
    available = metadata.get("passes", [])
    wanted = list(available if passes is None else passes)
    for name in wanted:
        if name not in available:
            raise OutputError(f"pass {name!r}: not in {path.name}; available: {', '.join(available)}")
    out: dict[str, Any] = {"scene": scene, "metadata": metadata,
                           "events": _read_json(path / "events.json")}
    width, height = scene.resolution
    for name in wanted:
        spec = PASSES[name]
        stack = np.empty((scene.frames, *spec.shape(height, width)), dtype=spec.dtype)
        for t in range(scene.frames):
            file = path / spec.filename(t)
            if not file.is_file():
                raise OutputError(f"{file}: missing; the scene directory is damaged, render it again")
            stack[t] = _decode(spec, file, stack.shape[1:])
        out[name] = stack
    return out
