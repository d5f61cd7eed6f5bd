"""The asset catalogue: stable ids, ``AssetInfo``, the held-out split, ``get_asset`` and ``list_assets``.

Ids are ``<source>:<name>``; the sources (``primitive``, ``pybullet``, ``file``) and the form of
their ids are the table ``sim.library.sources.SOURCES``.

``get_asset`` reads and checks the files (a missing, unreadable or corrupt file is an
``AssetError`` naming the id), writes the canonical meshes to the cache and memoises the result
per process; the pybullet listing is built on first use.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, fields

from sim.errors import AssetError
from sim.library.cache import cache_dir
from sim.library.canonical import Body, Geometry, canonicalise, load_body, procedural_body
from sim.library.sources import SOURCES, Located, expected_forms, split_id

SPLITS = ("train", "test")
HELD_OUT_PERCENT = 10
"""Percentage of ids in the held-out (test) split, chosen by the SHA-256 of the id."""


@dataclass(frozen=True)
class AssetInfo(Geometry):
    """Everything physics, rendering and annotation need to know about an asset: its canonical
    ``Geometry`` plus where it comes from.

    Frames and units: the *canonical frame* is the asset's own frame re-centred on its visual
    bounding box and scaled uniformly so the box's largest side is 2 (it fits [-1, 1]^3; see
    ``sim.library.canonical``). ``SceneObject.scale`` multiplies canonical coordinates into metres.
    Vectors are tuples of floats; ``visual_transform`` is a row-major 4×4 acting on column vectors.

    id: the asset id. source: ``primitive`` | ``pybullet`` | ``file``. category: e.g. ``duck``,
    ``random_urdf``, or None if unknown. licence: a one-line licence note.
    source_path: the file the asset was read from (URDF or mesh), None for procedural assets.
    visual_source: the visual mesh file as shipped (None if procedural or a URDF primitive).
    visual_transform: 4×4 from ``visual_source`` coordinates (or the unit primitive of a URDF
    ``<box>``/``<sphere>``/``<cylinder>`` visual) to canonical; identity for procedural assets.
    native_scale: source units (metres for URDFs) per canonical unit; ``scale = (native_scale,) * 3``
    gives the original size. visual_path: the canonical-frame OBJ to render (one object; UVs and
    normals kept when the source has them; no material). texture_path: an image for the UVs, or
    None. color: base RGBA in [0, 1] from the URDF or MTL, or None.
    collision_kind: one of ``sim.library.collision.COLLISION_KINDS``. collision_path: canonical-frame
    OBJ of convex parts (one ``o`` group each) for the ``mesh_*`` kinds, None for analytic kinds.
    collision_center, collision_half_extents: the analytic shape (box half sides; sphere (r, r, r);
    cylinder (r, r, half height) along z) or, for mesh kinds, the centre and half size of the
    collision mesh's bounding box; canonical units.
    bounds: (lo, hi) of the visual mesh, canonical units; lo = −hi, largest side 2.
    volume: canonical units³ (× sx·sy·sz for a scaled object; mass = density × that).
    held_out: True for the test split (``HELD_OUT_PERCENT`` of ids, by hash of the id).
    """

    id: str
    source: str
    category: str | None
    licence: str
    source_path: str | None
    held_out: bool


def is_held_out(asset_id: str) -> bool:
    """Whether ``asset_id`` is in the test split: the first 8 bytes of SHA-256(id) mod 100 are
    below ``HELD_OUT_PERCENT``. Depends only on the id string (stable across machines and runs)."""
    digest = hashlib.sha256(asset_id.encode()).digest()
    return int.from_bytes(digest[:8], "little") % 100 < HELD_OUT_PERCENT


def list_assets(source: str | None = None, split: str | None = None) -> list[str]:
    """Sorted ids of the catalogue (primitives and pybullet_data objects; user files are not
    listed), optionally only from ``source`` and only the ``split`` (``train`` or ``test``)."""
    if source is not None and source not in SOURCES:
        raise AssetError(f"source: got {source!r}, expected one of {', '.join(SOURCES)}")
    if split is not None and split not in SPLITS:
        raise AssetError(f"split: got {split!r}, expected one of {', '.join(SPLITS)}")
    ids = [f"{s.prefix}:{name}" for s in SOURCES.values() if source in (None, s.prefix) for name in s.names()]
    if split is not None:
        ids = [i for i in ids if is_held_out(i) == (split == "test")]
    return sorted(ids)


def catalogue_categories() -> tuple[str, ...]:
    """Sorted names of every category an asset id can have, without reading a file: the union of
    the sources' categories (``AssetSource.categories``)."""
    return tuple(sorted({c for source in SOURCES.values() for c in source.categories()}))


def asset_category(asset_id: str) -> str:
    """The catalogue category of an asset id (``cube``, ``duck``, ``random_urdf``, …;
    ``sim.library.sources.FILE_CATEGORY`` for a user file), from the id alone: no file is read."""
    found = split_id(asset_id)
    if found is None:
        raise AssetError(f"asset {asset_id!r}: unknown id; expected {expected_forms()}")
    return found[0].category(found[1])


def _locate(asset_id: str) -> tuple[str, Located]:
    """(source prefix, where the asset is) of an id, or AssetError if the id names nothing."""
    found = split_id(asset_id)
    located = found[0].locate(found[1]) if found is not None else None
    if located is None:
        raise AssetError(f"asset {asset_id!r}: unknown id; expected {expected_forms()}")
    return found[0].prefix, located


_MEMO: dict[tuple, AssetInfo] = {}


def get_asset(asset_id: str) -> AssetInfo:
    """The ``AssetInfo`` of ``asset_id``; raises ``AssetError`` naming the id if it is unknown or
    its files are missing, unreadable or corrupt. Memoised per (id, cache directory, file
    modification time); the first call for an asset may run V-HACD (~1 s, then cached on disk)."""
    source, located = _locate(asset_id)
    path = located.path
    stamp = None
    if path is not None:
        try:
            stat = path.stat()
        except OSError:
            raise AssetError(f"asset {asset_id!r}: file not found: {path}") from None
        stamp = (stat.st_mtime_ns, stat.st_size)
    key = (asset_id, str(cache_dir()), stamp)
    info = _MEMO.get(key)
    if info is not None and all(p is None or os.path.exists(p)
                                for p in (info.visual_path, info.collision_path)):
        return info
    try:
        body: Body = procedural_body(asset_id.partition(":")[2]) if path is None else load_body(path)
        geometry: Geometry = canonicalise(body)
    except AssetError as e:
        raise AssetError(f"asset {asset_id!r}: {e}") from None
    info = AssetInfo(id=asset_id, source=source, category=located.category, licence=located.licence,
                     source_path=None if path is None else str(path), held_out=is_held_out(asset_id),
                     **{f.name: getattr(geometry, f.name) for f in fields(geometry)})
    _MEMO[key] = info
    return info
