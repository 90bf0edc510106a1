"""RHD (Zimmermann & Brox 2017), layout ``RHD_published_v2/{training,evaluation}/``:
``anno_<split>.pickle`` ({id: {"xyz": (42, 3) metres, "uv_vis": (42, 3) px + visibility, "K": (3, 3)}}),
``color/%05d.png``, ``mask/%05d.png``. Keypoints 0-20 are the left hand, 21-41 the right, each in RHD order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from diffuhand.data.schema import HandDataset, HandSample
from diffuhand.errors import DiffuhandError
from diffuhand.io.pickles import load_restricted
from diffuhand.kinematics.conventions import to_canonical

SPLITS = ("training", "evaluation")
# mask labels: 0 background, 1 person, 2-17 left hand parts, 18-33 right hand parts
_LEFT_LABELS, _RIGHT_FROM = (2, 17), 18


def _hand(anno: dict, side: str) -> dict:
    sl = slice(0, 21) if side == "left" else slice(21, 42)
    xyz = to_canonical(np.asarray(anno["xyz"], dtype=np.float64)[sl], "rhd") * 1000.0
    uv_vis = to_canonical(np.asarray(anno["uv_vis"], dtype=np.float64)[sl], "rhd")
    return {
        "joints_3d": xyz,
        "joints_2d": uv_vis[:, :2],
        "valid": uv_vis[:, 2] == 1,
        "K": np.asarray(anno["K"], dtype=np.float64),
        "handedness": side,
    }


def dominant_side(mask: np.ndarray) -> str:
    """The hand with more mask pixels (the rule of Zimmermann & Brox and Spurr et al. for the RHD benchmark)."""
    left = int(((mask >= _LEFT_LABELS[0]) & (mask <= _LEFT_LABELS[1])).sum())
    right = int((mask >= _RIGHT_FROM).sum())
    return "left" if left > right else "right"


def open_rhd(
    root: str | Path, split: str = "evaluation", hands: str = "dominant", load_images: bool = True, min_visible: int = 1
) -> HandDataset:
    """RHD samples.

    Args:
        root: the ``RHD_published_v2`` folder. split: ``training`` or ``evaluation``.
        hands: ``dominant``: one sample per image, the hand with more mask pixels (the benchmark's rule);
            ``all``: one sample per hand with at least ``min_visible`` visible keypoints.
    """
    root = Path(root)
    if split not in SPLITS:
        raise DiffuhandError(f"rhd: unknown split {split!r}; use one of {', '.join(SPLITS)}")
    if hands not in ("dominant", "all"):
        raise DiffuhandError(f"rhd: hands must be 'dominant' or 'all', got {hands!r}")
    folder = root / split
    annos = load_restricted(folder / f"anno_{split}.pickle")
    if not isinstance(annos, dict):
        raise DiffuhandError(f"{folder / f'anno_{split}.pickle'}: expected a dict of annotations")
    records = []
    for sid in sorted(annos):
        anno = annos[sid]
        try:
            hands_of = {side: _hand(anno, side) for side in ("left", "right")}
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise DiffuhandError(f"{folder / f'anno_{split}.pickle'}: sample {sid} is malformed ({exc})") from None
        base = {
            "image_path": str(folder / "color" / f"{int(sid):05d}.png"),
            "frame_index": None,
            "extra": {
                "rhd_id": int(sid),
                "mask_path": str(folder / "mask" / f"{int(sid):05d}.png"),
                "both_hands": hands_of if hands == "dominant" else None,
            },
        }
        if hands == "dominant":
            records.append({**hands_of["right"], **base})
        else:
            for h in hands_of.values():
                if h["valid"].sum() >= min_visible:
                    records.append({**h, **base, "extra": {**base["extra"], "both_hands": None}})

    def choose(sample: HandSample) -> HandSample:
        both = sample.extra.get("both_hands")
        if both is None:
            return sample
        side = dominant_side(load_rgb_mask(sample.extra["mask_path"]))
        extra = {k: v for k, v in sample.extra.items() if k != "both_hands"}
        return sample.replace(**both[side], extra=extra)

    return HandDataset("rhd", records, load_images=load_images, finalize=choose)


def load_rgb_mask(path: str | Path) -> np.ndarray:
    """RHD's segmentation mask (H, W) of part labels."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return np.asarray(im)
    except FileNotFoundError:
        raise DiffuhandError(f"{path}: no such file") from None
    except OSError as exc:
        raise DiffuhandError(f"{path}: cannot decode mask ({exc.__class__.__name__})") from None


__all__ = ["dominant_side", "open_rhd"]
