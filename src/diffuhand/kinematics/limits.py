"""Joint-angle limits and bone-ratio ranges, the sine normalisation of equation (1), and their derivation.

Limits live in a versioned JSON file (angles in degrees, named) that records how it was made. The package ships
one derived from real hands by ``diffuhand limits`` (see ``data/limits.json``); :func:`load_limits` reads it.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from diffuhand.errors import DiffuhandError
from diffuhand.io.files import atomic_write_text
from diffuhand.kinematics.skeleton import (
    ADULT_ANCHOR_MM,
    ANCHOR_BONE,
    ANGLE_NAMES,
    BONE_NAMES,
    NUM_ANGLES,
    NUM_BONES,
    PINNED_ANGLES,
    ROOT_ANGLES,
)

if TYPE_CHECKING:
    import torch

LIMITS_FORMAT = "diffuhand-limits"
LIMITS_VERSION = 1

# Wide anatomical bounds in degrees, (min, max) per kind of node: the search box for the first IK pass from
# which the shipped limits are derived. They only exclude what no hand can do (a finger bent backwards 90 deg).
_ANATOMICAL_DEG: dict[str, tuple[float, float]] = {
    "root.abd": (-180.0, 180.0),
    "root.flex": (-90.0, 90.0),
    "root.twist": (-180.0, 180.0),
    "base.abd": (-90.0, 90.0),
    "base.flex": (-75.0, 75.0),
    "base.twist": (-90.0, 90.0),
    "thumb_cmc.abd": (-90.0, 90.0),
    "thumb_cmc.flex": (-90.0, 90.0),
    "thumb_cmc.twist": (-120.0, 120.0),
    "thumb_mcp.abd": (-60.0, 60.0),
    "thumb_mcp.flex": (-60.0, 110.0),
    "thumb_mcp.twist": (0.0, 0.0),
    "thumb_ip.flex": (-60.0, 120.0),
    "mcp.abd": (-60.0, 60.0),
    "mcp.flex": (-75.0, 120.0),
    "pip.flex": (-45.0, 135.0),
    "dip.flex": (-45.0, 120.0),
}
_ANATOMICAL_RATIO = (0.1, 2.0)


def _anatomical_key(name: str) -> str:
    joint, kind = name.split(".")
    if joint in ("root", "thumb_cmc", "thumb_mcp", "thumb_ip"):
        return name
    return f"{joint.split('_')[1]}.{kind}"


@dataclass
class Limits:
    """Per-angle limits (radians) and per-bone ratio ranges, with a neutral pose inside them.

    Attributes:
        angle_min, angle_max, angle_neutral: (41,) float64 radians. Pinned angles have min = max = 0.
        ratio_min, ratio_max, ratio_neutral: (20,) float64, bone length / anchor length; the anchor's is 1.
        anchor_mm: typical anchor (wrist -> index MCP) length in millimetres, for demos and defaults.
        provenance: how the file was made (data, counts, percentiles, solver settings, residuals).
    """

    angle_min: np.ndarray
    angle_max: np.ndarray
    angle_neutral: np.ndarray
    ratio_min: np.ndarray
    ratio_max: np.ndarray
    ratio_neutral: np.ndarray
    anchor_mm: float = ADULT_ANCHOR_MM
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, n in (("angle", NUM_ANGLES), ("ratio", NUM_BONES)):
            for part in ("min", "max", "neutral"):
                arr = np.asarray(getattr(self, f"{name}_{part}"), dtype=np.float64)
                if arr.shape != (n,) or not np.all(np.isfinite(arr)):
                    raise DiffuhandError(f"limits: {name}_{part} must hold {n} finite numbers, got shape {arr.shape}")
                setattr(self, f"{name}_{part}", arr)
        if np.any(self.angle_min > self.angle_max) or np.any(self.ratio_min > self.ratio_max):
            raise DiffuhandError("limits: a minimum exceeds its maximum")
        self.angle_neutral = np.clip(self.angle_neutral, self.angle_min, self.angle_max)
        self.ratio_neutral = np.clip(self.ratio_neutral, self.ratio_min, self.ratio_max)

    # -- tensors -------------------------------------------------------------------------------------------
    # start-up: torch is imported where tensors are asked for (the networks), never by a photo's fusion lift
    # (2.2-3.3 s, benchmarks/bench_startup.py)
    def angle_bounds(self, dtype: torch.dtype | None = None, device: torch.device | str = "cpu"):
        """(min, max) as (41,) tensors in radians (``dtype`` None: float32)."""
        import torch

        dtype = torch.float32 if dtype is None else dtype
        return (
            torch.as_tensor(self.angle_min, dtype=dtype, device=device),
            torch.as_tensor(self.angle_max, dtype=dtype, device=device),
        )

    def ratio_bounds(self, dtype: torch.dtype | None = None, device: torch.device | str = "cpu"):
        """(min, max) as (20,) tensors (``dtype`` None: float32)."""
        import torch

        dtype = torch.float32 if dtype is None else dtype
        return (
            torch.as_tensor(self.ratio_min, dtype=dtype, device=device),
            torch.as_tensor(self.ratio_max, dtype=dtype, device=device),
        )

    def normalise_angles(self, x: torch.Tensor) -> torch.Tensor:
        """Equation (1) on raw network outputs ``x`` (..., 41) -> angles (..., 41) within the limits."""
        lo, hi = self.angle_bounds(x.dtype, x.device)
        return sine_normalise(x, lo, hi)

    def normalise_ratios(self, x: torch.Tensor) -> torch.Tensor:
        """Equation (1) on raw network outputs ``x`` (..., 20) -> bone ratios (..., 20) within their ranges."""
        lo, hi = self.ratio_bounds(x.dtype, x.device)
        return sine_normalise(x, lo, hi)

    def contains(
        self, angles: torch.Tensor | np.ndarray, ratios: torch.Tensor | np.ndarray | None = None, tol: float = 1e-9
    ) -> bool:
        """True when every angle (and ratio, if given) lies within its limits, up to ``tol``."""
        a = as_float64(angles)
        ok = bool(((a >= self.angle_min - tol) & (a <= self.angle_max + tol)).all())
        if ratios is not None:
            r = as_float64(ratios)
            ok &= bool(((r >= self.ratio_min - tol) & (r <= self.ratio_max + tol)).all())
        return ok

    # -- files ---------------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        deg = np.degrees
        return {
            "format": LIMITS_FORMAT,
            "version": LIMITS_VERSION,
            "angle_unit": "degree",
            "angles": {
                n: {
                    "min": round(float(deg(lo)), 4),
                    "max": round(float(deg(hi)), 4),
                    "neutral": round(float(deg(c)), 4),
                }
                for n, lo, hi, c in zip(ANGLE_NAMES, self.angle_min, self.angle_max, self.angle_neutral)
            },
            "bone_ratios": {
                n: {"min": round(float(lo), 5), "max": round(float(hi), 5), "neutral": round(float(c), 5)}
                for n, lo, hi, c in zip(BONE_NAMES, self.ratio_min, self.ratio_max, self.ratio_neutral)
            },
            "anchor_mm": round(float(self.anchor_mm), 3),
            "provenance": self.provenance,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], source: str = "limits") -> Limits:
        try:
            if data.get("format") != LIMITS_FORMAT:
                raise DiffuhandError(f"{source}: not a {LIMITS_FORMAT} file")
            if data.get("version") != LIMITS_VERSION:
                raise DiffuhandError(
                    f"{source}: limits version {data.get('version')} is not supported (want {LIMITS_VERSION})"
                )
            a, r = data["angles"], data["bone_ratios"]
            missing = [n for n in ANGLE_NAMES if n not in a] + [n for n in BONE_NAMES if n not in r]
            if missing:
                raise DiffuhandError(f"{source}: missing entries {', '.join(missing[:5])}")
            rad = np.radians
            return cls(
                angle_min=rad([a[n]["min"] for n in ANGLE_NAMES]),
                angle_max=rad([a[n]["max"] for n in ANGLE_NAMES]),
                angle_neutral=rad([a[n]["neutral"] for n in ANGLE_NAMES]),
                ratio_min=np.array([r[n]["min"] for n in BONE_NAMES]),
                ratio_max=np.array([r[n]["max"] for n in BONE_NAMES]),
                ratio_neutral=np.array([r[n]["neutral"] for n in BONE_NAMES]),
                anchor_mm=float(data.get("anchor_mm", ADULT_ANCHOR_MM)),
                provenance=dict(data.get("provenance", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DiffuhandError(f"{source}: malformed limits file ({exc.__class__.__name__}: {exc})") from None

    def save(self, path: str | Path) -> None:
        """Write the limits as JSON, atomically (no half-written file on failure)."""
        atomic_write_text(Path(path), json.dumps(self.to_json(), indent=1) + "\n")


def as_float64(x) -> np.ndarray:
    """An array or a tensor (on any device, with or without gradient) as a float64 array, without importing torch."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def anatomical_limits() -> Limits:
    """The wide hand-written bounds (the search box for deriving data-driven limits)."""
    lo = np.array([math.radians(_ANATOMICAL_DEG[_anatomical_key(n)][0]) for n in ANGLE_NAMES])
    hi = np.array([math.radians(_ANATOMICAL_DEG[_anatomical_key(n)][1]) for n in ANGLE_NAMES])
    for n in PINNED_ANGLES:
        i = ANGLE_NAMES.index(n)
        lo[i] = hi[i] = 0.0
    rlo = np.full(NUM_BONES, _ANATOMICAL_RATIO[0])
    rhi = np.full(NUM_BONES, _ANATOMICAL_RATIO[1])
    rlo[ANCHOR_BONE] = rhi[ANCHOR_BONE] = 1.0
    return Limits(
        lo,
        hi,
        np.zeros(NUM_ANGLES),
        rlo,
        rhi,
        np.full(NUM_BONES, 0.5),
        provenance={"method": "hand-written anatomical bounds"},
    )


_DEFAULT: Limits | None = None


def load_limits(path: str | Path | None = None) -> Limits:
    """Read a limits file; with no path, the limits shipped with the package (derived from real hands)."""
    global _DEFAULT
    if path is None:
        if _DEFAULT is None:
            text = resources.files("diffuhand.kinematics").joinpath("data/limits.json").read_text()
            _DEFAULT = Limits.from_json(json.loads(text), source="diffuhand/kinematics/data/limits.json")
        return _DEFAULT
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise DiffuhandError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DiffuhandError(f"{path}: cannot read limits ({exc.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise DiffuhandError(f"{path}: not a {LIMITS_FORMAT} file")
    return Limits.from_json(data, source=str(path))


def sine_normalise(x: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """Equation (1): ``a = (sin(x) + 1) / 2 * (hi - lo) + lo``, so any real ``x`` lands in ``[lo, hi]``.

    The final clamp only removes float rounding (sin(x) = 1 can round ``lo + (hi - lo)`` past ``hi``); its
    gradient is the identity inside the range, so training sees the plain equation.
    """
    import torch  # start-up: see Limits.angle_bounds

    a = (torch.sin(x) + 1.0) * 0.5 * (hi - lo) + lo
    return torch.clamp(a, lo, hi)


def inverse_sine_normalise(a: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """The raw value in ``[-pi/2, pi/2]`` that equation (1) maps to ``a``; 0 where ``lo == hi``."""
    import torch  # start-up: see Limits.angle_bounds

    width = hi - lo
    u = torch.where(width > 0, 2.0 * (a - lo) / torch.where(width > 0, width, 1.0) - 1.0, torch.zeros_like(a))
    return torch.asin(u.clamp(-1.0, 1.0))


def derive_limits(
    angles: np.ndarray,
    ratios: np.ndarray,
    anchor: np.ndarray,
    *,
    percentiles: tuple[float, float] = (0.5, 99.5),
    margin: float = 0.1,
    bounds: Limits | None = None,
    provenance: dict[str, Any] | None = None,
) -> Limits:
    """Limits from fitted poses: robust percentiles of each angle and ratio, widened by ``margin``.

    Args:
        angles: (N, 41) fitted angles, radians. ratios: (N, 20). anchor: (N,) anchor lengths in mm.
        percentiles: lower and upper percentile kept (outliers beyond are dropped).
        margin: each range is widened by this fraction of its width on both sides, then clipped to ``bounds``
            (the anatomical box by default). Root angles keep their full range: the hand may face any way.
    """
    bounds = bounds or anatomical_limits()
    lo_p, hi_p = percentiles
    a_lo, a_hi = np.percentile(angles, [lo_p, hi_p], axis=0)
    r_lo, r_hi = np.percentile(ratios, [lo_p, hi_p], axis=0)
    a_w, r_w = a_hi - a_lo, r_hi - r_lo
    a_lo, a_hi = np.maximum(a_lo - margin * a_w, bounds.angle_min), np.minimum(a_hi + margin * a_w, bounds.angle_max)
    r_lo, r_hi = np.maximum(r_lo - margin * r_w, bounds.ratio_min), np.minimum(r_hi + margin * r_w, bounds.ratio_max)
    a_lo[ROOT_ANGLES], a_hi[ROOT_ANGLES] = bounds.angle_min[ROOT_ANGLES], bounds.angle_max[ROOT_ANGLES]
    neutral = np.median(angles, axis=0)
    neutral[ROOT_ANGLES] = 0.0
    prov = {
        "method": "robust percentiles of IK fits",
        "percentiles": list(percentiles),
        "margin": margin,
        "poses": len(angles),
        "created": _dt.date.today().isoformat(),
        **(provenance or {}),
    }
    return Limits(a_lo, a_hi, neutral, r_lo, r_hi, np.median(ratios, axis=0), float(np.median(anchor)), prov)
