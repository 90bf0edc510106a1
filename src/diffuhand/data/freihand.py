"""FreiHAND (Zimmermann et al. 2019), layout: ``training_xyz.json`` (N, 21, 3) metres, ``training_K.json``
(N, 3, 3), ``training/rgb/%08d.jpg`` (4N images: the N poses under four backgrounds, image i showing pose
i mod N), and the same for ``evaluation_*`` with ``evaluation/rgb``. Right hands, canonical order."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from diffuhand.data.jsonfiles import read_json
from diffuhand.data.schema import HandDataset, project
from diffuhand.errors import DiffuhandError

SPLITS = ("training", "evaluation")


def open_freihand(root: str | Path, split: str = "training", load_images: bool = True) -> HandDataset:
    root = Path(root)
    if split not in SPLITS:
        raise DiffuhandError(f"freihand: unknown split {split!r}; use one of {', '.join(SPLITS)}")
    xyz = np.asarray(read_json(root / f"{split}_xyz.json"), dtype=np.float64) * 1000.0
    Ks = np.asarray(read_json(root / f"{split}_K.json"), dtype=np.float64)
    if xyz.ndim != 3 or xyz.shape[1:] != (21, 3) or Ks.shape != (len(xyz), 3, 3):
        raise DiffuhandError(
            f"{root / f'{split}_xyz.json'}: expected (N, 21, 3) joints and (N, 3, 3) K, got {xyz.shape} and {Ks.shape}"
        )
    rgb = root / split / "rgb"
    n_images = len(list(rgb.glob("*.jpg"))) if rgb.is_dir() else 0
    if n_images == 0:
        raise DiffuhandError(f"{rgb}: no images")
    records = []
    for i in range(n_images):
        p = i % len(xyz)
        records.append(
            {
                "joints_3d": xyz[p],
                "joints_2d": project(xyz[p], Ks[p]),
                "valid": np.ones(21, dtype=bool),
                "K": Ks[p],
                "handedness": "right",
                "image_path": str(rgb / f"{i:08d}.jpg"),
                "extra": {"pose_index": p, "version": i // len(xyz)},
            }
        )
    return HandDataset("freihand", records, load_images=load_images)
