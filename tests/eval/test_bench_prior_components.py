"""benchmarks/bench_prior_components.py: held-out scores by whole groups prefer the mixture that matches the data."""

import numpy as np
import pytest

from diffuhand.kinematics.limits import load_limits

from ..conftest import load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("bench_prior_components")


def test_held_out_by_group_is_not_fooled_by_near_copies(bench):
    """Poses from one Gaussian, each group (a "sequence") ten near copies of one pose. Held out by whole groups,
    one component beats twelve; split pose by pose, the copies left in training make twelve (fitted to them) look
    far better. A split that ignored the groups would pick the overfitted mixture."""
    lim = load_limits()
    free = np.nonzero(lim.angle_max > lim.angle_min)[0]
    free = free[free >= 3]
    rng = np.random.default_rng(0)
    angles, groups = [], []
    for g in range(100):
        centre = lim.angle_neutral.copy()
        centre[free] += rng.normal(size=len(free)) * 0.05
        for _ in range(10):
            x = centre.copy()
            x[free] += rng.normal(size=len(free)) * 0.002
            angles.append(x)
            groups.append(f"seq{g}")
    angles, groups = np.array(angles), np.array(groups)
    by_group = bench.held_out_scores(angles, groups, [1, 12], folds=3, limits=lim)
    by_pose = bench.held_out_scores(angles, np.arange(len(angles)).astype(str), [1, 12], folds=3, limits=lim)
    assert len(by_group[1]) == 3
    assert np.mean(by_group[1]) > np.mean(by_group[12]) + 10
    assert np.mean(by_pose[12]) > np.mean(by_pose[1]) + 10


def test_each_gesture_pose_is_a_group_and_the_folds_share_them_out(bench):
    """The sequences keep their frames together; each of the gesture poses is its own group, so that every fold of
    a split by groups holds some of them."""
    sequences = np.repeat([f"seq{i}" for i in range(20)], 30)
    groups = bench.pose_groups(sequences, 100)
    assert len(groups) == 700 and list(groups[:600]) == list(sequences)
    assert len(np.unique(groups[600:])) == 100 and not set(groups[600:]) & set(sequences)
    masks = bench.held_out_masks(groups, 5)
    assert np.array_equal(np.sum(masks, axis=0), np.ones(len(groups)))  # each pose held out by one fold
    for test in masks:
        assert test[600:].sum() > 5
