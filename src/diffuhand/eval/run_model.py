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


@torch.no_grad()
def predict_dataset(model: HandPoseModel, dataset: HandDataset, batch_size: int = 32, sampler: SamplerConfig | None = None,
                    limit: int | None = None, seed: int = 0, progress: bool = True) -> dict[str, np.ndarray]:  # fmt: skip
    """Predictions (N, 21, 3) mm in each sample's camera frame: ``final`` (the model's output), and for diffusion
    models ``diffusion`` (the sample mean before the IK MLP); plus ``uncertainty_mm`` (N, 21)."""
    n = len(dataset) if limit is None else min(limit, len(dataset))
    gen = torch.Generator().manual_seed(seed)
    outs: dict[str, list[np.ndarray]] = {"final": [], "diffusion": [], "uncertainty_mm": []}
    size = model.cfg.input_size
    for start in tqdm(range(0, n, batch_size), desc="evaluating", unit="batch", disable=not progress or None):
        samples = [dataset[i] for i in range(start, min(n, start + batch_size))]
        crops = [crop_sample(to_right_hand(s), size) for s in samples]
        images = torch.stack([to_tensor(c.image) for c in crops]) if model.backbone is not None else None
        kps = torch.tensor(np.stack([c.joints_2d for c in crops]), dtype=torch.float32) if model.keypoints is not None else None
        res = model.predict(images, kps, sampler, generator=gen)
        anchor = np.array([np.linalg.norm(s.joints_3d[5] - s.joints_3d[0]) for s in samples])[:, None, None]
        wrist = np.stack([s.joints_3d[0] for s in samples])[:, None]
        flipped = [s.handedness == "left" for s in samples]
        outs["final"].append(_place(res["joints"], anchor, wrist, flipped))
        if "diffusion_joints" in res:
            outs["diffusion"].append(_place(res["diffusion_joints"], anchor, wrist, flipped))
        outs["uncertainty_mm"].append(res["uncertainty"].double().numpy() * anchor[:, :, 0])
    return {k: np.concatenate(v) for k, v in outs.items() if v}
