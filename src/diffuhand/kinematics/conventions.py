"""Joint-order conventions of the hand data sets and detectors, and conversions to and from ours.

``ORDERS[name][k]`` is the index, in that convention, of canonical joint ``k`` (see
:mod:`diffuhand.kinematics.skeleton`), so ``joints_src[..., ORDERS[name], :]`` is in canonical order.

- ``canonical``, ``freihand``, ``mediapipe``, ``openpose``, ``ge2019``: 0 wrist, then thumb, index, middle,
  ring, pinky, each base -> tip (the canonical order itself).
- ``rhd``: 0 wrist, then thumb, index, middle, ring, pinky, each tip -> base (one hand of RHD's 42; left is
  0-20, right 21-41 in the annotation files).
- ``stb``: 0 palm centre (NOT the wrist), then pinky, ring, middle, index, thumb, each base -> tip. Joint 0
  converts to canonical slot 0 unchanged; see :func:`stb_palm_to_wrist` to estimate a wrist.
- ``interhand``: one hand of InterHand2.6M's 42 (right 0-20, left 21-41): thumb, index, middle, ring, pinky
  each tip -> base, then the wrist at 20.
- ``mano`` (also ``ho3d``, and the DexYCB re-pack in ``shared/data``): MANO's 16 joints (wrist; index, middle,
  pinky, ring, thumb, three each, base -> tip) followed by the five tips thumb, index, middle, ring, pinky.
"""

from __future__ import annotations

import numpy as np
import torch

from diffuhand.errors import DiffuhandError


def _fingers_reversed(wrist: int, first: int) -> tuple[int, ...]:
    # thumb..pinky blocks of four, each stored tip -> base from ``first``
    return (wrist, *(first + 4 * f + (3 - m) for f in range(5) for m in range(4)))


_IDENTITY = tuple(range(21))
ORDERS: dict[str, tuple[int, ...]] = {
    "canonical": _IDENTITY,
    "freihand": _IDENTITY,
    "mediapipe": _IDENTITY,
    "openpose": _IDENTITY,
    "ge2019": _IDENTITY,
    "rhd": _fingers_reversed(0, 1),
    "interhand": _fingers_reversed(20, 0),
    "stb": (0, *(1 + 4 * (4 - f) + m for f in range(5) for m in range(4))),
    "mano": (0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20),
}
ORDERS["ho3d"] = ORDERS["mano"]
ORDERS["dexycb"] = ORDERS["mano"]


def _order(name: str) -> np.ndarray:
    try:
        return np.asarray(ORDERS[name.lower()])
    except KeyError:
        raise DiffuhandError(f"unknown joint order {name!r}; known: {', '.join(sorted(ORDERS))}") from None


def to_canonical(joints, order: str):
    """Reorder (..., 21, D) joints from ``order`` into the canonical order (numpy or torch)."""
    idx = _order(order)
    return joints[..., torch.as_tensor(idx) if torch.is_tensor(joints) else idx, :]


def from_canonical(joints, order: str):
    """Reorder (..., 21, D) canonical joints into ``order`` (numpy or torch)."""
    inv = np.argsort(_order(order))
    return joints[..., torch.as_tensor(inv) if torch.is_tensor(joints) else inv, :]


def convert(joints, src: str, dst: str):
    """Reorder (..., 21, D) joints from convention ``src`` to ``dst``."""
    return from_canonical(to_canonical(joints, src), dst)


def mirror(joints):
    """Negate x: a left hand becomes a right hand (and back), in the camera frame (..., 21, 3)."""
    sign = np.array([-1.0, 1.0, 1.0])
    return joints * (
        torch.as_tensor(sign, dtype=joints.dtype, device=joints.device) if torch.is_tensor(joints) else sign
    )


def stb_palm_to_wrist(joints, factor: float = 2.0):
    """STB stores the palm centre at joint 0; estimate the wrist as ``mcp + factor * (palm - mcp)`` with the
    middle MCP (canonical order in, canonical order out). The factor 2 treats the palm centre as the midpoint
    of wrist and middle MCP; it is an approximation, and the STB protocol itself keeps the palm as the root."""
    out = joints.clone() if torch.is_tensor(joints) else np.array(joints, copy=True)
    out[..., 0, :] = joints[..., 9, :] + factor * (joints[..., 0, :] - joints[..., 9, :])
    return out
