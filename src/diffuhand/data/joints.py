"""Reading 3D joint files: JSON, NPY, NPZ and MAT, in any unit and joint order, into canonical millimetres."""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from diffuhand.errors import DiffuhandError
from diffuhand.kinematics.conventions import mirror, to_canonical

UNITS_TO_MM = {"mm": 1.0, "cm": 10.0, "m": 1000.0}
SUFFIXES = (".json", ".npy", ".npz", ".mat")


@dataclass
class JointSet:
    """Joints read from one file.

    Attributes:
        joints_mm: (N, 21, 3) float64, canonical order, millimetres, as stored (left hands NOT mirrored).
        source: the file. key: the array's name inside it, if any.
        side: ``"left"``, ``"right"`` or ``None`` when the file does not say.
    """

    joints_mm: np.ndarray
    source: Path
    key: str | None = None
    side: str | None = None

    def as_right(self, side: str | None = None) -> np.ndarray:
        """The joints as right hands: mirrored when ``side`` (or the file's own) is ``"left"``."""
        return mirror(self.joints_mm) if (side or self.side) == "left" else self.joints_mm


def _unit_from_key(key: str | None) -> str | None:
    if key:
        for unit in ("mm", "cm", "m"):
            if key.lower().endswith("_" + unit):
                return unit
    return None


def _pick(arrays: dict[str, np.ndarray], key: str | None, path: Path) -> tuple[str, np.ndarray]:
    if key is not None:
        if key not in arrays:
            raise DiffuhandError(f"{path}: no array called {key!r} (has: {', '.join(sorted(arrays)) or 'none'})")
        return key, arrays[key]
    hits = {k: v for k, v in arrays.items() if isinstance(v, np.ndarray) and v.ndim >= 2 and v.shape[-2:] == (21, 3)}
    if len(hits) != 1:
        what = "no array" if not hits else f"several arrays ({', '.join(sorted(hits))})"
        raise DiffuhandError(f"{path}: {what} of shape (..., 21, 3); name one with --key")
    return next(iter(hits.items()))


def read_joints(
    path: str | Path, *, unit: str | None = None, order: str = "canonical", key: str | None = None
) -> JointSet:
    """Read 3D joints from ``path`` (.json, .npy, .npz or .mat) into a :class:`JointSet` in millimetres.

    Args:
        unit: ``mm``, ``cm`` or ``m``; may be omitted when the array's name ends in ``_mm``, ``_cm`` or ``_m``.
        order: the joint order in the file (see :mod:`diffuhand.kinematics.conventions`).
        key: which array of a .npz/.mat/.json-object file to read, when there are several.
    """
    path = Path(path)
    if not path.exists():
        raise DiffuhandError(f"{path}: no such file")
    if path.is_dir():
        raise DiffuhandError(f"{path}: is a directory, expected a joints file")
    suffix = path.suffix.lower()
    side = None
    try:
        if path.stat().st_size == 0:
            raise DiffuhandError(f"{path}: empty file")
        if suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            key, arr = _pick(arrays, key, path)
            if "side" in arrays and arrays["side"].ndim == 0:
                side = str(arrays["side"]).lower() or None
        elif suffix == ".mat":
            import scipy.io

            arrays = {k: v for k, v in scipy.io.loadmat(path).items() if not k.startswith("__")}
            key, arr = _pick(arrays, key, path)
        elif suffix == ".json":
            data = json.loads(path.read_text())
            if isinstance(data, dict):
                arrays = {
                    k: np.asarray(v, dtype=np.float64)
                    for k, v in data.items()
                    if isinstance(v, list) and np.asarray(v, dtype=object).ndim >= 2
                }
                key, arr = _pick(arrays, key, path)
                side = data.get("side") if isinstance(data.get("side"), str) else None
            else:
                arr = np.asarray(data, dtype=np.float64)
        else:
            raise DiffuhandError(
                f"{path}: unsupported file type {suffix or '(none)'}; use one of {', '.join(SUFFIXES)}"
            )
    except DiffuhandError:
        raise
    except (ValueError, TypeError, OSError, zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DiffuhandError(f"{path}: cannot read joints ({exc.__class__.__name__}: {str(exc)[:120]})") from None
    arr = np.asarray(arr)
    if arr.dtype.kind not in "fiu":
        raise DiffuhandError(f"{path}: joints must be numbers, got {arr.dtype}")
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[1:] != (21, 3):
        raise DiffuhandError(f"{path}: joints must have shape (21, 3) or (N, 21, 3), got {arr.shape}")
    if len(arr) == 0:
        raise DiffuhandError(f"{path}: holds no poses")
    unit = unit or _unit_from_key(key)
    if unit is None:
        raise DiffuhandError(f"{path}: unknown unit; give --unit mm, cm or m")
    if unit not in UNITS_TO_MM:
        raise DiffuhandError(f"unknown unit {unit!r}; use mm, cm or m")
    arr = arr.astype(np.float64) * UNITS_TO_MM[unit]
    if not np.isfinite(arr).all():
        raise DiffuhandError(f"{path}: joints contain NaN or infinite values")
    if side not in (None, "left", "right"):
        side = None
    return JointSet(to_canonical(arr, order), path, key, side)


def find_joint_files(paths: list[str | Path]) -> list[Path]:
    """Expand directories (recursively) into the joint files they hold, in sorted order."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.suffix.lower() in SUFFIXES and f.is_file())
            if not found:
                raise DiffuhandError(f"{p}: no joint files ({', '.join(SUFFIXES)}) inside")
            out.extend(found)
        else:
            out.append(p)
    return out
