"""Run a trained model over a data set, the way evaluation sets are used: each sample's ground-truth crop, left
hands flipped to right and back, the prediction placed at the true scale (the network does not predict scale,
section 2.4) and wrist."""

from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from diffuhand.data.augment import to_tensor
from diffuhand.data.crops import crop_sample, to_right_hand, unflip_joints
from diffuhand.data.schema import HandDataset
from diffuhand.models.diffusion import SamplerConfig
from diffuhand.models.estimator import HandPoseModel


def _place(rel: torch.Tensor, anchor: np.ndarray, wrist: np.ndarray, flipped: list[bool]) -> np.ndarray:
    """Anchor-unit, right-hand, wrist-relative joints -> mm in each sample's camera frame."""
    mm = rel.double().numpy() * anchor
    return np.stack([unflip_joints(m, f) for m, f in zip(mm, flipped)]) + wrist


def detect_dataset(dataset: HandDataset, limit: int | None = None, progress: bool = True) -> dict[str, np.ndarray]:
    """MediaPipe on each sample's image, keeping the detection nearest the annotated hand (images may hold two).

    Returns ``keypoints_2d`` (N, 21, 2) pixels, ``world_mm`` (N, 21, 3) MediaPipe's 3D moved to the true wrist
    (its scale and rotation are its own), ``found`` (N,) bool; rows of missed hands are NaN."""
    from diffuhand.detect import MediaPipeHands

    n = len(dataset) if limit is None else min(limit, len(dataset))
    kps, world = np.full((n, 21, 2), np.nan), np.full((n, 21, 3), np.nan)
    with MediaPipeHands(max_hands=2) as detector:
        for i in tqdm(range(n), desc="MediaPipe", unit="image", disable=not progress or None):
            s = dataset[i]
            dets = detector(s.image)
            if not dets:
                continue
            ref = s.joints_2d[s.valid].mean(0)
            d = min(dets, key=lambda d: np.linalg.norm(d.keypoints_2d.mean(0) - ref))
            kps[i] = d.keypoints_2d
            world[i] = d.world_mm - d.world_mm[0] + s.joints_3d[0]
    return {"keypoints_2d": kps, "world_mm": world, "found": np.isfinite(kps).all((1, 2))}


@torch.no_grad()
def predict_dataset(model: HandPoseModel, dataset: HandDataset, batch_size: int = 32, sampler: SamplerConfig | None = None,
                    limit: int | None = None, seed: int = 0, progress: bool = True,
                    keypoints_2d: np.ndarray | None = None, ik: str = "model") -> dict[str, np.ndarray]:  # fmt: skip
    """Predictions (N, 21, 3) mm in each sample's camera frame: ``final`` (the model's output), and for diffusion
    models ``diffusion`` (the sample mean before the IK MLP); plus ``uncertainty_mm`` (N, 21).

    ``ik="solver"``: ``final`` is the diffusion mean through our IK solver, as :class:`~diffuhand.pipeline.Estimator`
    does by default (``"model"``: the model's own output, the IK MLP's for a diffusion_ik model).

    ``keypoints_2d`` (N, 21, 2) image pixels (e.g. a detector's): used instead of the annotated 2D joints both to
    place the crop and as the keypoint condition, as in the real pipeline (no NaN rows: drop missed hands first)."""
    if ik not in ("model", "solver"):
        raise ValueError(f"ik must be 'model' or 'solver', got {ik!r}")
    n = len(dataset) if limit is None else min(limit, len(dataset))
    if keypoints_2d is not None and (len(keypoints_2d) < n or not np.isfinite(keypoints_2d[:n]).all()):
        raise ValueError("keypoints_2d needs one finite (21, 2) row per evaluated sample")
    gen = torch.Generator().manual_seed(seed)
    outs: dict[str, list[np.ndarray]] = {"final": [], "diffusion": [], "uncertainty_mm": []}
    size = model.cfg.input_size
    for start in tqdm(range(0, n, batch_size), desc="evaluating", unit="batch", disable=not progress or None):
        samples = [dataset[i] for i in range(start, min(n, start + batch_size))]
        if keypoints_2d is not None:
            samples = [s.replace(joints_2d=keypoints_2d[start + j]) for j, s in enumerate(samples)]
        crops = [crop_sample(to_right_hand(s), size) for s in samples]
        images = torch.stack([to_tensor(c.image) for c in crops]) if model.backbone is not None else None
        kps = torch.tensor(np.stack([c.joints_2d for c in crops]), dtype=torch.float32) if model.keypoints is not None else None
        res = model.predict(images, kps, sampler, generator=gen, ik_mlp=ik == "model")
        if ik == "solver" and "samples" in res:
            from diffuhand.pipeline import solve_ik

            res = {**res, **solve_ik(res.get("diffusion_joints", res["joints"]))}
        anchor = np.array([np.linalg.norm(s.joints_3d[5] - s.joints_3d[0]) for s in samples])[:, None, None]
        wrist = np.stack([s.joints_3d[0] for s in samples])[:, None]
        flipped = [s.handedness == "left" for s in samples]
        outs["final"].append(_place(res["joints"], anchor, wrist, flipped))
        if "diffusion_joints" in res:
            outs["diffusion"].append(_place(res["diffusion_joints"], anchor, wrist, flipped))
        outs["uncertainty_mm"].append(res["uncertainty"].double().numpy() * anchor[:, :, 0])
    return {k: np.concatenate(v) for k, v in outs.items() if v}
