"""Forward kinematics (paper section 2.6.1, equation 7), level-parallel over the tree.

Tensor contract: angles (..., 41) radians in the order of :data:`~diffuhand.kinematics.skeleton.ANGLE_NAMES`;
bone ratios (..., 20); anchor length (...) or a float, in the unit the joints come out in; root rotation
(..., 3, 3) maps the hand frame to the camera frame; root position (..., 3) is the wrist. Output joints
(..., 21, 3) in the canonical order and, on request, each joint's global rotation (..., 21, 3, 3).
"""

from __future__ import annotations

import numpy as np
import torch

from diffuhand.kinematics.fk_numpy import zyx_rotmat_entries
from diffuhand.kinematics.skeleton import NUM_ANGLES, NUM_BONES, NUM_JOINTS, layout


def euler_zyx_to_rotmat(euler: torch.Tensor) -> torch.Tensor:
    """Intrinsic ZYX Euler angles (..., 3) = (about z, about y, about x), radians -> ``Rz @ Ry @ Rx`` (..., 3, 3).

    Equal to ``roma.euler_to_rotmat("ZYX", euler)`` (tested), written out because the closed form is 6-8x
    faster forward + backward (roma goes through quaternions): benchmarks/bench_fk.py measures both.
    """
    c, s = torch.cos(euler), torch.sin(euler)
    return torch.stack(zyx_rotmat_entries(*c.unbind(-1), *s.unbind(-1)), dim=-1).unflatten(-1, (3, 3))


#: cos(y) under which a rotation is at gimbal lock for :func:`rotmat_to_euler_zyx` (x is then set to 0)
_GIMBAL_COS = 1e-9


def rotmat_to_euler_zyx(rotmat: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`euler_zyx_to_rotmat`: (..., 3, 3) -> (..., 3), y within [-pi/2, pi/2]; at gimbal lock
    (y = +-pi/2) x is 0 and z carries the rest.

    Equal to ``roma.rotmat_to_euler("ZYX", rotmat)`` away from gimbal lock (tested). Written out, with
    :func:`rotvec_to_rotmat`, so that the photo path never imports roma: its import pulls in ``torch._dynamo``,
    2.5-4 s of every start-up on this project's CPU (``python -X importtime``)."""
    r = rotmat
    cy = torch.hypot(r[..., 0, 0], r[..., 1, 0])
    y = torch.atan2(-r[..., 2, 0], cy)
    lock = cy < _GIMBAL_COS
    x = torch.where(lock, torch.zeros_like(cy), torch.atan2(r[..., 2, 1], r[..., 2, 2]))
    z = torch.where(lock, torch.atan2(-r[..., 0, 1], r[..., 1, 1]), torch.atan2(r[..., 1, 0], r[..., 0, 0]))
    return torch.stack([z, y, x], dim=-1)


#: squared angle (rad^2) under which :func:`rotvec_to_rotmat` uses the Taylor series of its coefficients
_SMALL_ANGLE2 = 1e-8


def rotvec_to_rotmat(rotvec: torch.Tensor) -> torch.Tensor:
    """Rotation vectors (..., 3) (axis times angle, radians) -> rotation matrices (..., 3, 3), Rodrigues' formula
    R = I + sin(t)/t K + (1 - cos(t))/t^2 K^2 with K the cross-product matrix of the vector and t its norm.

    Equal to ``roma.rotvec_to_rotmat`` (tested); see :func:`rotmat_to_euler_zyx` for why it is written out."""
    t2 = (rotvec * rotvec).sum(-1)[..., None, None]
    small = t2 < _SMALL_ANGLE2
    t2s = torch.where(small, torch.ones_like(t2), t2)  # no division by ~0 in the branch not taken
    t = t2s.sqrt()
    a = torch.where(small, 1.0 - t2 / 6.0, torch.sin(t) / t)
    b = torch.where(small, 0.5 - t2 / 24.0, (1.0 - torch.cos(t)) / t2s)
    x, y, z = rotvec.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).unflatten(-1, (3, 3))
    eye = torch.eye(3, dtype=rotvec.dtype, device=rotvec.device)
    return eye + a * k + b * (k @ k)


def rotation_from_9d(x: torch.Tensor) -> torch.Tensor:
    """The 9-D root-rotation form (section 2.2): (..., 9) -> the nearest rotation matrix (..., 3, 3) by SVD."""
    import roma  # networks only: not on the photo path's start-up (see rotmat_to_euler_zyx)

    return roma.special_procrustes(x.unflatten(-1, (3, 3)))


def local_rotations(angles: torch.Tensor) -> torch.Tensor:
    """Each node's rotation relative to its parent, ``R'_i`` (..., 21, 3, 3), from the 41 angles (..., 41)."""
    lay = layout(angles.device)
    euler = angles.new_zeros(*angles.shape[:-1], NUM_JOINTS * 3).index_copy(-1, lay.euler_index, angles)
    return euler_zyx_to_rotmat(euler.unflatten(-1, (NUM_JOINTS, 3)))


def forward_kinematics(
    angles: torch.Tensor,
    bone_ratios: torch.Tensor,
    anchor_length: float | torch.Tensor = 1.0,
    root_rotation: torch.Tensor | None = None,
    root_position: torch.Tensor | None = None,
    *,
    return_rotations: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Joints of the hand model (equation 7), every joint of a tree level at once.

    Args:
        angles: (..., 41) radians. The first three (root Euler ZYX) are ignored when ``root_rotation`` is given.
        bone_ratios: (..., 20) bone length / anchor length (the anchor's own entry should be 1).
        anchor_length: length of wrist -> index MCP, scalar or (...); sets the output unit (1 = anchor units).
        root_rotation: optional (..., 3, 3) hand-to-camera rotation (e.g. from :func:`rotation_from_9d`).
        root_position: optional (..., 3) position of the wrist; zero by default.
        return_rotations: also return the global rotation ``R_i`` of every joint.

    Returns:
        joints (..., 21, 3), and (..., 21, 3, 3) global rotations if ``return_rotations``.
    """
    if angles.shape[-1] != NUM_ANGLES or bone_ratios.shape[-1] != NUM_BONES:
        raise ValueError(
            f"expected angles (..., {NUM_ANGLES}) and bone_ratios (..., {NUM_BONES}), "
            f"got {tuple(angles.shape)} and {tuple(bone_ratios.shape)}"
        )
    dtype, device = angles.dtype, angles.device
    anchor = torch.as_tensor(anchor_length, dtype=dtype, device=device)
    shapes = [angles.shape[:-1], bone_ratios.shape[:-1], anchor.shape]
    if root_rotation is not None:
        shapes.append(root_rotation.shape[:-2])
    if root_position is not None:
        shapes.append(root_position.shape[:-1])
    # numpy's broadcast of the shapes: torch.broadcast_shapes imports sympy and torch.fx's symbolic shapes on first
    # use, about a second of every start-up (benchmarks/bench_startup.py); torch's under torch.compile and
    # torch.export, whose symbolic sizes numpy would make constants
    if torch.compiler.is_compiling():
        batch = torch.broadcast_shapes(*shapes)
    else:
        batch = torch.Size(np.broadcast_shapes(*(tuple(s) for s in shapes)))
    angles = angles.expand(*batch, NUM_ANGLES)
    lengths = bone_ratios.expand(*batch, NUM_BONES) * anchor.expand(batch)[..., None]

    local = local_rotations(angles)
    lay = layout(device)
    rot = local[..., :1, :, :] if root_rotation is None else root_rotation.expand(*batch, 3, 3).unsqueeze(-3)
    pos = (
        angles.new_zeros(*batch, 1, 3)
        if root_position is None
        else root_position.to(dtype).expand(*batch, 3).unsqueeze(-2)
    )
    rots, poss = [rot], [pos]
    for nodes, slots in zip(lay.level_nodes, lay.level_parent_slot):
        # equation (7): R_i = R_j R'_i ;  p_i = R_i o_i + p_j with o_i = (length_i, 0, 0)
        rot = rot.index_select(-3, slots) @ local.index_select(-3, nodes)
        pos = pos.index_select(-2, slots) + rot[..., :, 0] * lengths.index_select(-1, nodes - 1)[..., None]
        rots.append(rot)
        poss.append(pos)
    joints = torch.cat(poss, dim=-2).index_select(-2, lay.order)
    if return_rotations:
        return joints, torch.cat(rots, dim=-3).index_select(-3, lay.order)
    return joints
