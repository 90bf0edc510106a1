"""Fitting many poses from files and deriving limits from them (the work behind ``diffuhand limits``)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from diffuhand.data.joints import JointSet
from diffuhand.io.files import atomic_path
from diffuhand.kinematics.ik import SOLVER_VERSION, fit_ik
from diffuhand.kinematics.limits import Limits, derive_limits

HANDEDNESS_SAMPLE = 200


@dataclass
class FileFit:
    """IK fits of one file's poses (as right hands)."""

    source: str
    side: str
    angles: np.ndarray  # (N, 41) rad
    ratios: np.ndarray  # (N, 20)
    anchor_mm: np.ndarray  # (N,)
    residual_mm: np.ndarray  # (N,)


def decide_side(js: JointSet, limits: Limits, hand: str = "auto") -> str:
    """``left`` or ``right``: given, from the file, or (``auto``) whichever fits the model better.

    A mirrored hand cannot bend its fingers the right way inside the limits, so its median residual is several
    times larger: both readings of (up to 200 of) the poses are fitted and the lower median wins.
    """
    if hand in ("left", "right"):
        return hand
    if js.side in ("left", "right"):
        return js.side
    pick = np.linspace(0, len(js.joints_mm) - 1, min(len(js.joints_mm), HANDEDNESS_SAMPLE)).round().astype(int)
    sample = js.joints_mm[pick]
    as_right = float(np.median(fit_ik(sample, limits=limits, max_iter=30).residual.numpy()))
    as_left = float(np.median(fit_ik(js.as_right("left")[pick], limits=limits, max_iter=30).residual.numpy()))
    return "left" if as_left < as_right else "right"


def _cache_key(js: JointSet, side: str, limits: Limits) -> str:
    h = hashlib.sha1()
    h.update(np.ascontiguousarray(js.joints_mm).tobytes())
    h.update(f"{side}/solver{SOLVER_VERSION}".encode())
    h.update(json.dumps(limits.to_json()["angles"], sort_keys=True).encode())
    return h.hexdigest()[:20]


def fit_file(js: JointSet, limits: Limits, hand: str = "auto", cache_dir: Path | None = None) -> FileFit:
    """Fit every pose of ``js`` (as a right hand); with ``cache_dir``, reuse or store the result there, so an
    interrupted run resumes where it stopped."""
    side = decide_side(js, limits, hand)
    cached = None
    if cache_dir is not None:
        cached = Path(cache_dir) / f"{_cache_key(js, side, limits)}.npz"
        if cached.exists():
            with np.load(cached, allow_pickle=False) as z:
                return FileFit(str(js.source), side, z["angles"], z["ratios"], z["anchor_mm"], z["residual_mm"])
    res = fit_ik(js.as_right(side), limits=limits)
    fit = FileFit(
        str(js.source),
        side,
        res.angles.numpy(),
        res.bone_ratios.numpy(),
        res.anchor_length.numpy(),
        res.residual.numpy(),
    )
    if cached is not None:
        with atomic_path(cached) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, angles=fit.angles, ratios=fit.ratios, anchor_mm=fit.anchor_mm, residual_mm=fit.residual_mm)
    return fit


def limits_from_fits(
    fits: list[FileFit],
    *,
    max_residual_mm: float = 5.0,
    percentiles=(0.5, 99.5),
    margin: float = 0.1,
    bounds: Limits | None = None,
    note: dict | None = None,
) -> Limits:
    """Derive limits from fitted files, leaving out poses the model could not fit (residual above the bound)."""
    angles = np.concatenate([f.angles for f in fits])
    ratios = np.concatenate([f.ratios for f in fits])
    anchor = np.concatenate([f.anchor_mm for f in fits])
    resid = np.concatenate([f.residual_mm for f in fits])
    keep = resid <= max_residual_mm
    prov = {
        "sources": [
            {
                "file": Path(f.source).name,
                "poses": len(f.angles),
                "side": f.side,
                "residual_mm_mean": round(float(f.residual_mm.mean()), 4),
            }
            for f in fits
        ],
        "max_residual_mm": max_residual_mm,
        "poses_dropped": int((~keep).sum()),
        "first_pass_residual_mm": {
            "mean": round(float(resid.mean()), 4),
            "p95": round(float(np.percentile(resid, 95)), 4),
        },
        "solver": f"diffuhand.kinematics.fit_ik v{SOLVER_VERSION} (box-constrained Levenberg-Marquardt)",
        **(note or {}),
    }
    return derive_limits(
        angles[keep], ratios[keep], anchor[keep], percentiles=percentiles, margin=margin, bounds=bounds, provenance=prov
    )
