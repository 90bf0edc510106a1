"""3D joint error protocols, as the papers the tables come from computed them.

All functions take canonical-order joints in millimetres: predictions and ground truth (N, 21, 3), and a
per-joint validity or visibility mask (N, 21).

**RHD and STB (Spurr et al. 2018, ``evaluate_model.py`` and ``utils/general.py:EvalUtil`` of vae-hands-3d, the
script table 1 used):**

- root: the *palm*, the midpoint of the wrist and the middle MCP (RHD readers with ``use_wrist_coord=False``;
  STB publishes this palm point itself). Its visibility is wrist OR middle MCP.
- ground truth relative to its palm; the prediction relative to its own palm, then scaled so that its reference
  bone, middle MCP -> middle PIP (RHD indices 12 -> 11), has the ground truth's length.
- only visible joints count; the mean error is taken per keypoint over the samples where it is visible, then
  averaged over keypoints (not pooled over all joints).
- PCK at 20 thresholds ``linspace(0, 50 mm)``; AUC over 0-50 mm, and the reported "AUC 20-50" is the normalised
  trapezoid over the thresholds from index 8 on (21.05 .. 50 mm).

**InterHand2.6M (Moon et al. 2020):** each hand relative to its wrist, millimetres, no scaling, valid joints
only; reported separately for single and interacting hands (table 2).

**PA-MPJPE (FreiHAND style):** each prediction aligned to its ground truth by the similarity transform
(scale, rotation, translation) that minimises the squared error, then the mean joint error.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

_trapz = getattr(np, "trapezoid", None) or np.trapz  # numpy 2 renamed it

PCK_THRESHOLDS_MM = np.linspace(0.0, 50.0, 20)
AUC_20_50_FROM = 8  # Spurr et al.: pck_curve_all[8:], i.e. thresholds 21.05 .. 50 mm
PALM_FROM = (0, 9)  # wrist and middle MCP
REFERENCE_BONE = (9, 10)  # middle MCP -> middle PIP


@dataclass
class EvalResult:
    """Errors in millimetres; ``per_joint_mm`` (21,) with NaN for a joint never evaluated."""

    protocol: str
    samples: int
    mean_mm: float
    median_mm: float
    per_joint_mm: list[float]
    pck_thresholds_mm: list[float] = field(default_factory=list)
    pck: list[float] = field(default_factory=list)
    auc_0_50: float | None = None
    auc_20_50: float | None = None

    def to_json(self) -> dict:
        return {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in asdict(self).items()}


def _check(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pred, gt = np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[1:] != (21, 3):
        raise ValueError(f"predictions and ground truth must both be (N, 21, 3), got {pred.shape} and {gt.shape}")
    mask = np.ones(gt.shape[:2], dtype=bool) if mask is None else np.asarray(mask, dtype=bool).reshape(gt.shape[:2])
    return pred, gt, mask


def _per_keypoint(dist: np.ndarray, mask: np.ndarray, protocol: str, pck: bool) -> EvalResult:
    """Aggregate like EvalUtil: per keypoint over the samples where it counts, then the mean over keypoints."""
    per_joint_mean, per_joint_median, curves = [], [], []
    for j in range(dist.shape[1]):
        d = dist[mask[:, j], j]
        if len(d) == 0:
            per_joint_mean.append(np.nan)
            continue
        per_joint_mean.append(float(d.mean()))
        per_joint_median.append(float(np.median(d)))
        curves.append([(d <= t).mean() for t in PCK_THRESHOLDS_MM])
    means = np.array(per_joint_mean)
    res = EvalResult(
        protocol,
        int(dist.shape[0]),
        float(np.nanmean(means)),
        float(np.mean(per_joint_median)),
        [float(v) for v in means],
    )
    if pck:
        curve = np.mean(np.array(curves), axis=0)
        t = PCK_THRESHOLDS_MM
        res.pck_thresholds_mm = [float(v) for v in t]
        res.pck = [float(v) for v in curve]
        res.auc_0_50 = float(_trapz(curve, t) / _trapz(np.ones_like(t), t))
        sub_t, sub_c = t[AUC_20_50_FROM:], curve[AUC_20_50_FROM:]
        res.auc_20_50 = float(_trapz(sub_c, sub_t) / _trapz(np.ones_like(sub_t), sub_t))
    return res


def to_palm_root(joints: np.ndarray, mask: np.ndarray | None = None):
    """Replace joint 0 (the wrist) by the palm, the midpoint of wrist and middle MCP (and its visibility)."""
    out = joints.copy()
    out[:, 0] = 0.5 * (joints[:, PALM_FROM[0]] + joints[:, PALM_FROM[1]])
    if mask is None:
        return out
    m = mask.copy()
    m[:, 0] = mask[:, PALM_FROM[0]] | mask[:, PALM_FROM[1]]
    return out, m


def spurr_protocol(pred_mm, gt_mm, visible=None) -> EvalResult:
    """The RHD / STB protocol of Spurr et al. (see the module docstring). Inputs have the WRIST at joint 0
    (for STB: the published palm converted with :func:`~diffuhand.kinematics.conventions.stb_palm_to_wrist`,
    whose factor 2 makes the palm computed here exactly the published one)."""
    pred, gt, vis = _check(pred_mm, gt_mm, visible)
    gt, vis = to_palm_root(gt, vis)
    pred = to_palm_root(pred)
    gt = gt - gt[:, :1]
    pred = pred - pred[:, :1]
    a, b = REFERENCE_BONE
    scale = np.linalg.norm(gt[:, a] - gt[:, b], axis=-1) / np.maximum(
        np.linalg.norm(pred[:, a] - pred[:, b], axis=-1), 1e-12
    )
    pred = pred * scale[:, None, None]
    return _per_keypoint(np.linalg.norm(pred - gt, axis=-1), vis, "spurr (palm root, middle MCP-PIP scale)", pck=True)


def interhand_mpjpe(pred_mm, gt_mm, valid=None) -> EvalResult:
    """InterHand2.6M: wrist-relative, no scaling, valid joints only (one hand per row)."""
    pred, gt, valid = _check(pred_mm, gt_mm, valid)
    valid = valid & valid[:, :1]  # without a valid wrist there is no root to measure from
    dist = np.linalg.norm((pred - pred[:, :1]) - (gt - gt[:, :1]), axis=-1)
    return _per_keypoint(dist, valid, "interhand (wrist root, no scaling)", pck=False)


def scaled_mpjpe(pred_mm, gt_mm, valid=None) -> EvalResult:
    """Wrist-aligned error after the least-squares scale of the prediction (no rotation): the measure the
    real-world set's notes ask for beside the reference-bone scaling, which amplifies skeleton conventions."""
    pred, gt, valid = _check(pred_mm, gt_mm, valid)
    p, g = pred - pred[:, :1], gt - gt[:, :1]
    w = valid[..., None]
    scale = (p * g * w).sum((1, 2)) / np.maximum((p * p * w).sum((1, 2)), 1e-12)
    dist = np.linalg.norm(p * scale[:, None, None] - g, axis=-1)
    return _per_keypoint(dist, valid & valid[:, :1], "wrist-aligned, least-squares scale", pck=True)


def procrustes_align(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Similarity-align each (21, 3) prediction to its ground truth (Umeyama), using the masked joints."""
    pred, gt, mask = _check(pred, gt, mask)
    out = np.empty_like(pred)
    for i in range(len(pred)):
        m = mask[i]
        p, g = pred[i][m], gt[i][m]
        mp, mg = p.mean(0), g.mean(0)
        p0, g0 = p - mp, g - mg
        u, s, vt = np.linalg.svd(p0.T @ g0)
        d = np.sign(np.linalg.det(u @ vt))
        corr = np.diag([1.0, 1.0, d])
        rot = u @ corr @ vt  # applied as row vectors: p0 @ rot
        scale = (s * np.diag(corr)).sum() / max((p0**2).sum(), 1e-12)
        out[i] = scale * (pred[i] - mp) @ rot + mg
    return out


def pa_mpjpe(pred_mm, gt_mm, valid=None) -> EvalResult:
    """Procrustes-aligned mean joint error, per keypoint then over keypoints, valid joints only."""
    pred, gt, valid = _check(pred_mm, gt_mm, valid)
    aligned = procrustes_align(pred, gt, valid)
    return _per_keypoint(np.linalg.norm(aligned - gt, axis=-1), valid, "pa-mpjpe (similarity aligned)", pck=True)
