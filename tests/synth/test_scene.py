import numpy as np
import torch

from diffuhand.data.schema import project
from diffuhand.kinematics import fit_ik, forward_kinematics
from diffuhand.kinematics.conventions import mirror
from diffuhand.synth.scene import SceneConfig, render_sample


def test_joints_land_on_the_rendered_hand(renderer):
    cfg = SceneConfig(size=96, p_occluder=0.0, p_motion_blur=0.0)
    on, total = 0, 0
    for i in range(12):
        image, mask, K, hands = render_sample(np.random.default_rng([3, i]), renderer, cfg)
        assert image.shape == (96, 96, 3) and image.dtype == np.uint8 and mask.shape == (96, 96)
        for h, hand in enumerate(hands):
            np.testing.assert_allclose(project(hand.joints_3d, K), hand.joints_2d, atol=1e-6)
            for (u, v), vis in zip(hand.joints_2d, hand.visible):
                if not vis:
                    continue
                x, y = int(u), int(v)
                total += 1
                on += bool((mask[max(y - 1, 0) : y + 2, max(x - 1, 0) : x + 2] == h + 1).any())
    assert total > 100 and on / total > 0.95


def test_a_fixed_seed_reproduces_the_sample(renderer):
    cfg = SceneConfig(size=96)
    a = render_sample(np.random.default_rng([7, 1]), renderer, cfg)
    b = render_sample(np.random.default_rng([7, 1]), renderer, cfg)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert all(np.array_equal(x.joints_3d, y.joints_3d) for x, y in zip(a[3], b[3]))
    c = render_sample(np.random.default_rng([7, 2]), renderer, cfg)
    assert not np.array_equal(a[0], c[0])


def test_labels_are_the_model_left_hands_mirrored(renderer):
    cfg = SceneConfig(size=96, p_left=1.0, p_two_hands=0.0)
    _, _, _, hands = render_sample(np.random.default_rng([5, 0]), renderer, cfg)
    hand = hands[0]
    assert hand.handedness == "left"
    fk = forward_kinematics(
        torch.as_tensor(hand.angles),
        torch.as_tensor(hand.ratios),
        hand.anchor_mm,
        torch.as_tensor(hand.root_rotation),
        torch.as_tensor(hand.root_position),
    ).numpy()
    np.testing.assert_allclose(mirror(fk), hand.joints_3d, atol=1e-6)
    assert float(fit_ik(mirror(hand.joints_3d)).residual) < 0.1


def test_hand_orientations_mostly_face_the_camera():
    from diffuhand.synth.scene import hand_rotation

    rng = np.random.default_rng(0)
    cfg = SceneConfig()
    rots = np.stack([hand_rotation(rng, cfg) for _ in range(2000)])
    facing = np.abs(rots[:, 2, 2])  # |cos| between the palm normal and the viewing axis
    assert np.allclose(np.linalg.det(rots), 1.0)
    frac = (facing > np.cos(np.radians(60))).mean()
    # expected: 0.7 x P(Rayleigh(30 deg) tilt < 60 deg) + 0.3 x P(uniform |cos| > 0.5) = 0.7 x 0.865 + 0.3 x 0.5
    assert abs(frac - (0.7 * (1 - np.exp(-2.0)) + 0.15)) < 0.03
    assert (rots[:, 2, 2] > 0).mean() > 0.3 and (rots[:, 2, 2] < 0).mean() > 0.3  # palms and backs


def test_photo_variant_renders_forearms_and_keeps_labels_on_the_hand():
    """The photo-like scene (forearm, palm and nails, bounce light, room-like background, camera effects) still
    labels its hands: visible joints land on their hand's mask, and the forearm never counts as a hand."""
    import numpy as np

    from diffuhand.synth.render import Renderer
    from diffuhand.synth.scene import SceneConfig, render_sample, scene_variant

    cfg = scene_variant("photo", SceneConfig(size=96, p_occluder=0.0, p_two_hands=0.0))
    r = Renderer(96)
    on_hand, total = 0, 0
    for i in range(6):
        image, mask, K, hands = render_sample(np.random.default_rng([3, i]), r, cfg)
        assert image.shape == (96, 96, 3) and image.dtype == np.uint8
        assert set(np.unique(mask)) <= {0, 1}
        for h in hands:
            uvw = h.joints_3d @ K.T
            assert np.allclose(uvw[:, :2] / uvw[:, 2:], h.joints_2d, atol=1e-6)
            for (u, v), vis in zip(h.joints_2d, h.visible):
                if vis and 0 <= u < 96 and 0 <= v < 96:
                    total += 1
                    y, x = int(v), int(u)
                    on_hand += bool((mask[max(y - 1, 0) : y + 2, max(x - 1, 0) : x + 2] == 1).any())
    assert total > 20 and on_hand / total > 0.9


def test_unknown_variant_is_refused():
    import pytest

    from diffuhand.synth.scene import scene_variant

    with pytest.raises(ValueError, match="unknown scene variant"):
        scene_variant("glossy")


def test_creases_darken_the_palm_side_of_the_finger_joints_only():
    """The flexion creases lie across each finger's palmar side at its joints (synth.realism.CREASES): colours
    there darken, colours on the back and away from the joints do not change, and the scene is otherwise the same
    (no random draw more)."""
    from diffuhand.synth.mesh import default_hand_mesh
    from diffuhand.synth.realism import CREASE_DEPTH, CREASES, skin_colors

    mesh = default_hand_mesh()
    normals = mesh.normals @ mesh.rest_root
    tips = mesh.rest_joints[[4, 8, 12, 16, 20]]
    tone = np.array([0.8, 0.6, 0.5])

    def colours(joints):
        return skin_colors(np.random.default_rng(3), tone, mesh.vertices, normals, tips, mesh.rest_anchor, joints)

    plain, creased = colours(None), colours(mesh.rest_joints)
    ratio = (creased / np.maximum(plain, 1e-9)).mean(1)
    darker = ratio < 0.97
    assert darker.sum() > 20 and ratio.min() >= CREASE_DEPTH - 1e-6
    assert (normals[darker, 2] < 0).all()  # only palmar skin (hand frame z dorsal)
    pip = mesh.rest_joints[[c[0] for c in CREASES]]
    near = np.linalg.norm(mesh.vertices[darker][:, None] - pip[None], axis=-1).min(1)
    assert near.max() < 0.35 * mesh.rest_anchor  # at the joints, not elsewhere
    assert np.allclose(creased[normals[:, 2] > 0.2], plain[normals[:, 2] > 0.2])  # the back unchanged
