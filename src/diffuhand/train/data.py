"""Training batches: hand crops as right hands with their targets, and (for the keypoint model) 3D poses.

Per item: ``image`` (3, S, S) float [0, 1] (and ``image2``, a second augmented view), ``joints`` (21, 3)
wrist-relative camera-frame joints in anchor lengths, ``canonical`` (21, 3) the same in the hand frame,
``anchor_mm``, ``root_mm`` (3,), ``K`` (3, 3) of the crop, ``uv`` (21, 2) px of the crop, ``valid`` (21,).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset

from diffuhand.data import open_dataset
from diffuhand.data.augment import Augmenter, to_tensor
from diffuhand.data.crops import crop_sample, to_right_hand
from diffuhand.kinematics.ik import hand_frame


def item_and_epoch(key: int | tuple[int, int]) -> tuple[int, int]:
    """A data-set key: an index, or (index, epoch) as :class:`~diffuhand.train.loop.StepSampler` yields them."""
    return (int(key[0]), int(key[1])) if isinstance(key, tuple | list) else (int(key), 0)


class CropSet(Dataset):
    """Indexed by ``i`` or ``(i, epoch)``: the augmentation is seeded by (seed, epoch, i), so an item looks
    different in every epoch and the same in a resumed run (``i`` alone: epoch 0)."""

    def __init__(self, datasets, size: int, augment: bool, views: int = 1, seed: int = 0):
        self.ds = ConcatDataset(datasets)
        self.size, self.augment, self.views, self.seed = size, augment, views, seed

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        i, epoch = item_and_epoch(key)
        s = self.ds[i]
        # hash of a tuple of ints is the same in every process and run (only str/bytes hashing is randomised)
        aug = Augmenter(size=self.size, seed=hash((self.seed, epoch, i)) % 2**32) if self.augment else None
        s = to_right_hand(s)
        if aug is not None:
            with torch.random.fork_rng(devices=[]):  # torchvision draws from the global RNG: keep the caller's intact
                torch.manual_seed(hash((self.seed, epoch, i, 1)) % 2**32)
                crop, views = aug(s, views=self.views)
        else:
            crop = crop_sample(s, self.size)
            views = [to_tensor(crop.image)] * self.views
        j = crop.joints_3d
        anchor = float(np.linalg.norm(j[5] - j[0]))
        rel = (j - j[0]) / anchor
        # synthetic labels carry the right-hand model's root rotation (valid for flipped left hands too)
        rot = crop.extra.get("root_rotation")
        rot = np.asarray(rot) if rot is not None else hand_frame(torch.as_tensor(j)).numpy()
        out = {
            "image": views[0],
            "joints": torch.tensor(rel, dtype=torch.float32),
            "canonical": torch.tensor(rel @ rot, dtype=torch.float32),
            "anchor_mm": torch.tensor(anchor, dtype=torch.float32),
            "root_mm": torch.tensor(j[0], dtype=torch.float32),
            "K": torch.tensor(crop.K, dtype=torch.float32),
            "uv": torch.tensor(crop.joints_2d, dtype=torch.float32),
            "valid": torch.tensor(crop.valid),
        }
        if self.views > 1:
            out["image2"] = views[1]
        return out


class PoseSet(Dataset):
    """3D poses only (labels of any data set) as right hands, wrist-relative in anchor lengths."""

    def __init__(self, datasets):
        poses = []
        for ds in datasets:
            for rec in ds.records:
                j = np.asarray(rec["joints_3d"], dtype=np.float64)
                if rec["handedness"] == "left":
                    j = j * np.array([-1.0, 1.0, 1.0])
                poses.append((j - j[0]) / np.linalg.norm(j[5] - j[0]))
        self.poses = torch.tensor(np.stack(poses), dtype=torch.float32)

    def __len__(self) -> int:
        return len(self.poses)

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        return {"pose": self.poses[item_and_epoch(key)[0]]}


def build_datasets(specs: list[dict], load_images: bool = True):
    return [open_dataset(s["name"], s["root"], s.get("split"), load_images=load_images) for s in specs]
