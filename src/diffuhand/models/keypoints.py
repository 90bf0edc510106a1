"""Conditioning on 2D keypoints (beyond the paper): 21 detected 2D joints, normalised for position and scale,
encoded to a vector like the image features. Trainable from 3D poses alone by projecting them through random
cameras (:func:`random_projection`), which is what makes a model usable on real photos with MediaPipe's 2D."""

from __future__ import annotations

import torch
from torch import nn

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


def random_projection(joints: torch.Tensor, generator: torch.Generator | None = None, noise_px: float = 0.0,
                      rotation: torch.Tensor | None = None, distance: torch.Tensor | None = None):  # fmt: skip
    """Camera-frame joints (B, 21, 3), wrist-relative in any unit -> (uv (B, 21, 2), joints rotated (B, 21, 3)).

    A random rotation (uniform), a distance of 3-10 hand sizes and a focal length that fills a 256 px image;
    ``noise_px`` adds detector-like noise to the 2D joints. The returned 3D joints are the rotated ones (the
    camera-frame target that goes with the 2D). ``rotation`` (B, 3, 3) and ``distance`` (B,) in hand sizes fix
    the camera instead (e.g. one camera for every frame of a sequence)."""
    import roma

    b = joints.shape[0]
    if rotation is not None:
        rot = rotation.to(joints.dtype)
    elif generator is None:
        rot = roma.random_rotmat(b, device=joints.device, dtype=joints.dtype)
    else:
        rot = roma.unitquat_to_rotmat(torch.nn.functional.normalize(torch.randn(b, 4, generator=generator, dtype=joints.dtype), dim=-1))
    pts = joints @ rot.transpose(-1, -2)
    size = (joints[:, 5] - joints[:, 0]).norm(dim=-1).clamp_min(1e-6)  # the anchor bone
    factor = (3 + 7 * torch.rand(b, generator=generator, dtype=joints.dtype)) if distance is None else distance.to(joints.dtype)
    dist = size * factor
    z = pts[..., 2] + dist[:, None]
    f = 128.0 * dist / (2.5 * size)
    uv = f[:, None, None] * pts[..., :2] / z[..., None] + 128.0
    if noise_px:
        uv = uv + noise_px * torch.randn(uv.shape, generator=generator, dtype=uv.dtype)
    return uv, pts
