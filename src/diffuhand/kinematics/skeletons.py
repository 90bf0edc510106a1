"""Skeleton conventions: where a data set puts the joints, as the mean bone ratios of its hands.

Data sets do not agree on where a knuckle sits: MANO's joints (DexYCB, FreiHAND, HO-3D) put the MCPs deep in
the palm and the proximal phalanges short, Ge et al.'s rig (its gesture poses and its real-world photos) puts
them further out, MediaPipe has its own. A 3D error against one set's ground truth includes this convention
difference: on the real-world photos, that set's own angles drawn with DexYCB's mean bone ratios are already
6.6 mm PA-MPJPE from the truth, with its gesture poses' mean ratios 2.7 mm (``benchmarks/bench_skeletons.py``).

So the skeleton an output is drawn with is a choice, each one learnt from a data set's 3D poses by
``diffuhand skeleton`` (IK fits, mean bone ratio per bone) and shipped in ``kinematics/data/skeletons.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from diffuhand.errors import DiffuhandError
from diffuhand.io.files import atomic_write_text
from diffuhand.kinematics.skeleton import BONE_NAMES, NUM_BONES

SKELETONS_FORMAT = "diffuhand-skeletons"


@dataclass
class Skeleton:
    """A skeleton convention.

    Attributes:
        name: e.g. ``"ge2019"``. bone_ratios: (20,) mean bone length / anchor length (the anchor's is 1).
        anchor_mm: the data set's mean anchor length (wrist -> index MCP), for information.
        provenance: data, counts, residuals and the command that made it.
    """

    name: str
    bone_ratios: np.ndarray
    anchor_mm: float
    provenance: dict = field(default_factory=dict)

    def __post_init__(self):
        self.bone_ratios = np.asarray(self.bone_ratios, dtype=np.float64)
        if self.bone_ratios.shape != (NUM_BONES,) or not np.isfinite(self.bone_ratios).all():
            raise DiffuhandError(f"skeleton {self.name!r}: bone_ratios must hold {NUM_BONES} finite numbers")

    def to_json(self) -> dict:
        return {
            "bone_ratios": dict(zip(BONE_NAMES, np.round(self.bone_ratios, 6).tolist())),
            "anchor_mm": round(float(self.anchor_mm), 3),
            "provenance": self.provenance,
        }


def skeleton_from_fits(
    name: str, ratios: np.ndarray, anchor_mm: np.ndarray, provenance: dict | None = None
) -> Skeleton:
    """The skeleton of IK-fitted poses: mean of their bone ratios (N, 20) and anchor lengths (N,) (mm)."""
    ratios = np.asarray(ratios, dtype=np.float64)
    if ratios.ndim != 2 or ratios.shape[1] != NUM_BONES or len(ratios) == 0:
        raise DiffuhandError(f"need (N, {NUM_BONES}) bone ratios of at least one pose, got {ratios.shape}")
    prov = {"poses": len(ratios), "ratio_std": np.round(ratios.std(0), 4).tolist(), **(provenance or {})}
    return Skeleton(name, ratios.mean(0), float(np.mean(anchor_mm)), prov)


def _read(path: Path | None) -> dict:
    try:
        text = (
            resources.files("diffuhand.kinematics").joinpath("data/skeletons.json").read_text()
            if path is None
            else Path(path).read_text()
        )
        data = json.loads(text)
    except FileNotFoundError:
        return {"format": SKELETONS_FORMAT, "version": 1, "skeletons": {}}
    except (OSError, ValueError) as exc:
        raise DiffuhandError(f"{path or 'shipped skeletons'}: cannot read ({exc.__class__.__name__})") from None
    if data.get("format") != SKELETONS_FORMAT:
        raise DiffuhandError(f"{path}: not a {SKELETONS_FORMAT} file")
    return data


def save_skeleton(skeleton: Skeleton, path: str | Path) -> None:
    """Add (or replace) ``skeleton`` in the skeletons file at ``path``."""
    path = Path(path)
    data = _read(path) if path.exists() else {"format": SKELETONS_FORMAT, "version": 1, "skeletons": {}}
    data["skeletons"][skeleton.name] = skeleton.to_json()
    atomic_write_text(path, json.dumps(data, indent=1) + "\n")


def skeleton_names(path: str | Path | None = None) -> list[str]:
    """The skeletons in a file (default: the shipped ones)."""
    return sorted(_read(Path(path) if path else None)["skeletons"])


@lru_cache(maxsize=8)
def load_skeleton(name: str, path: str | None = None) -> Skeleton:
    """A named skeleton from a file (default: the shipped ``kinematics/data/skeletons.json``)."""
    data = _read(Path(path) if path else None)["skeletons"]
    if name not in data:
        raise DiffuhandError(f"no skeleton {name!r}; known: {', '.join(sorted(data)) or 'none'}")
    d = data[name]
    ratios = d["bone_ratios"]
    if isinstance(ratios, dict):
        missing = [b for b in BONE_NAMES if b not in ratios]
        if missing:
            raise DiffuhandError(f"skeleton {name!r} lacks bones {missing[:3]}")
        ratios = [ratios[b] for b in BONE_NAMES]
    return Skeleton(name, np.asarray(ratios), float(d.get("anchor_mm", float("nan"))), d.get("provenance", {}))
