"""Run a lift over a data set, the way evaluation sets are used: each sample's ground-truth (or detected) hand,
left hands flipped to right and back by the lift, the prediction placed at the true scale (no single-frame lift
predicts scale, section 2.4) and wrist."""

from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from diffuhand.data.crops import square_box, unflip_joints
from diffuhand.data.schema import HandDataset
from diffuhand.detect import MediaPipeHands
from diffuhand.lift import HandInput, NetworkLifter
from diffuhand.models.diffusion import SamplerConfig


def _place(rel, anchor: np.ndarray, wrist: np.ndarray, flipped: list[bool]) -> np.ndarray:
    """Anchor-unit, right-hand, wrist-relative joints (N, 21, 3) -> mm in each sample's camera frame."""
    mm = np.asarray(rel, dtype=np.float64) * anchor
    return np.stack([unflip_joints(m, f) for m, f in zip(mm, flipped)]) + wrist


def detect_dataset(dataset: HandDataset, limit: int | None = None, progress: bool = True) -> dict[str, np.ndarray]:
    """MediaPipe on each sample's image, keeping the detection nearest the annotated hand (images may hold two).

    Returns ``keypoints_2d`` (N, 21, 2) pixels, ``world_mm`` (N, 21, 3) MediaPipe's 3D moved to the true wrist
    (its scale and rotation are its own), ``found`` (N,) bool; rows of missed hands are NaN."""

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


def predict_dataset(
    model,
    dataset: HandDataset,
    batch_size: int = 32,
    sampler: SamplerConfig | None = None,
    limit: int | None = None,
    seed: int = 0,
    progress: bool = True,
    keypoints_2d: np.ndarray | None = None,
    ik: str = "model",
    world_mm: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """A lift over a data set, through the product's own lift path (:meth:`~diffuhand.lift.NetworkLifter.lift_many`,
    :class:`~diffuhand.lift.FusionLifter`), with the data set's intrinsics; each result is placed at the true
    scale (no single-frame lift knows it, section 2.4) and wrist.

    Args:
        model: a lifter, or a :class:`~diffuhand.models.estimator.HandPoseModel` (then ``sampler`` and ``ik``:
            ``"solver"``, our IK solver on the diffusion mean as the product does, or ``"model"``, the model's own
            output: the IK MLP's for a diffusion_ik model, the mean for a diffusion model).
        keypoints_2d: (N, 21, 2) image pixels (e.g. a detector's) used instead of the annotated 2D joints, both to
            place the crop and as the lift's keypoints (no NaN rows: drop missed hands first).
        world_mm: (N, 21, 3) the detector's 3D estimates (a fusion lift needs them).

    Returns:
        ``final`` (N, 21, 3) mm in each sample's camera frame; for a diffusion network ``diffusion`` (the sample
        mean before any IK); ``uncertainty_mm`` (N, 21).
    """

    if ik not in ("model", "solver"):
        raise ValueError(f"ik must be 'model' or 'solver', got {ik!r}")
    lifter = model
    if not hasattr(model, "lift_many"):
        own = "mlp" if model.ik is not None else "none"
        lifter = NetworkLifter(model, ik="solver" if ik == "solver" else own, backend="torch", sampler=sampler)
    n = len(dataset) if limit is None else min(limit, len(dataset))
    for name, arr in (("keypoints_2d", keypoints_2d), ("world_mm", world_mm)):
        if arr is not None and (len(arr) < n or not np.isfinite(arr[:n]).all()):
            raise ValueError(f"{name} needs one finite row per evaluated sample")
    if lifter.needs_world and world_mm is None:
        raise ValueError("this lift needs the detector's 3D estimates (world_mm): evaluate it on detected hands")
    gen = torch.Generator().manual_seed(seed)
    outs: dict[str, list[np.ndarray]] = {"final": [], "diffusion": [], "uncertainty_mm": []}
    is_diffusion = getattr(getattr(lifter, "model", None), "diffusion", None) is not None
    for start in tqdm(range(0, n, batch_size), desc="evaluating", unit="batch", disable=not progress or None):
        samples = [dataset[i] for i in range(start, min(n, start + batch_size))]
        items = []
        for j, s in enumerate(samples):
            kp = keypoints_2d[start + j] if keypoints_2d is not None else s.joints_2d
            box = square_box(kp, None if keypoints_2d is not None else s.valid)
            world = world_mm[start + j] if world_mm is not None else None
            items.append((s.image, HandInput(s.handedness, 1.0, box, kp, world), s.K))
        lifted = lifter.lift_many(items, gen, camera_known=True)  # data sets give their intrinsics
        anchor = np.array([np.linalg.norm(s.joints_3d[5] - s.joints_3d[0]) for s in samples])[:, None, None]
        wrist = np.stack([s.joints_3d[0] for s in samples])[:, None]
        flipped = [s.handedness == "left" for s in samples]
        outs["final"].append(_place(np.stack([x.joints for x in lifted]), anchor, wrist, flipped))
        if is_diffusion:
            outs["diffusion"].append(_place(np.stack([x.model_joints for x in lifted]), anchor, wrist, flipped))
        outs["uncertainty_mm"].append(np.stack([x.uncertainty for x in lifted]) * anchor[:, :, 0])
    return {k: np.concatenate(v) for k, v in outs.items() if v}
