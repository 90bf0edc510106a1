"""The lift stage: one path for predict, evaluate and the temporal model's training; the shipped fusion lift."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from diffuhand.errors import DiffuhandError, DiffuhandWarning
from diffuhand.kinematics import forward_kinematics, named_pose
from diffuhand.kinematics.skeletons import load_skeleton
from diffuhand.lift import FusionConfig, FusionLifter, HandInput, NetworkLifter, load_lifter, photo_camera

from .conftest import load_benchmark


def _hand(side: str, width: int = 320, height: int = 240):
    """A right hand posed in front of the camera of a width x height photo, as a detector would report it (2D
    keypoints and exact 3D), mirrored to a left hand if asked -> (HandInput, joints mm)."""
    import roma

    angles, _ = named_pose("peace")
    ratios = load_skeleton("ge2019").bone_ratios
    rot = roma.rotvec_to_rotmat(torch.tensor([0.3, -0.4, 2.8], dtype=torch.float64))
    j = forward_kinematics(
        torch.as_tensor(angles),
        torch.as_tensor(ratios),
        88.0,
        rot,
        torch.tensor([15.0, 10.0, 500.0], dtype=torch.float64),
    ).numpy()
    K = photo_camera(width, height)
    uv = (j @ K.T)[:, :2] / j[:, 2:]
    if side == "left":  # the mirror image of the scene: the photo mirrored about its vertical axis
        uv = uv * [-1.0, 1.0] + [width, 0.0]
        j = j * [-1.0, 1.0, 1.0]
    from diffuhand.data.crops import square_box

    return HandInput(side, 0.9, square_box(uv), uv, j - j.mean(0)), j


def test_fusion_recovers_a_hand_and_mirrors_left_ones():
    lifter = FusionLifter(FusionConfig(prior_weight=0.0))
    K = photo_camera(320, 240)
    (right,) = lifter.lift(None, [_hand("right")[0]], K)
    left_input, left_mm = _hand("left")
    (left,) = lifter.lift(np.zeros((240, 320, 3), np.uint8), [left_input], K)
    # the lift's output is the right-hand model: a left hand's is that of its mirror image, the same as the right's
    assert np.abs(left.joints - right.joints).max() < 1e-3
    rel = (left_mm - left_mm[0]) * [-1.0, 1.0, 1.0] / 88.0
    assert np.linalg.norm(left.joints - rel, axis=-1).mean() < 0.01  # anchor lengths: under a millimetre
    assert np.isfinite(left.uncertainty).all() and (left.uncertainty[1:] > 0).all()
    with pytest.raises(DiffuhandError, match="2D keypoints and its 3D"):
        lifter.lift(None, [HandInput("right", 1.0, np.array([0.0, 0.0, 10.0]))], K)


def test_estimator_with_the_fusion_lift_reports_the_hand_in_millimetres():
    from diffuhand.detect.mediapipe import HandDetection
    from diffuhand.pipeline import Estimator

    hand, mm = _hand("left")

    class Stub:
        def __call__(self, image):
            return [HandDetection(hand.keypoints_2d, hand.world_mm, "left", 0.9, hand.box)]

    est = Estimator(FusionLifter(FusionConfig(prior_weight=0.0)), detector=Stub())
    (res,) = est.predict(np.zeros((240, 320, 3), np.uint8))
    assert res.handedness == "left"
    assert np.linalg.norm(res.joints_3d - (mm - mm[0]), axis=-1).mean() < 1.0
    assert est.model is None and est.ik == "fusion"


def test_the_benchmarks_world_landmark_rows_run_through_the_estimator():
    """bench_lift_models hands its MediaPipe rows to the Estimator, which lifts in batches (lift_many): a lifter
    without it broke the whole table (fixed with this test)."""
    from diffuhand.detect.mediapipe import HandDetection
    from diffuhand.pipeline import Estimator

    bench = load_benchmark("bench_lift_models")
    hand, mm = _hand("left")

    class Stub:
        def __call__(self, image):
            return [HandDetection(hand.keypoints_2d, hand.world_mm, "left", 0.9, hand.box)]

    for row in (bench.WorldLandmarks(ik=False), bench.WorldLandmarks(ik=True)):
        (res,) = Estimator(row, detector=Stub()).predict(np.zeros((240, 320, 3), np.uint8))
        # the detector's exact 3D, as it is or through the IK: the hand itself, at the anchor's scale
        truth = (mm - mm[0]) / np.linalg.norm(mm[5] - mm[0])
        got = res.joints_3d / np.linalg.norm(res.joints_3d[5] - res.joints_3d[0])
        assert np.linalg.norm(got - truth, axis=-1).mean() < 0.02


def test_load_lifter_by_name_and_unused_options_are_said():
    lifter = load_lifter()
    assert isinstance(lifter, FusionLifter) and lifter.config.skeleton == "ge2019"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_lifter("hand", sampler={"samples": 1}, backend="auto")
    assert any(issubclass(w.category, DiffuhandWarning) and "sampler" in str(w.message) for w in caught)
    assert load_lifter("hand", skeleton="mano").config.skeleton == "mano"
    assert isinstance(load_lifter("keypoints", backend="torch"), NetworkLifter)
    assert load_lifter().identity == load_lifter().identity != load_lifter(skeleton="mano").identity


def test_evaluation_runs_the_same_lift():
    """predict_dataset through the lift gives what the lift gives, placed at the true wrist and scale."""
    from diffuhand.data.schema import HandDataset
    from diffuhand.eval.run_model import predict_dataset

    hand, mm = _hand("right")
    K = photo_camera(320, 240)
    ds = HandDataset(
        "toy",
        [{"joints_3d": mm, "joints_2d": hand.keypoints_2d, "valid": np.ones(21, bool), "K": K, "handedness": "right"}],
        load_images=False,
    )
    lifter = FusionLifter(FusionConfig(prior_weight=0.0, ray_turn="off"))
    with pytest.raises(ValueError, match="world_mm"):
        predict_dataset(lifter, ds, progress=False)
    out = predict_dataset(lifter, ds, progress=False, world_mm=hand.world_mm[None])["final"][0]
    assert np.linalg.norm(out - mm, axis=-1).mean() < 0.5


def test_ray_turn_reads_the_detectors_3d_as_seen_along_the_ray():
    """A detector that sees a hand off the optical axis reports its 3D as seen along the viewing ray (its crop is
    centred there): turned back by the ray's rotation, the fit recovers the hand; with the camera only assumed the
    turn is left out ("known-camera")."""
    from diffuhand.lift.fusion import ray_rotation

    hand, mm = _hand("right")
    K = photo_camera(320, 240)
    R = ray_rotation(K, hand.keypoints_2d.mean(0))
    assert np.allclose(
        R @ [0.0, 0.0, 1.0],
        np.linalg.solve(K, [*hand.keypoints_2d.mean(0), 1.0])
        / np.linalg.norm(np.linalg.solve(K, [*hand.keypoints_2d.mean(0), 1.0])),
    )
    seen = HandInput("right", 0.9, hand.box, hand.keypoints_2d, hand.world_mm @ R)  # R^T x: the ray's frame
    lifter = FusionLifter(FusionConfig(prior_weight=0.0))  # ray_turn "known-camera"
    (known,) = lifter.lift(None, [seen], K, camera_known=True)
    (assumed,) = lifter.lift(None, [seen], K)
    truth = (mm - mm[0]) / 88.0
    assert np.linalg.norm(known.joints - truth, axis=-1).mean() < 0.01
    assert np.linalg.norm(assumed.joints - truth, axis=-1).mean() > np.linalg.norm(known.joints - truth, axis=-1).mean()


@pytest.mark.parametrize("width,height", [(640, 480), (1920, 1080)])
def test_orientation_does_not_depend_on_where_the_hand_is(width, height):
    """The same hand (same camera-frame orientation) at the centre and near the corner of a frame with an ordinary
    lens, reported as a detector sees it (its 3D along the viewing ray): with the frame's camera, the lifted
    orientation is the same at both places (issue 17, item 3)."""
    import roma

    from diffuhand.data.crops import square_box
    from diffuhand.lift.fusion import ray_rotation

    angles, _ = named_pose("relaxed")
    ratios = load_skeleton("ge2019").bone_ratios
    rot = roma.rotvec_to_rotmat(torch.tensor([2.9, 0.2, -0.3], dtype=torch.float64)).numpy()
    K = np.array([[0.8 * width, 0, width / 2], [0, 0.8 * width, height / 2], [0, 0, 1.0]])
    lifter = FusionLifter(FusionConfig(prior_weight=0.0))
    found = {}
    for where, uv in (("centre", np.array([width, height]) / 2), ("corner", np.array([width, height]) * 0.875)):
        ray = np.linalg.solve(K, [uv[0], uv[1], 1.0])
        pos = ray / ray[2] * 450.0
        j = forward_kinematics(
            torch.as_tensor(angles), torch.as_tensor(ratios), 88.0, torch.as_tensor(rot), torch.as_tensor(pos)
        ).numpy()
        kp = (j @ K.T)[:, :2] / j[:, 2:]
        seen = (j - j.mean(0)) @ ray_rotation(K, kp.mean(0))  # the detector's 3D: as seen along the ray
        (x,) = lifter.lift(None, [HandInput("right", 0.9, square_box(kp), kp, seen)], K, camera_known=True)
        found[where] = x.root_rotation
    err = np.degrees(np.arccos(np.clip((np.trace(found["centre"].T @ found["corner"]) - 1) / 2, -1, 1)))
    assert err < 0.5, err
    assert np.degrees(np.arccos(np.clip((np.trace(found["corner"].T @ rot) - 1) / 2, -1, 1))) < 0.5
