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


def test_a_large_photo_is_drawn_at_a_bounded_size(monkeypatch):
    """A 3000 x 2400 photo: overlay, mesh render and skeleton at 2048 x 1638 (the renderer's memory grows with
    the pixels: a 60 MP photo took 7.5 GB), the joints where they were, scaled."""
    from diffuhand.pipeline import HandResult
    from diffuhand.synth import render
    from diffuhand.viz import overlay
    from diffuhand.viz.overlay import MAX_OVERLAY_SIDE, render_overlay

    sizes = []

    class Renderer:  # records the size asked for instead of rendering (no GL needed)
        def __init__(self, width, height):
            sizes.append((width, height))

        def render(self, items, K, light):
            h, w = sizes[-1][1], sizes[-1][0]
            return (
                np.zeros((h, w, 3), np.uint8),
                np.zeros((h, w)),
                np.zeros((h, w), np.uint8),
                np.zeros((h, w), np.uint8),
            )

    monkeypatch.setattr(render, "Renderer", Renderer)
    monkeypatch.setattr(overlay, "Renderer", Renderer)  # bound at import there
    _, angles, ratios = named_poses()
    from diffuhand.kinematics.fk import forward_kinematics

    j3 = forward_kinematics(angles[0], ratios[0], 88.0).numpy()
    uv = j3[:, :2] * 5.0 + [1500.0, 1200.0]  # the hand in the middle of the photo, about 500 px
    hand = HandResult(
        handedness="right",
        score=0.9,
        box=np.array([1200.0, 900.0, 600.0, 600.0]),
        joints_2d=uv,
        joints_3d=j3,
        angles=angles[0].numpy(),
        bone_ratios=ratios[0].numpy(),
        uncertainty_mm=np.zeros(21),
        root_rotation=np.eye(3),
    )
    photo = np.zeros((2400, 3000, 3), np.uint8)
    out = render_overlay(photo, [hand], 88.0)
    assert MAX_OVERLAY_SIDE == 2048 and out.shape == (1638, 2048, 3) and sizes == [(2048, 1638)]
    wrist = np.round(uv[0] * 2048 / 3000).astype(int)
    assert (out[wrist[1] - 1 : wrist[1] + 2, wrist[0] - 1 : wrist[0] + 2] == 255).all()  # its white joint dot
    small = np.zeros((240, 300, 3), np.uint8)  # below the bound: drawn as it is
    assert render_overlay(small, [], 88.0).shape == (240, 300, 3)
