"""Builds Blender data from a ``Scene``: shapes, materials, lights, world, camera and per-frame poses
(imports bpy).

Geometry (canonical frame, before ``SceneObject.scale``): every asset but three is the canonical
visual OBJ of ``sim.library`` (``AssetInfo.visual_path``), imported once per asset and shared by its
objects, shaded smooth with edges sharper than ``SMOOTH_ANGLE_RAD`` kept sharp unless the file has
its own normals; an asset with an image texture (``AssetInfo.texture_path``) gets it, through the
mesh's UVs, as base colour times the material's ``color``. The analytic primitives are built
exactly instead (and their deviation from the shapes the physics simulates is):

- cube: 8 vertices, 6 flat quads: exact.
- sphere: one point of radius 1 made by a geometry-nodes "Mesh to Points" modifier; Cycles
  intersects points as exact spheres, so depth, normal and object coordinates are exact (measured
  radius error ≤ 5e-5 relative, float32 rounding), unlike a tessellated UV sphere (1e-3 at 96×48).
- cylinder: ``CYLINDER_SEGMENTS`` side quads shaded smooth (vertex normals exactly radial by
  symmetry) and two flat caps with their own vertices; every vertex lies on the exact cylinder, so
  surfaces deviate inward by at most 1 − cos(π / CYLINDER_SEGMENTS) = 7.5e-5 of the radius.

Blender's cameras, suns and area lights look down their local −Z with +Y up; our rotations use
OpenCV axes (x right, y down, looking along +z), converted by ``blender_rotation``.
"""

from __future__ import annotations

import bpy
import mathutils
import numpy as np

from sim.errors import RenderError
from sim.library import AssetInfo, get_asset
from sim.scene import Background, Camera, Light, SceneObject
from sim.transforms import look_at_rotation

CYLINDER_SEGMENTS = 256
SMOOTH_ANGLE_RAD = np.radians(30.0)
"""Imported meshes without normals: edges between faces at a larger angle stay sharp."""
OBJECT_COORDINATES_AOV = "object_coordinates"
"""Name of the colour AOV the ground-truth material writes the normalised object coordinate into."""
COORD_SCALE_ATTRIBUTE = "scenesim_coord_scale"
COORD_OFFSET_ATTRIBUTE = "scenesim_coord_offset"
"""Per-object custom properties (read by the ground-truth material as object attributes): the object
coordinate p (canonical frame) normalised by the asset's bounds is p · scale + offset, with
scale = 1/(hi − lo) and offset = −lo/(hi − lo)."""

OPENCV_TO_BLENDER = np.diag([1.0, -1.0, -1.0])
CLIP_START_M = 1e-3
CLIP_END_M = 1e5
SUN_ANGLE_RAD = 0.00918
"""Angular diameter of sun lights (0.526°, the real sun's; Blender's default)."""


def blender_rotation(r_opencv: np.ndarray) -> np.ndarray:
    """(3, 3) camera-to-world rotation in OpenCV axes -> the same for a Blender camera/light."""
    return np.asarray(r_opencv) @ OPENCV_TO_BLENDER


def _cube_mesh() -> bpy.types.Mesh:
    corners = [(x, y, z) for z in (-1.0, 1.0) for y in (-1.0, 1.0) for x in (-1.0, 1.0)]
    faces = [(0, 2, 3, 1), (4, 5, 7, 6), (0, 1, 5, 4), (2, 6, 7, 3), (0, 4, 6, 2), (1, 3, 7, 5)]
    mesh = bpy.data.meshes.new("cube")
    mesh.from_pydata(corners, [], faces)
    return mesh


def _cylinder_mesh(n: int = CYLINDER_SEGMENTS) -> bpy.types.Mesh:
    angles = 2.0 * np.pi * np.arange(n) / n
    ring = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    # side bottom ring 0…n−1, side top ring n…2n−1, cap bottom 2n…3n−1, cap top 3n…4n−1
    verts = np.concatenate([np.column_stack([ring, np.full(n, z)]) for z in (-1.0, 1.0, -1.0, 1.0)])
    i = np.arange(n)
    j = (i + 1) % n
    sides = np.stack([i, j, n + j, n + i], axis=1).tolist()
    caps = [list(range(3 * n - 1, 2 * n - 1, -1)), list(range(3 * n, 4 * n))]
    mesh = bpy.data.meshes.new("cylinder")
    mesh.from_pydata(verts.tolist(), [], sides + caps)
    mesh.polygons.foreach_set("use_smooth", [True] * n + [False, False])
    return mesh


def _point_mesh() -> bpy.types.Mesh:
    mesh = bpy.data.meshes.new("sphere_point")
    mesh.from_pydata([(0.0, 0.0, 0.0)], [], [])
    return mesh


def _sphere_node_group() -> bpy.types.NodeTree:
    """Geometry nodes: every vertex -> a point of radius 1 with the material given as input."""
    group = bpy.data.node_groups.new("sphere_points", "GeometryNodeTree")
    group.interface.new_socket("Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
    group.interface.new_socket("Material", in_out="INPUT", socket_type="NodeSocketMaterial")
    group.interface.new_socket("Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    nodes, links = group.nodes, group.links
    inputs, output = nodes.new("NodeGroupInput"), nodes.new("NodeGroupOutput")
    to_points = nodes.new("GeometryNodeMeshToPoints")
    to_points.inputs["Radius"].default_value = 1.0
    set_material = nodes.new("GeometryNodeSetMaterial")
    links.new(inputs.outputs["Geometry"], to_points.inputs["Mesh"])
    links.new(to_points.outputs["Points"], set_material.inputs["Geometry"])
    links.new(inputs.outputs["Material"], set_material.inputs["Material"])
    links.new(set_material.outputs["Geometry"], output.inputs["Geometry"])
    return group


def _imported_mesh(info: AssetInfo) -> bpy.types.Mesh:
    """The mesh of the asset's canonical visual OBJ (already Z-up: imported with +Y forward, +Z up,
    so coordinates are kept), shaded smooth with sharp edges by ``SMOOTH_ANGLE_RAD`` unless the
    file has normals. The importer's object is removed; only its mesh is kept."""
    before = set(bpy.data.objects)
    bpy.ops.wm.obj_import(filepath=info.visual_path, forward_axis="Y", up_axis="Z")
    new = [o for o in bpy.data.objects if o not in before]
    if len(new) != 1 or new[0].type != "MESH":
        raise RenderError(f"asset {info.id}: importing {info.visual_path} gave {len(new)} objects, expected "
                          "one mesh; delete the asset cache (sim.library.cache_dir()) and retry")
    mesh = new[0].data
    bpy.data.objects.remove(new[0])
    mesh.materials.clear()
    if not mesh.has_custom_normals:
        mesh.shade_smooth()
        mesh.set_sharp_from_angle(angle=SMOOTH_ANGLE_RAD)
    return mesh


def _material(obj: SceneObject, info: AssetInfo) -> bpy.types.Material:
    """Principled BSDF (base colour, roughness, metallic) for the RGB image. The base colour is
    ``obj.material.color``, times the asset's image texture (sampled with the mesh's UVs) if it has
    one. (The ground truth renders every object with ``ground_truth_material`` instead.)"""
    mat = bpy.data.materials.new(obj.name)
    tree = mat.node_tree  # new materials come with a node tree in Blender 5 (use_nodes is deprecated)
    tree.nodes.clear()
    bsdf = tree.nodes.new("ShaderNodeBsdfPrincipled")
    bsdf.inputs["Base Color"].default_value = (*obj.material.color, 1.0)
    if info.texture_path is not None:
        texture = tree.nodes.new("ShaderNodeTexImage")
        texture.image = bpy.data.images.load(info.texture_path, check_existing=True)
        tint = tree.nodes.new("ShaderNodeMix")
        tint.data_type, tint.blend_type = "RGBA", "MULTIPLY"
        tint.inputs["Factor"].default_value = 1.0
        tint.inputs["B"].default_value = (*obj.material.color, 1.0)
        tree.links.new(texture.outputs["Color"], tint.inputs["A"])
        tree.links.new(tint.outputs["Result"], bsdf.inputs["Base Color"])
    bsdf.inputs["Roughness"].default_value = obj.material.roughness
    bsdf.inputs["Metallic"].default_value = obj.material.metallic
    out = tree.nodes.new("ShaderNodeOutputMaterial")
    tree.links.new(bsdf.outputs["BSDF"], out.inputs["Surface"])
    return mat


def ground_truth_material() -> bpy.types.Material:
    """The one material of the ground-truth view layer (its ``material_override``): an emission
    closure, the cheapest opaque surface (no BSDF to set up, evaluate or sample; the normal pass is
    then the interpolated shading normal, as with a BSDF on its default normal), plus the AOV
    ``OBJECT_COORDINATES_AOV`` = "Object" texture coordinate · ``COORD_SCALE_ATTRIBUTE`` +
    ``COORD_OFFSET_ATTRIBUTE`` (per-object attributes set by ``add_objects``). Rendering ground truth
    with it instead of the objects' Principled BSDFs takes ~35% less CPU time at 1 sample and gives
    the same depth, index and coordinates (normals within 2e-7)."""
    mat = bpy.data.materials.new("ground_truth")
    tree = mat.node_tree
    tree.nodes.clear()
    emission = tree.nodes.new("ShaderNodeEmission")
    out = tree.nodes.new("ShaderNodeOutputMaterial")
    tree.links.new(emission.outputs["Emission"], out.inputs["Surface"])
    coords = tree.nodes.new("ShaderNodeTexCoord")
    scale, offset = (tree.nodes.new("ShaderNodeAttribute") for _ in range(2))
    for node, name in ((scale, COORD_SCALE_ATTRIBUTE), (offset, COORD_OFFSET_ATTRIBUTE)):
        node.attribute_type = "OBJECT"
        node.attribute_name = name
    normalise = tree.nodes.new("ShaderNodeVectorMath")
    normalise.operation = "MULTIPLY_ADD"
    tree.links.new(coords.outputs["Object"], normalise.inputs[0])
    tree.links.new(scale.outputs["Vector"], normalise.inputs[1])
    tree.links.new(offset.outputs["Vector"], normalise.inputs[2])
    aov = tree.nodes.new("ShaderNodeOutputAOV")
    aov.aov_name = OBJECT_COORDINATES_AOV
    tree.links.new(normalise.outputs["Vector"], aov.inputs["Color"])
    return mat


def add_objects(objects: tuple[SceneObject, ...], collection: bpy.types.Collection) -> list[bpy.types.Object]:
    """One Blender object per scene object, in scene order, with ``pass_index`` = scene index + 1 and
    ``scale`` = ``SceneObject.scale`` (so "Object" texture coordinates stay canonical) and the
    object-coordinate normalisation of its asset's bounds as the custom properties
    ``COORD_SCALE_ATTRIBUTE`` and ``COORD_OFFSET_ATTRIBUTE``. Objects of one asset share a mesh; each
    has its own material."""
    makers = {"primitive:cube": _cube_mesh, "primitive:cylinder": _cylinder_mesh,
              "primitive:sphere": _point_mesh}
    meshes: dict[str, bpy.types.Mesh] = {}
    sphere_group = None
    out = []
    for k, obj in enumerate(objects):
        info = get_asset(obj.asset)
        if obj.asset not in meshes:
            maker = makers.get(obj.asset)
            meshes[obj.asset] = maker() if maker is not None else _imported_mesh(info)
            meshes[obj.asset].materials.append(None)
        b_obj = bpy.data.objects.new(obj.name, meshes[obj.asset])
        collection.objects.link(b_obj)
        mat = _material(obj, info)
        b_obj.material_slots[0].link = "OBJECT"
        b_obj.material_slots[0].material = mat
        if obj.asset == "primitive:sphere":
            sphere_group = sphere_group or _sphere_node_group()
            modifier = b_obj.modifiers.new("sphere_points", "NODES")
            modifier.node_group = sphere_group
            modifier[sphere_group.interface.items_tree["Material"].identifier] = mat
        b_obj.pass_index = k + 1
        lo, hi = (np.array(b, dtype=np.float64) for b in info.bounds)
        b_obj[COORD_SCALE_ATTRIBUTE] = tuple(float(v) for v in 1.0 / (hi - lo))
        b_obj[COORD_OFFSET_ATTRIBUTE] = tuple(float(v) for v in -lo / (hi - lo))
        b_obj.scale = obj.scale
        b_obj.rotation_mode = "QUATERNION"
        out.append(b_obj)
    return out


def set_poses(b_objects: list[bpy.types.Object], positions: np.ndarray, quaternions: np.ndarray) -> None:
    """Places object k at ``positions[k]`` (m) with rotation ``quaternions[k]`` (w, x, y, z)."""
    for b_obj, p, q in zip(b_objects, positions, quaternions, strict=True):
        b_obj.location = tuple(float(v) for v in p)
        b_obj.rotation_quaternion = tuple(float(v) for v in q)


def pixel_aspect(camera: Camera) -> tuple[float, float]:
    """Blender's (pixel_aspect_x, pixel_aspect_y) for ``camera.fy_over_fx``: with a horizontal
    sensor fit Cycles keeps fx = lens / sensor_width × width and gives fy = fx × x / y (both >= 1)."""
    ratio = camera.fy_over_fx
    return (ratio, 1.0) if ratio >= 1.0 else (1.0, 1.0 / ratio)


def lens_shift(camera: Camera, resolution: tuple[int, int]) -> tuple[float, float]:
    """Blender's (shift_x, shift_y) putting the principal point at ``camera.principal_point``.
    With a horizontal sensor fit Cycles moves it by shift_x × width pixels to the left and by
    shift_y × width × fy/fx pixels up, so cx = width (0.5 − shift_x) and
    cy = height / 2 + shift_y × width × fy/fx (rows counted downward)."""
    width, height = resolution
    cx, cy = camera.principal_point
    return 0.5 - cx, (cy - 0.5) * height / (width * camera.fy_over_fx)


def add_camera(camera: Camera, resolution: tuple[int, int],
               collection: bpy.types.Collection) -> bpy.types.Object:
    """A pinhole camera with horizontal sensor fit, ``lens`` = focal length of frame 0 (mm) and the
    lens shift of ``lens_shift``, matching ``sim.transforms.intrinsics`` together with the scene's
    ``pixel_aspect`` (a render setting, set by ``sim.render.cycles``)."""
    data = bpy.data.cameras.new("camera")
    data.sensor_fit = "HORIZONTAL"
    data.sensor_width = camera.sensor_width_mm
    data.lens = camera.focal_length_at(0)
    data.shift_x, data.shift_y = lens_shift(camera, resolution)
    data.clip_start, data.clip_end = CLIP_START_M, CLIP_END_M
    b_cam = bpy.data.objects.new("camera", data)
    b_cam.rotation_mode = "QUATERNION"  # like the objects: a pose keyframes as location + quaternion
    collection.objects.link(b_cam)
    return b_cam


def set_camera_pose(b_cam: bpy.types.Object, cam_to_world: np.ndarray, focal_length_mm: float) -> None:
    """Places the camera from a (4, 4) camera-to-world matrix in OpenCV axes and sets its focal
    length (mm)."""
    m = np.array(cam_to_world, dtype=np.float64)
    m[:3, :3] = blender_rotation(m[:3, :3])
    b_cam.matrix_world = mathutils.Matrix(m.tolist())
    b_cam.data.lens = float(focal_length_mm)


def keyframe_poses(b_objects: list[bpy.types.Object], b_cam: bpy.types.Object, times: np.ndarray,
                   positions: np.ndarray, quaternions: np.ndarray, cam_to_world: np.ndarray,
                   focal_lengths_mm: np.ndarray, interpolation: str = "CONSTANT") -> None:
    """Keyframes, at each of the (K,) fractional frame ``times``, every object (``positions``
    (K, N, 3) m, ``quaternions`` (K, N, 4) (w, x, y, z)) and the camera (``cam_to_world`` (K, 4, 4),
    OpenCV axes; ``focal_lengths_mm`` (K,)) with the given Blender ``interpolation``, so that
    evaluating one of these times poses everything exactly as ``set_poses`` and
    ``set_camera_pose`` with those values do (CONSTANT for whole frames; LINEAR between the dense
    sub-frame samples of motion blur)."""
    edit = bpy.context.preferences.edit
    before = edit.keyframe_new_interpolation_type
    edit.keyframe_new_interpolation_type = interpolation
    previous: dict[str, np.ndarray] = {}
    try:
        for k, time in enumerate(times):
            set_poses(b_objects, positions[k], quaternions[k])
            set_camera_pose(b_cam, cam_to_world[k], focal_lengths_mm[k])
            for b_obj in (*b_objects, b_cam):
                q = np.array(b_obj.rotation_quaternion)
                if b_obj.name in previous and q @ previous[b_obj.name] < 0:
                    q = -q  # the same rotation; keeps linear interpolation on the short arc
                    b_obj.rotation_quaternion = tuple(float(v) for v in q)
                previous[b_obj.name] = q
                b_obj.keyframe_insert("location", frame=float(time))
                b_obj.keyframe_insert("rotation_quaternion", frame=float(time))
            b_cam.data.keyframe_insert("lens", frame=float(time))
    finally:
        edit.keyframe_new_interpolation_type = before


def add_lights(lights: tuple[Light, ...], collection: bpy.types.Collection) -> None:
    """Sun (strength = irradiance W/m², direction position -> look_at, ``SUN_ANGLE_RAD`` wide),
    point (power W, radius 0: a true point) and area (square of side ``size`` m,
    power W, facing look_at). Lights are invisible to camera rays so RGB matches the ground truth."""
    for k, light in enumerate(lights):
        data = bpy.data.lights.new(f"light_{k}", light.kind.upper())
        data.color = light.color
        data.energy = light.intensity
        if light.kind == "sun":
            data.angle = SUN_ANGLE_RAD
        elif light.kind == "point":
            data.shadow_soft_size = 0.0
        elif light.kind == "area":
            data.shape = "SQUARE"
            data.size = light.size
        b_light = bpy.data.objects.new(f"light_{k}", data)
        b_light.visible_camera = False
        m = np.eye(4)
        m[:3, :3] = blender_rotation(look_at_rotation(np.array(light.position), np.array(light.look_at)))
        m[:3, 3] = light.position
        b_light.matrix_world = mathutils.Matrix(m.tolist())
        collection.objects.link(b_light)


def make_world(background: Background) -> bpy.types.World:
    """The world seen where no object is and lighting the scene, emitting with
    ``background.strength``: a uniform ``color`` (linear RGB), Blender's sky texture (multiple
    scattering; sun ``sun_elevation`` rad above the horizon at azimuth ``rotation`` rad from +x,
    counter-clockwise), or the environment image ``path`` (equirectangular) turned by ``rotation``
    rad about +z."""
    world = bpy.data.worlds.new("background")
    tree = world.node_tree
    tree.nodes.clear()
    node = tree.nodes.new("ShaderNodeBackground")
    node.inputs["Strength"].default_value = background.strength
    if background.kind == "color":
        node.inputs["Color"].default_value = (*background.color, 1.0)
    elif background.kind == "sky":
        sky = tree.nodes.new("ShaderNodeTexSky")
        sky.sky_type = "MULTIPLE_SCATTERING"
        sky.sun_elevation = background.sun_elevation
        sky.sun_rotation = np.pi / 2 - background.rotation  # Blender: clockwise from +y (measured)
        tree.links.new(sky.outputs["Color"], node.inputs["Color"])
    else:
        env = tree.nodes.new("ShaderNodeTexEnvironment")
        env.image = bpy.data.images.load(background.path, check_existing=True)
        coords = tree.nodes.new("ShaderNodeTexCoord")
        turn = tree.nodes.new("ShaderNodeMapping")  # looks up direction R_z(−rotation)·d
        turn.inputs["Rotation"].default_value = (0.0, 0.0, -background.rotation)
        tree.links.new(coords.outputs["Generated"], turn.inputs["Vector"])
        tree.links.new(turn.outputs["Vector"], env.inputs["Vector"])
        tree.links.new(env.outputs["Color"], node.inputs["Color"])
    out = tree.nodes.new("ShaderNodeOutputWorld")
    tree.links.new(node.outputs["Background"], out.inputs["Surface"])
    return world
