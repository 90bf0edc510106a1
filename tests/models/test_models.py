import pytest
import torch
from diffusers import DDPMScheduler

from diffuhand.errors import DiffuhandError
from diffuhand.io.weights import read_checkpoint, save_checkpoint
from diffuhand.kinematics import load_limits
from diffuhand.models.diffusion import DiffusionHead, SamplerConfig
from diffuhand.models.estimator import HandPoseModel, ModelConfig, load_model
from diffuhand.models.heads import IKMLP, BaselineHead
from diffuhand.models.keypoints import normalise_keypoints, random_projection


def test_baseline_output_obeys_the_limits_for_any_input():
    head = BaselineHead(32)
    out = head(torch.randn(16, 32) * 1e4)
    lim = load_limits()
    assert out["joints"].shape == (16, 21, 3) and lim.contains(out["angles"].double(), out["ratios"].double(), tol=1e-5)
    r = out["root_rotation"]
    assert torch.allclose(r @ r.transpose(-1, -2), torch.eye(3).expand(16, 3, 3), atol=1e-4)
    # wrist at the origin, anchor bone of length 1: anchor units
    assert torch.allclose(out["joints"][:, 0], torch.zeros(16, 3))
    assert torch.allclose((out["joints"][:, 5] - out["joints"][:, 0]).norm(dim=-1), torch.ones(16), atol=1e-5)
    assert torch.allclose(out["joints"], out["canonical"] @ r.transpose(-1, -2), atol=1e-5)


def test_ik_mlp_and_gradients():
    ik = IKMLP(64)
    x = torch.randn(4, 21, 3, requires_grad=True)
    out = ik(x)
    out["joints"].sum().backward()
    assert torch.isfinite(x.grad).all() and load_limits().contains(out["angles"].double(), tol=1e-5)


def test_cosine_schedule_reaches_noise():
    head = DiffusionHead(16, channels=(16, 32, 32))
    a = head.train_scheduler.alphas_cumprod
    assert len(a) == 50 and a[-1] < 1e-4  # pure noise at T (the default linear betas keep ~0.6 of the signal)
    assert DDPMScheduler(num_train_timesteps=50).alphas_cumprod[-1] > 0.5


@pytest.mark.parametrize(
    "sampler", [SamplerConfig("ddpm", 50, 3), SamplerConfig("ddim", 5, 4), SamplerConfig("ddim", 1, 1)]
)
def test_sampling_shapes_and_samples_in_one_batch(sampler):
    torch.manual_seed(0)
    head = DiffusionHead(16, channels=(16, 32, 32))
    x = head.sample(torch.randn(3, 16), sampler)
    assert x.shape == (3, sampler.samples, 21, 3) and torch.isfinite(x).all()


def test_bad_samplers_are_refused():
    for kind, steps, samples in (("ddpx", 5, 1), ("ddpm", 0, 1), ("ddim", 5, 0)):
        with pytest.raises(ValueError, match="bad sampler"):
            SamplerConfig(kind, steps, samples)
    with pytest.raises(ValueError, match="at most T = 50"):
        DiffusionHead(16, channels=(16, 32, 32)).scheduler(SamplerConfig("ddpm", 51))


def test_strided_ddpm_schedule_starts_at_pure_noise():
    head = DiffusionHead(16, channels=(16, 32, 32))
    for steps in (1, 2, 5, 10):
        sched = head.scheduler(SamplerConfig("ddpm", steps))
        sched.set_timesteps(steps)
        t = sched.timesteps.tolist()
        assert len(t) == steps and t[0] == 49 and t == sorted(t, reverse=True)
    sched = head.scheduler(SamplerConfig("ddpm", 50))
    sched.set_timesteps(50)
    assert sched.timesteps.tolist() == list(range(49, -1, -1))  # all T steps: the paper's sampler


@pytest.mark.parametrize("sampler", [SamplerConfig("ddim", 10, 4), SamplerConfig("ddpm", 5, 4)])
def test_diffusion_learns_a_conditional_distribution(sampler):
    """Two conditions, two target poses: a few hundred steps of equation (5) make DDIM, and ancestral DDPM on 5 of
    the 50 steps, land near each."""
    torch.manual_seed(0)
    head = DiffusionHead(8, channels=(16, 32, 32))
    targets = torch.randn(2, 21, 3) * 0.5
    conds = torch.eye(2, 8)
    opt = torch.optim.Adam(head.parameters(), lr=3e-3)
    for _ in range(400):
        idx = torch.randint(0, 2, (32,))
        loss = head.loss(targets[idx], conds[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    x = head.sample(conds, sampler, torch.Generator().manual_seed(0)).mean(1)
    err = (x - targets).norm(dim=-1).mean(-1)
    spread = (targets[0] - targets[1]).norm(dim=-1).mean()
    assert float(err.max()) < 0.35 * float(spread)


def test_keypoint_projection():
    j = torch.randn(5, 21, 3)
    j = j - j[:, :1]
    uv, rotated = random_projection(j, torch.Generator().manual_seed(0))
    assert uv.shape == (5, 21, 2) and torch.allclose(rotated.norm(dim=-1), j.norm(dim=-1), atol=1e-5)
    n = normalise_keypoints(uv)
    assert torch.allclose(n[:, 0], torch.zeros(5, 2)) and torch.allclose(n[:, 9].norm(dim=-1), torch.ones(5))


@pytest.mark.parametrize(
    "kind,condition",
    [("baseline", "image"), ("diffusion_ik", "image"), ("diffusion", "keypoints"), ("diffusion_ik", "both")],
)
def test_estimator_predict_save_load(tmp_path, kind, condition):
    cfg = ModelConfig(
        kind=kind,
        condition=condition,
        feature_dim=32,
        input_size=64,
        sampler={"kind": "ddim", "steps": 2, "samples": 3, "eta": 0.0},
    )
    model = HandPoseModel(cfg).eval()
    images = torch.rand(2, 3, 64, 64)
    kp = torch.rand(2, 21, 2) * 64
    out = model.predict(
        images if condition != "keypoints" else None,
        kp if condition != "image" else None,
        generator=torch.Generator().manual_seed(0),
    )
    assert out["joints"].shape == (2, 21, 3) and out["uncertainty"].shape == (2, 21)
    if kind != "diffusion":
        assert out["angles"].shape == (2, 41) and out["ratios"].shape == (2, 20)
    from dataclasses import asdict

    save_checkpoint(tmp_path / "ck", model, asdict(cfg))
    again = load_model(tmp_path / "ck")
    for (k, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), k
    out2 = again.predict(
        images if condition != "keypoints" else None,
        kp if condition != "image" else None,
        generator=torch.Generator().manual_seed(0),
    )
    assert torch.allclose(out["joints"], out2["joints"])


def test_bad_weights_files(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "model.safetensors").write_bytes(b"garbage")
    (tmp_path / "a" / "config.json").write_text('{"format": "diffuhand-model", "version": 1, "model": {}}')
    with pytest.raises(DiffuhandError, match="not a readable safetensors file"):
        read_checkpoint(tmp_path / "a")
    (tmp_path / "a" / "config.json").write_text('{"format": "other"}')
    with pytest.raises(DiffuhandError, match="not a diffuhand-model configuration"):
        read_checkpoint(tmp_path / "a")
    with pytest.raises(DiffuhandError, match="no such file"):
        read_checkpoint(tmp_path / "missing")
    # a foreign but valid safetensors file: the weights do not fit
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(3)}, str(tmp_path / "a" / "model.safetensors"))
    (tmp_path / "a" / "config.json").write_text(
        '{"format": "diffuhand-model", "version": 1, "model": {"kind": "baseline", "feature_dim": 8}}'
    )
    with pytest.raises(DiffuhandError, match="do not fit") as refused:
        load_model(tmp_path / "a")
    # the refusal is one line naming the folder (torch's own message spans several)
    assert str(refused.value).startswith(f"{tmp_path / 'a'}: ") and "\n" not in str(refused.value)
    # the same folder with weights that fit the configuration loads them bit for bit
    good = HandPoseModel(ModelConfig(kind="baseline", feature_dim=8))
    save_checkpoint(tmp_path / "a", good, {"kind": "baseline", "feature_dim": 8})
    loaded = load_model(tmp_path / "a").state_dict()
    assert loaded.keys() == good.state_dict().keys()
    assert all(torch.equal(loaded[k], v) for k, v in good.state_dict().items())


def test_predict_without_the_ik_mlp_gives_the_same_sample_mean():
    torch.manual_seed(0)
    model = HandPoseModel(ModelConfig(kind="diffusion_ik", condition="keypoints", feature_dim=16)).eval()
    kp = torch.rand(2, 21, 2) * 100
    full = model.predict(None, kp, SamplerConfig("ddpm", 3, 2), torch.Generator().manual_seed(0))
    bare = model.predict(None, kp, SamplerConfig("ddpm", 3, 2), torch.Generator().manual_seed(0), ik_mlp=False)
    assert "angles" in full and "angles" not in bare
    torch.testing.assert_close(bare["joints"], full["diffusion_joints"], rtol=0, atol=0)
