"""DexYCB sequences as re-packed in ``shared/data/dexycb-left-sequences``: ``sequences/<subject>__<seq>.npz``
with ``joints_m`` (T, 21, 3) metres in the camera frame, MANO/HO-3D order, ``frame`` (T,), ``side``.
3D only (no images, no intrinsics): for the temporal model and pose statistics."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from diffuhand.data.jsonfiles import read_npz
from diffuhand.data.schema import HandDataset
from diffuhand.errors import DiffuhandError
from diffuhand.kinematics.conventions import to_canonical

SPLITS = ("all", "train", "test")


def open_dexycb(root: str | Path, split: str = "all", load_images: bool = False) -> HandDataset:
    """Every frame of every sequence, ``sequence_id`` = file stem, ``frame_index`` = the stored frame number.

    ``split``: "test" holds every fifth sequence (in file-name order, from the first), "train" the others, so that
    whole sequences are held out for the temporal model."""
    if split not in SPLITS:
        raise DiffuhandError(f"dexycb: unknown split {split!r}; use one of {', '.join(SPLITS)}")
    root = Path(root)
    folder = root / "sequences" if (root / "sequences").is_dir() else root
    files = sorted(folder.glob("*.npz"))
    if not files:
        raise DiffuhandError(f"{folder}: no sequence files (*.npz)")
    records = []
    for k, f in enumerate(files):
        if split != "all" and (k % 5 == 0) != (split == "test"):
            continue
        z = read_npz(f)
        if "joints_m" not in z:
            raise DiffuhandError(f"{f}: no joints_m array (not a DexYCB sequence)")
        joints = to_canonical(z["joints_m"].astype(np.float64), "mano") * 1000.0
        frames = z.get("frame", np.arange(len(joints)))
        side = str(z["side"]) if "side" in z else "right"
        for t in range(len(joints)):
            records.append(
                {
                    "joints_3d": joints[t],
                    "valid": np.ones(21, dtype=bool),
                    "handedness": side,
                    "sequence_id": f.stem,
                    "frame_index": int(frames[t]),
                }
            )
    return HandDataset("dexycb", records, load_images=False)
