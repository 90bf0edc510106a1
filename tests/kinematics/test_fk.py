import numpy as np
import pytest
import roma
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from diffuhand.kinematics import forward_kinematics, load_limits, rotation_from_9d, sine_normalise
from diffuhand.kinematics.skeleton import ANGLE_NAMES, ANGLE_NODE, PARENTS

from .reference import reference_fk

LIMITS = load_limits()


def random_pose(n, gen, dtype=torch.float64, wide=False):
    lo, hi = LIMITS.angle_bounds(dtype)
    rlo, rhi = LIMITS.ratio_bounds(dtype)
    if wide:  # far outside any limits: FK itself must not care
        angles = (torch.rand(n, 41, generator=gen, dtype=dtype) - 0.5) * 4 * np.pi
    else:
        angles = lo + (hi - lo) * torch.rand(n, 41, generator=gen, dtype=dtype)
    ratios = rlo + (rhi - rlo) * torch.rand(n, 20, generator=gen, dtype=dtype)
    return angles, ratios


@pytest.mark.parametrize("wide", [False, True])
def test_matches_sequential_float64_reference(wide):
    gen = torch.Generator().manual_seed(1)
    angles, ratios = random_pose(32, gen, wide=wide)
    anchor = 50 + 50 * torch.rand(32, generator=gen, dtype=torch.float64)
    rot = roma.random_rotmat(32, dtype=torch.float64)
    pos = torch.randn(32, 3, generator=gen, dtype=torch.float64) * 300
    joints, rots = forward_kinematics(angles, ratios, anchor, rot, pos, return_rotations=True)
    joints_nr, _rots_nr = forward_kinematics(angles, ratios, anchor, return_rotations=True)
    for i in range(32):
        ref_j, ref_r = reference_fk(
            angles[i].numpy(), ratios[i].numpy(), float(anchor[i]), rot[i].numpy(), pos[i].numpy()
        )
        np.testing.assert_allclose(joints[i].numpy(), ref_j, rtol=0, atol=1e-9)
        np.testing.assert_allclose(rots[i].numpy(), ref_r, rtol=0, atol=1e-12)
        ref_j, _ = reference_fk(angles[i].numpy(), ratios[i].numpy(), float(anchor[i]))  # root from its 3 angles
        np.testing.assert_allclose(joints_nr[i].numpy(), ref_j, rtol=0, atol=1e-9)


@pytest.mark.parametrize("wide", [False, True])
def test_numpy_fk_matches_sequential_float64_reference(wide):
    """The photo path's NumPy FK (no torch) against the same sequential reference, and the NumPy rotation
    conversions against roma."""
    from diffuhand.kinematics import fk_numpy

    gen = torch.Generator().manual_seed(2)
    angles, ratios = (x.numpy() for x in random_pose(16, gen, wide=wide))
    anchor = 50 + 50 * np.random.default_rng(0).random(16)
    rot = roma.random_rotmat(16, dtype=torch.float64)
    pos = np.random.default_rng(1).normal(size=(16, 3)) * 300
    joints, rots = fk_numpy.forward_kinematics(angles, ratios, anchor, rot.numpy(), pos, return_rotations=True)
    joints_nr = fk_numpy.forward_kinematics(angles, ratios, anchor)
    for i in range(16):
        ref_j, ref_r = reference_fk(angles[i], ratios[i], float(anchor[i]), rot[i].numpy(), pos[i])
        np.testing.assert_allclose(joints[i], ref_j, rtol=0, atol=1e-9)
        np.testing.assert_allclose(rots[i], ref_r, rtol=0, atol=1e-12)
        np.testing.assert_allclose(joints_nr[i], reference_fk(angles[i], ratios[i], float(anchor[i]))[0], atol=1e-9)
    assert fk_numpy.forward_kinematics(angles[0], ratios[0]).shape == (21, 3)  # any leading shape
    rotvec = torch.randn(64, 3, generator=gen, dtype=torch.float64) * torch.tensor([[1.0]] * 60 + [[1e-7]] * 4)
    np.testing.assert_allclose(fk_numpy.rotvec_to_rotmat(rotvec.numpy()), roma.rotvec_to_rotmat(rotvec), atol=1e-12)
    np.testing.assert_allclose(
        fk_numpy.rotmat_to_euler_zyx(rot.numpy()), roma.rotmat_to_euler("ZYX", rot).numpy(), rtol=0, atol=1e-9
    )
    euler = roma.rotmat_to_euler("ZYX", rot).numpy()
    np.testing.assert_allclose(fk_numpy.euler_zyx_to_rotmat(euler), rot.numpy(), rtol=0, atol=1e-12)


def test_float32_close_to_float64():
    gen = torch.Generator().manual_seed(2)
    angles, ratios = random_pose(64, gen)
    j64 = forward_kinematics(angles, ratios, 90.0)
    j32 = forward_kinematics(angles.float(), ratios.float(), 90.0)
    assert j32.dtype == torch.float32
    assert (j32.double() - j64).abs().max() < 1e-3  # mm, on a 90 mm anchor


def test_bone_lengths_are_ratio_times_anchor():
    gen = torch.Generator().manual_seed(3)
    angles, ratios = random_pose(16, gen)
    anchor = torch.linspace(40, 120, 16, dtype=torch.float64)
    joints = forward_kinematics(angles, ratios, anchor)
    bones = (joints[:, 1:] - joints[:, list(PARENTS[1:])]).norm(dim=-1)
    torch.testing.assert_close(bones, ratios * anchor[:, None], rtol=0, atol=1e-10)
    assert torch.allclose(ratios[:, 4], torch.ones(16, dtype=torch.float64))  # the anchor's range is [1, 1]


def test_any_leading_shape_and_broadcasting():
    gen = torch.Generator().manual_seed(4)
    angles, ratios = random_pose(6, gen)
    joints = forward_kinematics(
        angles.reshape(2, 3, 41), ratios.reshape(2, 3, 20), torch.tensor([[80.0], [90.0]], dtype=torch.float64)
    )
    assert joints.shape == (2, 3, 21, 3)
    flat = forward_kinematics(angles, ratios, torch.tensor([80.0] * 3 + [90.0] * 3, dtype=torch.float64))
    torch.testing.assert_close(joints.reshape(6, 21, 3), flat)
    single = forward_kinematics(angles[0], ratios[0], 85.0)
    assert single.shape == (21, 3)
    with pytest.raises(ValueError):
        forward_kinematics(angles[:, :40], ratios)


def test_root_angles_and_root_rotation_agree():
    gen = torch.Generator().manual_seed(5)
    angles, ratios = random_pose(8, gen)
    _, rots = forward_kinematics(angles, ratios, 1.0, return_rotations=True)
    torch.testing.assert_close(
        forward_kinematics(angles, ratios, 1.0, rots[:, 0]), forward_kinematics(angles, ratios, 1.0)
    )
    assert torch.allclose(rots.transpose(-1, -2) @ rots, torch.eye(3, dtype=torch.float64).expand_as(rots), atol=1e-12)
    assert torch.allclose(torch.linalg.det(rots), torch.ones(8, 21, dtype=torch.float64))


def test_rotation_from_9d_is_a_rotation():
    x = torch.randn(10, 9, dtype=torch.float64)
    r = rotation_from_9d(x)
    assert torch.allclose(r @ r.transpose(-1, -2), torch.eye(3, dtype=torch.float64).expand(10, 3, 3), atol=1e-10)
    assert torch.allclose(torch.linalg.det(r), torch.ones(10, dtype=torch.float64))


finite = st.floats(allow_nan=False, allow_infinity=False, width=32)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(finite, min_size=41, max_size=41),
    st.lists(finite, min_size=20, max_size=20),
    st.sampled_from([torch.float32, torch.float64]),
)
def test_equation_1_keeps_any_network_output_inside_the_limits(raw_a, raw_r, dtype):
    angles = LIMITS.normalise_angles(torch.tensor(raw_a, dtype=dtype))
    ratios = LIMITS.normalise_ratios(torch.tensor(raw_r, dtype=dtype))
    lo, hi = LIMITS.angle_bounds(dtype)
    rlo, rhi = LIMITS.ratio_bounds(dtype)
    assert bool(((angles >= lo) & (angles <= hi)).all()) and bool(((ratios >= rlo) & (ratios <= rhi)).all())
    assert torch.isfinite(forward_kinematics(angles, ratios, 1.0)).all()


def test_equation_1_extremes():
    for x in (1e30, -1e30, 3e38, 1e-30, 0.0, np.pi / 2, -np.pi / 2):
        for dtype in (torch.float32, torch.float64):
            a = LIMITS.normalise_angles(torch.full((41,), x, dtype=dtype))
            lo, hi = LIMITS.angle_bounds(dtype)
            assert bool(((a >= lo) & (a <= hi)).all())
    lo, hi = torch.tensor(-1.0), torch.tensor(2.0)
    assert (
        sine_normalise(torch.tensor(np.pi / 2), lo, hi) == hi and sine_normalise(torch.tensor(-np.pi / 2), lo, hi) == lo
    )
    assert sine_normalise(torch.tensor(0.0), lo, hi) == 0.5


def _grads(raw, dtype=torch.float64):
    raw = raw.clone().requires_grad_(True)
    ratios_raw = torch.zeros(raw.shape[:-1] + (20,), dtype=dtype, requires_grad=True)
    joints = forward_kinematics(LIMITS.normalise_angles(raw), LIMITS.normalise_ratios(ratios_raw), 85.0)
    joints.square().sum().backward()
    return raw.grad, ratios_raw.grad


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gradients_finite_at_the_limits(dtype):
    for x in (np.pi / 2, -np.pi / 2, 1e6, -1e6):
        ga, gr = _grads(torch.full((4, 41), x, dtype=dtype), dtype)
        assert torch.isfinite(ga).all() and torch.isfinite(gr).all()


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-np.pi, np.pi), min_size=41, max_size=41), st.sampled_from([np.pi / 2, -np.pi / 2]))
def test_gradients_finite_at_gimbal_lock(values, lock):
    # the middle Euler angle (flexion) at +-90 deg aligns the first and last axes of every 3-DoF node
    angles = torch.tensor(values, dtype=torch.float64)
    for i, name in enumerate(ANGLE_NAMES):
        if name.endswith(".flex") and sum(n == ANGLE_NODE[i] for n in ANGLE_NODE) == 3:
            angles[i] = lock
    angles.requires_grad_(True)
    ratios = torch.full((20,), 0.4, dtype=torch.float64, requires_grad=True)
    forward_kinematics(angles, ratios, 85.0).square().sum().backward()
    assert torch.isfinite(angles.grad).all() and torch.isfinite(ratios.grad).all()
    assert angles.grad.abs().sum() > 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_matches_cpu():
    gen = torch.Generator().manual_seed(6)
    angles, ratios = random_pose(128, gen)
    cpu = forward_kinematics(angles, ratios, 85.0)
    gpu = forward_kinematics(angles.cuda(), ratios.cuda(), 85.0)
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=0, atol=1e-9)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_euler_closed_form_equals_roma(dtype):
    from diffuhand.kinematics.fk import euler_zyx_to_rotmat, rotmat_to_euler_zyx

    e = (torch.rand(100, 3, dtype=dtype) - 0.5) * 2 * np.pi
    e[:10, 1] = np.pi / 2  # gimbal lock
    torch.testing.assert_close(euler_zyx_to_rotmat(e), roma.euler_to_rotmat("ZYX", e))
    r = euler_zyx_to_rotmat(e[10:])
    torch.testing.assert_close(
        euler_zyx_to_rotmat(rotmat_to_euler_zyx(r)), r, rtol=0, atol=1e-5 if dtype == torch.float32 else 1e-10
    )


def test_rotation_conversions_match_roma():
    """The written-out conversions of the photo path (no roma import at start-up) against roma as the reference:
    rotation vectors (tiny ones through the Taylor branch, near half turns) and ZYX Euler angles, with the round
    trip through euler_zyx_to_rotmat at and near gimbal lock."""
    from diffuhand.kinematics.fk import euler_zyx_to_rotmat, rotmat_to_euler_zyx, rotvec_to_rotmat

    g = torch.Generator().manual_seed(0)
    axes = torch.nn.functional.normalize(torch.randn(400, 3, generator=g, dtype=torch.float64), dim=-1)
    angles = torch.cat(
        [
            torch.rand(300, generator=g, dtype=torch.float64) * torch.pi,
            torch.tensor([0.0, 1e-9, 1e-5, 1e-4], dtype=torch.float64).repeat(25),
        ]
    )
    rotvec = axes * angles[:, None]
    torch.testing.assert_close(rotvec_to_rotmat(rotvec), roma.rotvec_to_rotmat(rotvec), rtol=0, atol=1e-12)
    torch.testing.assert_close(
        rotvec_to_rotmat(rotvec.float()), roma.rotvec_to_rotmat(rotvec.float()), rtol=0, atol=1e-6
    )
    rot = roma.random_rotmat(500, dtype=torch.float64)
    torch.testing.assert_close(rotmat_to_euler_zyx(rot), roma.rotmat_to_euler("ZYX", rot), rtol=0, atol=1e-9)
    euler = torch.stack(
        [
            torch.rand(6, dtype=torch.float64) * 6 - 3,
            torch.tensor([torch.pi / 2, -torch.pi / 2, torch.pi / 2 - 1e-7, 0.3, -1.2, 1.5], dtype=torch.float64),
            torch.rand(6, dtype=torch.float64) * 6 - 3,
        ],
        dim=-1,
    )
    back = euler_zyx_to_rotmat(rotmat_to_euler_zyx(euler_zyx_to_rotmat(euler)))
    torch.testing.assert_close(back, euler_zyx_to_rotmat(euler), rtol=0, atol=1e-7)


def test_the_photo_path_does_not_import_training_or_network_libraries():
    """Start-up (issue 15): importing the pipeline loads neither roma (its import pulls in torch._dynamo) nor
    diffusers (the network lift's); both load when a network or training needs them."""
    import subprocess
    import sys

    code = "import sys, diffuhand.pipeline; print(sorted(m for m in ('roma', 'diffusers', 'torch._dynamo') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, text=True).stdout.strip()
    assert out == "[]", out


def test_fk_exports_with_a_dynamic_batch():
    """Under torch.export the batch stays symbolic (the shapes are broadcast by torch there, by NumPy elsewhere,
    which would make it a constant)."""
    from torch.export import Dim, export

    class FK(torch.nn.Module):
        def forward(self, angles, ratios):
            return forward_kinematics(angles, ratios, 80.0)

    angles, ratios = torch.zeros(5, 41, dtype=torch.float64), torch.ones(5, 20, dtype=torch.float64)
    batch = Dim("batch")
    program = export(FK(), (angles, ratios), dynamic_shapes=({0: batch}, {0: batch}))
    out = program.module()(torch.zeros(3, 41, dtype=torch.float64), torch.ones(3, 20, dtype=torch.float64))
    assert out.shape == (3, 21, 3)
    torch.testing.assert_close(out, forward_kinematics(torch.zeros(3, 41, dtype=torch.float64), ratios[:3], 80.0))
