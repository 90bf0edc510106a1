"""The fit to a detector's 2D keypoints and 3D estimate recovers a known pose, uses only the 3D estimate's bone
directions (so a different skeleton convention there does not move the answer), and keeps angles in the limits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diffuhand.kinematics import forward_kinematics, load_limits, named_pose
from diffuhand.kinematics.fusion import ALL_BONES, FusionWeights, fuse_keypoints
from diffuhand.kinematics.skeletons import load_skeleton

K = np.array([[500.0, 0.0, 128.0], [0.0, 500.0, 128.0], [0.0, 0.0, 1.0]])


def _scene(angles, ratios, anchor=88.0, seed=0):
    """A right hand in front of the camera: (joints mm, uv px, rotation, position)."""
    import roma

    g = torch.Generator().manual_seed(seed)
    rot = roma.random_rotmat(1, dtype=torch.float64, generator=g)[0]
    pos = torch.tensor([10.0, -5.0, 450.0], dtype=torch.float64)
    j = forward_kinematics(
        torch.as_tensor(angles, dtype=torch.float64), torch.as_tensor(ratios, dtype=torch.float64), anchor, rot, pos
    )
    uvw = j.numpy() @ K.T
    return j.numpy(), uvw[:, :2] / uvw[:, 2:], rot.numpy(), pos.numpy()


@pytest.mark.parametrize("pose", ["relaxed", "point", "fist"])
def test_recovers_a_known_pose_from_exact_observations(pose):
    angles, _ = named_pose(pose)
    ratios = load_skeleton("ge2019").bone_ratios
    joints, uv, rot, _pos = _scene(angles, ratios)
    res = fuse_keypoints(uv[None], K, joints[None], ratios, weights=FusionWeights(prior=0.0, bones=ALL_BONES))
    assert res.reprojection_px.item() < 0.05
    err = np.linalg.norm(res.joints[0].numpy() - joints, axis=-1)
    assert err.mean() < 0.5, err  # mm: the exact pose, up to the solver's tolerance
    assert np.allclose(res.root_rotation[0].numpy(), rot, atol=1e-2)


def test_only_directions_of_the_3d_estimate_count():
    """The same hand drawn with another skeleton (MANO's bone ratios, twice the size, moved) as the 3D estimate:
    the phalanges point the same way, so the fit is the same as with the exact 3D."""
    angles, _ = named_pose("peace")
    ge, mano = load_skeleton("ge2019").bone_ratios, load_skeleton("mano").bone_ratios
    joints, uv, _, _ = _scene(angles, ge, seed=3)
    _, _, rot, pos = _scene(angles, ge, seed=3)
    other = forward_kinematics(
        torch.as_tensor(angles), torch.as_tensor(mano), 170.0, torch.as_tensor(rot), torch.as_tensor(pos) + 100.0
    ).numpy()
    w = FusionWeights(prior=0.0)
    a = fuse_keypoints(uv[None], K, joints[None], ge, weights=w).joints[0].numpy()
    b = fuse_keypoints(uv[None], K, other[None], ge, weights=w).joints[0].numpy()
    assert np.linalg.norm(a - b, axis=-1).mean() < 0.5
    assert np.linalg.norm(b - joints, axis=-1).mean() < 1.0


def test_noisy_observations_give_angles_within_the_limits():
    rng = np.random.default_rng(0)
    angles, _ = named_pose("ok")
    ratios = load_skeleton("ge2019").bone_ratios
    joints, uv, _, _ = _scene(angles, ratios, seed=5)
    uvs = uv[None] + rng.normal(size=(8, 21, 2)) * 4.0
    world = joints[None] + rng.normal(size=(8, 21, 3)) * 6.0
    res = fuse_keypoints(uvs, K, world, ratios)
    lim = load_limits()
    a = res.angles.numpy()[:, 3:]
    assert (a >= lim.angle_min[3:] - 1e-9).all() and (a <= lim.angle_max[3:] + 1e-9).all()
    assert np.isfinite(res.joints.numpy()).all()
    # noise of 4 px and 6 mm leaves the hand within a few millimetres (wrist-aligned)
    rel = res.joints.numpy() - res.joints.numpy()[:, :1]
    assert np.linalg.norm(rel - (joints - joints[0]), axis=-1).mean() < 12.0


def test_bad_input_is_one_clear_error():
    from diffuhand.errors import DiffuhandError

    with pytest.raises(DiffuhandError, match="expected uv"):
        fuse_keypoints(np.zeros((1, 20, 2)), K, np.zeros((1, 21, 3)), load_skeleton("ge2019").bone_ratios)
    with pytest.raises(DiffuhandError, match="finite"):
        fuse_keypoints(np.full((1, 21, 2), np.nan), K, np.zeros((1, 21, 3)), load_skeleton("ge2019").bone_ratios)


def test_normal_equations_match_the_cost_gradient_and_the_explicit_jacobian():
    """The solver's J^T J and J^T r, built from the prior's precisions without its large Jacobian (issue 15: x2.4
    per batch), against the explicit Jacobian (``_Terms.linearise``) and against autograd's gradient of the cost
    itself (J^T r is the cost's gradient: the prior's majorizer touches the mixture at the point)."""
    from diffuhand.kinematics.fk import rotvec_to_rotmat
    from diffuhand.kinematics.fusion import _MixturePrior, _problem, _Terms
    from diffuhand.kinematics.prior import default_prior

    f64, n = torch.float64, 3
    g = torch.Generator().manual_seed(0)
    prob = _problem(load_limits(), f64, torch.device("cpu"))
    angles = prob.amin + (prob.amax - prob.amin) * torch.rand(n, 41, dtype=f64, generator=g)
    rot0 = rotvec_to_rotmat(torch.randn(n, 3, dtype=f64, generator=g))
    pos = torch.tensor([[10.0, -20.0, 450.0]], dtype=f64).expand(n, 3)
    Kb = torch.as_tensor(K).expand(n, 3, 3)
    uv = 100.0 + 60.0 * torch.rand(n, 21, 2, dtype=f64, generator=g)
    ratios = torch.as_tensor(load_skeleton("ge2019").bone_ratios).expand(n, 20)
    terms = _Terms(
        uv,
        Kb,
        None,
        torch.full((n,), 60.0, dtype=f64),
        ratios,
        88.0,
        FusionWeights(prior=0.7),
        _MixturePrior(default_prior(), prob.free_a, f64),
        prob,
    )
    terms.dirs = torch.nn.functional.normalize(torch.randn(n, len(terms.child), 3, dtype=f64, generator=g), dim=-1)
    st = {"angles": angles, "rot0": rot0, "pos": pos}
    st["joints"], st["rots"] = terms.model(st)
    a_mat, grad = terms.normal_equations(st)
    r, jac = terms.linearise(st)
    assert r.shape[1] == terms.num_residuals
    assert torch.allclose(a_mat, jac.transpose(1, 2) @ jac, rtol=1e-10, atol=1e-8 * a_mat.abs().max().item())

    fa = prob.free_a

    def cost(params):  # the solver's parametrisation: body-frame rotation step, position step, free angles
        x = params.view(n, -1)
        a = angles.clone()
        a[:, fa] = x[:, 6:]
        s = {"angles": a, "rot0": rot0 @ rotvec_to_rotmat(x[:, :3]), "pos": pos + x[:, 3:6]}
        s["joints"], s["rots"] = terms.model(s)
        return terms.cost(s).sum()

    x0 = torch.cat([torch.zeros(n, 6, dtype=f64), angles[:, fa]], 1).flatten().requires_grad_()
    (autograd,) = torch.autograd.grad(cost(x0), x0)
    assert torch.allclose(grad, autograd.view(n, -1), rtol=1e-7, atol=1e-7 * autograd.abs().max().item())


def test_a_prior_whose_arrays_change_is_not_served_from_the_cache():
    """The mixture's tables are made once per prior; a prior whose arrays were replaced (a user's, refitted in
    place) gets new ones, never the old factors."""
    import dataclasses

    from diffuhand.kinematics.fusion import _mixture
    from diffuhand.kinematics.ik import _problem
    from diffuhand.kinematics.prior import default_prior

    prior = dataclasses.replace(default_prior())
    free_a = _problem(load_limits(), torch.float64, torch.device("cpu")).free_a
    first = _mixture(prior, free_a)
    assert _mixture(prior, free_a) is first
    prior.covariances = prior.covariances * 4.0
    again = _mixture(prior, free_a)
    assert again is not first and torch.allclose(again.precision, first.precision / 4.0)
