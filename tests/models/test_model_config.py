"""A checkpoint describes its model (issue 14, item 13): every constructor size is in config.json, and the
samplers are built from the training scheduler's config rather than retyped."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest
import torch
from diffusers import DDPMScheduler

from diffuhand.io.weights import save_checkpoint
from diffuhand.models.diffusion import DiffusionHead, SamplerConfig
from diffuhand.models.estimator import HandPoseModel, ModelConfig, load_model
from diffuhand.train.config import TrainConfig
from diffuhand.train.loop import model_config


def test_checkpoint_rebuilds_a_model_with_non_default_sizes(tmp_path) -> None:
    cfg = ModelConfig(
        kind="diffusion_ik",
        condition="keypoints",
        feature_dim=24,
        unet_channels=(16, 24, 32),
        time_dim=16,
        cond_channels=8,
        keypoint_hidden=40,
        ik_hidden=48,
    )
    torch.manual_seed(0)
    model = HandPoseModel(cfg)
    saved = model_config(model, TrainConfig("t", {"kind": "diffusion_ik", "condition": "keypoints"}, {}))
    assert set(saved) == {f.name for f in fields(ModelConfig)} - {"backbone_weights"}
    save_checkpoint(tmp_path / "ck", model, saved)
    on_disk = json.loads((tmp_path / "ck" / "config.json").read_text())["model"]
    assert on_disk["unet_channels"] == [16, 24, 32] and on_disk["time_dim"] == 16 and on_disk["ik_hidden"] == 48
    back = load_model(tmp_path / "ck")  # strict load: every shape must match
    assert back.cfg.unet_channels == (16, 24, 32)
    kp = torch.rand(2, 21, 2) * 100
    a = model.eval().predict(keypoints=kp, generator=torch.Generator().manual_seed(3))
    b = back.predict(keypoints=kp, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a["joints"], b["joints"])


def test_an_older_checkpoint_without_the_sizes_takes_the_defaults(tmp_path) -> None:
    model = HandPoseModel(ModelConfig(kind="diffusion", condition="keypoints", feature_dim=16))
    save_checkpoint(tmp_path / "old", model, {"kind": "diffusion", "condition": "keypoints", "feature_dim": 16})
    assert load_model(tmp_path / "old").cfg.unet_channels == (64, 128, 256)


def test_bad_unet_channels_are_refused() -> None:
    with pytest.raises(ValueError, match="three widths"):
        ModelConfig(unet_channels=(8, 16))


@pytest.mark.parametrize("kind", ["ddpm", "ddim"])
def test_samplers_follow_the_training_schedule(kind: str) -> None:
    head = DiffusionHead(cond_dim=8, timesteps=40, channels=(8, 16, 16), time_dim=8, cond_channels=4)
    head.train_scheduler = DDPMScheduler(num_train_timesteps=40, beta_schedule="linear", beta_end=0.05)
    sched = head.scheduler(SamplerConfig(kind, 5, 1))
    assert torch.equal(sched.betas, head.train_scheduler.betas)
    assert sched.config.num_train_timesteps == 40 and sched.config.clip_sample
    sched.set_timesteps(5)
    assert int(sched.timesteps[0]) == 39  # "trailing": the first step starts from t = T - 1


def test_predict_gives_a_typed_output() -> None:
    """HandPoseModel.predict: a HandPoseOutput whose fields are attributes and keys; a head's missing fields are
    None and not keys; model_joints is the sample mean the IK MLP started from."""
    from diffuhand.models.estimator import HandPoseOutput

    torch.manual_seed(0)
    kp = torch.rand(2, 21, 2) * 100
    ik = HandPoseModel(ModelConfig(kind="diffusion_ik", condition="keypoints", feature_dim=16)).eval()
    out = ik.predict(keypoints=kp, sampler=SamplerConfig("ddpm", 3, 4), generator=torch.Generator().manual_seed(0))
    assert isinstance(out, HandPoseOutput) and out.joints is out["joints"] and out.angles.shape == (2, 41)
    assert torch.allclose(out.model_joints, out.samples.mean(1)) and not torch.equal(out.model_joints, out.joints)
    plain = ik.predict(
        keypoints=kp, sampler=SamplerConfig("ddpm", 3, 4), generator=torch.Generator().manual_seed(0), ik_mlp=False
    )
    assert plain.angles is None and "angles" not in plain and torch.equal(plain.model_joints, plain.joints)
    base = (
        HandPoseModel(ModelConfig(kind="baseline", condition="keypoints", feature_dim=16)).eval().predict(keypoints=kp)
    )
    assert base.samples is None and base.ratios.shape == (2, 20) and torch.equal(base.uncertainty, torch.zeros(2, 21))
