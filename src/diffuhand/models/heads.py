"""Heads that end in the kinematic model: the baseline MLP (section 2.2) and the IK MLP (section 2.5).

Both output, per hand: the 9-D root rotation made a rotation by SVD, the angles and bone ratios through the sine
normalisation of equation (1), and the joints by the FK layer. Joint contract: (B, 21, 3) relative to the wrist,
in anchor lengths (the wrist -> index MCP bone is 1), camera frame.
"""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import nn

from diffuhand.kinematics import forward_kinematics, rotation_from_9d
from diffuhand.kinematics.limits import Limits, load_limits, sine_normalise
from diffuhand.kinematics.skeleton import NUM_BONES, NUM_FINGER_ANGLES, NUM_JOINTS, NUM_ROOT_ANGLES, ROTATION_9D


def mlp(sizes: list[int], dropout: float = 0.0) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in pairwise(sizes[:-1]):
        layers += [nn.Linear(a, b), nn.LayerNorm(b), nn.GELU()] + ([nn.Dropout(dropout)] if dropout else [])
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    return nn.Sequential(*layers)


class KinematicOutput(nn.Module):
    """Raw vectors -> root rotation, angles, ratios (equation 1) -> FK joints."""

    def __init__(self, limits: Limits | None = None):
        super().__init__()
        self.limits = limits or load_limits()
        lo, hi = self.limits.angle_bounds(torch.float32)
        rlo, rhi = self.limits.ratio_bounds(torch.float32)
        for name, t in (("a_lo", lo), ("a_hi", hi), ("r_lo", rlo), ("r_hi", rhi)):
            self.register_buffer(name, t, persistent=False)

    def decode(self, root9: torch.Tensor, raw_angles: torch.Tensor, raw_ratios: torch.Tensor):
        """Raw vectors -> (root rotation (..., 3, 3), angles (..., 41) rad, ratios (..., 20)), within the limits."""

        rot = rotation_from_9d(root9 + torch.eye(3, device=root9.device, dtype=root9.dtype).flatten())
        angles = sine_normalise(
            torch.nn.functional.pad(raw_angles, (NUM_ROOT_ANGLES, 0)), self.a_lo, self.a_hi
        )  # root: 0
        ratios = sine_normalise(raw_ratios, self.r_lo, self.r_hi)
        return rot, angles, ratios

    @staticmethod
    def pose(rot: torch.Tensor, angles: torch.Tensor, ratios: torch.Tensor) -> dict:
        """The FK layer: joints (..., 21, 3) in the camera frame and ``canonical`` ones (root rotation = identity)."""
        canonical = forward_kinematics(angles, ratios, 1.0)
        joints = canonical @ rot.transpose(-1, -2)
        return {"joints": joints, "canonical": canonical, "angles": angles, "ratios": ratios, "root_rotation": rot}

    def forward(self, root9: torch.Tensor, raw_angles: torch.Tensor, raw_ratios: torch.Tensor) -> dict:
        return self.pose(*self.decode(root9, raw_angles, raw_ratios))


class BaselineHead(nn.Module):
    """Section 2.2: MLPs from the image features to the root rotation, the other 38 angles and the 20 ratios."""

    def __init__(self, feature_dim: int = 256, hidden: int = 256, limits: Limits | None = None):
        super().__init__()
        self.root = mlp([feature_dim, hidden, ROTATION_9D])
        self.angles = mlp([feature_dim, hidden, hidden, NUM_FINGER_ANGLES])
        self.ratios = mlp([feature_dim, hidden, NUM_BONES])
        self.out = KinematicOutput(limits)

    def forward(self, features: torch.Tensor) -> dict:
        return self.out(self.root(features), self.angles(features), self.ratios(features))


class IKMLP(nn.Module):
    """Section 2.5: joints (B, 21, 3) (e.g. the diffusion output) -> angles, ratios (equation 1) -> FK."""

    def __init__(self, hidden: int = 512, limits: Limits | None = None):
        super().__init__()
        self.body = mlp([NUM_JOINTS * 3, hidden, hidden, hidden], dropout=0.0)
        self.root = nn.Linear(hidden, ROTATION_9D)
        self.angles = nn.Linear(hidden, NUM_FINGER_ANGLES)
        self.ratios = nn.Linear(hidden, NUM_BONES)
        self.out = KinematicOutput(limits)

    def forward(self, joints: torch.Tensor) -> dict:
        h = torch.nn.functional.gelu(self.body(joints.flatten(-2)))
        return self.out(self.root(h), self.angles(h), self.ratios(h))
