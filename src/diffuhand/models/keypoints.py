"""Conditioning on 2D keypoints (beyond the paper): 21 detected 2D joints, normalised for position and scale,
encoded to a vector like the image features. Trainable from 3D poses alone by projecting them through random
cameras (:func:`random_projection`), which is what makes a model usable on real photos with MediaPipe's 2D."""

from __future__ import annotations

import roma
import torch
from torch import nn

from diffuhand.models import rng
from diffuhand.models.heads import mlp


def normalise_keypoints(uv: torch.Tensor) -> torch.Tensor:
    """(B, 21, 2) pixels -> wrist-relative, divided by the wrist -> middle MCP distance (B, 21, 2)."""
    rel = uv - uv[:, :1]
    scale = rel[:, 9].norm(dim=-1, keepdim=True).clamp_min(1e-6)[:, :, None]
    return rel / scale


class KeypointEncoder(nn.Module):
    def __init__(self, feature_dim: int = 256, hidden: int = 512):
        super().__init__()
        self.net = mlp([42, hidden, hidden, feature_dim])

    def forward(self, uv: torch.Tensor) -> torch.Tensor:
        return self.net(normalise_keypoints(uv).flatten(1))


def random_projection(
    joints: torch.Tensor,
    generator: torch.Generator | None = None,
    noise_px: float = 0.0,
    rotation: torch.Tensor | None = None,
    distance: torch.Tensor | None = None,
):
    """Camera-frame joints (B, 21, 3), wrist-relative in any unit -> (uv (B, 21, 2), joints rotated (B, 21, 3)).

    A random rotation (uniform), a distance of 3-10 hand sizes and a focal length that fills a 256 px image;
    ``noise_px`` adds detector-like noise to the 2D joints. The returned 3D joints are the rotated ones (the
    camera-frame target that goes with the 2D). ``rotation`` (B, 3, 3) and ``distance`` (B,) in hand sizes fix
    the camera instead (e.g. one camera for every frame of a sequence). Everything is made on the joints' device
    (``generator`` may be a CPU one: :mod:`diffuhand.models.rng`)."""

    b, dev, dt = joints.shape[0], joints.device, joints.dtype
    if rotation is not None:
        rot = rotation.to(dev, dt)
    elif generator is None:  # the global RNG of the joints' device, as before
        rot = roma.random_rotmat(b, device=dev, dtype=dt)
    else:
        rot = rng.random_rotation(b, generator, dev, dt)
    pts = joints @ rot.transpose(-1, -2)
    size = (joints[:, 5] - joints[:, 0]).norm(dim=-1).clamp_min(1e-6)  # the anchor bone
    factor = (3 + 7 * rng.rand(b, generator, dev, dt)) if distance is None else distance.to(dev, dt)
    dist = size * factor
    z = pts[..., 2] + dist[:, None]
    f = 128.0 * dist / (2.5 * size)
    uv = f[:, None, None] * pts[..., :2] / z[..., None] + 128.0
    if noise_px:
        uv = uv + noise_px * rng.randn(uv.shape, generator, dev, uv.dtype)
    return uv, pts
