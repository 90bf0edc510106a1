"""Training data for the landmark-network models: the frozen network's output, cached once per training crop.

Per hand of a data set with images (renders, or any reader's photos): the hand as a right hand (left ones
mirrored), MediaPipe's crop around its 2D keypoints moved by detector-like noise (the product crops around
MediaPipe's own keypoints), one landmark pass, and the condition vector of :mod:`diffuhand.models.landmarks`.
Stored in chunks of :data:`CHUNK` hands (``OUT/landmarks-<name>/NNNNN.npz``, written atomically), so an
interrupted run resumes; the network's 3D and 2D are kept too (for the comparisons of ``benchmarks/``).

Item contract (:class:`LandmarkSet`): ``landmarks`` (CONDITION_DIM,) float32; ``joints`` (21, 3) wrist-relative
camera-frame joints in anchor lengths; ``canonical`` (21, 3) the same in the hand frame; ``valid`` (21,) bool.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from diffuhand.data import open_dataset
from diffuhand.data.crops import to_right_hand
from diffuhand.data.schema import HandDataset
from diffuhand.detect.landmarks import default_landmark_net, hand_rect
from diffuhand.io.files import atomic_path
from diffuhand.kinematics.ik import hand_frame
from diffuhand.models.landmarks import landmark_condition
from diffuhand.train.data import item_and_epoch

#: hands per cache file
CHUNK = 512
#: at least this share of a hand's joints visible (renders: from the depth buffer) to train on it
MIN_VISIBLE = 0.5
#: the crop is made around the true 2D keypoints moved by this much Gaussian noise (fraction of the hand's box),
#: about MediaPipe's own 2D error on real photos (0.034 of the box on the real-world dev set is the *mean* distance)
KEYPOINT_NOISE = 0.025


def _usable(rec: dict) -> bool:
    vis = rec.get("extra", {}).get("visible")
    return vis is None or float(np.mean(vis)) >= MIN_VISIBLE


def _hand_targets(sample) -> dict[str, np.ndarray]:

    j = sample.joints_3d
    anchor = float(np.linalg.norm(j[5] - j[0]))
    rel = (j - j[0]) / anchor
    rot = sample.extra.get("root_rotation")
    rot = np.asarray(rot) if rot is not None else hand_frame(torch.as_tensor(j)).numpy()
    return {
        "joints": rel.astype(np.float32),
        "canonical": (rel @ rot).astype(np.float32),
        "anchor_mm": np.float32(anchor),
        "valid": np.asarray(sample.valid, dtype=bool),
    }


def cache_chunk(dataset: HandDataset, indices: list[int], seed: int, net=None) -> dict[str, np.ndarray]:
    """One landmark pass per hand of ``dataset[indices]`` -> arrays (see the module docstring)."""

    net = net or default_landmark_net()
    rng = np.random.default_rng([seed, indices[0] if indices else 0])
    out: dict[str, list] = {
        k: []
        for k in (
            "landmarks",
            "joints",
            "canonical",
            "anchor_mm",
            "valid",
            "index",
            "world",
            "keypoints_2d",
            "presence",
            "right_score",
        )
    }
    for i in indices:
        s = to_right_hand(dataset[i])
        box = float(np.ptp(s.joints_2d, axis=0).max())
        rect = hand_rect(s.joints_2d + rng.normal(size=(21, 2)) * KEYPOINT_NOISE * box)
        o = net(s.image, [rect])
        cond = landmark_condition(
            o.features, o.world, o.keypoints_2d, np.array([[rect.cx, rect.cy]]), np.array([rect.side]), s.K
        )
        for k, v in _hand_targets(s).items():
            out[k].append(v)
        out["landmarks"].append(cond[0])
        out["index"].append(i)
        out["world"].append(o.world[0].astype(np.float32))
        out["keypoints_2d"].append(o.keypoints_2d[0].astype(np.float32))
        out["presence"].append(np.float32(o.presence[0]))
        out["right_score"].append(np.float32(o.right_score[0]))
    return {k: np.asarray(v) for k, v in out.items()}


def cache_landmarks(dataset: HandDataset, folder: Path, seed: int = 0, progress: bool = True) -> dict[str, np.ndarray]:
    """The cached landmark passes of every usable hand of ``dataset`` (computed where missing)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    usable = [i for i, r in enumerate(dataset.records) if _usable(r)]
    parts = []
    starts = range(0, len(usable), CHUNK)
    for c in tqdm(starts, desc=f"landmark passes ({len(usable)} hands)", unit="chunk", disable=not progress or None):
        path = folder / f"{c // CHUNK:05d}.npz"
        if not path.exists():
            data = cache_chunk(dataset, usable[c : c + CHUNK], seed)
            with atomic_path(path) as tmp, open(tmp, "wb") as fh:
                np.savez(fh, **data)
        with np.load(path) as z:
            parts.append({k: z[k] for k in z.files})
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else {}


class LandmarkSet(Dataset):
    """Cached landmark conditions with their targets (see the module docstring)."""

    def __init__(self, data: dict[str, np.ndarray]):
        self.cond = torch.from_numpy(np.asarray(data["landmarks"], dtype=np.float32))
        self.joints = torch.from_numpy(np.asarray(data["joints"], dtype=np.float32))
        self.canonical = torch.from_numpy(np.asarray(data["canonical"], dtype=np.float32))
        self.valid = torch.from_numpy(np.asarray(data["valid"], dtype=bool))

    def __len__(self) -> int:
        return len(self.cond)

    def __getitem__(self, i) -> dict:
        i, _ = item_and_epoch(i)  # the step sampler passes (index, epoch); the cache has one crop per hand
        return {
            "landmarks": self.cond[i],
            "joints": self.joints[i],
            "canonical": self.canonical[i],
            "valid": self.valid[i],
        }


def build_landmark_set(specs: list[dict], out: Path, seed: int = 0, progress: bool = True) -> LandmarkSet:
    """The :class:`LandmarkSet` of data-set specs (``{"name", "root", "split"}``), cached under ``out``."""

    parts = []
    for k, spec in enumerate(specs):
        ds = open_dataset(spec["name"], spec["root"], spec.get("split"))
        parts.append(
            cache_landmarks(
                ds, Path(out) / f"landmarks-{k}-{spec['name']}-{spec.get('split') or 'all'}", seed + k, progress
            )
        )
    parts = [p for p in parts if p]
    return LandmarkSet(
        {key: np.concatenate([p[key] for p in parts]) for key in ("landmarks", "joints", "canonical", "valid")}
    )
