"""Losses of section 2.4, each weighted by the configuration.

Joint tensors: (B, 21, 3) wrist-relative, in anchor lengths; camera frame unless named canonical (hand frame,
root rotation removed).
"""

from __future__ import annotations

import torch


def l1_joints(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Mean absolute error over coordinates of valid joints."""
    err = (pred - target).abs().sum(-1)
    if valid is None:
        return err.mean() / 3
    w = valid.to(err.dtype)
    return (err * w).sum() / w.sum().clamp_min(1) / 3


def reprojection(
    pred_rel: torch.Tensor,
    anchor_mm: torch.Tensor,
    root_mm: torch.Tensor,
    K: torch.Tensor,
    uv: torch.Tensor,
    size: float,
    valid: torch.Tensor | None = None,
) -> torch.Tensor:
    """L1 between the projection of the prediction (placed at the true wrist, at the true scale) and the 2D joints,
    in units of the crop size."""
    pts = pred_rel * anchor_mm[:, None, None] + root_mm[:, None]
    proj = pts @ K.transpose(-1, -2)
    proj = proj[..., :2] / proj[..., 2:].clamp_min(1e-3)
    err = (proj - uv).abs().sum(-1) / size
    if valid is None:
        return err.mean() / 2
    w = valid.to(err.dtype)
    return (err * w).sum() / w.sum().clamp_min(1) / 2


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """SimCLR's NT-Xent between two views (B, D) of the same crops, via pytorch-metric-learning."""
    from pytorch_metric_learning.losses import NTXentLoss

    emb = torch.cat([z1, z2], dim=0)
    labels = torch.arange(z1.shape[0], device=z1.device).repeat(2)
    return NTXentLoss(temperature=temperature)(emb, labels)
