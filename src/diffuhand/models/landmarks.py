"""Conditioning on MediaPipe's hand landmark network (issue 13): the paper's image-conditioned models with a
backbone that already knows hands in place of an untrained ResNet.

One pass of the landmark network per hand (:class:`~diffuhand.detect.landmarks.LandmarkNet`, frozen) gives the
pooled image features, its 2D keypoints and its 3D world landmarks. :func:`landmark_condition` turns them into
one vector per hand, the same way in training (cached once per training crop) and in prediction; the
:class:`LandmarkEncoder` maps that vector to the head's conditioning, like the ResNet's fully-connected layer.

Contract of the vector (:data:`CONDITION_DIM` = 1152 + 63 + 42 + 2): the features; the world landmarks relative
to their wrist, divided by their wrist -> index MCP length (camera axes); the 2D keypoints relative to the crop
centre over the crop side (image axes); the viewing ray of the crop centre, (x, y) / z under the photo's K (a
hand away from the optical axis is seen from the side). All of a RIGHT hand (left hands mirrored first).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from diffuhand.detect.landmarks import FEATURE_DIM
from diffuhand.kinematics.skeleton import NUM_JOINTS
from diffuhand.models.heads import mlp

#: length of the vector :func:`landmark_condition` makes
CONDITION_DIM = FEATURE_DIM + NUM_JOINTS * 3 + NUM_JOINTS * 2 + 2


def landmark_condition(
    features: np.ndarray,
    world: np.ndarray,
    keypoints_2d: np.ndarray,
    rect_centre: np.ndarray,
    rect_side: np.ndarray,
    K: np.ndarray,
) -> np.ndarray:
    """(N, :data:`CONDITION_DIM`) float32 from one landmark pass per hand.

    Args:
        features: (N, 1152). world: (N, 21, 3) any unit. keypoints_2d: (N, 21, 2) image pixels.
        rect_centre: (N, 2) pixels, rect_side: (N,) pixels of the crop the pass saw. K: (N, 3, 3) or (3, 3).
    """
    n = len(features)
    w = np.asarray(world, dtype=np.float64)
    w = w - w[:, :1]
    w = w / np.maximum(np.linalg.norm(w[:, 5], axis=-1), 1e-9)[:, None, None]
    side = np.asarray(rect_side, dtype=np.float64).reshape(n, 1, 1)
    uv = (np.asarray(keypoints_2d, dtype=np.float64) - np.asarray(rect_centre, dtype=np.float64)[:, None]) / side
    K = np.broadcast_to(np.asarray(K, dtype=np.float64), (n, 3, 3))
    ray = (np.asarray(rect_centre) - K[:, :2, 2]) / np.stack([K[:, 0, 0], K[:, 1, 1]], -1)
    return np.concatenate(
        [np.asarray(features, dtype=np.float64).reshape(n, -1), w.reshape(n, -1), uv.reshape(n, -1), ray], -1
    ).astype(np.float32)


class LandmarkEncoder(nn.Module):
    """(B, :data:`CONDITION_DIM`) -> (B, feature_dim): a LayerNorm (the parts differ in scale) and an MLP."""

    def __init__(self, feature_dim: int = 256, hidden: int = 512, dropout: float = 0.1):
        super().__init__()
        self.norm = nn.LayerNorm(CONDITION_DIM)
        self.net = mlp([CONDITION_DIM, hidden, hidden, feature_dim], dropout=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.norm(x))
