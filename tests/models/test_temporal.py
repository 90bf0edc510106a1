import numpy as np
import pytest
import torch

from diffuhand.kinematics.limits import load_limits
from diffuhand.models.temporal import (
    TemporalConfig,
    TemporalTransformer,
    random_frame_mask,
    sinusoidal_encoding,
    smooth_sequence,
)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return TemporalTransformer(TemporalConfig(window=5, d_model=32, layers=2, heads=2)).eval()


def test_positional_encoding_is_vaswanis():
    pe = sinusoidal_encoding(7, 8)
    pos, i = 3, 2  # channel pair 2: sin(pos / 10000^(4/8)), cos(...)
    assert pe[pos, 2 * i].item() == pytest.approx(np.sin(pos / 10000 ** (2 * i / 8)), abs=1e-6)
    assert pe[pos, 2 * i + 1].item() == pytest.approx(np.cos(pos / 10000 ** (2 * i / 8)), abs=1e-6)


def test_window_output_obeys_limits_and_shares_one_skeleton(model):
    x = torch.randn(3, 5, 21, 3) * 3
    mask = torch.tensor([[False] * 5, [True, False, False, True, False], [False, True, True, False, False]])
    out = model(x, mask)
    assert out["joints"].shape == (3, 5, 21, 3) and out["angles"].shape == (3, 5, 41) and out["ratios"].shape == (3, 20)
    lo, hi = load_limits().angle_bounds(torch.float32)
    assert ((out["angles"] >= lo - 1e-5) & (out["angles"] <= hi + 1e-5)).all()
    # every frame's bones have the window's one set of lengths
    bone = (out["joints"][..., 8, :] - out["joints"][..., 7, :]).norm(dim=-1)
    assert torch.allclose(bone, bone[:, :1].expand_as(bone), atol=1e-5)
    # a hidden frame's joints do not matter
    y = x.clone()
    y[1, 0] = 100.0
    assert torch.allclose(model(y, mask)["joints"], out["joints"], atol=1e-5)
    with pytest.raises(ValueError, match="at least one visible"):
        model(x, torch.ones(3, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="windows of 5"):
        model(x[:, :3])
    with pytest.raises(ValueError, match="odd"):
        TemporalConfig(window=4)


def test_random_mask_hides_at_most_half():
    g = torch.Generator().manual_seed(0)
    m = random_frame_mask(4000, 5, 0.5, g)
    hidden = m.sum(1)
    assert hidden.max() == 2 and hidden.min() == 0 and not m.all(1).any()
    assert set(hidden.unique().tolist()) == {0, 1, 2}
    assert m.float().mean(0).std() < 0.02  # no position is favoured


def test_smooth_sequence_centres_a_window_on_every_frame(model):
    rng = np.random.default_rng(0)
    seq = rng.normal(size=(12, 21, 3)).astype(np.float32)
    found = np.ones(12, bool)
    found[[5, 9, 10, 11]] = False
    res = smooth_sequence(model, seq, found)
    assert list(res["status"][4:7]) == ["tracked", "bridged", "tracked"]
    # frames 9-11 hidden: 9 and 10 still see frames 7-8 within half a window; 11 sees none
    assert list(res["status"][9:]) == ["bridged", "bridged", "missing"]
    assert np.isnan(res["joints"][11]).all() and np.isfinite(res["joints"][:11]).all()
    # frame 0: a window padded with two hidden frames before it; frame 6: an ordinary centred window
    for i in (0, 6):
        win = np.zeros((5, 21, 3), np.float32)
        hide = np.zeros(5, bool)
        for k in range(5):
            t = i - 2 + k
            if 0 <= t < 12 and found[t]:
                win[k] = seq[t]
            else:
                hide[k] = True
        ref = model(torch.from_numpy(win)[None], torch.from_numpy(hide)[None])["joints"][0, 2].detach().numpy()
        assert np.allclose(res["joints"][i], ref, atol=1e-5)


@pytest.mark.parametrize("mode", ["joints", "residual"])
@pytest.mark.parametrize("sigma", [0.0, 1.5])
def test_smooth_sequence_gives_a_pose_whose_forward_kinematics_are_its_joints(mode, sigma):
    """A video's result holds joints, angles and a root rotation: as for a single frame, the joints are the FK of
    the angles and ratios under the root rotation, and angles[:3] are that rotation's Euler angles. The model
    turns its hand by its root angles and then by its rotation (KinematicOutput.pose); before, the rotation alone
    was reported, so angles + root_rotation rebuilt another hand than the joints."""
    from diffuhand.kinematics.fk import euler_zyx_to_rotmat, forward_kinematics
    from diffuhand.kinematics.limits import load_limits

    torch.manual_seed(1)
    m = TemporalTransformer(TemporalConfig(window=5, d_model=32, layers=2, heads=2, mode=mode)).eval()
    if mode == "residual":  # its correction starts at zero: make it turn and bend the hand
        torch.nn.init.normal_(m.delta.weight, std=0.05)
        torch.nn.init.normal_(m.delta.bias, std=0.3)
    t = 10
    rng = np.random.default_rng(2)
    lim = load_limits()
    angles = rng.uniform(lim.angle_min, lim.angle_max, (t, 41))
    angles[:, :3] = rng.uniform(-1, 1, (t, 3))
    ratios = np.tile(lim.ratio_neutral, (t, 1))
    rot = euler_zyx_to_rotmat(torch.from_numpy(angles[:, :3])).numpy()
    joints = forward_kinematics(torch.from_numpy(angles), torch.from_numpy(ratios), 1.0).numpy()
    found = np.ones(t, bool)
    found[4] = False
    own = {"angles": angles, "root_rotation": rot, "ratios": ratios, "spread": np.zeros((t, 21))}
    res = smooth_sequence(m, joints, found, **(own if mode == "residual" else {}), sigma_frames=sigma)
    ok = res["status"] != "missing"
    a, r, R = (torch.from_numpy(res[k][ok].astype(np.float64)) for k in ("angles", "ratios", "root_rotation"))
    assert np.allclose(forward_kinematics(a, r, 1.0, R).numpy(), res["joints"][ok], atol=2e-5)
    assert np.allclose(euler_zyx_to_rotmat(a[:, :3]).numpy(), R.numpy(), atol=2e-5)
