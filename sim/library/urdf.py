"""A minimal URDF reader (xml.etree, no PyBullet): the visual and collision geometry of a one-body
URDF, each element as a shape placed in the link frame by a 4×4 matrix.

URDF conventions: lengths in metres; ``<origin xyz rpy>`` with roll-pitch-yaw about the fixed
x, y, z axes (R = Rz(yaw) Ry(pitch) Rx(roll)); ``<box size>`` full side lengths; ``<cylinder>``
along the element's z axis; ``<mesh scale>`` per-axis factors on the file's coordinates. Mesh
file names are resolved against the URDF's folder (``package://pkg/rest`` searches the URDF's
folder and its ancestors for ``rest``; ``file://`` is an absolute path).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.errors import AssetError

SHAPE_TAGS = ("mesh", "box", "sphere", "cylinder")


@dataclass(frozen=True, eq=False)
class UrdfShape:
    """One ``<visual>`` or ``<collision>`` element.

    kind: ``mesh`` | ``box`` | ``sphere`` | ``cylinder``. path: the mesh file (``mesh`` only).
    matrix: (4, 4) float64 taking the shape's own coordinates into the link frame (metres): the
    mesh file's coordinates for ``mesh`` (scale included), else the unit shape spanning
    [-1, 1]^3 (cylinder axis z), so a box of size (a, b, c) has matrix origin @ diag(a/2, b/2, c/2).
    """

    kind: str
    path: Path | None
    matrix: np.ndarray


@dataclass(frozen=True, eq=False)
class UrdfBody:
    """The geometry of the one link of a URDF that has any: ``visuals`` and ``collisions`` in file
    order, the first visual's ``color`` (RGBA in [0, 1], or None) and ``texture`` (absolute path
    from ``<material><texture filename>``, or None)."""

    visuals: tuple[UrdfShape, ...]
    collisions: tuple[UrdfShape, ...]
    color: tuple[float, float, float, float] | None
    texture: Path | None


def rpy_matrix(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """(3, 3) rotation of URDF roll-pitch-yaw (radians): Rz(yaw) @ Ry(pitch) @ Rx(roll)."""
    cr, sr, cp, sp = np.cos(roll), np.sin(roll), np.cos(pitch), np.sin(pitch)
    cy, sy = np.cos(yaw), np.sin(yaw)
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    return rz @ ry @ rx


def _floats(path: Path, elem: ET.Element, attr: str, default: str, n: int) -> np.ndarray:
    text = elem.get(attr, default)
    try:
        values = np.array([float(v) for v in text.split()])
    except ValueError:
        values = np.array([])
    if len(values) != n or not np.isfinite(values).all():
        raise AssetError(f"{path}: <{elem.tag} {attr}={text!r}>: expected {n} finite numbers")
    return values


def _resolve(urdf: Path, name: str) -> Path:
    if name.startswith("file://"):
        return Path(name[len("file://"):])
    if name.startswith("package://"):
        rest = Path(*Path(name[len("package://"):]).parts[1:])
        for folder in (urdf.parent, *urdf.parent.parents):
            if (folder / rest).is_file():
                return folder / rest
        return urdf.parent / rest
    return (urdf.parent / name).resolve()


def _shape(urdf: Path, elem: ET.Element) -> UrdfShape:
    origin = elem.find("origin")
    pose = np.eye(4)
    if origin is not None:
        pose[:3, :3] = rpy_matrix(*_floats(urdf, origin, "rpy", "0 0 0", 3))
        pose[:3, 3] = _floats(urdf, origin, "xyz", "0 0 0", 3)
    geometry = elem.find("geometry")
    shapes = [] if geometry is None else list(geometry)
    if len(shapes) != 1 or shapes[0].tag not in SHAPE_TAGS:
        found = ", ".join(f"<{s.tag}>" for s in shapes) or "nothing"
        raise AssetError(f"{urdf}: <{elem.tag}><geometry> holds {found}; expected one of "
                         + ", ".join(f"<{t}>" for t in SHAPE_TAGS))
    g = shapes[0]
    if g.tag == "mesh":
        if not g.get("filename"):
            raise AssetError(f"{urdf}: <mesh> without a filename")
        return UrdfShape("mesh", _resolve(urdf, g.get("filename", "")),
                         pose @ np.diag([*_floats(urdf, g, "scale", "1 1 1", 3), 1.0]))
    if g.tag == "box":
        half = _floats(urdf, g, "size", "", 3) / 2
    elif g.tag == "sphere":
        half = np.repeat(_floats(urdf, g, "radius", "", 1), 3)
    else:
        radius, length = _floats(urdf, g, "radius", "", 1)[0], _floats(urdf, g, "length", "", 1)[0]
        half = np.array([radius, radius, length / 2])
    if not (half > 0).all():
        raise AssetError(f"{urdf}: <{g.tag}> has a non-positive size {2 * half}")
    return UrdfShape(g.tag, None, pose @ np.diag([*half, 1.0]))


def _material(urdf: Path, elem: ET.Element | None, named: dict[str, ET.Element]
              ) -> tuple[tuple[float, float, float, float] | None, Path | None]:
    if elem is None:
        return None, None
    if elem.find("color") is None and elem.find("texture") is None and elem.get("name") in named:
        elem = named[elem.get("name", "")]
    color_elem, texture_elem = elem.find("color"), elem.find("texture")
    color = None
    if color_elem is not None:
        rgba = _floats(urdf, color_elem, "rgba", "", 4)
        color = (float(rgba[0]), float(rgba[1]), float(rgba[2]), float(rgba[3]))
    texture = _resolve(urdf, texture_elem.get("filename", "")) if texture_elem is not None else None
    return color, texture


def read_urdf(path: Path) -> UrdfBody:
    """Parses a URDF with one link carrying geometry (others, e.g. empty world links, are ignored)."""
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as e:
        raise AssetError(f"{path}: not a readable URDF ({e})") from None
    if root.tag != "robot":
        raise AssetError(f"{path}: the root element is <{root.tag}>, expected <robot>")
    named = {m.get("name", ""): m for m in root.findall("material")}
    links = [link for link in root.findall("link") if link.find("visual") is not None
             or link.find("collision") is not None]
    if len(links) != 1:
        raise AssetError(f"{path}: {len(links)} links have geometry; only one-body URDFs are supported")
    visuals = tuple(_shape(path, v) for v in links[0].findall("visual"))
    collisions = tuple(_shape(path, c) for c in links[0].findall("collision"))
    first = links[0].find("visual")
    color, texture = _material(path, None if first is None else first.find("material"), named)
    return UrdfBody(visuals, collisions, color, texture)
