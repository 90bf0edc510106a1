"""Reading the annotation files of the published layouts (JSON, MAT, NPZ) with one-line errors naming the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from diffuhand.errors import DiffuhandError


def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise DiffuhandError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DiffuhandError(f"{path}: corrupt JSON ({exc.__class__.__name__}: {str(exc)[:80]})") from None


def read_mat(path: str | Path) -> dict:
    import scipy.io

    path = Path(path)
    if not path.is_file():
        raise DiffuhandError(f"{path}: no such file")
    try:
        return scipy.io.loadmat(path)
    except (OSError, ValueError, TypeError) as exc:
        raise DiffuhandError(f"{path}: cannot read MAT file ({exc.__class__.__name__})") from None


def read_npz(path: str | Path) -> dict:
    """All arrays of an .npz (never unpickling objects)."""
    import zipfile

    import numpy as np

    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise DiffuhandError(f"{path}: no such file") from None
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DiffuhandError(f"{path}: corrupt NPZ file ({exc.__class__.__name__})") from None
