"""benchmarks/bench_render_factors.py's per-joint split of MediaPipe's error (the part every hand shares, a skeleton
convention's, and the spread) and its hyperextension factor, on hands made by the FK with known offsets."""

import numpy as np
import pytest
import torch

from diffuhand.kinematics.fk import forward_kinematics
from diffuhand.kinematics.ik import hand_frame
from diffuhand.kinematics.limits import load_limits
from diffuhand.kinematics.prior import default_prior
from diffuhand.kinematics.skeleton import ANGLE_NAMES

from ..conftest import load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("bench_render_factors")


def _hands(n: int, seed: int) -> np.ndarray:
    """(n, 21, 3) mm right hands from the pose prior, turned and placed at random."""
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(seed)
    limits = load_limits()
    angles = torch.as_tensor(default_prior().sample(n, rng, limits))
    rot = torch.as_tensor(Rotation.random(n, random_state=seed).as_matrix())
    pos = torch.as_tensor(rng.uniform(-100, 100, (n, 3)) + [0, 0, 500])
    ratios = torch.as_tensor(np.broadcast_to(limits.ratio_neutral, (n, 20)).copy())
    return forward_kinematics(angles, ratios, 80.0, rot, pos).numpy()


def _similar(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """x (21, 3) moved by a random similarity (as MediaPipe's world landmarks are: another origin, scale, turn)."""
    from scipy.spatial.transform import Rotation

    r = Rotation.random(random_state=rng.integers(1 << 31)).as_matrix()
    return rng.uniform(0.8, 1.2) * x @ r.T + rng.normal(size=3) * 50


def _umeyama(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x (21, 3) moved by the similarity that best fits it to y (least squares; Umeyama 1991), in float64."""
    mx, my = x.mean(0), y.mean(0)
    u, s, vt = np.linalg.svd((y - my).T @ (x - mx))
    d = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    r = u @ d @ vt
    scale = np.trace(np.diag(s) @ d) / ((x - mx) ** 2).sum()
    return scale * (x - mx) @ r.T + my


def test_a_shared_offset_is_told_from_the_spread(bench):
    """Every hand's landmarks off by one offset per joint in the hand's own frame, plus noise: the split finds the
    offsets (in the hand frame, right side up for left hands too) and, once they are taken off, the noise's PA."""
    rng = np.random.default_rng(0)
    gt = _hands(200, seed=1)
    offset = rng.normal(size=(21, 3)) * 6.0  # mm, hand frame (x distal, y radial, z dorsal)
    offset -= offset.mean(0)  # what PA's shift would take anyway
    noise = rng.normal(size=gt.shape) * 2.0
    frames = hand_frame(gt)
    pairs, plain = [], []
    for k, (g, f, e) in enumerate(zip(gt, frames, noise)):
        shared = offset @ f.T  # the hand frame's offsets in the camera frame
        side = "left" if k % 2 else "right"
        flip = np.array([-1.0, 1.0, 1.0]) if side == "left" else np.ones(3)
        pairs.append((_similar((g + shared + e) * flip, rng), g * flip, side))
        plain.append((_similar(g + e, rng), g, "right"))
    split, noise_only = bench.joint_offsets(pairs), bench.joint_offsets(plain)
    found = np.asarray(split["mean_offset_mm"])
    # PA's turn, scale and shift absorb the part of the offsets that a similarity makes: the offsets left after
    # aligning each noiseless hand by an independent Umeyama fit, in its frame, are what is to be found
    left = [(_umeyama(g + offset @ f.T, g) - g) @ f for g, f in zip(gt, frames)]
    expected = np.mean(left, axis=0)
    assert np.abs(found - expected).max() < 0.6  # the noise's share: 2 mm over 200 hands
    assert np.linalg.norm(expected - offset) < 0.5 * np.linalg.norm(offset)
    assert split["pa_mm"] > 2 * noise_only["pa_mm"]
    assert split["pa_without_offsets_mm"] == pytest.approx(noise_only["pa_mm"], rel=0.1)
    assert np.abs(noise_only["mean_offset_mm"]).max() < 1.0


def test_the_offsets_taken_off_are_the_other_halfs(bench):
    """Cross-fitted: on a few hands of pure noise, taking off the other half's mean offsets adds that half's noise
    (the error grows), where taking off a half's own would fit the noise away (the error would shrink)."""
    rng = np.random.default_rng(5)
    gt = _hands(6, seed=6)
    pairs = [(_similar(g + rng.normal(size=g.shape) * 2.0, rng), g, "right") for g in gt]
    split = bench.joint_offsets(pairs)
    # each hand corrected by the mean of 3 others' noise: sqrt(1 + 1/3) of its own error, about 1.15x
    assert 1.05 < split["pa_without_offsets_mm"] / split["pa_mm"] < 1.3


def test_the_exact_hand_has_no_error(bench):
    rng = np.random.default_rng(3)
    gt = _hands(4, seed=4)
    split = bench.joint_offsets([(_similar(g, rng), g, "right") for g in gt])
    assert split["pa_mm"] < 1e-6 and split["pa_without_offsets_mm"] < 1e-6
    assert bench.joint_offsets([(gt[0], gt[0], "right")]) == {}


def test_hyperextension_is_the_most_negative_finger_flexion(bench):
    angles = np.zeros(len(ANGLE_NAMES))
    angles[ANGLE_NAMES.index("middle_pip.flex")] = np.radians(40.0)
    assert bench.hyperextension_deg(angles) == 0.0
    angles[ANGLE_NAMES.index("index_dip.flex")] = np.radians(-20.0)
    angles[ANGLE_NAMES.index("ring_mcp.flex")] = np.radians(-7.0)
    angles[ANGLE_NAMES.index("thumb_ip.flex")] = np.radians(-30.0)  # the thumb is not among the fingers counted
    assert bench.hyperextension_deg(angles) == pytest.approx(20.0)


def test_the_2d_error_per_joint_is_over_the_hands_box(bench):
    """With the 2D: each joint's mean distance over the longer side of the labels' 2D extent (an independent loop),
    and nothing of the 2D without it."""
    rng = np.random.default_rng(8)
    gt = _hands(5, seed=9)
    uv = [rng.uniform(0, 200, size=(21, 2)) for _ in gt]
    kp = [u + rng.normal(size=u.shape) * 3.0 for u in uv]
    split = bench.joint_offsets([(g, g, "right", k, u) for g, k, u in zip(gt, kp, uv)])
    expected = np.zeros(21)
    for k, u in zip(kp, uv):
        box = max(u[:, 0].max() - u[:, 0].min(), u[:, 1].max() - u[:, 1].min())
        expected += np.array([np.hypot(*(k[j] - u[j])) for j in range(21)]) / box / len(uv)
    assert np.allclose(split["error_2d_per_box"], expected)
    assert "error_2d_per_box" not in bench.joint_offsets([(g, g, "right") for g in gt])


def test_hands_with_and_without_2d_are_refused(bench):
    gt = _hands(2, seed=10)
    with pytest.raises(ValueError, match="2D"):
        bench.joint_offsets([(gt[0], gt[0], "right"), (gt[1], gt[1], "right", gt[1][:, :2], gt[1][:, :2])])


def test_a_shared_2d_offset_is_told_from_the_spread(bench):
    """2D keypoints off by one offset per joint in each hand's image frame (hands turned and mirrored in the image,
    as palms and backs are), plus noise: the split finds the offsets, and without them the noise's error."""
    rng = np.random.default_rng(11)
    gt = _hands(300, seed=12)
    offset = rng.normal(size=(21, 2)) * 0.05  # of the box: along the wrist-to-middle-MCP line, across to the index
    pairs = []
    for k, g in enumerate(gt):
        uv = g[:, :2] / g[:, 2:] * 500.0  # the hand's 2D, whatever it looks like
        turn = rng.uniform(0, 2 * np.pi)
        rot = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
        uv = uv @ rot.T * (np.array([-1.0, 1.0]) if k % 2 else 1.0) + 300.0
        box = max(np.ptp(uv[:, 0]), np.ptp(uv[:, 1]))
        along = (uv[9] - uv[0]) / np.linalg.norm(uv[9] - uv[0])
        across = np.array([-along[1], along[0]])
        across = across if (uv[5] - uv[17]) @ across > 0 else -across
        shift = (offset[:, :1] * along + offset[:, 1:] * across) * box
        noise = rng.normal(size=uv.shape) * 0.01 * box
        pairs.append((g, g, "right", uv + shift + noise, uv))
    split = bench.joint_offsets(pairs)
    assert np.abs(np.asarray(split["offset_2d_per_box"]) - offset).max() < 0.004
    # the noise's mean distance: 0.01 * sqrt(pi / 2) of the box, a little more with the other half's mean taken off
    assert np.mean(split["error_2d_without_offsets_per_box"]) == pytest.approx(0.01 * np.sqrt(np.pi / 2), rel=0.08)
    assert np.mean(split["error_2d_per_box"]) > 2 * np.mean(split["error_2d_without_offsets_per_box"])


def test_the_2d_offsets_taken_off_are_the_other_halfs(bench):
    """Cross-fitted in 2D too: on a few hands of pure 2D noise, taking off the other half's mean offsets adds that
    half's noise (the error grows, about sqrt(1 + 1/3) with halves of three), where a half's own would shrink it."""
    rng = np.random.default_rng(13)
    gt = _hands(6, seed=14)
    pairs = []
    for g in gt:
        uv = g[:, :2] / g[:, 2:] * 500.0 + 300.0
        pairs.append((g, g, "right", uv + rng.normal(size=uv.shape) * 2.0, uv))
    split = bench.joint_offsets(pairs)
    ratio = np.mean(split["error_2d_without_offsets_per_box"]) / np.mean(split["error_2d_per_box"])
    assert 1.05 < ratio < 1.3


def test_the_image_frame_takes_the_index_side_from_the_pinky(bench):
    """The across axis points from the pinky's MCP to the index finger's: with the index MCP on the wrist-to-middle-
    MCP line (within a hair on the pinky's side), the index side is still the side away from the pinky."""
    uv = np.zeros((21, 2))
    uv[9] = [0.0, 10.0]  # middle MCP straight up from the wrist
    uv[5] = [-1e-4, 8.0]  # index MCP on the line, a hair to the left
    uv[17] = [-3.0, 9.0]  # pinky MCP to the left: the index side is to the right
    uv[[1, 2, 3, 4]] = [[2.0, 2.0], [4.0, 4.0], [5.0, 6.0], [6.0, 8.0]]  # a thumb, for the box
    frame = bench.image_frame(uv)
    assert np.allclose(frame[:, 0], [0.0, 1.0]) and np.allclose(frame[:, 1], [1.0, 0.0])


def test_a_hand_seen_down_its_palm_is_left_out_of_the_2d_split(bench):
    """Wrist and middle MCP at one point in the image: no frame (a clear error), and the 2D split goes on over the
    other hands, saying how many it used."""
    gt = _hands(4, seed=15)
    uv = [g[:, :2] / g[:, 2:] * 500.0 + 300.0 for g in gt]
    uv[1][9] = uv[1][0]
    with pytest.raises(ValueError, match="coincide"):
        bench.image_frame(uv[1])
    split = bench.joint_offsets([(g, g, "right", u, u) for g, u in zip(gt, uv)])
    assert split["hands_2d"] == 3 and np.isfinite(split["offset_2d_per_box"]).all()


@pytest.mark.parametrize("scale", [1.0, 10.0])
def test_the_image_frame_threshold_is_relative_to_the_hands_box(bench, scale):
    """A wrist-to-middle-MCP line 1% of the hand's box has no frame, one 5% of it has, however many pixels the
    hand spans."""
    uv = _hands(1, seed=21)[0]
    uv = (uv[:, :2] / uv[:, 2:] * 500.0 + 300.0) * scale
    box = np.ptp(uv, axis=0).max()
    for share, framed in ((0.01, False), (0.05, True)):
        hand = uv.copy()
        hand[9] = hand[0] + share * box * np.array([0.6, 0.8])
        assert (bench.image_frame_or_none(hand) is not None) == framed


def test_the_2d_hands_are_counted_where_too_few_to_split(bench):
    """With one hand framed (the other seen down its palm) the 2D split is left out, and hands_2d says why."""
    gt = _hands(2, seed=16)
    uv = [g[:, :2] / g[:, 2:] * 500.0 + 300.0 for g in gt]
    uv[1][9] = uv[1][0]
    split = bench.joint_offsets([(g, g, "right", u, u) for g, u in zip(gt, uv)])
    assert split["hands_2d"] == 1 and "error_2d_per_box" not in split
    assert "hands_2d" not in bench.joint_offsets([(g, g, "right") for g in gt])
