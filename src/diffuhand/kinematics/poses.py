"""Named hand poses built from angles: bundled defaults for the CLI, the tests and demos.

Each pose is the neutral pose of the limits (the median real hand) with some articulations set, in degrees,
then clamped to the limits. Finger splay is set as ``<finger>_mcp.abd``; flexion as ``*.flex`` (positive curls
towards the palm).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from diffuhand.kinematics.limits import Limits, load_limits
from diffuhand.kinematics.skeleton import ANGLE_NAMES, angle_index

if TYPE_CHECKING:
    import torch

_EXTENDED = {"mcp.flex": 0.0, "pip.flex": 0.0, "dip.flex": 0.0}
_CURLED = {"mcp.flex": 85.0, "pip.flex": 100.0, "dip.flex": 55.0}
_SPREAD = {"index": -5.0, "middle": 0.0, "ring": 8.0, "pinky": 12.0}
_TOGETHER = {"index": -15.0, "middle": -6.0, "ring": 4.0, "pinky": 2.0}


def _fingers(state: dict[str, float], fingers=("index", "middle", "ring", "pinky")) -> dict[str, float]:
    return {f"{f}_{k}": v for f in fingers for k, v in state.items()}


def _splay(table: dict[str, float], fingers=("index", "middle", "ring", "pinky")) -> dict[str, float]:
    return {f"{f}_mcp.abd": table[f] for f in fingers}


_THUMB_OUT = {
    "thumb_cmc.abd": -5.0,
    "thumb_cmc.flex": -20.0,
    "thumb_cmc.twist": 0.0,
    "thumb_mcp.abd": 0.0,
    "thumb_mcp.flex": -5.0,
    "thumb_ip.flex": 0.0,
}
_THUMB_TUCKED = {
    "thumb_cmc.abd": -45.0,
    "thumb_cmc.flex": 35.0,
    "thumb_cmc.twist": -40.0,
    "thumb_mcp.abd": -10.0,
    "thumb_mcp.flex": 45.0,
    "thumb_ip.flex": 50.0,
}
_THUMB_UP = {
    "thumb_cmc.abd": -10.0,
    "thumb_cmc.flex": -25.0,
    "thumb_cmc.twist": -60.0,
    "thumb_mcp.abd": 0.0,
    "thumb_mcp.flex": -10.0,
    "thumb_ip.flex": 0.0,
}

#: articulations (degrees) of each named pose; everything else stays at the neutral pose.
NAMED_POSES: dict[str, dict[str, float]] = {
    "relaxed": {},
    "open": {**_fingers(_EXTENDED), **_splay(_SPREAD), **_THUMB_OUT},
    "flat": {**_fingers(_EXTENDED), **_splay(_TOGETHER), **_THUMB_OUT, "thumb_cmc.abd": -30.0},
    "fist": {**_fingers(_CURLED), **_splay(_TOGETHER), **_THUMB_TUCKED},
    "point": {
        **_fingers(_CURLED, ("middle", "ring", "pinky")),
        **_fingers(_EXTENDED, ("index",)),
        **_splay(_TOGETHER),
        **_THUMB_TUCKED,
    },
    "peace": {
        **_fingers(_CURLED, ("ring", "pinky")),
        **_fingers(_EXTENDED, ("index", "middle")),
        **_splay(_SPREAD),
        **_THUMB_TUCKED,
    },
    "rock": {
        **_fingers(_CURLED, ("middle", "ring")),
        **_fingers(_EXTENDED, ("index", "pinky")),
        **_splay(_SPREAD),
        **_THUMB_TUCKED,
    },
    "thumbs_up": {**_fingers(_CURLED), **_splay(_TOGETHER), **_THUMB_UP},
    # thumb angles of these two were solved once (thumb tip 6 mm from the index tip) and rounded
    "pinch": {
        "index_mcp.flex": 40.0,
        "index_pip.flex": 55.0,
        "index_dip.flex": 30.0,
        "middle_mcp.flex": 30.0,
        "middle_pip.flex": 45.0,
        "thumb_cmc.abd": -28.0,
        "thumb_cmc.flex": 14.0,
        "thumb_cmc.twist": -45.0,
        "thumb_mcp.abd": -18.0,
        "thumb_mcp.flex": 16.0,
        "thumb_ip.flex": 16.0,
    },
    "ok": {
        **_fingers(_EXTENDED, ("middle", "ring", "pinky")),
        **_splay(_SPREAD, ("middle", "ring", "pinky")),
        "index_mcp.flex": 45.0,
        "index_pip.flex": 70.0,
        "index_dip.flex": 45.0,
        "thumb_cmc.abd": 0.0,
        "thumb_cmc.flex": 8.0,
        "thumb_cmc.twist": -51.0,
        "thumb_mcp.abd": -33.0,
        "thumb_mcp.flex": 36.0,
        "thumb_ip.flex": 56.0,
    },
}


def named_pose(
    name: str, limits: Limits | None = None, dtype: torch.dtype | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The (41,) angles in radians and (20,) neutral bone ratios of the pose called ``name`` (``dtype`` None:
    float64)."""
    import torch  # start-up: the package imports this module on a photo's path, which never needs torch (2.2-3.3 s)

    dtype = torch.float64 if dtype is None else dtype
    limits = limits or load_limits()
    try:
        spec = NAMED_POSES[name]
    except KeyError:
        raise KeyError(f"no pose called {name!r}; known: {', '.join(NAMED_POSES)}") from None
    angles = torch.as_tensor(limits.angle_neutral, dtype=dtype).clone()
    for key, deg in spec.items():
        angles[angle_index(key)] = math.radians(deg)
    lo, hi = limits.angle_bounds(dtype)
    return torch.clamp(angles, lo, hi), torch.as_tensor(limits.ratio_neutral, dtype=dtype).clone()


def named_poses(
    limits: Limits | None = None, dtype: torch.dtype | None = None
) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """All named poses: names, angles (P, 41) radians, bone ratios (P, 20) (``dtype`` None: float64)."""
    import torch  # start-up: see named_pose

    names = list(NAMED_POSES)
    pairs = [named_pose(n, limits, dtype) for n in names]
    return names, torch.stack([a for a, _ in pairs]), torch.stack([r for _, r in pairs])


def check_named_poses(poses: dict[str, dict[str, float]]) -> None:
    """Raise ValueError naming the pose and key where a pose sets an angle that does not exist."""
    for name, spec in poses.items():
        unknown = [k for k in spec if k not in ANGLE_NAMES]
        if unknown:
            raise ValueError(f"named pose {name!r} sets unknown angles {unknown!r}")


# a real check (not an assert, which python -O drops): a typo in the table fails at import, not at first use
check_named_poses(NAMED_POSES)
