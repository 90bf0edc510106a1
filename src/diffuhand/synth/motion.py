"""Smooth motion sequences for the temporal model: keyframe poses from the prior, joined by cubic splines
(angles, position) and spherical interpolation (hand orientation), seen by a fixed camera."""

from __future__ import annotations

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.spatial.transform import Rotation, Slerp

from diffuhand.kinematics.limits import Limits
from diffuhand.synth.prior import PosePrior
from diffuhand.synth.scene import SceneConfig, background, camera_for, hand_rotation, sample_hand_pose


def plan_sequence(rng: np.random.Generator, length: int, limits: Limits, prior: PosePrior, cfg: SceneConfig,
                  key_every: int = 8) -> dict:  # fmt: skip
    """Per-frame (angles, ratios, anchor, rotation, position, side) of one hand, plus the sequence's K and
    background. Angles are clipped to the limits after interpolation (splines may overshoot)."""
    n_keys = max(2, int(np.ceil((length - 1) / key_every)) + 1)
    t_keys = np.linspace(0, length - 1, n_keys)
    angles0, ratios, anchor = sample_hand_pose(rng, limits, prior, cfg)
    keys = np.concatenate([angles0[None], prior.sample(n_keys - 1, rng, limits, spread=cfg.prior_spread)])
    z = rng.uniform(*cfg.distance_mm)
    rot0 = Rotation.from_matrix(hand_rotation(rng, cfg))
    steps = Rotation.from_rotvec(rng.normal(size=(n_keys - 1, 3)) * 0.35)  # ~20 deg between keyframes
    rots = [rot0]
    for s in steps:
        rots.append(s * rots[-1])
    pos = np.array([0.0, 0.0, z]) + np.cumsum(np.r_[[np.zeros(3)], rng.normal(size=(n_keys - 1, 3)) * [15, 15, 25]], 0)
    t = np.arange(length)
    angles = np.clip(CubicSpline(t_keys, keys, bc_type="natural")(t), limits.angle_min, limits.angle_max)
    positions = CubicSpline(t_keys, pos, bc_type="natural")(t)
    rotations = Slerp(t_keys, Rotation.concatenate(rots))(t).as_matrix()
    side = "left" if rng.random() < cfg.p_left else "right"
    centre = positions.mean(0)
    extent = 2.2 * anchor + float(np.ptp(positions[:, :2], axis=0).max())
    return {"angles": angles, "ratios": ratios, "anchor": anchor, "rotations": rotations, "positions": positions,
            "side": side, "K": camera_for(rng, centre, extent, cfg), "background": background(rng, cfg.size, cfg.backgrounds)}  # fmt: skip
