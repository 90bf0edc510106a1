from collections import Counter

import numpy as np

from diffuhand.kinematics import skeleton as sk


def test_canonical_order_and_tree():
    assert len(sk.JOINT_NAMES) == sk.NUM_JOINTS == 21
    assert sk.JOINT_NAMES[0] == "wrist" and sk.JOINT_NAMES[4] == "thumb_tip" and sk.JOINT_NAMES[20] == "pinky_tip"
    for f, finger in enumerate(sk.FINGERS):
        chain = [1 + 4 * f + m for m in range(4)]
        assert [sk.JOINT_NAMES[j].split("_")[0] for j in chain] == [finger] * 4
        assert [sk.PARENTS[j] for j in chain] == [0, *chain[:3]]
    assert sk.JOINT_NAMES[sk.ANCHOR_JOINT] == "index_mcp" and sk.BONE_NAMES[sk.ANCHOR_BONE] == "wrist-index_mcp"


def test_levels_are_breadth_first():
    assert sk.LEVELS[0] == (0,)
    seen = {0}
    for level in sk.LEVELS[1:]:
        assert all(sk.PARENTS[j] in seen for j in level)
        seen |= set(level)
    assert seen == set(range(21))
    assert len(sk.LEVELS) == 5  # every joint of a level is computed at once: 4 steps after the root


def test_41_angles_as_in_section_3_1():
    assert len(sk.ANGLE_NAMES) == sk.NUM_ANGLES == 41 and len(set(sk.ANGLE_NAMES)) == 41
    per_joint = Counter(n.split(".")[0] for n in sk.ANGLE_NAMES)
    assert per_joint["root"] == 3
    assert sum(per_joint[f"{f}_base"] for f in sk.FINGERS) == 15  # the 15 finger-placement angles
    assert per_joint["thumb_cmc"] == 3 and per_joint["thumb_mcp"] == 3 and per_joint["thumb_ip"] == 1
    for f in sk.FINGERS[1:]:
        assert per_joint[f"{f}_mcp"] == 2 and per_joint[f"{f}_pip"] == 1 and per_joint[f"{f}_dip"] == 1
    # 26 DoF of the paper's base model: 3 wrist + 8 MCP + 3 thumb MCP + 8 PIP/DIP + 1 IP + 3 CMC
    assert 41 - 15 == 26
    assert set(sk.PINNED_ANGLES) <= set(sk.ANGLE_NAMES)


def test_subtree_mask():
    mask = sk.subtree_mask()
    assert mask[0].all()
    assert mask[5].nonzero()[0].tolist() == [5, 6, 7, 8]
    assert mask[8].nonzero()[0].tolist() == [8]


def test_tips_are_the_fingertips():
    from diffuhand.kinematics.skeleton import FINGERS, JOINT_NAMES, TIPS

    assert TIPS == (4, 8, 12, 16, 20)
    assert [JOINT_NAMES[t] for t in TIPS] == [f"{finger}_tip" for finger in FINGERS]


def test_bone_ratios_of_a_forward_kinematics_pose_are_its_ratios():
    """bone_ratios reads back the ratios a pose was drawn with (the FK places bone k at ratio k x the anchor)."""
    import torch

    from diffuhand.kinematics import forward_kinematics
    from diffuhand.kinematics.limits import load_limits
    from diffuhand.kinematics.skeleton import ANCHOR_BONE, bone_lengths, bone_ratios

    limits = load_limits()
    rng = np.random.default_rng(0)
    ratios = limits.ratio_min + rng.random((4, 20)) * (limits.ratio_max - limits.ratio_min)
    ratios[:, ANCHOR_BONE] = 1.0
    angles = torch.as_tensor(rng.normal(size=(4, 41)) * 0.3)
    joints = forward_kinematics(angles, torch.as_tensor(ratios), 80.0).numpy()
    np.testing.assert_allclose(bone_ratios(joints), ratios, atol=1e-9)
    np.testing.assert_allclose(bone_lengths(joints)[:, ANCHOR_BONE], 80.0, atol=1e-9)
