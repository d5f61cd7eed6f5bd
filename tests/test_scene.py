"""Scene model: JSON round trip and validation messages that name the bad field."""

import json

import pytest

from sim.errors import SceneValidationError
from sim.scene import Background, Camera, Light, Material, Scene, SceneObject


def _scene() -> Scene:
    return Scene(
        objects=(
            SceneObject("floor", scale=(5, 5, 0.1), position=(0, 0, -0.1), static=True, background=True),
            SceneObject("ball", asset="primitive:sphere", scale=(0.5, 0.5, 0.5), position=(0, 0, 2),
                        velocity=(1, 0, 0), material=Material(color=(1, 0, 0), roughness=0.2, metallic=1),
                        spawn_region=((-1, -1, 1), (1, 1, 3)), mass=2.0),
            SceneObject("can", asset="primitive:cylinder", scale=(0.3, 0.3, 0.6), position=(2, 0, 1),
                        quaternion=(0.0, 1.0, 0.0, 0.0)),
        ),
        camera=Camera(positions=((5, -5, 3), (5, -4, 3), (5, -3, 3)), look_at=((0, 0, 0),)),
        lights=(Light(kind="point", position=(1, 2, 3), intensity=500), Light(kind="area", size=2.0)),
        background=Background(color=(0.1, 0.2, 0.3), strength=0.5),
        resolution=(64, 48), frames=3, frame_rate=24, step_rate=240, seed=7)


def test_json_round_trip_is_lossless():
    scene = _scene()
    again = Scene.from_json(scene.to_json())
    assert again == scene
    assert again.to_json() == scene.to_json()
    assert [o.name for o in scene.instances] == ["ball", "can"]
    assert scene.steps_per_frame == 10


@pytest.mark.parametrize(("path", "value", "named"), [
    (("objects", 1, "scale"), [1, -1, 1], "scene.objects[1].scale"),
    (("objects", 1, "scale"), [1, 2, 1], "scene.objects[1].scale"),  # non-uniform sphere
    (("objects", 2, "scale"), [1, 2, 1], "scene.objects[2].scale"),  # elliptic cylinder
    (("objects", 1, "asset"), "primitive:teapot", "scene.objects[1].asset"),
    (("objects", 1, "quaternion"), [1, 1, 0, 0], "scene.objects[1].quaternion"),
    (("objects", 1, "material", "roughness"), 1.5, "scene.objects[1].material.roughness"),
    (("objects", 1, "material", "color"), [2, 0, 0], "scene.objects[1].material.color"),
    (("objects", 1, "restitution"), -0.1, "scene.objects[1].restitution"),
    (("objects", 1, "mass"), 0, "scene.objects[1].mass"),
    (("objects", 1, "static"), "yes", "scene.objects[1].static"),
    (("objects", 1, "spawn_region"), [[0, 0, 0], [-1, 1, 1]], "scene.objects[1].spawn_region"),
    (("objects", 1, "position"), [0, 0], "scene.objects[1].position"),
    (("objects", 1, "position"), [0, 0, float("nan")], "scene.objects[1].position"),
    (("camera", "focal_length_mm"), -35, "scene.camera.focal_length_mm"),
    (("camera", "positions"), [[0, 0, 5], [1, 1, 5]], "scene.camera.positions"),
    (("camera", "look_at"), [[5, -5, 3]], "scene.camera.look_at[0]"),
    (("lights", 0, "kind"), "laser", "scene.lights[0].kind"),
    (("lights", 0, "intensity"), -1, "scene.lights[0].intensity"),
    (("background", "strength"), -2, "scene.background.strength"),
    (("resolution",), [-64, 48], "scene.resolution width"),
    (("resolution",), [64, 0], "scene.resolution height"),
    (("frames",), 0, "scene.frames"),
    (("frames",), 2.5, "scene.frames"),
    (("step_rate",), 250, "scene.step_rate"),
    (("seed",), -1, "scene.seed"),
])
def test_bad_field_is_named(path, value, named):
    data = _scene().to_dict()
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(SceneValidationError) as err:
        Scene.from_dict(data)
    message = str(err.value)
    assert message.startswith(named), message
    assert "\n" not in message


def test_unknown_and_missing_fields_are_named():
    data = _scene().to_dict()
    data["objects"][1]["colour"] = [1, 0, 0]
    with pytest.raises(SceneValidationError, match=r"scene.objects\[1\]: unknown field 'colour'"):
        Scene.from_dict(data)
    data = _scene().to_dict()
    del data["objects"][0]["name"]
    with pytest.raises(SceneValidationError, match=r"scene.objects\[0\].*name"):
        Scene.from_dict(data)


def test_duplicate_names_and_malformed_json_are_refused():
    with pytest.raises(SceneValidationError, match="unique object names"):
        Scene(objects=(SceneObject("a"), SceneObject("a", position=(3, 0, 0))))
    with pytest.raises(SceneValidationError, match="not valid JSON"):
        Scene.from_json("{ nope")
    with pytest.raises(SceneValidationError, match="expected an object"):
        Scene.from_json(json.dumps([1, 2]))


def test_static_object_cannot_move():
    with pytest.raises(SceneValidationError, match=r"velocity: .*static object"):
        SceneObject("floor", static=True, velocity=(1.0, 0.0, 0.0))
