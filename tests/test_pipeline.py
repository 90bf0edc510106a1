import numpy as np
import pytest
import torch

from diffuhand.kinematics import forward_kinematics
from diffuhand.kinematics.limits import load_limits
from diffuhand.kinematics.poses import named_poses
from diffuhand.pipeline import solve_ik


def test_solver_ik_recovers_model_poses_in_anchor_units():
    _, angles, ratios = named_poses(load_limits())
    rot = torch.tensor([[0.0, -1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, -1.0]], dtype=torch.float64)
    joints = forward_kinematics(angles, ratios, 1.0, rot).float()  # (10, 21, 3), anchor = 1, wrist at 0
    noisy = joints + 0.01 * torch.randn(joints.shape, generator=torch.Generator().manual_seed(0))
    out = solve_ik(noisy)
    assert out["joints"].shape == (10, 21, 3) and torch.allclose(out["joints"][:, 0], torch.zeros(10, 3), atol=1e-5)
    assert (out["joints"] - joints).norm(dim=-1).mean() < 0.03  # the noise (1.7% of the anchor in 3D), not the fit
    assert torch.allclose((out["joints"][:, 5] - out["joints"][:, 0]).norm(dim=-1), torch.ones(10), atol=1e-4)
    lo, hi = load_limits().angle_bounds(torch.float32)
    assert ((out["angles"][:, 3:] >= lo[3:] - 1e-5) & (out["angles"][:, 3:] <= hi[3:] + 1e-5)).all()
    import roma

    turn = roma.rotmat_geodesic_distance(out["root_rotation"].double(), rot.expand(10, 3, 3))
    assert turn.median() < 0.1  # rad; the joints pin it, up to the noise


def test_estimator_checks_its_ik_option():
    from diffuhand.models.estimator import HandPoseModel, ModelConfig
    from diffuhand.pipeline import Estimator

    m = HandPoseModel(ModelConfig(kind="diffusion_ik", condition="keypoints", feature_dim=16))
    assert Estimator(m, ik="mlp").ik == "mlp"
    with pytest.raises(ValueError, match="solver"):
        Estimator(m, ik="magic")


class StubDetector:
    """Stands in for MediaPipe: the given hands (keypoints (21, 2) px, side) on every image."""

    def __init__(self, *hands):
        from diffuhand.data.crops import square_box
        from diffuhand.detect.mediapipe import HandDetection

        self.dets = [HandDetection(np.asarray(uv, float), np.zeros((21, 3)), side, 0.9, square_box(np.asarray(uv, float)))
                     for uv, side in hands]  # fmt: skip

    def __call__(self, image):
        return list(self.dets)


def pose_keypoints(centre=(100.0, 100.0), size=60.0) -> np.ndarray:
    """A named pose's 2D joints (21, 2) px: its FK joints seen from the front, ``size`` px wrist to index MCP."""
    _, angles, ratios = named_poses(load_limits())
    j = forward_kinematics(angles[1], ratios[1], 1.0).numpy()
    return j[:, :2] * size + np.asarray(centre)


def test_hand_size_sets_the_millimetre_scale():
    from diffuhand.models.estimator import HandPoseModel, ModelConfig
    from diffuhand.pipeline import DEFAULT_ANCHOR_MM, Estimator

    torch.manual_seed(0)
    m = HandPoseModel(ModelConfig(kind="diffusion_ik", condition="keypoints", feature_dim=16,
                                  sampler={"kind": "ddim", "steps": 2, "samples": 2, "eta": 0.0}))  # fmt: skip
    image = np.zeros((200, 200, 3), np.uint8)
    stub = StubDetector((pose_keypoints(), "right"))
    assert Estimator(m).anchor_mm == DEFAULT_ANCHOR_MM == 88.0  # an average adult hand (README)
    (a,) = Estimator(m, detector=stub).predict(image)
    (b,) = Estimator(m, detector=stub, anchor_mm=100.0).predict(image)
    # the anchor bone (wrist -> index MCP) of the output is the assumed size, and the rest scales with it
    assert np.linalg.norm(a.joints_3d[5] - a.joints_3d[0]) == pytest.approx(88.0, abs=1e-3)
    assert np.linalg.norm(b.joints_3d[5] - b.joints_3d[0]) == pytest.approx(100.0, abs=1e-3)
    np.testing.assert_allclose(b.joints_3d, a.joints_3d * (100.0 / 88.0), atol=1e-6)
    np.testing.assert_allclose(b.angles, a.angles)


def test_one_sample_reports_no_uncertainty():
    """The spread of one diffusion sample is unknown: NaN in the result and null in the JSON, never 0 mm."""
    from diffuhand.models.estimator import HandPoseModel, ModelConfig
    from diffuhand.pipeline import Estimator

    torch.manual_seed(0)
    m = HandPoseModel(ModelConfig(kind="diffusion_ik", condition="keypoints", feature_dim=16,
                                  sampler={"kind": "ddim", "steps": 2, "samples": 3, "eta": 0.0}))  # fmt: skip
    image = np.zeros((200, 200, 3), np.uint8)
    stub = StubDetector((pose_keypoints(), "right"))
    (one,) = Estimator(m, detector=stub, sampler={"samples": 1}).predict(image)
    assert np.isnan(one.uncertainty_mm).all() and one.to_json()["uncertainty_mm"] is None
    (three,) = Estimator(m, detector=stub).predict(image)
    assert (three.uncertainty_mm > 0).all() and len(three.to_json()["uncertainty_mm"]) == 21
