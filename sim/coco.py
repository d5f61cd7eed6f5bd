"""COCO instance annotations of a scene or job directory (``scenesim export coco DIR OUT.json``).

One COCO image per frame of every scene, one annotation per instance visible in it: the mask as
compressed RLE (COCO's run-length encoding, column-major, counts packed into a string), ``bbox``
``[x, y, width, height]`` in pixels from ``metadata.json``'s 2D box, ``area`` = the mask's pixel
count, ``iscrowd`` 0. Categories: the job's category table with its ids (those of the ``semantic``
pass), an instance's category its metadata ``category``; for older scenes without a table, the
categories (else asset ids) in use, numbered in name order. ``file_name`` is the frame's RGB image
relative to ``DIR``; scenes rendered without RGB (``--gt-only``) are refused, since their images
would name files that do not exist. Extra keys, which COCO readers ignore: on images
``scene`` and ``frame``, on annotations ``instance_id`` (the segmentation id, stable over a scene's
frames: a track id). With ``amodal`` (``scenesim export coco --amodal``, scenes rendered with the
``amodal`` pass), each annotation also has ``amodal_segmentation`` (RLE of the full silhouette as if
unoccluded), ``amodal_bbox`` [x, y, w, h], ``amodal_area`` and ``visible_fraction`` (area /
amodal_area), as in COCO-style amodal datasets (KINS, COCOA); an instance is annotated in the
frames it is visible in.

The RLE encoder and decoder are our own (``rle_encode``, ``rle_decode``); ``validate_coco`` checks a
document against the format, so the tests need no pycocotools.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sim.errors import OutputError
from sim.format import PASSES
from sim.io import find_scenes, find_views, read_metadata, read_pass


def mask_runs(mask: np.ndarray) -> list[int]:
    """Run lengths of a bool (H, W) mask read column by column (COCO's order), starting with a run
    of zeros (of length 0 when pixel (0, 0) is set)."""
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], edges, [flat.size]])
    runs = np.diff(bounds).tolist()
    return [0, *runs] if flat.size and flat[0] else runs


def _pack(counts: list[int]) -> str:
    """COCO's string form of run lengths: from the fourth on, each minus the run two before it;
    then each as signed 5-bit groups, least significant first, bit 6 = more groups follow, + 48."""
    out = []
    for i, count in enumerate(counts):
        x = count - counts[i - 2] if i > 2 else count
        more = True
        while more:
            group = x & 0x1F
            x >>= 5
            more = x != -1 if group & 0x10 else x != 0
            out.append(chr(group + (0x20 if more else 0) + 48))
    return "".join(out)


def _unpack(text: str) -> list[int]:
    """Inverse of ``_pack``."""
    counts: list[int] = []
    p = 0
    while p < len(text):
        x, shift, more = 0, 0, True
        while more:
            if p >= len(text):
                raise OutputError(f"RLE counts {text[:20]!r}: ends inside a number")
            c = ord(text[p]) - 48
            x |= (c & 0x1F) << shift
            more = bool(c & 0x20)
            p += 1
            shift += 5
            if not more and c & 0x10:
                x |= -1 << shift
        counts.append(x + counts[-2] if len(counts) > 2 else x)
    return counts


def rle_encode(mask: np.ndarray) -> dict[str, Any]:
    """COCO compressed RLE ``{"size": [H, W], "counts": str}`` of a bool (H, W) mask."""
    height, width = mask.shape
    return {"size": [int(height), int(width)], "counts": _pack(mask_runs(mask))}


def rle_decode(rle: Mapping[str, Any]) -> np.ndarray:
    """bool (H, W) mask from COCO RLE, compressed (``counts`` a string) or not (a list of ints)."""
    height, width = rle["size"]
    counts = _unpack(rle["counts"]) if isinstance(rle["counts"], str) else list(rle["counts"])
    if sum(counts) != height * width or any(c < 0 for c in counts):
        raise OutputError(f"RLE: counts sum to {sum(counts)}, expected {height}x{width} = {height * width}")
    values = np.arange(len(counts)) % 2 == 1
    return np.repeat(values, counts).reshape((height, width), order="F")


def _categories(scenes: list[dict[str, Any]]) -> dict[str, int]:
    """Category name -> COCO id: the job's category table (``metadata.json`` ``categories``, the ids
    of the ``semantic`` pass) when every scene has the same one; else (scenes of format 1.2 and
    before, or of different jobs) the names in use, sorted, numbered from 1."""
    tables = [m.get("categories") for m in scenes]
    if tables[0] is not None and all(t == tables[0] for t in tables):
        return {name: int(i) for i, name in tables[0].items()}
    names = sorted({inst.get("category") or inst["asset"] for m in scenes for inst in m["instances"]})
    return {name: i + 1 for i, name in enumerate(names)}


def _scene_annotations(scene_name: str, path: Path, root: Path, metadata: dict[str, Any],
                       categories: dict[str, int], image_id: int, ann_id: int,
                       amodal: bool) -> Iterator[tuple[str, dict[str, Any]]]:
    """("image" | "annotation", entry) of one camera's view ``path`` of scene ``scene_name``, reading
    one segmentation (and amodal) frame at a time."""
    width, height = metadata["scene"]["resolution"]
    instances = metadata["instances"]
    camera = metadata["camera"].get("name", "camera")
    for t in range(metadata["scene"]["frames"]):
        yield "image", {"id": image_id, "file_name": os.path.relpath(path / PASSES["rgba"].filename(t), root),
                        "width": width, "height": height, "scene": scene_name, "camera": camera, "frame": t}
        seg = read_pass(path, "segmentation", t, (width, height))
        masks = read_pass(path, "amodal", t, (width, height), len(instances)) if amodal else None
        for inst in instances:
            box = inst["bbox_2d"][t]
            if box is None:
                continue
            mask = seg == inst["id"]
            x0, y0, x1, y1 = box
            annotation = {
                "id": ann_id, "image_id": image_id, "instance_id": inst["id"],
                "category_id": categories[inst.get("category") or inst["asset"]],
                "segmentation": rle_encode(mask), "area": int(mask.sum()),
                "bbox": [x0, y0, x1 - x0, y1 - y0], "iscrowd": 0}
            if masks is not None:
                full = masks[inst["id"] - 1]
                a0, b0, a1, b1 = inst["amodal_bbox_2d"][t]
                annotation.update(amodal_segmentation=rle_encode(full), amodal_area=int(full.sum()),
                                  amodal_bbox=[a0, b0, a1 - a0, b1 - b0],
                                  visible_fraction=inst["visible_fraction"][t])
            yield "annotation", annotation
            ann_id += 1
        image_id += 1


def coco_document(root: Path, amodal: bool = False) -> dict[str, Any]:
    """The COCO document (a JSON-ready dict) of every complete scene in a scene or job directory
    (of a multi-camera scene, every camera's frames); ``amodal``: add the amodal masks (module
    docstring)."""
    root = Path(root)
    named = [(scene.name, view) for scene in find_scenes(root) for view in find_views(scene)]
    paths = [view for _, view in named]
    metadata = [read_metadata(p) for p in paths]
    for p, m in zip(paths, metadata, strict=True):
        for needed in ("segmentation", "amodal") if amodal else ("segmentation",):
            if needed not in m["passes"]:
                raise OutputError(f"pass {needed!r}: {p} was rendered without it (it has "
                                  f"{', '.join(m['passes'])}); COCO{' --amodal' if amodal else ''} needs it")
        if "rgba" not in m["passes"]:
            raise OutputError(f"{p}: has no RGB images (rendered with --gt-only), which COCO image "
                              "entries refer to; render the job with RGB to export it")
    categories = _categories(metadata)
    doc: dict[str, Any] = {
        "info": {"description": f"scenesim export of {root.name}", "version": "1.0"},
        "licenses": [],
        "images": [], "annotations": [],
        "categories": [{"id": i, "name": name, "supercategory": name.partition(":")[0]}
                       for name, i in categories.items()],
    }
    for (scene_name, p), m in zip(named, metadata, strict=True):
        for kind, entry in _scene_annotations(scene_name, p, root, m, categories, len(doc["images"]) + 1,
                                              len(doc["annotations"]) + 1, amodal):
            doc["images" if kind == "image" else "annotations"].append(entry)
    return doc


def export_coco(root: Path, out: Path, amodal: bool = False) -> dict[str, int]:
    """Writes the COCO document of ``root`` to ``out`` (JSON), with amodal masks if ``amodal``;
    returns its counts of images, annotations and categories."""
    doc = coco_document(root, amodal)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(doc))
    os.replace(tmp, out)
    return {k: len(doc[k]) for k in ("images", "annotations", "categories")}


def validate_coco(doc: Mapping[str, Any]) -> None:
    """Raises OutputError naming the first entry of ``doc`` that breaks the COCO instance format:
    required keys and types, unique ids, references to existing images and categories, boxes inside
    their image, RLE of the image's size whose pixel count equals ``area``."""
    for key in ("images", "annotations", "categories"):
        if not isinstance(doc.get(key), list):
            raise OutputError(f"COCO: {key!r} missing or not a list")
    images = {im["id"]: im for im in doc["images"]}
    categories = {c["id"] for c in doc["categories"]}
    if len(images) != len(doc["images"]) or len(categories) != len(doc["categories"]):
        raise OutputError("COCO: duplicate image or category ids")
    for c in doc["categories"]:
        if not isinstance(c.get("name"), str) or not isinstance(c.get("id"), int):
            raise OutputError(f"COCO category {c}: needs an int id and a str name")
    for im in images.values():
        if not all(isinstance(im.get(k), int) for k in ("width", "height")) or \
                not isinstance(im.get("file_name"), str):
            raise OutputError(f"COCO image {im.get('id')}: needs int width, height and a str file_name")
    seen: set[int] = set()
    for a in doc["annotations"]:
        where = f"COCO annotation {a.get('id')}"
        if a.get("id") in seen or not isinstance(a.get("id"), int):
            raise OutputError(f"{where}: id missing or duplicated")
        seen.add(a["id"])
        image = images.get(a.get("image_id"))
        if image is None or a.get("category_id") not in categories or a.get("iscrowd") not in (0, 1):
            raise OutputError(f"{where}: unknown image_id or category_id, or iscrowd not 0/1")
        x, y, w, h = a["bbox"]
        if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > image["width"] or y + h > image["height"]:
            raise OutputError(f"{where}: bbox {a['bbox']} outside its image "
                              f"({image['width']}x{image['height']})")
        rle = a["segmentation"]
        if list(rle.get("size", [])) != [image["height"], image["width"]]:
            raise OutputError(f"{where}: RLE size {rle.get('size')}, expected [height, width]")
        if int(rle_decode(rle).sum()) != a["area"]:
            raise OutputError(f"{where}: area {a['area']} differs from the mask's pixel count")


def export_command(args: argparse.Namespace) -> int:
    """``scenesim export coco DIR OUT``: writes the document and prints what it holds."""
    counts = export_coco(args.dir, args.out, getattr(args, "amodal", False))
    print(f"{args.out}: {counts['images']} images, {counts['annotations']} annotations, "
          f"{counts['categories']} categories")
    return 0
