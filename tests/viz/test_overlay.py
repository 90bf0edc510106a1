import numpy as np

from diffuhand.kinematics.poses import named_poses
from diffuhand.viz.overlay import assumed_intrinsics, draw_skeleton, fit_translation


def test_translation_recovered_from_a_projection():
    from diffuhand.kinematics.fk import forward_kinematics
    from diffuhand.kinematics.limits import load_limits

    _, angles, ratios = named_poses(load_limits())
    joints = forward_kinematics(angles, ratios, 88.0).numpy()
    K = assumed_intrinsics(640, 480)
    for j, t in zip(joints[:4], ([30.0, -20.0, 450.0], [-80.0, 10.0, 300.0], [0.0, 0.0, 900.0], [5.0, 60.0, 250.0])):
        pts = (j + t) @ K.T
        uv = pts[:, :2] / pts[:, 2:]
        assert np.allclose(fit_translation(j, uv, K), t, atol=1e-6)
        uv[3] = np.nan  # a missing joint is ignored
        assert np.allclose(fit_translation(j, uv, K), t, atol=1e-6)


def test_skeleton_drawn_only_where_joints_are():
    img = np.zeros((100, 100, 3), np.uint8)
    uv = np.stack([np.linspace(10, 90, 21), np.full(21, 50.0)], 1)
    out = draw_skeleton(img, uv)
    assert out[50, 10:90].any(axis=-1).all() and not out[:30].any() and not img.any()
