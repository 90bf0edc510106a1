"""Each protocol on hand-made cases whose answer is known."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from diffuhand.eval import interhand_mpjpe, pa_mpjpe, procrustes_align, spurr_protocol
from diffuhand.kinematics import forward_kinematics, named_poses


@pytest.fixture(scope="module")
def gt():
    _, angles, ratios = named_poses()
    j = forward_kinematics(angles, ratios, 85.0).numpy()
    return j + np.array([10.0, -20.0, 400.0])  # somewhere in front of a camera


def test_perfect_prediction(gt):
    for fn in (spurr_protocol, interhand_mpjpe, pa_mpjpe):
        res = fn(gt, gt)
        assert res.mean_mm == pytest.approx(0.0, abs=1e-9) and res.samples == len(gt)
    res = spurr_protocol(gt, gt)
    assert res.auc_0_50 == pytest.approx(1.0) and res.auc_20_50 == pytest.approx(1.0) and res.pck[0] == 1.0


def test_spurr_ignores_position_and_scale_not_shape(gt):
    palm = 0.5 * (gt[:, :1] + gt[:, 9:10])
    moved = (gt - palm) * 1.7 + np.array([100.0, 50.0, 30.0])
    assert spurr_protocol(moved, gt).mean_mm == pytest.approx(0.0, abs=1e-9)
    # InterHand does not rescale: the error is 0.7x each joint's distance from the wrist
    expect = np.mean([np.mean(0.7 * np.linalg.norm(gt[:, j] - gt[:, 0], axis=-1)) for j in range(21)])
    assert interhand_mpjpe((gt - gt[:, :1]) * 1.7, gt - gt[:, :1]).mean_mm == pytest.approx(expect)


def test_spurr_one_joint_off_and_visibility(gt):
    pred = gt.copy()
    pred[:, 8] += [0.0, 10.0, 0.0]  # index tip 10 mm off: not the palm, not the reference bone
    res = spurr_protocol(pred, gt)
    assert res.per_joint_mm[8] == pytest.approx(10.0) and res.mean_mm == pytest.approx(10.0 / 21)
    vis = np.ones((len(gt), 21), dtype=bool)
    vis[:, 8] = False
    hidden = spurr_protocol(pred, gt, vis)
    assert np.isnan(hidden.per_joint_mm[8]) and hidden.mean_mm == pytest.approx(0.0, abs=1e-9)
    # the palm counts when either the wrist or the middle MCP is visible
    vis[:, 0] = False
    assert not np.isnan(spurr_protocol(pred, gt, vis).per_joint_mm[0])
    vis[:, 9] = False
    assert np.isnan(spurr_protocol(pred, gt, vis).per_joint_mm[0])


def test_spurr_per_keypoint_mean_not_pooled(gt):
    pred = gt.copy()
    pred[0, 8] += [30.0, 0, 0]  # only sample 0
    vis = np.ones((len(gt), 21), dtype=bool)
    vis[1:, 8] = False  # joint 8 is visible in sample 0 alone
    res = spurr_protocol(pred, gt, vis)
    assert res.per_joint_mm[8] == pytest.approx(30.0)
    assert res.mean_mm == pytest.approx(30.0 / 21)  # pooled over all visible joints it would be far smaller


def test_pck_and_auc_for_a_known_error(gt):
    err = 25.0
    pred = gt.copy()
    pred[:, 1:9] += [0.0, 0.0, err]  # thumb and index joints: 8 of 21 keypoints off by 25 mm
    res = spurr_protocol(pred, gt)
    t = np.linspace(0, 50, 20)
    curve = (13 + 8 * (t >= err)) / 21
    np.testing.assert_allclose(res.pck, curve)
    area = lambda x, y: np.sum((y[1:] + y[:-1]) / 2 * np.diff(x)) / (x[-1] - x[0])
    assert res.auc_0_50 == pytest.approx(area(t, curve))
    assert res.auc_20_50 == pytest.approx(area(t[8:], curve[8:]))
    assert t[8] == pytest.approx(21.0526, abs=1e-3)


def test_interhand_valid_joints_and_wrist(gt):
    pred = gt + 5.0
    pred[:, 12] += [0.0, 0.0, 8.0]
    valid = np.ones((len(gt), 21), dtype=bool)
    assert interhand_mpjpe(pred, gt, valid).mean_mm == pytest.approx(8.0 / 21)
    valid[:, 12] = False
    assert interhand_mpjpe(pred, gt, valid).mean_mm == pytest.approx(0.0, abs=1e-9)
    valid[0, 0] = False  # no wrist: nothing of that hand can be measured
    res = interhand_mpjpe(pred, gt, valid)
    assert res.mean_mm == pytest.approx(0.0, abs=1e-9)


def test_procrustes_recovers_a_similarity(gt):
    rot = Rotation.from_euler("xyz", [30, -50, 120], degrees=True).as_matrix()
    pred = 0.6 * gt @ rot.T + np.array([5.0, 7.0, -3.0])
    np.testing.assert_allclose(procrustes_align(pred, gt), gt, atol=1e-9)
    assert pa_mpjpe(pred, gt).mean_mm == pytest.approx(0.0, abs=1e-9)
    assert spurr_protocol(pred, gt).mean_mm > 10.0  # the rotation is an error for the camera-frame protocol
    # a reflection is not a rotation: a mirrored hand keeps an error
    assert pa_mpjpe(gt * np.array([-1.0, 1.0, 1.0]), gt).mean_mm > 1.0


def test_shape_errors(gt):
    with pytest.raises(ValueError, match=r"\(N, 21, 3\)"):
        spurr_protocol(gt[:, :20], gt[:, :20])
