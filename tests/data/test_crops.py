import numpy as np
import pytest
import torch

from diffuhand.data import HandSample, open_dataset
from diffuhand.data.augment import Augmenter
from diffuhand.data.crops import crop_sample, flip_sample, square_box, to_right_hand, unflip_joints
from diffuhand.data.schema import project

from ..conftest import shared


def dot_sample(u=70.3, v=40.6, width=160, height=120):
    """A black image with one bright dot where a joint projects."""
    img = np.zeros((height, width, 3), np.uint8)
    img[int(v), int(u)] = 255
    K = np.array([[300.0, 0, 80], [0, 300.0, 60], [0, 0, 1]])
    j3 = np.random.default_rng(0).normal(size=(21, 3)) * 20 + [0, 0, 400]
    j3[8] = [(int(u) + 0.5 - 80) * 400 / 300, (int(v) + 0.5 - 60) * 400 / 300, 400]  # joint 8 on the dot's centre
    return HandSample(
        joints_3d=j3,
        valid=np.ones(21, bool),
        handedness="left",
        dataset="t",
        index=0,
        image=img,
        K=K,
        joints_2d=project(j3, K),
    )


def bright_centroid(img):
    w = img.sum(-1).astype(float)
    ys, xs = np.nonzero(w)
    return np.array([(xs * w[ys, xs]).sum(), (ys * w[ys, xs]).sum()]) / w[ys, xs].sum() + 0.5


def test_crop_keeps_3d_and_moves_k():
    s = dot_sample()
    c = crop_sample(s, size=64, margin=1.4, shift=(0.05, -0.05), scale=1.1)
    assert c.image.shape == (64, 64, 3)
    np.testing.assert_array_equal(c.joints_3d, s.joints_3d)  # the crop changes only K
    np.testing.assert_allclose(project(c.joints_3d, c.K), c.joints_2d, atol=1e-9)
    np.testing.assert_allclose(bright_centroid(c.image), c.joints_2d[8], atol=0.75)  # px: the pixels moved with K


def test_square_box_covers_the_valid_joints():
    s = dot_sample()
    x, y, side = square_box(s.joints_2d, s.valid, margin=1.0)
    assert side == pytest.approx(np.ptp(s.joints_2d, axis=0).max())
    lo, hi = np.array([x, y]), np.array([x + side, y + side])
    assert (s.joints_2d >= lo - 1e-9).all() and (s.joints_2d <= hi + 1e-9).all()


def test_flip_is_a_mirror_and_undoes_itself():
    s = dot_sample()
    f = flip_sample(s)
    assert f.handedness == "right" and f.extra["flipped"]
    np.testing.assert_allclose(project(f.joints_3d, f.K), f.joints_2d, atol=1e-9)
    np.testing.assert_allclose(bright_centroid(f.image), f.joints_2d[8], atol=0.75)
    back = flip_sample(f)
    np.testing.assert_allclose(back.joints_3d, s.joints_3d)
    np.testing.assert_array_equal(back.image, s.image)
    assert to_right_hand(s).handedness == "right" and to_right_hand(f) is f
    np.testing.assert_allclose(unflip_joints(f.joints_3d, True), s.joints_3d)


def test_real_left_hand_becomes_a_right_hand():
    from diffuhand.kinematics import fit_ik

    s = open_dataset("ge-realworld", shared("ge2019-realworld-dev"))[3]
    r = to_right_hand(crop_sample(s, size=128))
    assert r.handedness == "right"
    assert float(fit_ik(r.joints_3d).residual) < 3.0  # now it fits the right-hand model
    np.testing.assert_allclose(project(r.joints_3d, r.K), r.joints_2d, atol=1e-6)


def test_augmenter_gives_two_different_views_of_one_crop():
    torch.manual_seed(0)
    aug = Augmenter(size=64, seed=0)
    crop, views = aug(dot_sample(), views=2)
    assert len(views) == 2 and views[0].shape == (3, 64, 64) and views[0].dtype == torch.float32
    assert 0.0 <= float(views[0].min()) and float(views[0].max()) <= 1.0
    assert not torch.equal(views[0], views[1])
    np.testing.assert_allclose(project(crop.joints_3d, crop.K), crop.joints_2d, atol=1e-9)
