"""The one sample schema every reader produces.

Contract (all readers): 3D joints in the CAMERA frame, MILLIMETRES, canonical order (wrist first; see
:mod:`diffuhand.kinematics.skeleton`), as the hand really is (left hands NOT mirrored here: see
:func:`diffuhand.data.crops.to_right_hand`); 2D joints in pixels of ``image``; ``K`` maps the 3D joints onto
them (``uv ~ K @ xyz``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from diffuhand.errors import DiffuhandError


@dataclass
class HandSample:
    """One hand.

    Attributes:
        image: (H, W, 3) uint8 RGB, or None where the data set has no images (or they were not asked for).
        K: (3, 3) float64 intrinsics of ``image``, or None.
        joints_3d: (21, 3) float64, mm, camera frame, canonical order.
        joints_2d: (21, 2) float64 pixels of ``image`` (None without K).
        valid: (21,) bool: the joint is annotated (and, where the set says so, visible).
        handedness: ``"left"`` or ``"right"``.
        dataset, index: where it came from. image_path: the image file, if any.
        sequence_id, frame_index: for sequences (None otherwise).
        extra: data-set specific fields (e.g. ``hand_type`` of InterHand2.6M, ``palm_mm`` of STB).
    """

    joints_3d: np.ndarray
    valid: np.ndarray
    handedness: str
    dataset: str
    index: int
    image: np.ndarray | None = None
    K: np.ndarray | None = None
    joints_2d: np.ndarray | None = None
    image_path: str | None = None
    sequence_id: str | None = None
    frame_index: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def replace(self, **changes) -> HandSample:
        return replace(self, **changes)


def project(joints_3d: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Pinhole projection: (..., 3) camera-frame points -> (..., 2) pixels."""
    uvw = joints_3d @ np.asarray(K, dtype=np.float64).T
    return uvw[..., :2] / uvw[..., 2:3]


def load_rgb(path: str | Path) -> np.ndarray:
    """Decode an image file to (H, W, 3) uint8 RGB; a missing or corrupt file raises a one-line error."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.array(im.convert("RGB"))
    except FileNotFoundError:
        raise DiffuhandError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DiffuhandError(f"{path}: cannot decode image ({exc.__class__.__name__})") from None


class HandDataset(Sequence):
    """A sequence of :class:`HandSample` built from light records; images are decoded on access.

    Args:
        name: data-set name. records: per-sample dicts of the :class:`HandSample` fields (no image).
        load_images: decode the image in ``__getitem__`` (False: labels only, much faster).
        finalize: optional per-sample hook run after loading (e.g. RHD's choice of the dominant hand).
    """

    def __init__(
        self,
        name: str,
        records: list[dict],
        load_images: bool = True,
        finalize: Callable[[HandSample], HandSample] | None = None,
    ):
        self.name = name
        self.records = records
        self.load_images = load_images
        self._finalize = finalize

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        rec = self.records[i]
        sample = HandSample(dataset=self.name, index=int(i) if i >= 0 else len(self) + i, **rec)
        if self.load_images and sample.image_path is not None:
            sample.image = load_rgb(sample.image_path)
        if self._finalize is not None:
            sample = self._finalize(sample)
        return sample

    def subset(self, indices) -> HandDataset:
        """The samples at ``indices`` (in that order) as a data set of the same name and settings."""
        return HandDataset(self.name, [self.records[int(i)] for i in indices], self.load_images, self._finalize)

    def sequences(self) -> dict[str, list[int]]:
        """Sample indices per sequence id, each ordered by frame index."""
        out: dict[str, list[tuple[int, int]]] = {}
        for i, rec in enumerate(self.records):
            if rec.get("sequence_id") is not None:
                out.setdefault(rec["sequence_id"], []).append((rec.get("frame_index") or 0, i))
        return {k: [i for _, i in sorted(v)] for k, v in out.items()}
