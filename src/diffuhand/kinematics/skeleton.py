"""The hand skeleton: joint order, kinematic tree and the 41-angle / 20-ratio layout.

Canonical joint order (the whole project uses it; FreiHAND, MediaPipe and OpenPose share it)::

    0 wrist
    1-4   thumb  CMC, MCP, IP, tip
    5-8   index  MCP, PIP, DIP, tip
    9-12  middle MCP, PIP, DIP, tip
    13-16 ring   MCP, PIP, DIP, tip
    17-20 pinky  MCP, PIP, DIP, tip

Always a RIGHT hand; left hands are mirrored (x negated) before they reach the model.

The tree (paper section 2.6) is rooted at the wrist; every finger is a chain of four joints hanging from it.
Node ``i`` carries the rotation ``R'_i`` of the bone ``parent(i) -> i`` relative to the parent's frame, and its
offset is ``o_i = (length_i, 0, 0)``: every bone runs along its own local +x axis (equation 7,
``R_i = R_j R'_i``, ``p_i = R_i o_i + p_j``). So the angles stored at node ``i`` articulate the *parent's*
joint: node 6 (the index PIP position) holds the index MCP angles, node 7 the PIP flexion, node 8 the DIP
flexion. Angles are named after the physical joint (``index_mcp.flex``), not the node.

Hand frame (the canonical frame, root rotation = identity): x distal (wrist towards the middle MCP),
y radial (towards the thumb), z dorsal (out of the back of the hand). Consequently a positive rotation about a
local y axis curls a bone towards the palm (flexion), a positive rotation about z swings it towards the thumb
(abduction towards the radial side) and x is the twist about the bone itself.

Every node's local rotation is an intrinsic Euler ``ZYX`` rotation ``Rz(abd) @ Ry(flex) @ Rx(twist)``; nodes with
fewer degrees of freedom keep the missing angles at zero.

The 41 angles (section 3.1): 3 root + 15 finger-base (three per finger, placing each metacarpal/finger base on
the palm) + thumb CMC 3 + thumb MCP 3 + thumb IP 1 + 4 x (MCP 2 + PIP 1 + DIP 1). Five of them are redundant
with others and are *pinned* at zero by zero-width limits, which makes the fit unique and the root rotation a
well-defined hand orientation:

- ``middle_base.*`` (3): the root rotation already orients the palm; the middle metacarpal *is* the hand frame.
- ``thumb_base.twist``: a twist of the wrist->CMC bone is undone exactly by the 3-DoF CMC that follows.
- ``thumb_mcp.twist``: the same for the 3-DoF CMC and the 3-DoF MCP; axial thumb rotation (opposition) lives
  in the CMC, where anatomy puts it.

The 20 bone ratios are the bone lengths divided by the anchor bone, wrist -> index MCP (its own ratio is 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

NUM_JOINTS = 21
NUM_ANGLES = 41
NUM_BONES = 20

FINGERS = ("thumb", "index", "middle", "ring", "pinky")

JOINT_NAMES: tuple[str, ...] = (
    "wrist",
    "thumb_cmc",
    "thumb_mcp",
    "thumb_ip",
    "thumb_tip",
    "index_mcp",
    "index_pip",
    "index_dip",
    "index_tip",
    "middle_mcp",
    "middle_pip",
    "middle_dip",
    "middle_tip",
    "ring_mcp",
    "ring_pip",
    "ring_dip",
    "ring_tip",
    "pinky_mcp",
    "pinky_pip",
    "pinky_dip",
    "pinky_tip",
)

#: Parent of every joint in the canonical order (-1 for the root).
PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11, 0, 13, 14, 15, 0, 17, 18, 19)
#: the fingertips (thumb to little finger): the joints no other joint hangs from
TIPS: tuple[int, ...] = tuple(j for j in range(NUM_JOINTS) if j not in PARENTS)
#: the palm's corners: the wrist and the four finger MCPs (the joints every finger's first bone hangs from)
PALM: tuple[int, ...] = (0, *(j for j in range(1, NUM_JOINTS) if PARENTS[j] == 0 and j != 1))

#: Index (into the 21 joints) of the anchor bone's child: the bone wrist -> index MCP sets the scale.
ANCHOR_JOINT = 5
#: Index of the anchor bone among the 20 bones (bone k ends at joint k + 1).
ANCHOR_BONE = ANCHOR_JOINT - 1


def bone_lengths(joints: np.ndarray) -> np.ndarray:
    """(..., 21, 3) joints in the canonical order -> (..., 20) lengths of the bones (bone k ends at joint k + 1),
    in the joints' unit."""
    joints = np.asarray(joints)
    v = joints[..., 1:, :] - joints[..., list(PARENTS[1:]), :]
    return np.sqrt((v * v).sum(-1))


def bone_ratios(joints: np.ndarray) -> np.ndarray:
    """(..., 21, 3) joints -> (..., 20) bone lengths over the anchor bone's (wrist -> index MCP): the model's
    bone ratios, 1 at :data:`ANCHOR_BONE`."""
    lengths = bone_lengths(joints)
    return lengths / lengths[..., ANCHOR_BONE : ANCHOR_BONE + 1]


#: The one hand size assumed wherever a size is needed and none is known (a photo does not tell size from
#: distance): mean wrist -> index MCP length of real adult hands, mm (DexYCB 89.1, the real-world dev set 86.1).
ADULT_ANCHOR_MM = 88.0

#: The bones, one per non-root joint: bone k runs parent(k+1) -> k+1.
BONE_NAMES: tuple[str, ...] = tuple(f"{JOINT_NAMES[PARENTS[j]]}-{JOINT_NAMES[j]}" for j in range(1, NUM_JOINTS))

# Axis slot of each angle kind inside a node's ZYX Euler triple.
_AXIS = {"abd": 0, "flex": 1, "twist": 2}

# (node, physical joint name, kinds) in canonical joint order; the node is where the rotation is applied.
_NODE_DOFS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (0, "root", ("abd", "flex", "twist")),
    (1, "thumb_base", ("abd", "flex", "twist")),
    (2, "thumb_cmc", ("abd", "flex", "twist")),
    (3, "thumb_mcp", ("abd", "flex", "twist")),
    (4, "thumb_ip", ("flex",)),
    *(
        dof
        for f, finger in enumerate(FINGERS[1:])
        for dof in (
            (5 + 4 * f, f"{finger}_base", ("abd", "flex", "twist")),
            (6 + 4 * f, f"{finger}_mcp", ("abd", "flex")),
            (7 + 4 * f, f"{finger}_pip", ("flex",)),
            (8 + 4 * f, f"{finger}_dip", ("flex",)),
        )
    ),
)

#: Names of the 41 angles, ``<joint>.<abd|flex|twist>``, in storage order.
ANGLE_NAMES: tuple[str, ...] = tuple(f"{name}.{kind}" for _, name, kinds in _NODE_DOFS for kind in kinds)
#: Node (0..20) whose local rotation each angle drives.
ANGLE_NODE: tuple[int, ...] = tuple(node for node, _, kinds in _NODE_DOFS for _ in kinds)
#: Slot (0 = z/abd, 1 = y/flex, 2 = x/twist) of each angle in its node's ZYX Euler triple.
ANGLE_AXIS: tuple[int, ...] = tuple(_AXIS[kind] for _, _, kinds in _NODE_DOFS for kind in kinds)

#: The three root angles (Euler ZYX of the root rotation) occupy the first slots.
NUM_ROOT_ANGLES = 3
ROOT_ANGLES = slice(0, NUM_ROOT_ANGLES)
#: The angles after the root's: the fingers' (38), what a head predicts besides the root rotation.
NUM_FINGER_ANGLES = NUM_ANGLES - NUM_ROOT_ANGLES
#: A root rotation as a network outputs it: a 3x3 matrix made a rotation by SVD (roma's special_procrustes).
ROTATION_9D = 9

#: Angles fixed at zero because they are redundant with others (see the module docstring).
PINNED_ANGLES: tuple[str, ...] = (
    "middle_base.abd",
    "middle_base.flex",
    "middle_base.twist",
    "thumb_base.twist",
    "thumb_mcp.twist",
)


def angle_index(name: str) -> int:
    """Position of the angle called ``name`` (e.g. ``"index_pip.flex"``) in the 41-vector."""
    try:
        return ANGLE_NAMES.index(name)
    except ValueError:
        raise KeyError(f"no angle called {name!r}; known: {', '.join(ANGLE_NAMES)}") from None


def _levels(parents: tuple[int, ...]) -> list[list[int]]:
    depth = [0] * len(parents)
    for j, p in enumerate(parents):  # parents precede children in canonical order
        depth[j] = 0 if p < 0 else depth[p] + 1
    return [[j for j in range(len(parents)) if depth[j] == d] for d in range(max(depth) + 1)]


#: Breadth-first levels of the tree: [[0], [1, 5, 9, 13, 17], [2, 6, ...], [3, 7, ...], [4, 8, ...]].
LEVELS: tuple[tuple[int, ...], ...] = tuple(tuple(level) for level in _levels(PARENTS))


def subtree_mask() -> np.ndarray:
    """(21, 21) bool: ``mask[i, k]`` is True when joint ``k`` lies in the subtree rooted at ``i`` (``k = i`` included)."""
    mask = np.eye(NUM_JOINTS, dtype=bool)
    for k in range(NUM_JOINTS):
        j = PARENTS[k]
        while j >= 0:
            mask[j, k] = True
            j = PARENTS[j]
    return mask


@dataclass(frozen=True)
class _Layout:
    """Index tensors used by the batched code, built once per device."""

    euler_index: torch.Tensor  # (41,) flat index into the (21*3) Euler slots
    level_nodes: tuple[torch.Tensor, ...]  # per level >= 1: the nodes of that level
    level_parent_slot: tuple[torch.Tensor, ...]  # per level >= 1: position of each node's parent in the level above
    order: torch.Tensor  # (21,) position of joint j in the level-concatenated order


_LAYOUTS: dict[torch.device, _Layout] = {}


def layout(device: torch.device | str = "cpu") -> _Layout:
    """Index tensors for the level-parallel FK on ``device`` (cached)."""
    import torch  # start-up: torch only where tensors are made (2.2-3.3 s, benchmarks/bench_startup.py)

    device = torch.device(device)
    if device in _LAYOUTS:
        return _LAYOUTS[device]
    euler_index = torch.tensor([3 * n + a for n, a in zip(ANGLE_NODE, ANGLE_AXIS)], device=device)
    nodes, slots = [], []
    for lvl in range(1, len(LEVELS)):
        above = LEVELS[lvl - 1]
        nodes.append(torch.tensor(LEVELS[lvl], device=device))
        slots.append(torch.tensor([above.index(PARENTS[j]) for j in LEVELS[lvl]], device=device))
    flat = [j for level in LEVELS for j in level]
    order = torch.tensor([flat.index(j) for j in range(NUM_JOINTS)], device=device)
    made = _Layout(euler_index, tuple(nodes), tuple(slots), order)
    if not torch.compiler.is_compiling():  # tensors made while torch.export traces are its fakes: never kept
        _LAYOUTS[device] = made
    return made
