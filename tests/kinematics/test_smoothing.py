"""Pose smoothing over time (kinematics.smoothing): within the limits, proper rotations, nothing bridged."""

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from diffuhand.kinematics.fk import euler_zyx_to_rotmat
from diffuhand.kinematics.limits import load_limits
from diffuhand.kinematics.smoothing import gaussian_weights, smooth_over_time, smooth_pose_sequence


def _track(t: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    lim = load_limits()
    angles = rng.uniform(lim.angle_min, lim.angle_max, (t, 41))
    rot = Rotation.random(t, random_state=seed).as_matrix()
    ratios = rng.uniform(lim.ratio_min, lim.ratio_max, (t, 20))
    return lim, angles, rot, ratios


def test_smoothed_poses_stay_within_the_limits_with_proper_rotations():
    lim, angles, rot, ratios = _track(40)
    a, r, b = smooth_pose_sequence(angles, rot, ratios, np.ones(40, bool), 2.0)
    assert ((a[:, 3:] >= lim.angle_min[3:] - 1e-12) & (a[:, 3:] <= lim.angle_max[3:] + 1e-12)).all()
    assert ((b >= lim.ratio_min - 1e-12) & (b <= lim.ratio_max + 1e-12)).all()
    assert np.allclose(r @ r.transpose(0, 2, 1), np.eye(3), atol=1e-10) and np.allclose(np.linalg.det(r), 1.0)
    # the root's Euler angles are those of the smoothed rotation (never averaged themselves: they wrap)
    assert np.allclose(euler_zyx_to_rotmat(torch.from_numpy(a[:, :3])).numpy(), r, atol=1e-9)


def test_a_steady_or_evenly_moving_pose_is_kept_and_jitter_is_removed():
    t = 60
    _lim, angles, _rot, ratios = _track(1)
    steady = np.tile(angles[0], (t, 1))
    ramp = steady + np.linspace(0, 0.2, t)[:, None]
    for x in (steady, ramp):  # a symmetric kernel keeps a linear trend away from the ends
        assert np.allclose(smooth_over_time(x, np.ones(t, bool), 1.5)[10:-10], x[10:-10], atol=1e-12)
    noisy = steady + np.random.default_rng(3).normal(0, 0.05, steady.shape)
    acc = np.abs(np.diff(noisy, 2, axis=0)).mean()
    assert np.abs(np.diff(smooth_over_time(noisy, np.ones(t, bool), 1.5), 2, axis=0)).mean() < 0.2 * acc
    turned = Rotation.from_rotvec(np.linspace(0, 1, t)[:, None] * [0, 0, 0.5]).as_matrix()  # an even turn
    _, r, _ = smooth_pose_sequence(
        np.tile(angles[0], (t, 1)), turned, np.tile(ratios[0], (t, 1)), np.ones(t, bool), 1.5
    )
    assert np.allclose(r[10:-10], turned[10:-10], atol=1e-4)


def test_a_gap_splits_the_track_and_invalid_frames_are_left_alone():
    _lim, angles, rot, ratios = _track(30, seed=4)
    valid = np.ones(30, bool)
    valid[12:15] = False
    angles[12:15] = np.nan
    a, r, b = smooth_pose_sequence(angles, rot, ratios, valid, 2.0)
    assert np.isnan(a[12:15]).all()
    # after the gap: the same as smoothing that run alone
    a2, r2, b2 = smooth_pose_sequence(angles[15:], rot[15:], ratios[15:], np.ones(15, bool), 2.0)
    assert np.allclose(a[15:], a2) and np.allclose(r[15:], r2) and np.allclose(b[15:], b2)
    # sigma 0: unchanged
    a0, r0, _b0 = smooth_pose_sequence(angles, rot, ratios, valid, 0.0)
    assert np.array_equal(a0, angles, equal_nan=True) and np.array_equal(r0, rot)


def test_a_frame_not_finite_that_is_called_valid_does_not_spread():
    """A NaN in a frame marked valid (a lift that failed there) splits the track as a gap does: its neighbours are
    smoothed as the runs on either side alone, never turned to NaN."""
    _lim, angles, rot, ratios = _track(30, seed=5)
    angles[14, 7] = np.nan
    a, r, b = smooth_pose_sequence(angles, rot, ratios, np.ones(30, bool), 2.0)
    assert np.isfinite(np.delete(a, 14, 0)).all() and np.isfinite(r).all() and np.isfinite(b).all()
    a2, _r2, _b2 = smooth_pose_sequence(angles[15:], rot[15:], ratios[15:], np.ones(15, bool), 2.0)
    assert np.allclose(a[15:], a2)


def test_gaussian_weights():
    k = gaussian_weights(1.5)
    assert len(k) == 11 and k.sum() == pytest.approx(1.0) and np.allclose(k, k[::-1]) and k.argmax() == 5
    assert gaussian_weights(0.0).tolist() == [1.0]
