"""Which measures each data set reports (the tables the paper compares with), computed on a whole data set."""

from __future__ import annotations

import numpy as np

from diffuhand.data.schema import HandDataset, HandSample
from diffuhand.eval.metrics import EvalResult, interhand_mpjpe, pa_mpjpe, scaled_mpjpe, spurr_protocol

#: data set -> its headline protocol: spurr (table 1: RHD, STB; also ours: the RHD protocol), interhand (table 2)
PRIMARY = {
    "rhd": "spurr",
    "stb": "spurr",
    "interhand26m": "interhand",
    "freihand": "spurr",
    "synth": "spurr",
    "ge-realworld": "spurr",
    "dexycb": "spurr",
}


def evaluate_dataset(pred_mm: np.ndarray, dataset: HandDataset) -> dict[str, EvalResult]:
    """All measures for predictions (N, 21, 3) mm, camera frame, canonical order, one per sample of ``dataset``
    in its order (left hands as left hands)."""
    samples = [dataset[i] for i in range(len(dataset))]  # through __getitem__: e.g. RHD picks its dominant hand
    return evaluate_samples(pred_mm, samples, dataset.name)


def evaluate_samples(pred_mm: np.ndarray, samples: list[HandSample], name: str) -> dict[str, EvalResult]:
    """:func:`evaluate_dataset` on samples already read (``name``: the data set, which picks the protocol)."""
    gt = np.stack([s.joints_3d for s in samples])
    valid = np.stack([s.valid for s in samples])
    if pred_mm.shape != gt.shape:
        raise ValueError(f"{len(pred_mm)} predictions of shape {pred_mm.shape[1:]} for {len(gt)} samples of {name}")
    out: dict[str, EvalResult] = {}
    kind = PRIMARY.get(name)
    if kind == "spurr":
        out["spurr"] = spurr_protocol(pred_mm, gt, valid)
    elif kind == "interhand":
        types = np.array([s.extra.get("hand_type", "single") for s in samples])
        out["interhand_all"] = interhand_mpjpe(pred_mm, gt, valid)
        for t in ("single", "interacting"):
            if (types == t).any():
                out[f"interhand_{t}"] = interhand_mpjpe(pred_mm[types == t], gt[types == t], valid[types == t])
    out["wrist_scaled"] = scaled_mpjpe(pred_mm, gt, valid)
    out["pa_mpjpe"] = pa_mpjpe(pred_mm, gt, valid)
    return out
