import numpy as np
import pytest
import roma
import torch

from diffuhand.errors import DiffuhandError
from diffuhand.kinematics import forward_kinematics, load_limits
from diffuhand.kinematics.conventions import mirror
from diffuhand.kinematics.ik import _jacobian, _model, _Problem, fit_ik

LIMITS = load_limits()


def fk_poses(n, seed):
    gen = torch.Generator().manual_seed(seed)
    lo, hi = LIMITS.angle_bounds(torch.float64)
    rlo, rhi = LIMITS.ratio_bounds(torch.float64)
    angles = lo + (hi - lo) * torch.rand(n, 41, generator=gen, dtype=torch.float64)
    ratios = rlo + (rhi - rlo) * torch.rand(n, 20, generator=gen, dtype=torch.float64)
    rot = roma.random_rotmat(n, dtype=torch.float64, generator=gen)  # seeded: every run tests the same poses
    pos = torch.randn(n, 3, generator=gen, dtype=torch.float64) * 200
    anchor = 70 + 30 * torch.rand(n, generator=gen, dtype=torch.float64)
    angles[:, :3] = roma.rotmat_to_euler("ZYX", rot)
    return angles, ratios, anchor, pos, forward_kinematics(angles, ratios, anchor, rot, pos)


def test_analytic_jacobian_matches_autograd():
    """The NumPy solver's analytic Jacobian against torch's autograd through torch's FK (an independent
    implementation of the model)."""
    prob = _Problem(LIMITS)
    angles, ratios, anchor, pos, _ = fk_poses(3, 0)
    rot0 = roma.random_rotmat(3, dtype=torch.float64)
    logs = anchor.log()
    joints, rots = _model(rot0.numpy(), pos.numpy(), logs.numpy(), angles.numpy(), ratios.numpy())
    jac = torch.from_numpy(_jacobian(joints, rots, angles.numpy(), ratios.numpy(), anchor.numpy(), prob))
    fa, fr = torch.from_numpy(prob.free_a), torch.from_numpy(prob.free_r)
    for i in range(3):

        def f(x, i=i):
            a, r = angles[i].clone(), ratios[i].clone()
            a[fa], r[fr] = x[7 : 7 + len(fa)], x[7 + len(fa) :]
            rot = rot0[i] @ roma.rotvec_to_rotmat(x[:3])
            return forward_kinematics(a, r, x[6].exp(), rot, x[3:6]).reshape(-1)

        x0 = torch.cat(
            [torch.full((3,), 1e-30, dtype=torch.float64), pos[i], logs[i : i + 1], angles[i, fa], ratios[i, fr]]
        )
        ref = torch.autograd.functional.jacobian(f, x0)
        torch.testing.assert_close(jac[i], ref, rtol=0, atol=1e-10)


def test_recovers_fk_poses():
    angles, ratios, anchor, _pos, joints = fk_poses(128, 1)
    res = fit_ik(joints)
    assert res.angles.shape == (128, 41) and res.bone_ratios.shape == (128, 20) and res.joints.shape == (128, 21, 3)
    assert float(res.residual.mean()) < 0.1  # mm
    assert float(np.median(res.residual)) < 0.01
    assert float((res.residual < 0.1).float().mean()) >= 0.97  # the rest: thumb-twist local minima
    ok = res.residual < 0.01
    torch.testing.assert_close(res.anchor_length[ok], anchor[ok], rtol=1e-4, atol=0)
    torch.testing.assert_close(res.bone_ratios[ok], ratios[ok], rtol=0, atol=1e-3)
    # the known angles come back (where a finger is bent enough for its twist to show)
    err = (res.angles[ok] - angles[ok]).abs()
    err = torch.minimum(err, 2 * np.pi - err)
    assert float(err.median()) < np.radians(0.05)
    assert float(torch.quantile(err.flatten(), 0.95)) < np.radians(1.0)
    # the result is self-consistent: its own FK gives its joints
    again = forward_kinematics(res.angles, res.bone_ratios, res.anchor_length, root_position=res.root_position)
    torch.testing.assert_close(again, res.joints, rtol=0, atol=1e-8)
    assert LIMITS.contains(res.angles, res.bone_ratios)


def test_single_pose_and_units():
    *_, joints = fk_poses(1, 2)
    mm = fit_ik(joints[0])
    assert mm.angles.shape == (41,) and mm.joints.shape == (21, 3) and mm.residual.shape == ()
    arrays = fit_ik(joints[0], as_numpy=True)  # the photo path's: NumPy out, the same fit
    assert isinstance(arrays.angles, np.ndarray) and arrays.residual.shape == ()
    np.testing.assert_array_equal(arrays.joints, mm.joints.numpy())
    metres = fit_ik(joints[0].numpy() / 1000.0)
    torch.testing.assert_close(metres.angles, mm.angles, rtol=0, atol=1e-5)
    assert float(metres.anchor_length) == pytest.approx(float(mm.anchor_length) / 1000.0, rel=1e-6)


def test_joints_that_are_no_hand_give_a_finite_fit_of_bounded_size():
    # a failed network output: joints on the corners of a box (seen from 1-step DDIM); unbounded, the best fit was
    # a hand shrunk to a point (scale 0, then NaN downstream)
    gen = torch.Generator().manual_seed(0)
    corners = 3.0 * torch.sign(torch.randn(16, 21, 3, generator=gen, dtype=torch.float64))
    res = fit_ik(corners, retry=float("inf"))
    assert torch.isfinite(res.joints).all() and torch.isfinite(res.angles).all()
    assert bool((res.anchor_length > 0.1).all()) and bool((res.anchor_length < 100).all())
    assert LIMITS.contains(res.angles, res.bone_ratios)


def test_twist_trials_in_one_batch_match_a_loop_over_trials():
    # the initialisation tries all twist values in one batch; the reference tries them one after another and keeps,
    # per finger, a trial only when it is strictly better (the first best on a tie)
    from diffuhand.kinematics.ik import _initialise, _point_bones
    from diffuhand.kinematics.skeleton import ANGLE_AXIS, ANGLE_NODE

    prob = _Problem(LIMITS)
    *_, joints = fk_poses(6, 11)
    joints = joints + 2.0 * torch.randn(joints.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    joints = joints.numpy()
    rot0, pos, logs, batched, ratios = _initialise(joints, prob, n_twists=5)
    twist = [i for i in prob.free_a.tolist() if ANGLE_AXIS[i] == 2]
    finger_of = np.array([max(ANGLE_NODE[i] - 1, 0) // 4 for i in range(41)])
    best = best_err = None
    for k in range(5):
        a = np.repeat(prob.neutral_a[None], 6, 0)
        a[:, twist] = prob.amin[twist] + k / 4 * (prob.amax[twist] - prob.amin[twist])
        a = _point_bones(joints, rot0, pos, np.exp(logs), a, ratios, prob)
        fitted = forward_kinematics(*(torch.from_numpy(x) for x in (a, ratios, np.exp(logs), rot0, pos))).numpy()
        err = np.linalg.norm(fitted - joints, axis=-1)[:, 1:].reshape(6, 5, 4).sum(-1)
        if best is None:
            best, best_err = a, err
            continue
        take = (err < best_err)[:, finger_of] & (np.arange(41) >= 3)
        best, best_err = np.where(take, a, best), np.minimum(err, best_err)
    np.testing.assert_allclose(batched, best, rtol=0, atol=1e-12)


def test_invalid_joints_are_ignored():
    *_, joints = fk_poses(8, 3)
    corrupt = joints.clone()
    corrupt[:, 8] += 40.0  # an index tip 4 cm off
    valid = torch.ones(8, 21, dtype=torch.bool)
    valid[:, 8] = False
    res = fit_ik(corrupt, valid=valid)
    assert float(res.residual.max()) < 0.5
    assert torch.isnan(res.per_joint[:, 8]).all()
    naive = fit_ik(corrupt)
    assert float(naive.residual.min()) > 1.0
    with pytest.raises(DiffuhandError):
        fit_ik(joints[:, :20])
    with pytest.raises(DiffuhandError):
        fit_ik(joints, valid=torch.zeros(8, 21, dtype=torch.bool))


def test_fits_real_dexycb_hands(dexycb_right_mm):
    joints = np.concatenate(dexycb_right_mm)[::4]  # 1,765 of 7,057 frames; the slow suite fits all
    res = fit_ik(joints)
    assert float(res.residual.mean()) < 3.0
    assert float(np.percentile(res.residual, 95)) < 3.0


@pytest.mark.slow
def test_fits_all_dexycb_frames(dexycb_right_mm):
    res = fit_ik(np.concatenate(dexycb_right_mm))
    assert float(res.residual.mean()) < 3.0 and float(np.percentile(res.residual, 99)) < 3.0


def test_fits_real_world_ground_truth(realworld):
    gt_left, _ = realworld
    res = fit_ik(mirror(gt_left))  # the set's hands are left hands: mirrored, they are right hands
    assert float(res.residual.mean()) < 3.0
    assert float(res.residual.max()) < 3.0
    # a left hand fitted as a right one cannot bend the right way: the residual shows it
    assert float(fit_ik(gt_left).residual.mean()) > 3 * float(res.residual.mean())


def test_hand_frame_is_the_root_rotation_of_a_flat_hand():
    from diffuhand.kinematics.ik import hand_frame

    angles, *_, joints = fk_poses(16, 4)
    frames = hand_frame(joints)  # a tensor in, a tensor out
    assert torch.is_tensor(frames) and np.allclose(hand_frame(joints.numpy()), frames.numpy(), rtol=0, atol=0)
    assert torch.allclose(
        frames.transpose(-1, -2) @ frames, torch.eye(3, dtype=torch.float64).expand(16, 3, 3), atol=1e-10
    )
    # its x axis is exactly the root's (the middle metacarpal), the rest within the palm's variation
    rot = roma.euler_to_rotmat("ZYX", angles[:, :3])
    assert torch.allclose(frames[..., 0], rot[..., 0], atol=1e-9)
    assert float(roma.rotmat_geodesic_distance(frames, rot).max()) < np.radians(45)


def test_a_palm_without_a_plane_still_gives_a_rotation():
    """Index and pinky MCP missing (or on one line with the wrist): the palm's normal was not defined, and the start
    was a singular matrix (columns x, 0, 0) that no solver step could mend; the next pair of knuckles gives it now
    (any direction across the wrist -> middle MCP axis where none is left), and the fit finds the hand."""
    from diffuhand.kinematics.ik import hand_frame

    *_, joints = fk_poses(16, 7)
    valid = torch.ones(16, 21, dtype=torch.bool)
    valid[:, [5, 17]] = False
    res = fit_ik(joints, valid=valid)
    assert torch.allclose(torch.linalg.det(res.root_rotation), torch.ones(16, dtype=torch.float64), atol=1e-9)
    # mm, on the joints given (before: 32 mm on average); a finger without its knuckle has local minima left
    assert float(res.residual.median()) < 0.2 and float((res.residual < 0.5).double().mean()) >= 0.75
    flat = joints.clone()
    flat[:, 17] = flat[:, 5]  # the two knuckles on one point
    frames = hand_frame(flat)
    assert torch.allclose(frames.transpose(-1, -2) @ frames, torch.eye(3, dtype=torch.float64).expand(16, 3, 3))
    assert torch.allclose(torch.linalg.det(frames), torch.ones(16, dtype=torch.float64))


def test_any_tensor_dtype_and_its_device_back():
    *_, joints = fk_poses(2, 8)
    res = fit_ik(joints.to(torch.bfloat16))
    assert res.angles.dtype == torch.float64 and res.angles.device == joints.device
    assert float(res.residual.max()) < 2.0  # mm: bfloat16 joints are ~0.4% off
