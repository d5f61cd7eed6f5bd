"""The scene: plain, validated, JSON-serialisable data (docs/architecture.md); knows nothing of
Blender or PyBullet.

Conventions (docs/format.md): right-handed world, metres, +Z up; quaternions are (w, x, y, z), unit,
object-to-world; colours are linear RGB in [0, 1]; times in frames at ``frame_rate`` (frames/s).

Every value is checked when the object is built: a bad value raises ``SceneValidationError`` whose
message names the field, the value and the allowed range. ``Scene.from_json(s.to_json()) == s``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from sim.errors import SceneValidationError

Vec3 = tuple[float, float, float]
Quat = tuple[float, float, float, float]

LIGHT_KINDS = ("sun", "point", "area")
BACKGROUND_KINDS = ("color", "sky", "hdri")
ENVIRONMENT_SUFFIXES = (".exr", ".hdr", ".png", ".jpg", ".jpeg", ".tif", ".tiff")
"""File types of ``hdri`` backgrounds (equirectangular environment images)."""
MAX_RESOLUTION = 8192
MAX_FRAMES = 100_000
CATEGORY_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
"""What ``SceneObject.category`` may be."""
CAMERA_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
"""What ``Camera.name`` may be (it names the camera's directory in a multi-camera scene)."""
MAX_PIXEL_ASPECT = 200.0
"""``Camera.fy_over_fx`` lies in [1 / this, this] (Blender's pixel aspect range)."""
MAX_PRINCIPAL_OFFSET = 5.0
"""``Camera.principal_point`` lies within this many image sizes of the image centre."""


def _fail(field_name: str, value: Any, allowed: str) -> typing.NoReturn:
    raise SceneValidationError(f"{field_name}: got {value!r}, expected {allowed}")


def _check_vec(name: str, value: Any, n: int) -> tuple[float, ...]:
    if (not isinstance(value, (tuple, list)) or len(value) != n
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        _fail(name, value, f"{n} numbers")
    out = tuple(float(v) for v in value)
    if not all(math.isfinite(v) for v in out):
        _fail(name, value, "finite numbers")
    return out


def _check_quat(name: str, value: Any) -> Quat:
    q = _check_vec(name, value, 4)
    if abs(math.sqrt(sum(c * c for c in q)) - 1.0) > 1e-6:
        _fail(name, value, "a unit quaternion (w, x, y, z)")
    return q  # type: ignore[return-value]


def _check_range(name: str, value: Any, lo: float, hi: float, *, integer: bool = False,
                 lo_open: bool = False) -> None:
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind):
        _fail(name, value, "an integer" if integer else "a number")
    ok_lo = value > lo if lo_open else value >= lo
    if not (ok_lo and value <= hi and math.isfinite(value)):
        bracket = "(" if lo_open else "["
        _fail(name, value, f"a value in {bracket}{lo}, {hi}]")


def _check_color(name: str, value: Any) -> Vec3:
    color = _check_vec(name, value, 3)
    if not all(0.0 <= c <= 1.0 for c in color):
        _fail(name, value, "linear RGB components in [0, 1]")
    return color  # type: ignore[return-value]


def _check_asset(asset: Any) -> str:
    """Checks the form of an asset id against the asset sources (``sim.library.sources``; no file
    is read); returns the part after the source."""
    from sim.library.sources import expected_forms, well_formed  # the library imports no scene code

    if not well_formed(asset):
        _fail("asset", asset, expected_forms())
    return asset.partition(":")[2]


def _set(obj: Any, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


@dataclass(frozen=True)
class Material:
    """Principled surface. ``color`` linear RGB in [0, 1]; ``roughness``, ``metallic`` in [0, 1].
    On an asset with an image texture the base colour is the texture × ``color`` (white keeps the
    texture's own colours)."""

    color: Vec3 = (0.5, 0.5, 0.5)
    roughness: float = 0.5
    metallic: float = 0.0

    def __post_init__(self) -> None:
        _set(self, "color", _check_color("color", self.color))
        _check_range("roughness", self.roughness, 0.0, 1.0)
        _check_range("metallic", self.metallic, 0.0, 1.0)


@dataclass(frozen=True)
class Keyframe:
    """A scripted object's pose at ``time`` (frames from frame 0, fractional allowed, >= 0):
    ``position`` (m) and ``quaternion`` (w, x, y, z, object-to-world)."""

    time: float
    position: Vec3
    quaternion: Quat = (1.0, 0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        _check_range("time", self.time, 0.0, float(MAX_FRAMES))
        _set(self, "time", float(self.time))
        _set(self, "position", _check_vec("position", self.position, 3))
        _set(self, "quaternion", _check_quat("quaternion", self.quaternion))


@dataclass(frozen=True)
class SceneObject:
    """One rigid object.

    ``asset``: an asset id of ``sim.library``: ``primitive:<shape>`` (``sim.library.sources``),
    ``pybullet:<name>`` (e.g. ``pybullet:duck``, ``pybullet:random_urdfs/042``) or
    ``file:/absolute/path`` to a ``.urdf``, ``.obj``, ``.glb``, ``.gltf`` or ``.stl`` file. Only the id's
    form is checked here; ``sim.assets.validate_assets`` loads the files before simulating.
    ``scale``: per-axis factor (metres per canonical unit) on the asset's canonical shape, which
    fits [-1, 1]^3 (largest side 2), so a cube of scale (s, s, s) has edge 2s metres; an asset
    whose collision shape is a sphere needs equal factors, a cylinder equal x and y (checked here
    for ``primitive:sphere`` and ``primitive:cylinder``, for other assets by ``validate_assets``).
    ``position`` (m) and ``quaternion`` (w, x, y, z) give the initial object-to-world pose;
    ``velocity`` (m/s) and ``angular_velocity`` (rad/s, world axes) the initial motion.
    ``mass`` in kg, or None for ``density`` (kg/m³) × volume. ``static`` objects never move.
    ``background`` objects get segmentation id 0 and are not instances.
    ``spawn_region``: optional ((xmin, ymin, zmin), (xmax, ymax, zmax)) in metres; if given, the
    simulator moves the object to a random position inside it (seeded by the scene seed) where it
    overlaps nothing, and ``position`` is ignored.
    ``category``: the semantic class (``semantic`` pass, COCO categories), e.g. ``duck``; None (the
    default) means the asset's catalogue category (``sim.categories.object_category``).
    ``keyframes``: a scripted (kinematic) object's poses at increasing times (``Keyframe``): it is
    not simulated but moved through them, interpolated at every physics step (position linearly,
    rotation by slerp; before the first and after the last keyframe it holds that pose), and it
    pushes dynamic objects as an immovable body moving at the interpolation's velocity.
    ``position`` and ``quaternion`` are then the first keyframe's pose (left at their defaults,
    they are set to it); it cannot be static, have a spawn region or an initial velocity.
    """

    name: str
    asset: str = "primitive:cube"
    scale: Vec3 = (1.0, 1.0, 1.0)
    position: Vec3 = (0.0, 0.0, 0.0)
    quaternion: Quat = (1.0, 0.0, 0.0, 0.0)
    velocity: Vec3 = (0.0, 0.0, 0.0)
    angular_velocity: Vec3 = (0.0, 0.0, 0.0)
    material: Material = field(default_factory=Material)
    mass: float | None = None
    density: float = 1000.0
    friction: float = 0.5
    restitution: float = 0.5
    static: bool = False
    background: bool = False
    spawn_region: tuple[Vec3, Vec3] | None = None
    category: str | None = None
    keyframes: tuple[Keyframe, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            _fail("name", self.name, "a non-empty string")
        if self.category is not None and not (isinstance(self.category, str)
                                              and CATEGORY_PATTERN.fullmatch(self.category)):
            _fail("category", self.category, "a lowercase name of letters, digits, '_' or '-' "
                  "(at most 64 characters), or null for the asset's own category")
        shape = _check_asset(self.asset)
        scale = _check_vec("scale", self.scale, 3)
        if not all(s > 0 for s in scale):
            _fail("scale", self.scale, "positive factors")
        if shape == "sphere" and not (scale[0] == scale[1] == scale[2]):
            _fail("scale", self.scale, "three equal factors for a sphere")
        if shape == "cylinder" and scale[0] != scale[1]:
            _fail("scale", self.scale, "equal x and y factors for a cylinder")
        _set(self, "scale", scale)
        _set(self, "position", _check_vec("position", self.position, 3))
        _set(self, "quaternion", _check_quat("quaternion", self.quaternion))
        _set(self, "velocity", _check_vec("velocity", self.velocity, 3))
        _set(self, "angular_velocity", _check_vec("angular_velocity", self.angular_velocity, 3))
        if not isinstance(self.material, Material):
            _fail("material", self.material, "a Material")
        if self.mass is not None:
            _check_range("mass", self.mass, 0.0, 1e6, lo_open=True)
        _check_range("density", self.density, 0.0, 1e5, lo_open=True)
        _check_range("friction", self.friction, 0.0, 10.0)
        _check_range("restitution", self.restitution, 0.0, 1.0)
        for flag in ("static", "background"):
            if not isinstance(getattr(self, flag), bool):
                _fail(flag, getattr(self, flag), "true or false")
        for motion in ("velocity", "angular_velocity"):
            if self.static and any(getattr(self, motion)):
                _fail(motion, getattr(self, motion), "(0, 0, 0) for a static object, or static false")
        if self.spawn_region is not None:
            if not isinstance(self.spawn_region, (tuple, list)) or len(self.spawn_region) != 2:
                _fail("spawn_region", self.spawn_region, "a pair (min corner, max corner)")
            lo = _check_vec("spawn_region[0]", self.spawn_region[0], 3)
            hi = _check_vec("spawn_region[1]", self.spawn_region[1], 3)
            if not all(a <= b for a, b in zip(lo, hi, strict=True)):
                _fail("spawn_region", self.spawn_region, "min corner <= max corner on every axis")
            _set(self, "spawn_region", (lo, hi))
        self._check_keyframes()

    def _check_keyframes(self) -> None:
        if not isinstance(self.keyframes, (tuple, list)) or not all(isinstance(k, Keyframe)
                                                                     for k in self.keyframes):
            _fail("keyframes", self.keyframes, "a list of Keyframe")
        _set(self, "keyframes", tuple(self.keyframes))
        if not self.keyframes:
            return
        times = [k.time for k in self.keyframes]
        if any(b <= a for a, b in zip(times, times[1:], strict=False)):
            _fail("keyframes", times, "strictly increasing keyframe times")
        for name, bad in (("static", self.static), ("spawn_region", self.spawn_region is not None),
                          ("velocity", any(self.velocity)),
                          ("angular_velocity", any(self.angular_velocity))):
            if bad:
                _fail(name, getattr(self, name), "its default for a scripted object (one with keyframes)")
        first = self.keyframes[0]
        for name, default in (("position", (0.0, 0.0, 0.0)), ("quaternion", (1.0, 0.0, 0.0, 0.0))):
            value, wanted = getattr(self, name), getattr(first, name)
            if value not in (default, wanted):
                _fail(name, value, f"{wanted} (the first keyframe's) or the default for a scripted object")
            _set(self, name, wanted)

    @property
    def scripted(self) -> bool:
        """True when the object follows its ``keyframes`` instead of being simulated."""
        return bool(self.keyframes)

    @property
    def shape(self) -> str:
        """The asset id without its source: the primitive shape name (``cube``, ``torus``, …), the
        pybullet_data name or the file path."""
        return self.asset.partition(":")[2]


@dataclass(frozen=True)
class Camera:
    """Pinhole camera: a pose per frame (position + orientation) and intrinsics per frame.

    Position: ``positions`` (m) holds one entry (fixed) or one per frame (a path). A single entry
    may move instead at a constant ``velocity`` (m per frame): at frame t it is the entry + t ×
    velocity, a straight line whatever the number of frames rendered.

    Orientation, one of two forms:

    - look-at (the default): the camera looks from its position at ``look_at`` (m; one entry or one
      per frame, or one moving at ``look_at_velocity`` m per frame) with +Z up (+Y up when looking
      straight up or down); ``look_at`` None means the origin.
    - ``quaternions``: camera-to-world rotations (w, x, y, z), unit, of the camera's OpenCV axes
      (x right, y down, looking along +z), one entry or one per frame: any orientation, roll
      included. The identity looks up the world's +z with image x along world +x; (0, 1, 0, 0)
      looks straight down with image x along world +x and image y (down) along world −y.
      ``look_at`` must then be None and ``look_at_velocity`` zero. These are the ``quaternion``
      entries of ``metadata.json``'s camera.

    Intrinsics (``sim.transforms.intrinsics``): fx = ``focal_length_mm`` / ``sensor_width_mm`` ×
    image width (pixels); ``focal_length_mm`` is one value or one per frame (a zoom).
    fy = ``fy_over_fx`` × fx (1: square pixels). The principal point is at ``principal_point`` =
    (cx / width, cy / height), fractions of the image size ((0.5, 0.5): the image centre; values
    outside [0, 1] put it outside the image, up to ``MAX_PRINCIPAL_OFFSET`` image sizes from the
    centre). No skew.

    Between frames (motion blur samples the shutter interval) positions, look-at points and focal
    lengths are interpolated linearly and quaternions by slerp, between the neighbouring frames'
    entries (``sim.transforms.camera_to_world_at``).

    ``name`` names the camera among a scene's ``cameras``. ``rig_offset_m``: the camera centre's
    offset (m) from the pose above, in the camera's own axes (x right, y down, z forward), its
    orientation unchanged: cameras of one rig share a pose and differ by it (``sim.stereo``).
    """

    focal_length_mm: float | tuple[float, ...] = 35.0
    sensor_width_mm: float = 32.0
    positions: tuple[Vec3, ...] = ((7.5, -7.5, 5.5),)
    look_at: tuple[Vec3, ...] | None = None
    velocity: Vec3 = (0.0, 0.0, 0.0)
    look_at_velocity: Vec3 = (0.0, 0.0, 0.0)
    quaternions: tuple[Quat, ...] | None = None
    principal_point: tuple[float, float] = (0.5, 0.5)
    fy_over_fx: float = 1.0
    name: str = "camera"
    rig_offset_m: Vec3 = (0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not CAMERA_NAME_PATTERN.fullmatch(self.name):
            _fail("name", self.name, "a camera name of letters, digits, '_' or '-' (at most 64)")
        _set(self, "rig_offset_m", _check_vec("rig_offset_m", self.rig_offset_m, 3))
        focal = self.focal_length_mm
        if isinstance(focal, (tuple, list)):
            if len(focal) == 0:
                _fail("focal_length_mm", focal, "a number or a non-empty list, one per frame")
            for i, f in enumerate(focal):
                _check_range(f"focal_length_mm[{i}]", f, 0.0, 10000.0, lo_open=True)
            values = tuple(float(f) for f in focal)
            _set(self, "focal_length_mm", values if len(values) > 1 else values[0])
        else:
            _check_range("focal_length_mm", focal, 0.0, 10000.0, lo_open=True)
        _check_range("sensor_width_mm", self.sensor_width_mm, 0.0, 1000.0, lo_open=True)
        _check_range("fy_over_fx", self.fy_over_fx, 1.0 / MAX_PIXEL_ASPECT, MAX_PIXEL_ASPECT)
        pp = _check_vec("principal_point", self.principal_point, 2)
        if any(abs(c - 0.5) > MAX_PRINCIPAL_OFFSET for c in pp):
            _fail("principal_point", self.principal_point, f"fractions of the image size within "
                  f"{MAX_PRINCIPAL_OFFSET} of the centre 0.5")
        _set(self, "principal_point", pp)
        if self.quaternions is not None:
            if self.look_at is not None:
                _fail("look_at", self.look_at, "null when quaternions give the orientation")
            if any(_check_vec("look_at_velocity", self.look_at_velocity, 3)):
                _fail("look_at_velocity", self.look_at_velocity, "(0, 0, 0) when quaternions give the "
                      "orientation")
        paths = [("positions", "velocity")]
        if self.quaternions is None:
            paths.append(("look_at", "look_at_velocity"))
            if self.look_at is None:
                _set(self, "look_at", None)
        for name, rate in paths:
            seq = getattr(self, name)
            if seq is None:
                _set(self, rate, _check_vec(rate, getattr(self, rate), 3))
                continue
            if not isinstance(seq, (tuple, list)) or len(seq) == 0:
                _fail(name, seq, "a non-empty list of 3-vectors")
            _set(self, name, tuple(_check_vec(f"{name}[{i}]", v, 3) for i, v in enumerate(seq)))
            _set(self, rate, _check_vec(rate, getattr(self, rate), 3))
            if any(getattr(self, rate)) and len(seq) > 1:
                _fail(rate, getattr(self, rate), f"(0, 0, 0) when {name} has one entry per frame")
        if self.quaternions is not None:
            if not isinstance(self.quaternions, (tuple, list)) or len(self.quaternions) == 0:
                _fail("quaternions", self.quaternions, "a non-empty list of unit quaternions (w, x, y, z)")
            _set(self, "quaternions", tuple(_check_quat(f"quaternions[{i}]", q)
                                            for i, q in enumerate(self.quaternions)))
            return
        for i in range(max(len(self.positions), len(self.look_at or ()))):
            if math.dist(self.position_at(i), self.look_at_at(i)) < 1e-9:
                _fail(f"look_at[{i}]", self.look_at_at(i), "a point different from the camera position")

    def position_at(self, frame: int) -> Vec3:
        """The camera position (m) at frame ``frame``."""
        return _path_point(self.positions, self.velocity, frame)

    def look_at_at(self, frame: int) -> Vec3:
        """The look-at point (m) at frame ``frame`` (look-at form only)."""
        return _path_point(self.look_at or ((0.0, 0.0, 0.0),), self.look_at_velocity, frame)

    def focal_length_at(self, frame: int) -> float:
        """The focal length (mm) at frame ``frame``."""
        focal = self.focal_length_mm
        return focal[frame] if isinstance(focal, tuple) else focal

    def per_frame_lengths(self) -> dict[str, int]:
        """Number of entries of each per-frame field (1 = the same in every frame)."""
        focal = self.focal_length_mm
        return {"positions": len(self.positions), "look_at": len(self.look_at or ((0, 0, 0),)),
                "quaternions": len(self.quaternions or ((1, 0, 0, 0),)),
                "focal_length_mm": len(focal) if isinstance(focal, tuple) else 1}


def _path_point(points: tuple[Vec3, ...], velocity: Vec3, frame: int) -> Vec3:
    """Entry ``frame`` of a per-frame path, or the single entry moved by ``frame`` × velocity."""
    if len(points) > 1:
        return points[frame]
    return tuple(p + frame * v for p, v in zip(points[0], velocity, strict=True))  # type: ignore[return-value]


@dataclass(frozen=True)
class Light:
    """A light. ``kind``: ``sun`` (``intensity`` = irradiance in W/m², direction from ``position``
    toward ``look_at``), ``point`` (``intensity`` = power in W at ``position``) or ``area``
    (power in W, a square of side ``size`` m at ``position`` facing ``look_at``)."""

    kind: Literal["sun", "point", "area"] = "sun"
    position: Vec3 = (0.0, 0.0, 10.0)
    look_at: Vec3 = (0.0, 0.0, 0.0)
    intensity: float = 3.0
    color: Vec3 = (1.0, 1.0, 1.0)
    size: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in LIGHT_KINDS:
            _fail("kind", self.kind, "one of " + ", ".join(LIGHT_KINDS))
        _set(self, "position", _check_vec("position", self.position, 3))
        _set(self, "look_at", _check_vec("look_at", self.look_at, 3))
        if math.dist(self.position, self.look_at) < 1e-9:
            _fail("look_at", self.look_at, "a point different from the light position")
        _check_range("intensity", self.intensity, 0.0, 1e7)
        _set(self, "color", _check_color("color", self.color))
        _check_range("size", self.size, 0.0, 1000.0, lo_open=True)


@dataclass(frozen=True)
class Background:
    """What the camera sees where no object is (segmentation 0, depth +inf there), and the light it
    casts on the scene, scaled by ``strength``. ``kind``:

    - ``color``: a uniform ``color`` (linear RGB).
    - ``sky``: Blender's procedural sky (Sky Texture, multiple-scattering model) with the sun
      ``sun_elevation`` rad above the horizon at azimuth ``rotation`` rad (counter-clockwise from
      +x); ``strength`` 1 is the physical daylight (irradiance ~1000 W/m²), far brighter than a
      sun ``Light`` of intensity 3: use ~0.003–0.01 with such lights' exposure.
    - ``hdri``: the equirectangular environment image at ``path`` (absolute; .exr, .hdr or an 8-bit
      image), turned by ``rotation`` rad about +z. Unturned, the image's centre column faces +x and
      its columns run clockwise seen from above (Blender's convention); the top row is the zenith.

    A field a kind does not use must keep its default (``color`` for sky and hdri, ``path`` for
    color and sky, ``sun_elevation`` for color and hdri, ``rotation`` for color).
    """

    kind: Literal["color", "sky", "hdri"] = "color"
    color: Vec3 = (0.05, 0.05, 0.05)
    strength: float = 1.0
    path: str | None = None
    rotation: float = 0.0
    sun_elevation: float = 0.5

    def __post_init__(self) -> None:
        if self.kind not in BACKGROUND_KINDS:
            _fail("kind", self.kind, "one of " + ", ".join(BACKGROUND_KINDS))
        _set(self, "color", _check_color("color", self.color))
        _check_range("strength", self.strength, 0.0, 1e4)
        _check_range("rotation", self.rotation, -2 * math.pi, 2 * math.pi)
        _check_range("sun_elevation", self.sun_elevation, -math.pi / 2, math.pi / 2)
        if self.kind == "hdri":
            if (not isinstance(self.path, str) or not os.path.isabs(self.path)
                    or not self.path.lower().endswith(ENVIRONMENT_SUFFIXES)):
                _fail("path", self.path, "an absolute path to an environment image ("
                      + ", ".join(ENVIRONMENT_SUFFIXES) + ") for kind hdri")
        used = {"color": ("color",), "sky": ("rotation", "sun_elevation"),
                "hdri": ("path", "rotation")}[self.kind]
        for f in dataclasses.fields(self):
            if f.name not in ("kind", "strength", *used) and getattr(self, f.name) != f.default:
                _fail(f.name, getattr(self, f.name), f"the default {f.default!r}: kind {self.kind} does "
                      "not use it")


@dataclass(frozen=True)
class Scene:
    """A whole scene. ``resolution`` = (width, height) in pixels; ``frames`` rendered frames
    0…frames−1 at ``frame_rate`` frames/s; physics steps at ``step_rate`` steps/s, a multiple of
    ``frame_rate``; ``gravity`` in m/s²; ``seed`` drives every random choice the simulator makes
    (spawn placement). Frame t shows the state at time t / frame_rate s (frame 0 = initial state).
    ``shutter``: motion blur, the fraction of the frame interval (0–1) the camera's shutter is open,
    centred on the frame time; 0 = none. Only the RGB image is blurred, with every object's motion
    sampled at the physics steps within the shutter interval; the ground truth stays exact at the
    frame time.

    Cameras: ``camera`` for one; ``cameras`` for several (unique names), every one rendered every
    frame of the one simulation (a stereo rig: ``sim.stereo.stereo_rig``). After construction
    ``cameras`` lists them all and ``camera`` is ``cameras[0]`` (``camera`` is ignored beside several
    ``cameras``).
    """

    objects: tuple[SceneObject, ...] = ()
    camera: Camera = field(default_factory=Camera)
    cameras: tuple[Camera, ...] = ()
    lights: tuple[Light, ...] = (Light(),)
    background: Background = field(default_factory=Background)
    resolution: tuple[int, int] = (256, 256)
    frames: int = 24
    frame_rate: int = 12
    step_rate: int = 240
    gravity: Vec3 = (0.0, 0.0, -9.81)
    seed: int = 0
    shutter: float = 0.0

    def __post_init__(self) -> None:
        for name, cls in (("objects", SceneObject), ("lights", Light)):
            seq = getattr(self, name)
            if not isinstance(seq, (tuple, list)) or not all(isinstance(o, cls) for o in seq):
                _fail(name, seq, f"a list of {cls.__name__}")
            _set(self, name, tuple(seq))
        names = [o.name for o in self.objects]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            _fail("objects", dupes, "unique object names")
        self._resolve_cameras()
        if not isinstance(self.background, Background):
            _fail("background", self.background, "a Background")
        if not isinstance(self.resolution, (tuple, list)) or len(self.resolution) != 2:
            _fail("resolution", self.resolution, "(width, height)")
        for axis, v in zip(("width", "height"), self.resolution, strict=True):
            _check_range(f"resolution {axis}", v, 1, MAX_RESOLUTION, integer=True)
        _set(self, "resolution", tuple(self.resolution))
        _check_range("frames", self.frames, 1, MAX_FRAMES, integer=True)
        _check_range("frame_rate", self.frame_rate, 1, 1000, integer=True)
        _check_range("step_rate", self.step_rate, 1, 100_000, integer=True)
        if self.step_rate % self.frame_rate:
            _fail("step_rate", self.step_rate, f"a multiple of frame_rate ({self.frame_rate})")
        _set(self, "gravity", _check_vec("gravity", self.gravity, 3))
        _check_range("seed", self.seed, 0, 2**63 - 1, integer=True)
        _check_range("shutter", self.shutter, 0.0, 1.0)
        for i, camera in enumerate(self.cameras):
            for name, n in camera.per_frame_lengths().items():
                if n not in (1, self.frames):
                    where = "camera" if len(self.cameras) == 1 else f"cameras[{i}]"
                    _fail(f"{where}.{name}", f"{n} entries", f"1 or {self.frames} (one per frame)")

    def _resolve_cameras(self) -> None:
        """Several ``cameras``: they are the cameras and ``camera`` becomes ``cameras[0]``. Otherwise
        ``camera`` is the one camera (a single entry of ``cameras`` when ``camera`` is the default),
        so ``dataclasses.replace(scene, camera=...)`` replaces a one-camera scene's camera and
        ``dataclasses.replace(scene, cameras=...)`` sets a multi-camera scene's."""
        cameras = self.cameras
        if not isinstance(cameras, (tuple, list)) or not all(isinstance(c, Camera) for c in cameras):
            _fail("cameras", cameras, "a list of Camera")
        if not isinstance(self.camera, Camera):
            _fail("camera", self.camera, "a Camera")
        if len(cameras) == 0 or (len(cameras) == 1 and self.camera != Camera()):
            cameras = (self.camera,)
        _set(self, "cameras", tuple(cameras))
        _set(self, "camera", cameras[0])
        names = [c.name for c in cameras]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            _fail("cameras", dupes, "unique camera names")

    @property
    def camera_names(self) -> tuple[str, ...]:
        """The cameras' names in scene order."""
        return tuple(c.name for c in self.cameras)

    def view(self, camera: str) -> Scene:
        """This scene seen by camera ``camera``: the same scene with that camera first (so
        ``scene.camera`` is it) and the others after it in scene order (a stereo pass needs its
        partner). Raises SceneValidationError naming the cameras for an unknown name."""
        chosen = [c for c in self.cameras if c.name == camera]
        if not chosen:
            _fail("camera", camera, f"one of the scene's cameras: {', '.join(self.camera_names)}")
        others = tuple(c for c in self.cameras if c.name != camera)
        return dataclasses.replace(self, camera=chosen[0], cameras=(chosen[0], *others))

    @property
    def instances(self) -> tuple[SceneObject, ...]:
        """Non-background objects in scene order; segmentation id k ≥ 1 is ``instances[k-1]``."""
        return tuple(o for o in self.objects if not o.background)

    @property
    def steps_per_frame(self) -> int:
        return self.step_rate // self.frame_rate

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data: a one-camera scene under ``camera`` (as before several cameras existed),
        a scene of several under ``cameras``."""
        data = _to_plain(self)
        del data["cameras" if len(self.cameras) == 1 else "camera"]
        return data

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Any) -> Scene:
        return _from_plain(cls, data, "scene")

    @classmethod
    def from_json(cls, text: str) -> Scene:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise SceneValidationError(f"scene file is not valid JSON: {e}") from None
        return cls.from_dict(data)


def _to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {f.name: _to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [_to_plain(v) for v in value]
    return value


def _from_plain(tp: Any, data: Any, path: str) -> Any:
    """Builds a value of type ``tp`` from JSON data; errors are prefixed with the field ``path``."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(data, dict):
            raise SceneValidationError(f"{path}: got {data!r}, expected an object")
        hints = typing.get_type_hints(tp)
        known = {f.name for f in dataclasses.fields(tp)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SceneValidationError(
                f"{path}: unknown field {unknown[0]!r}; allowed: {', '.join(sorted(known))}")
        kwargs = {k: _from_plain(hints[k], v, f"{path}.{k}") for k, v in data.items()}
        try:
            return tp(**kwargs)
        except SceneValidationError as e:
            raise SceneValidationError(f"{path}.{e}") from None
        except TypeError as e:  # a required field is missing
            raise SceneValidationError(f"{path}: {e}") from None
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if data is None and type(None) in args:
            return None
        return _from_plain(next(a for a in args if a is not type(None)), data, path)
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(data, list):
            return data  # the constructor reports the bad value with its field name
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_from_plain(args[0], v, f"{path}[{i}]") for i, v in enumerate(data))
        if len(args) == len(data):
            return tuple(_from_plain(a, v, f"{path}[{i}]")
                         for i, (a, v) in enumerate(zip(args, data, strict=True)))
        return tuple(data)
    return data
