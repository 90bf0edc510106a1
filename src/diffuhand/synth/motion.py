"""Motion sequences for the temporal model: keyframe poses from the prior, joined by cubic splines (angles,
position) and spherical interpolation (hand orientation), seen by a fixed camera; or real motion replayed
(:func:`plan_replay`: the frames of recorded 3D sequences, e.g. DexYCB's, fitted by our IK and seen from a new
camera), so that the temporal model learns from how hands really move."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.spatial.transform import Rotation, Slerp

from diffuhand.data import open_dataset
from diffuhand.errors import DiffuhandError
from diffuhand.kinematics import fit_ik, forward_kinematics
from diffuhand.kinematics.limits import Limits
from diffuhand.kinematics.prior import PosePrior
from diffuhand.synth.scene import (
    MIRROR_X,
    SceneConfig,
    background,
    camera_for,
    hand_rotation,
    sample_hand_pose,
    scene_background,
)


def plan_sequence(
    rng: np.random.Generator, length: int, limits: Limits, prior: PosePrior, cfg: SceneConfig, key_every: int = 8
) -> dict:
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
    return {
        "angles": angles,
        "ratios": ratios,
        "anchor": anchor,
        "rotations": rotations,
        "positions": positions,
        "side": side,
        "K": camera_for(rng, centre, extent, cfg),
        "background": background(rng, cfg.size, cfg.backgrounds),
    }


def parse_motion_source(source: str) -> tuple[str, str, str]:
    """``"<reader>:<root>:<split>"`` (e.g. ``"dexycb:../shared/data/dexycb-left-sequences:train"``) -> parts."""
    parts = source.split(":")
    if len(parts) != 3 or not all(parts):
        raise DiffuhandError(f"motion source {source!r}: expected READER:ROOT:SPLIT, e.g. dexycb:path/to/dexycb:train")
    return parts[0], parts[1], parts[2]


@lru_cache(maxsize=4)
def _source_sequences(source: str) -> list[tuple[str, np.ndarray, str]]:
    """The sequences of a motion source: (id, joints (T, 21, 3) mm, side), in a fixed order."""

    reader, root, split = parse_motion_source(source)
    ds = open_dataset(reader, root, split, load_images=False)
    out = []
    for sid, idx in sorted(ds.sequences().items()):
        out.append((sid, np.stack([ds.records[k]["joints_3d"] for k in idx]), ds.records[idx[0]]["handedness"]))
    if not out:
        raise DiffuhandError(f"motion source {source!r}: no sequences")
    return out


@lru_cache(maxsize=8)
def _fitted(source: str, k: int):
    """IK fit of every frame of sequence ``k`` of the source, as the right-hand model."""

    _, joints, side = _source_sequences(source)[k]
    right = joints * np.array([-1.0, 1.0, 1.0]) if side == "left" else joints
    return fit_ik(right), side


def plan_replay(rng: np.random.Generator, length: int, seq: int, cfg: SceneConfig) -> dict:
    """A plan like :func:`plan_sequence` from recorded motion (``cfg.motion_source``): ``length`` consecutive
    frames of the source's sequence ``seq`` (modulo their number) from a random start, fitted by our IK (angles,
    bone ratios, size), turned as a whole by a random rotation about the hand's mean position and placed
    ``cfg.distance_mm`` from a camera that sees the whole motion; the recorded side. Shorter sequences are
    played to their end and then held still."""
    import torch
    from scipy.spatial.transform import Rotation

    seqs = _source_sequences(cfg.motion_source)
    k = seq % len(seqs)
    fit, side = _fitted(cfg.motion_source, k)
    n = fit.angles.shape[0]
    start = int(rng.integers(0, max(n - length, 0) + 1))
    t = np.minimum(np.arange(start, start + length), n - 1)
    turn = Rotation.from_matrix(hand_rotation(rng, cfg)).as_matrix() @ fit.root_rotation[t[0]].numpy().T
    pos = fit.root_position.numpy()[t]
    z = rng.uniform(*cfg.distance_mm)
    positions = (pos - pos.mean(0)) @ turn.T + np.array([0.0, 0.0, z])
    rotations = turn[None] @ fit.root_rotation.numpy()[t]
    anchor = float(np.median(fit.anchor_length.numpy()))
    ratios = np.median(fit.bone_ratios.numpy(), axis=0)
    angles = fit.angles.numpy()[t]
    # frame the whole motion: every joint of every frame, as the camera will see it (a left hand mirrored)
    joints = (
        forward_kinematics(
            torch.as_tensor(angles),
            torch.as_tensor(ratios),
            anchor,
            torch.as_tensor(rotations),
            torch.as_tensor(positions),
        )
        .numpy()
        .reshape(-1, 3)
    )
    joints = joints * np.array([-1.0, 1.0, 1.0]) if side == "left" else joints
    lo, hi = joints.min(0), joints.max(0)
    extent = float((hi - lo)[:2].max()) + 40.0
    if side == "left":  # the plan holds the seen hand's root (render_sample poses its mirror: m R m, m p)
        rotations, positions = MIRROR_X @ rotations @ MIRROR_X, positions @ MIRROR_X
    return {
        "angles": angles,
        "ratios": ratios,
        "anchor": anchor,
        "rotations": rotations,
        "positions": positions,
        "side": side,
        "K": camera_for(rng, (lo + hi) / 2, extent, cfg),
        "background": scene_background(rng, cfg),
        "source": seqs[k][0],
        "start": start,
    }
