"""An independent, plain float64 forward kinematics: numpy, one joint after another, explicit matrices.

It shares nothing with the library but the skeleton's tables, so agreement checks the batched code.
"""

from __future__ import annotations

import numpy as np

from diffuhand.kinematics.skeleton import ANGLE_AXIS, ANGLE_NODE, NUM_JOINTS, PARENTS


def rot_x(t: float) -> np.ndarray:
    c, s = np.cos(t), np.sin(t)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rot_y(t: float) -> np.ndarray:
    c, s = np.cos(t), np.sin(t)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rot_z(t: float) -> np.ndarray:
    c, s = np.cos(t), np.sin(t)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def reference_fk(angles, ratios, anchor, root_rotation=None, root_position=None):
    """One pose: angles (41,), ratios (20,) -> joints (21, 3), global rotations (21, 3, 3)."""
    euler = np.zeros((NUM_JOINTS, 3))
    for value, node, axis in zip(angles, ANGLE_NODE, ANGLE_AXIS):
        euler[node, axis] = value
    joints = np.zeros((NUM_JOINTS, 3))
    rots = np.zeros((NUM_JOINTS, 3, 3))
    for j in range(NUM_JOINTS):  # canonical order lists every parent before its children
        local = rot_z(euler[j, 0]) @ rot_y(euler[j, 1]) @ rot_x(euler[j, 2])
        if PARENTS[j] < 0:
            rots[j] = local if root_rotation is None else np.asarray(root_rotation)
            joints[j] = 0.0 if root_position is None else np.asarray(root_position)
        else:
            rots[j] = rots[PARENTS[j]] @ local
            joints[j] = joints[PARENTS[j]] + rots[j] @ np.array([ratios[j - 1] * anchor, 0.0, 0.0])
    return joints, rots
