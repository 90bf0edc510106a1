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
    err = np.linalg.norm(res.joints[0] - joints, axis=-1)
    assert err.mean() < 0.5, err  # mm: the exact pose, up to the solver's tolerance
    assert np.allclose(res.root_rotation[0], rot, atol=1e-2)


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
    a = fuse_keypoints(uv[None], K, joints[None], ge, weights=w).joints[0]
    b = fuse_keypoints(uv[None], K, other[None], ge, weights=w).joints[0]
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
    a = res.angles[:, 3:]
    assert (a >= lim.angle_min[3:] - 1e-9).all() and (a <= lim.angle_max[3:] + 1e-9).all()
    assert np.isfinite(res.joints).all()
    # noise of 4 px and 6 mm leaves the hand within a few millimetres (wrist-aligned)
    rel = res.joints - res.joints[:, :1]
    assert np.linalg.norm(rel - (joints - joints[0]), axis=-1).mean() < 12.0


def test_bad_input_is_one_clear_error():
    from diffuhand.errors import DiffuhandError

    with pytest.raises(DiffuhandError, match="expected uv"):
        fuse_keypoints(np.zeros((1, 20, 2)), K, np.zeros((1, 21, 3)), load_skeleton("ge2019").bone_ratios)
    with pytest.raises(DiffuhandError, match="finite"):
        fuse_keypoints(np.full((1, 21, 2), np.nan), K, np.zeros((1, 21, 3)), load_skeleton("ge2019").bone_ratios)


def test_normal_equations_match_the_cost_gradient_and_the_explicit_jacobian():
    """The solver's J^T J and J^T r, built from the prior's precisions without its large Jacobian (issue 15: x2.4
    per batch), against the explicit Jacobian (``_Terms.linearise``) and against the gradient of the cost itself
    by central differences (J^T r is the cost's gradient: the prior's majorizer touches the mixture at the point)."""
    from diffuhand.kinematics.fk_numpy import rotvec_to_rotmat
    from diffuhand.kinematics.fusion import _MixturePrior, _problem, _Terms
    from diffuhand.kinematics.prior import default_prior

    n = 3
    g = np.random.default_rng(0)
    prob = _problem(load_limits())
    angles = prob.amin + (prob.amax - prob.amin) * g.random((n, 41))
    rot0 = rotvec_to_rotmat(g.normal(size=(n, 3)))
    pos = np.broadcast_to([10.0, -20.0, 450.0], (n, 3))
    Kb = np.broadcast_to(K, (n, 3, 3))
    uv = 100.0 + 60.0 * g.random((n, 21, 2))
    ratios = np.broadcast_to(load_skeleton("ge2019").bone_ratios, (n, 20))
    terms = _Terms(
        uv,
        Kb,
        None,
        np.full(n, 60.0),
        ratios,
        88.0,
        FusionWeights(prior=0.7),
        _MixturePrior(default_prior(), prob.free_a),
        prob,
    )
    dirs = g.normal(size=(n, len(terms.child), 3))
    terms.dirs = dirs / np.linalg.norm(dirs, axis=-1, keepdims=True)
    st = {"angles": angles, "rot0": rot0, "pos": pos}
    st["joints"], st["rots"] = terms.model(st)
    a_mat, grad = terms.normal_equations(st)
    r, jac = terms.linearise(st)
    assert r.shape[1] == terms.num_residuals
    assert np.allclose(a_mat, jac.transpose(0, 2, 1) @ jac, rtol=1e-10, atol=1e-8 * np.abs(a_mat).max())

    fa = prob.free_a

    def cost(x):  # the solver's parametrisation: body-frame rotation step, position step, free angles (N, P)
        a = angles.copy()
        a[:, fa] = x[:, 6:]
        s = {"angles": a, "rot0": rot0 @ rotvec_to_rotmat(x[:, :3]), "pos": pos + x[:, 3:6]}
        s["joints"], s["rots"] = terms.model(s)
        return terms.cost(s)

    x0 = np.concatenate([np.zeros((n, 6)), angles[:, fa]], 1)
    h = 1e-6
    numeric = np.empty_like(x0)
    for k in range(x0.shape[1]):
        step = np.zeros_like(x0)
        step[:, k] = h
        numeric[:, k] = (cost(x0 + step) - cost(x0 - step)) / (2 * h)
    assert np.allclose(grad, numeric, rtol=1e-5, atol=1e-5 * np.abs(numeric).max())


def test_a_prior_whose_arrays_change_is_not_served_from_the_cache():
    """The mixture's tables are made once per prior; a prior whose arrays were replaced (a user's, refitted in
    place) gets new ones, never the old factors."""
    import dataclasses

    from diffuhand.kinematics.fusion import _mixture
    from diffuhand.kinematics.ik import _problem
    from diffuhand.kinematics.prior import default_prior

    prior = dataclasses.replace(default_prior())
    free_a = _problem(load_limits()).free_a
    first = _mixture(prior, free_a)
    assert _mixture(prior, free_a) is first
    prior.covariances = prior.covariances * 4.0
    again = _mixture(prior, free_a)
    assert again is not first and np.allclose(again.precision, first.precision / 4.0)
