"""Camera and rotation math against hand-computed values."""

import numpy as np
from numpy.testing import assert_allclose

from sim.scene import Camera
from sim.transforms import (
    camera_to_world,
    intrinsics,
    invert_rigid,
    look_at_rotation,
    matrix_to_quat,
    pixel_rays,
    pose_matrix,
    project,
    quat_to_matrix,
)


def test_quaternion_matrix_round_trip():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(50, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    q[q[:, 0] < 0] *= -1
    for qi in q:
        assert_allclose(matrix_to_quat(quat_to_matrix(qi)), qi, atol=1e-12)
    # 90 degrees about z maps x to y
    c = np.sqrt(0.5)
    assert_allclose(quat_to_matrix([c, 0, 0, c]) @ [1, 0, 0], [0, 1, 0], atol=1e-12)


def test_look_at_is_opencv_axes():
    r = look_at_rotation(np.array([0.0, -5.0, 0.0]), np.zeros(3))
    assert_allclose(r[:, 2], [0, 1, 0], atol=1e-12)   # looks along +y world
    assert_allclose(r[:, 0], [1, 0, 0], atol=1e-12)   # image x to the right
    assert_allclose(r[:, 1], [0, 0, -1], atol=1e-12)  # image y down = world -z
    assert_allclose(np.linalg.det(r), 1.0)
    straight_down = look_at_rotation(np.array([0.0, 0.0, 5.0]), np.zeros(3))
    assert_allclose(straight_down[:, 2], [0, 0, -1], atol=1e-12)


def test_projection_of_the_look_at_point_is_the_image_centre():
    cam = Camera(focal_length_mm=35, sensor_width_mm=32, positions=((3.0, -4.0, 2.0),))
    K = intrinsics(cam, (64, 48))
    assert_allclose(K, [[70, 0, 32], [0, 70, 24], [0, 0, 1]])
    w2c = invert_rigid(camera_to_world(cam, 1))[0]
    p_cam = w2c[:3, :3] @ np.zeros(3) + w2c[:3, 3]
    assert_allclose(p_cam, [0, 0, np.sqrt(29)], atol=1e-12)
    assert_allclose(project(K, p_cam), [32, 24])


def test_pixel_rays_pass_through_pixel_centres():
    K = np.array([[50.0, 0, 16], [0, 50.0, 8], [0, 0, 1]])
    rays = pixel_rays(K, (32, 16))
    assert rays.shape == (16, 32, 3)
    assert_allclose(np.linalg.norm(rays, axis=-1), 1.0)
    assert_allclose(project(K, rays[3, 7]), [7.5, 3.5])


def test_pose_inverse():
    m = pose_matrix(np.array([1.0, 2.0, 3.0]), np.array([np.sqrt(0.5), np.sqrt(0.5), 0, 0]))
    assert_allclose(invert_rigid(m) @ m, np.eye(4), atol=1e-12)
