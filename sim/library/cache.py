"""The on-disk cache of generated asset files (canonical meshes, procedural meshes, V-HACD output).

Files are named by the SHA-256 of their content (or of their inputs, for V-HACD output), so a file's
name says what is in it and stale entries never need invalidating. Every file is written to a
temporary name in the same directory and moved into place with ``os.replace``: concurrent worker
processes writing the same entry never see a half-written file, and the last writer wins with
identical bytes.

Location: ``$SCENESIM_CACHE_DIR`` if set, else ``~/.cache/scenesim``; read on every call, never at
import time. Deleting the directory is always safe.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from sim.errors import AssetError

CACHE_ENV = "SCENESIM_CACHE_DIR"


def cache_dir() -> Path:
    """The cache root (created on first use): ``$SCENESIM_CACHE_DIR`` or ``~/.cache/scenesim``."""
    root = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "scenesim")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise AssetError(f"asset cache: cannot create {root} ({e.strerror}); set {CACHE_ENV} "
                         "to a writable directory") from None
    return root


def content_key(*chunks: bytes | str) -> str:
    """Hex SHA-256 of the concatenated chunks (str encoded as UTF-8), each length-prefixed so
    ("ab", "c") and ("a", "bc") differ."""
    h = hashlib.sha256()
    for chunk in chunks:
        data = chunk.encode() if isinstance(chunk, str) else chunk
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def cache_path(kind: str, key: str, suffix: str) -> Path:
    """``<cache>/<kind>/<key><suffix>`` (the directory is created; the file may not exist yet)."""
    folder = cache_dir() / kind
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{key}{suffix}"


def write_atomic(path: Path, data: bytes) -> None:
    """Writes ``data`` to ``path`` through a temporary file in the same directory + ``os.replace``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cached_text(kind: str, text: str, suffix: str) -> Path:
    """Stores ``text`` under its content hash (if not already there) and returns the path."""
    data = text.encode()
    path = cache_path(kind, content_key(data), suffix)
    if not path.exists():
        write_atomic(path, data)
    return path
