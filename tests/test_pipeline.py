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
    assert np.isfinite(Estimator(m).anchor_mm)
