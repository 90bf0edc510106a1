"""benchmarks/bench_render_realism.py's landmark network on crops from the true 2D (--true-crops): its bookkeeping
of sides, presence and PA, against a network whose answers are known."""

from dataclasses import dataclass

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from ..conftest import load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("bench_render_realism")


@dataclass
class _Out:
    world: np.ndarray
    right_score: np.ndarray
    presence: np.ndarray


class _KnownNet:
    """Answers each crop with the hand's own joints (metres), turned, scaled and moved (PA takes all three off),
    plus ``noise_mm`` on the listed hands, and the given handedness and presence scores; records the crops asked."""

    def __init__(self, answers):
        self.answers, self.rects, self.calls = answers, [], 0

    def __call__(self, image, rects):
        xyz, right_score, presence, noise = self.answers[self.calls]
        self.calls += 1
        self.rects += rects
        turned = 0.9 * xyz @ Rotation.from_euler("xyz", [0.3, -0.2, 1.1]).as_matrix().T + 40.0
        turned = turned + noise
        return _Out((turned / 1000.0)[None], np.array([right_score]), np.array([presence]))


def _hand(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(scale=40.0, size=(21, 3)) + [0.0, 0.0, 500.0]


def test_true_crops_count_sides_presence_and_pa(bench):
    hands = [_hand(i) for i in range(4)]
    uv = [h[:, :2] / h[:, 2:] * 300.0 + 128.0 for h in hands]
    sides = ["right", "left", "left", "right"]
    noise = np.zeros((21, 3))
    noise[4] = [6.0, 0.0, 0.0]  # one joint off on the third hand
    # right_score: > 0.5 says right; the second hand (left) is taken for a right one, the rest read as they are
    answers = [
        (hands[0], 0.9, 0.95, 0.0),
        (hands[1], 0.8, 0.9, 0.0),
        (hands[2], 0.1, 0.3, noise),
        (hands[3], 0.7, 0.99, 0.0),
    ]
    net = _KnownNet(answers)
    image = np.zeros((256, 256, 3), np.uint8)
    items = [(image, u, h, None, s) for u, h, s in zip(uv, hands, sides)]
    out = bench.measure_true_crops(net, items)
    assert net.calls == 4
    # each crop is MediaPipe's for the true 2D
    from diffuhand.detect.landmarks import hand_rect

    for r, u in zip(net.rects, uv):
        assert r == hand_rect(u)
    assert out["mirrored_rate"] == pytest.approx(0.25)
    assert out["presence_rate"] == pytest.approx(0.75)
    # exact answers but for one joint of one hand: PA comes only from that hand, on the side it was read
    assert 0.0 < out["pa_mpjpe_mm"] < 6.0 / 4
    assert out["pa_mpjpe_same_side_mm"] == pytest.approx(out["pa_mpjpe_mm"] * 4 / 3, rel=1e-6)
    exact = bench.measure_true_crops(_KnownNet([a[:3] + (0.0,) for a in answers]), items)
    assert exact["pa_mpjpe_mm"] == pytest.approx(0.0, abs=1e-6) and "pa_found_mm" not in exact
    # paired with MediaPipe's own PA: over the hands it found only (the perturbed one among them, or not)
    paired = bench.measure_true_crops(_KnownNet(answers), items, found=[True, False, True, True])
    assert paired["pa_found_mm"] == pytest.approx(out["pa_mpjpe_mm"] * 4 / 3, rel=1e-6)
    missed = bench.measure_true_crops(_KnownNet(answers), items, found=[True, True, False, True])
    assert missed["pa_found_mm"] == pytest.approx(0.0, abs=1e-6)


def test_true_crops_of_no_hands_are_nan(bench):
    out = bench.measure_true_crops(_KnownNet([]), [], found=[])
    assert len(out) == 5 and all(np.isnan(v) for v in out.values())


def test_hand_sizes_and_the_crops_zoom(bench):
    """The hands' box sides (px) and the landmark crop's zoom: a hand twice as large in the image has twice the box
    and half the zoom; nothing found leaves them as they are."""
    hand = _hand(0)
    uv = hand[:, :2] / hand[:, 2:] * 300.0 + 128.0
    image = np.zeros((256, 256, 3), np.uint8)
    small = bench.measure(lambda im: [], [(image, uv, hand, None, "right")])
    large = bench.measure(lambda im: [], [(image, 2.0 * uv, hand, None, "right")])
    box = max(np.ptp(uv[:, 0]), np.ptp(uv[:, 1]))
    assert small["hand_box_px"]["median"] == pytest.approx(box)
    assert large["hand_box_px"]["median"] == pytest.approx(2 * box)
    assert large["crop_zoom_median"] == pytest.approx(small["crop_zoom_median"] / 2)
    assert small["found"] == 0 and np.isnan(bench.measure(lambda im: [], [])["crop_zoom_median"])
