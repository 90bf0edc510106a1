"""MediaPipe's landmark network called directly on MediaPipe's own crop reproduces MediaPipe Hands."""

from __future__ import annotations

import math

import numpy as np
import pytest

from diffuhand.detect.landmarks import INPUT_SIZE, HandRect, hand_rect

from ..conftest import shared


def _upright_hand() -> np.ndarray:
    """2D keypoints of a hand with its fingers pointing up the image (y down)."""
    uv = np.zeros((21, 2))
    uv[0] = (100, 200)
    for f, x in enumerate((60, 80, 100, 120, 140)):
        for k in range(4):
            uv[1 + 4 * f + k] = (x + (0 if f else -20 + 5 * k), 150 - 20 * k)
    return uv


def test_rect_turns_the_hand_upright():
    uv = _upright_hand()
    r = hand_rect(uv)
    assert abs(r.rotation) < 1e-9
    # a hand pointing right is turned by +90 degrees (MediaPipe's sense)
    c = uv.mean(0)
    right = (uv - c) @ np.array([[0.0, 1.0], [-1.0, 0.0]]) + c  # (x, y) -> (-y, x): fingers now point right
    assert hand_rect(right).rotation == pytest.approx(math.pi / 2, abs=1e-9)
    # the crop is twice the keypoints' extent, shifted towards the wrist
    assert r.side == pytest.approx(2.0 * 100.0)
    assert r.cy > (uv[:, 1].max() + uv[:, 1].min()) / 2


def test_crop_map_is_the_rect():
    r = HandRect(50.0, 70.0, 112.0, 0.3)
    m = r.crop_to_image()
    centre = m[:, :2] @ [INPUT_SIZE / 2, INPUT_SIZE / 2] + m[:, 2]
    assert np.allclose(centre, [50.0, 70.0])
    corner = m[:, :2] @ [0.0, 0.0] + m[:, 2]
    assert np.linalg.norm(corner - centre) == pytest.approx(112.0 / math.sqrt(2))


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_reproduces_mediapipe_on_real_photos():
    from diffuhand.data import open_dataset
    from diffuhand.detect import MediaPipeHands
    from diffuhand.detect.landmarks import LandmarkNet
    from diffuhand.eval.metrics import pa_mpjpe

    ds = open_dataset("ge-realworld", shared("ge2019-realworld-dev"))
    net = LandmarkNet()
    ours, theirs, truth = [], [], []
    with MediaPipeHands(max_hands=1) as mp:
        for i in range(0, 100, 10):
            s = ds[i]
            d = mp(s.image)[0]
            o = net(s.image, [hand_rect(d.keypoints_2d)])
            assert np.linalg.norm(o.keypoints_2d[0] - d.keypoints_2d, axis=-1).mean() < 6.0  # px of 256
            assert o.presence[0] > 0.5 and o.features.shape == (1, 1152)
            ours.append(o.world[0] * 1000.0)
            theirs.append(d.world_mm)
            truth.append(s.joints_3d)
    a, b = pa_mpjpe(np.stack(ours), np.stack(truth)).mean_mm, pa_mpjpe(np.stack(theirs), np.stack(truth)).mean_mm
    assert abs(a - b) < 1.0, (a, b)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_right_score_is_the_hands_own_side_on_unmirrored_photos():
    """The dev photos show left hands: right_score is low on them and high on the same photos mirrored (the
    docstring once said the opposite, MediaPipe's selfie naming)."""
    from diffuhand.data import open_dataset
    from diffuhand.detect.landmarks import LandmarkNet

    ds = open_dataset("ge-realworld", shared("ge2019-realworld-dev"))
    net = LandmarkNet()
    for i in range(0, 100, 25):
        s = ds[i]
        assert s.handedness == "left"
        flipped, uv = s.image[:, ::-1].copy(), s.joints_2d.copy()
        uv[:, 0] = s.image.shape[1] - uv[:, 0]
        assert net(s.image, [hand_rect(s.joints_2d)]).right_score[0] < 0.5
        assert net(flipped, [hand_rect(uv)]).right_score[0] > 0.5
