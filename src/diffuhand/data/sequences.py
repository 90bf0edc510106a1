"""Windows of consecutive frames for the temporal model (section 2.7)."""

from __future__ import annotations

import numpy as np

from diffuhand.data.schema import HandDataset


def frame_windows(dataset: HandDataset, size: int = 5, stride: int = 1, max_gap: int = 1) -> list[list[int]]:
    """Sample indices of every window of ``size`` consecutive frames inside one sequence.

    A sequence is cut where frame numbers jump by more than ``max_gap``; a window never spans a cut.
    """
    if size < 1 or stride < 1:
        raise ValueError("size and stride must be >= 1")
    out: list[list[int]] = []
    for idx in dataset.sequences().values():
        frames = np.array([dataset.records[i].get("frame_index") or 0 for i in idx])
        cuts = np.nonzero(np.diff(frames) > max_gap)[0] + 1
        for run in np.split(np.asarray(idx), cuts):
            out.extend(run[s : s + size].tolist() for s in range(0, len(run) - size + 1, stride))
    return out


def window_joints(dataset: HandDataset, window: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(T, 21, 3) mm joints and (T, 21) validity of one window (labels only, no images decoded)."""
    recs = [dataset.records[i] for i in window]
    return np.stack([r["joints_3d"] for r in recs]), np.stack([r["valid"] for r in recs])
