"""Forward kinematics and rotation conversions in NumPy (float64), for the photo path.

The same functions as :mod:`diffuhand.kinematics.fk`, on NumPy arrays: the fits that need no gradient (the IK
solver, the fusion fit, the pose smoothing) run on them, so that a photo's ``diffuhand predict`` never imports
torch, 2.2-3.3 s of every start-up on this project's CPU (``benchmarks/bench_startup.py``). The torch versions
stay for the networks and their training (autograd, devices). ``tests/kinematics/test_fk.py`` checks both against
a sequential float64 reference.

Array contract: as :mod:`diffuhand.kinematics.fk` (angles (..., 41) radians, bone ratios (..., 20), rotations
(..., 3, 3) hand -> camera, joints (..., 21, 3) in the anchor length's unit).
"""

from __future__ import annotations

import numpy as np

from diffuhand.kinematics.skeleton import ANGLE_AXIS, ANGLE_NODE, LEVELS, NUM_ANGLES, NUM_BONES, NUM_JOINTS, PARENTS

#: (41,) flat index of each angle among the 21 nodes' ZYX Euler slots
EULER_INDEX = np.array([3 * n + a for n, a in zip(ANGLE_NODE, ANGLE_AXIS)])
#: per tree level below the root: its nodes, and the position of each node's parent in the level above
LEVEL_NODES = tuple(np.array(LEVELS[lvl]) for lvl in range(1, len(LEVELS)))
LEVEL_PARENT_SLOT = tuple(
    np.array([LEVELS[lvl - 1].index(PARENTS[j]) for j in LEVELS[lvl]]) for lvl in range(1, len(LEVELS))
)
#: (21,) position of joint j in the level-concatenated order
LEVEL_ORDER = np.argsort(np.concatenate([np.array(level) for level in LEVELS]))
#: cos(y) under which a rotation is at gimbal lock for :func:`rotmat_to_euler_zyx` (x is then set to 0)
_GIMBAL_COS = 1e-9
#: squared angle (rad^2) under which :func:`rotvec_to_rotmat` uses the Taylor series of its coefficients
_SMALL_ANGLE2 = 1e-8


def zyx_rotmat_entries(cz, cy, cx, sz, sy, sx) -> tuple:
    """The nine entries, row by row, of ``Rz @ Ry @ Rx`` from the cosines and sines of the three angles (arrays of
    any library that multiplies: NumPy here, torch in :func:`diffuhand.kinematics.fk.euler_zyx_to_rotmat`)."""
    return (
        cz * cy,
        cz * sy * sx - sz * cx,
        cz * sy * cx + sz * sx,
        sz * cy,
        sz * sy * sx + cz * cx,
        sz * sy * cx - cz * sx,
        -sy,
        cy * sx,
        cy * cx,
    )


def euler_zyx_to_rotmat(euler: np.ndarray) -> np.ndarray:
    """Intrinsic ZYX Euler angles (..., 3) = (about z, about y, about x), radians -> ``Rz @ Ry @ Rx`` (..., 3, 3)."""
    c, s = np.cos(euler), np.sin(euler)
    rows = zyx_rotmat_entries(c[..., 0], c[..., 1], c[..., 2], s[..., 0], s[..., 1], s[..., 2])
    return np.stack(rows, axis=-1).reshape(*np.shape(euler)[:-1], 3, 3)


def rotmat_to_euler_zyx(rotmat: np.ndarray) -> np.ndarray:
    """Inverse of :func:`euler_zyx_to_rotmat`: (..., 3, 3) -> (..., 3), y within [-pi/2, pi/2]; at gimbal lock
    (y = +-pi/2) x is 0 and z carries the rest."""
    r = np.asarray(rotmat)
    cy = np.hypot(r[..., 0, 0], r[..., 1, 0])
    y = np.arctan2(-r[..., 2, 0], cy)
    lock = cy < _GIMBAL_COS
    x = np.where(lock, 0.0, np.arctan2(r[..., 2, 1], r[..., 2, 2]))
    z = np.where(lock, np.arctan2(-r[..., 0, 1], r[..., 1, 1]), np.arctan2(r[..., 1, 0], r[..., 0, 0]))
    return np.stack([z, y, x], axis=-1)


def cross_matrix(v: np.ndarray) -> np.ndarray:
    """(..., 3) -> (..., 3, 3) the matrix of ``v x .``"""
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    zero = np.zeros_like(x)
    return np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(*v.shape[:-1], 3, 3)


def rotvec_to_rotmat(rotvec: np.ndarray) -> np.ndarray:
    """Rotation vectors (..., 3) (axis times angle, radians) -> rotation matrices (..., 3, 3), Rodrigues' formula
    R = I + sin(t)/t K + (1 - cos(t))/t^2 K^2 with K the cross-product matrix of the vector and t its norm."""
    t2 = (rotvec * rotvec).sum(-1)[..., None, None]
    small = t2 < _SMALL_ANGLE2
    t2s = np.where(small, 1.0, t2)  # no division by ~0 in the branch not taken
    t = np.sqrt(t2s)
    a = np.where(small, 1.0 - t2 / 6.0, np.sin(t) / t)
    b = np.where(small, 0.5 - t2 / 24.0, (1.0 - np.cos(t)) / t2s)
    k = cross_matrix(rotvec)
    return np.eye(3) + a * k + b * (k @ k)


def local_rotations(angles: np.ndarray) -> np.ndarray:
    """Each node's rotation relative to its parent, ``R'_i`` (..., 21, 3, 3), from the 41 angles (..., 41)."""
    euler = np.zeros((*angles.shape[:-1], NUM_JOINTS * 3))
    euler[..., EULER_INDEX] = angles
    return euler_zyx_to_rotmat(euler.reshape(*angles.shape[:-1], NUM_JOINTS, 3))


def forward_kinematics(
    angles: np.ndarray,
    bone_ratios: np.ndarray,
    anchor_length: float | np.ndarray = 1.0,
    root_rotation: np.ndarray | None = None,
    root_position: np.ndarray | None = None,
    *,
    return_rotations: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Joints of the hand model (paper equation 7), every joint of a tree level at once, float64.

    Args and returns as :func:`diffuhand.kinematics.fk.forward_kinematics`: angles (..., 41) radians (the first
    three ignored when ``root_rotation`` (..., 3, 3) is given), bone ratios (..., 20), anchor length scalar or
    (...), root position (..., 3) -> joints (..., 21, 3) and, with ``return_rotations``, each joint's global
    rotation (..., 21, 3, 3).
    """
    angles = np.asarray(angles, dtype=np.float64)
    bone_ratios = np.asarray(bone_ratios, dtype=np.float64)
    if angles.shape[-1] != NUM_ANGLES or bone_ratios.shape[-1] != NUM_BONES:
        raise ValueError(
            f"expected angles (..., {NUM_ANGLES}) and bone_ratios (..., {NUM_BONES}), "
            f"got {angles.shape} and {bone_ratios.shape}"
        )
    anchor = np.asarray(anchor_length, dtype=np.float64)
    shapes = [angles.shape[:-1], bone_ratios.shape[:-1], anchor.shape]
    if root_rotation is not None:
        shapes.append(np.shape(root_rotation)[:-2])
    if root_position is not None:
        shapes.append(np.shape(root_position)[:-1])
    batch = np.broadcast_shapes(*shapes)
    angles = np.broadcast_to(angles, (*batch, NUM_ANGLES))
    lengths = np.broadcast_to(bone_ratios, (*batch, NUM_BONES)) * np.broadcast_to(anchor, batch)[..., None]
    local = local_rotations(angles)
    if root_rotation is None:
        rot = local[..., :1, :, :]
    else:
        rot = np.broadcast_to(np.asarray(root_rotation, dtype=np.float64), (*batch, 3, 3))[..., None, :, :]
    if root_position is None:
        pos = np.zeros((*batch, 1, 3))
    else:
        pos = np.broadcast_to(np.asarray(root_position, dtype=np.float64), (*batch, 3))[..., None, :]
    rots, poss = [rot], [pos]
    for nodes, slots in zip(LEVEL_NODES, LEVEL_PARENT_SLOT):
        # equation (7): R_i = R_j R'_i ;  p_i = R_i o_i + p_j with o_i = (length_i, 0, 0)
        rot = rot[..., slots, :, :] @ local[..., nodes, :, :]
        pos = pos[..., slots, :] + rot[..., :, 0] * lengths[..., nodes - 1, None]
        rots.append(rot)
        poss.append(pos)
    joints = np.concatenate(poss, axis=-2)[..., LEVEL_ORDER, :]
    if return_rotations:
        return joints, np.concatenate(rots, axis=-3)[..., LEVEL_ORDER, :, :]
    return joints
