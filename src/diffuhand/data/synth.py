"""Reader of the data sets ``diffuhand synth`` writes (format in :mod:`diffuhand.synth.writer`): one sample per
hand, the mask in ``extra["mask_path"]`` (hand label ``extra["mask_label"]``), depth-buffer visibility in
``extra["visible"]`` (``valid`` is all True: every joint of a rendered hand is known), and the ground-truth
``angles``, ``ratios``, ``anchor_mm`` of the right-hand model in ``extra``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from diffuhand.data.jsonfiles import read_json, read_npz
from diffuhand.data.schema import HandDataset
from diffuhand.errors import DiffuhandError

SPLITS = ("all", "train", "test")


def _is_test(index: int, sequence: int) -> bool:
    # every tenth image (or sequence) is held out: deterministic, and whole sequences stay on one side
    return (sequence if sequence >= 0 else index) % 10 == 0


def open_synth(root: str | Path, split: str = "all", load_images: bool = True) -> HandDataset:
    root = Path(root)
    if split not in SPLITS:
        raise DiffuhandError(f"synth: unknown split {split!r}; use one of {', '.join(SPLITS)}")
    meta_path = root / "meta.json"
    meta = read_json(meta_path)
    if not isinstance(meta, dict) or meta.get("format") != "diffuhand-synth" or meta.get("version") != 1:
        raise DiffuhandError(f"{meta_path}: not a version-1 diffuhand-synth data set")
    files = sorted((root / "labels").glob("*.npz"))
    if not files:
        raise DiffuhandError(f"{root / 'labels'}: no label chunks (has the rendering run?)")
    records = []
    for f in files:
        lab = read_npz(f)
        for r, i in enumerate(lab["index"].tolist()):
            seq, frame = int(lab["sequence"][r]), int(lab["frame"][r])
            if split != "all" and _is_test(i, seq) != (split == "test"):
                continue
            for h in range(int(lab["n_hands"][r])):
                records.append(
                    {
                        "joints_3d": lab["joints_3d"][r, h].astype(np.float64),
                        "joints_2d": lab["joints_2d"][r, h].astype(np.float64),
                        "valid": np.ones(21, dtype=bool),
                        "K": lab["K"][r],
                        "handedness": ("right", "left")[int(lab["handedness"][r, h])],
                        "image_path": str(root / "images" / f"{i:08d}.jpg"),
                        "sequence_id": (f"seq{seq:06d}" + (f"-h{h}" if h else "")) if seq >= 0 else None,
                        "frame_index": frame if frame >= 0 else None,
                        "extra": {
                            "visible": lab["visible"][r, h],
                            "angles": lab["angles"][r, h].astype(np.float64),
                            "ratios": lab["ratios"][r, h].astype(np.float64),
                            "anchor_mm": float(lab["anchor_mm"][r, h]),
                            "root_rotation": lab["root_rotation"][r, h].astype(np.float64),
                            "mask_path": str(root / "masks" / f"{i:08d}.png"),
                            "mask_label": h + 1,
                            "image_index": i,
                        },
                    }
                )
    return HandDataset("synth", records, load_images=load_images)
