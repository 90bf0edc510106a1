"""The square box a hand crop is cut from, placed on its 2D joints: the localisation stage's convention, which
the detector, the training crops (:mod:`diffuhand.data.crops`) and evaluation share."""

from __future__ import annotations

import numpy as np

from diffuhand.errors import DiffuhandError


def square_box(
    joints_2d: np.ndarray, valid: np.ndarray | None = None, margin: float = 1.5, min_side: float = 8.0
) -> np.ndarray:
    """(x, y, side) of the square centred on the valid joints' bounding box, ``margin`` times its longer side."""
    pts = joints_2d if valid is None else joints_2d[np.asarray(valid, dtype=bool)]
    if len(pts) == 0 or not np.isfinite(pts).all():
        raise DiffuhandError("no valid 2D joints to place a crop on")
    lo, hi = pts.min(0), pts.max(0)
    side = max(float((hi - lo).max()) * margin, min_side)
    cx, cy = (lo + hi) / 2
    return np.array([cx - side / 2, cy - side / 2, side])
