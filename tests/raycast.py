"""The tests' one analytic renderer: exact primitives with known poses, ray-cast in numpy.

Scene objects are the exact primitives ``primitive:cube``, ``primitive:sphere`` and
``primitive:cylinder`` (canonical frame: centred, half side 1; axis z for the cylinder) scaled by
``SceneObject.scale`` and placed by object-to-world matrices (N, 4, 4) of every scene object. The
camera is the project's pinhole (``sim.transforms``: K in pixels, OpenCV axes, rays through pixel
centres (i + 0.5, j + 0.5)). Everything is float64 internally; ``render`` returns the renderer's
dtypes (``sim.frame.RENDER_OUTPUTS``) plus float64 world points and the planar depth.

It shares no code with ``sim.annotate`` (only the camera model of ``sim.transforms``), so the
ground truth the sink derives can be checked against it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sim.assets import canonical_bounds
from sim.scene import Scene
from sim.transforms import intrinsics, pixel_rays

SHAPES = ("cube", "sphere", "cylinder")


def _hit_canonical(shape: str, o: np.ndarray, d: np.ndarray, grow: float) -> tuple[np.ndarray, np.ndarray]:
    """Nearest ray parameter t > 0 (inf if none) of rays o + t d (canonical frame, (M, 3)) against the
    exact primitive scaled by ``grow`` about its origin, and the canonical gradient there (M, 3)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if shape == "cube":
            t1, t2 = (-grow - o) / d, (grow - o) / d
            near, far = np.minimum(t1, t2).max(axis=1), np.maximum(t1, t2).min(axis=1)
            t = np.where((near <= far) & (near > 0), near, np.inf)
            p = o + t[:, None] * d
            grad = np.where(np.abs(p) == np.abs(p).max(axis=1, keepdims=True), np.sign(p), 0.0)
            return t, grad
        radial = slice(None) if shape == "sphere" else slice(0, 2)
        a = (d[:, radial] ** 2).sum(1)
        b = (o[:, radial] * d[:, radial]).sum(1)
        c = (o[:, radial] ** 2).sum(1) - grow**2
        t = (-b - np.sqrt(b * b - a * c)) / a
        p = o + t[:, None] * d
        ok = t > 0 if shape == "sphere" else (t > 0) & (np.abs(p[:, 2]) <= grow)
        t_side = np.where(ok, t, np.inf)
        grad = p * ([1, 1, 1] if shape == "sphere" else [1, 1, 0])
        if shape == "sphere":
            return t_side, grad
        t_cap = np.minimum(*[np.where(v > 0, v, np.inf) for v in ((-grow - o[:, 2]) / d[:, 2],
                                                                    (grow - o[:, 2]) / d[:, 2])])
        q = o + t_cap[:, None] * d
        t_cap = np.where((q[:, :2] ** 2).sum(1) <= grow**2, t_cap, np.inf)
        grad_cap = np.zeros_like(q)
        grad_cap[:, 2] = np.sign(q[:, 2])
        cap_first = t_cap < t_side
        return np.where(cap_first, t_cap, t_side), np.where(cap_first[:, None], grad_cap, grad)


def cast(scene: Scene, obj2world: np.ndarray, origin: np.ndarray, dirs: np.ndarray, *,
         grow: float = 1.0, objects: Sequence[int] | None = None) -> dict[str, np.ndarray]:
    """The nearest hit of rays ``origin`` (3,) + λ ``dirs`` (M, 3, unit, world) with λ > 0.

    ``obj2world`` (N, 4, 4) poses of all scene objects; ``objects``: indices into ``scene.objects``
    to consider (None = all), e.g. one object alone for its amodal mask; ``grow`` scales every
    primitive about its origin (1 = exact). Returns float64 ``depth`` (M,) λ (m, +inf: no hit),
    ``index`` uint16 (M,) (0 = none, k = ``scene.objects[k-1]``), ``point`` (M, 3) world hit (NaN
    where none), ``normal`` (M, 3) unit world normal, ``coords`` (M, 3) object coordinates in
    [0, 1] (0 where none)."""
    dirs = np.asarray(dirs, dtype=np.float64)
    origin = np.asarray(origin, dtype=np.float64)
    m = len(dirs)
    out = {"depth": np.full(m, np.inf), "index": np.zeros(m, np.uint16), "normal": np.zeros((m, 3)),
           "coords": np.zeros((m, 3))}
    for k in range(len(scene.objects)) if objects is None else objects:
        obj = scene.objects[k]
        if obj.shape not in SHAPES or not obj.asset.startswith("primitive:"):
            raise ValueError(f"raycast: object {obj.name!r} is {obj.asset}; only primitive {SHAPES}")
        rot, scale = obj2world[k, :3, :3], np.array(obj.scale)
        o_local = (rot.T @ (origin - obj2world[k, :3, 3])) / scale
        d_local = (dirs @ rot) / scale  # not unit: λ stays the world distance
        hit, grad = _hit_canonical(obj.shape, np.broadcast_to(o_local, d_local.shape), d_local, grow)
        closer = hit < out["depth"]
        out["depth"] = np.where(closer, hit, out["depth"])
        normal = (grad / scale) @ rot.T
        lo, hi = canonical_bounds(obj.asset)
        p_local = o_local + hit[:, None] * d_local
        out["index"][closer] = k + 1
        out["normal"][closer] = (normal / np.linalg.norm(normal, axis=1, keepdims=True))[closer]
        out["coords"][closer] = ((p_local - lo) / (hi - lo))[closer]
    with np.errstate(invalid="ignore"):  # inf * 0 where a direction component is 0
        out["point"] = np.where(np.isfinite(out["depth"])[:, None], origin + out["depth"][:, None] * dirs,
                                np.nan)
    return out


def render(scene: Scene, cam2world: np.ndarray, obj2world: np.ndarray, *, grow: float = 1.0,
           objects: Sequence[int] | None = None) -> dict[str, np.ndarray]:
    """One frame seen by camera ``cam2world`` (4, 4, OpenCV axes) through every pixel centre, H, W =
    ``scene.resolution`` reversed: ``depth`` float32 (H, W) Euclidean m (+inf: no surface),
    ``z_depth`` float32 (H, W) along the optical axis, ``index`` uint16 (H, W), ``normal`` and
    ``coords`` float32 (H, W, 3) (0 where no surface), ``point`` float64 (H, W, 3) world (NaN where
    no surface). ``grow`` and ``objects`` as in ``cast``."""
    width, height = scene.resolution
    rays = pixel_rays(intrinsics(scene.camera, scene.resolution), scene.resolution)  # camera axes
    hits = cast(scene, obj2world, cam2world[:3, 3], rays.reshape(-1, 3) @ cam2world[:3, :3].T,
                grow=grow, objects=objects)
    out = {k: v.reshape(height, width, *v.shape[1:]) for k, v in hits.items()}
    axis_z = (out["point"] - cam2world[:3, 3]) @ cam2world[:3, 2]  # along the optical axis
    out["z_depth"] = np.where(np.isfinite(out["depth"]), axis_z, np.inf).astype(np.float32)
    out["depth"] = out["depth"].astype(np.float32)
    out["normal"] = out["normal"].astype(np.float32)
    out["coords"] = out["coords"].astype(np.float32)
    return out
