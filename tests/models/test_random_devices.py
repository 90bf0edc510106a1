"""Every random draw of training takes a device and a generator: on a GPU nothing mixes devices (checked on
PyTorch's "meta" device, which has no data and refuses CPU tensors in its arithmetic, as CUDA does), and a seeded
CPU generator gives the same numbers whatever device the result goes to."""

import pytest
import torch

from diffuhand.models.diffusion import DiffusionHead
from diffuhand.models.keypoints import random_projection
from diffuhand.models.temporal import random_frame_mask
from diffuhand.train.temporal import _random_rotation

META = torch.device("meta")


@pytest.mark.parametrize("seeded", [False, True])
def test_random_projection_stays_on_the_joints_device(seeded):
    gen = torch.Generator().manual_seed(0) if seeded else None
    joints = torch.zeros(4, 21, 3, device=META)
    uv, pts = random_projection(joints, gen, noise_px=2.0)
    assert uv.device == META and pts.device == META and uv.shape == (4, 21, 2)
    rot, dist = torch.eye(3).expand(4, 3, 3), torch.full((4,), 5.0)  # a fixed camera given on another device
    uv, _ = random_projection(joints, gen, rotation=rot, distance=dist)
    assert uv.device == META


def test_random_projection_same_numbers_for_a_seed_on_any_device():
    joints = torch.randn(3, 21, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    a = random_projection(joints, torch.Generator().manual_seed(0), noise_px=1.0)
    b = random_projection(joints.to("cpu"), torch.Generator().manual_seed(0), noise_px=1.0)
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_frame_mask_and_rotation_on_a_device():
    g = torch.Generator().manual_seed(0)
    mask = random_frame_mask(8, 5, 0.5, g, device=META)
    assert mask.device == META and mask.shape == (8, 5) and mask.dtype == torch.bool
    cpu = random_frame_mask(8, 5, 0.5, torch.Generator().manual_seed(0))
    assert cpu.device.type == "cpu"
    rot = _random_rotation(torch.Generator().manual_seed(0), device=META)
    assert rot.device == META and rot.shape == (1, 3, 3)


def test_diffusion_loss_with_a_cpu_generator_on_another_device():
    head = DiffusionHead(cond_dim=16).to(META)
    loss = head.loss(
        torch.zeros(2, 21, 3, device=META), torch.zeros(2, 16, device=META), torch.Generator().manual_seed(0)
    )
    assert loss.device == META


def test_a_keypoint_model_training_step_on_another_device():
    """The losses of one training step of the keypoint model, all on the model's device (the issue's report)."""
    from diffuhand.models.estimator import HandPoseModel, ModelConfig
    from diffuhand.train.config import TrainConfig
    from diffuhand.train.loop import training_losses

    cfg = TrainConfig(
        name="t",
        model={"kind": "diffusion_ik", "condition": "keypoints", "feature_dim": 16},
        data={"train": []},
        optim={},
        train={"p_ik": 0.0, "keypoint_noise_px": 2.0},
    )
    model = HandPoseModel(ModelConfig(**cfg.model)).to(META)
    losses = training_losses(model, {"pose": torch.zeros(4, 21, 3, device=META)}, cfg)
    assert losses["total"].device == META
