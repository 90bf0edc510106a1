import numpy as np
import torch

from diffuhand.kinematics import forward_kinematics, named_pose
from diffuhand.synth.mesh import WEBXR_JOINTS, default_hand_mesh, pose_mesh


def test_mesh_loads_and_the_model_fits_its_skeleton():
    m = default_hand_mesh()
    assert len(WEBXR_JOINTS) == 25 and m.vertices.shape[1] == 3 and m.faces.max() < len(m.vertices)
    np.testing.assert_allclose(m.skin_weights.sum(1), 1.0)
    assert m.fit_residual_mm < 0.5
    assert 60 < m.rest_anchor < 110  # mm: the glTF is in metres


def test_rest_pose_reproduces_the_mesh():
    m = default_hand_mesh()
    v, j = pose_mesh(m, m.rest_angles, m.rest_ratios, m.rest_anchor, m.rest_root, m.rest_position)
    np.testing.assert_allclose(v, m.vertices, atol=1e-9)
    np.testing.assert_allclose(j, m.rest_joints, atol=1e-9)


def test_posed_joints_are_the_fk_and_the_skin_follows_them():
    m = default_hand_mesh()
    angles, ratios = named_pose("fist")
    rot, pos = np.eye(3), np.array([10.0, 20.0, 400.0])
    v, j = pose_mesh(m, angles.numpy(), ratios.numpy(), 80.0, rot, pos)
    fk = forward_kinematics(angles, ratios, 80.0, torch.as_tensor(rot), torch.as_tensor(pos)).numpy()
    np.testing.assert_allclose(j, fk, atol=1e-9)
    # every joint keeps skin around it: the nearest vertex stays about as close as at rest (within 60%)
    rest_d = np.linalg.norm(m.vertices[None] - m.rest_joints[:, None], axis=-1).min(1)
    posed_d = np.linalg.norm(v[None] - j[:, None], axis=-1).min(1)
    scale = 80.0 / m.rest_anchor
    assert np.all(posed_d < rest_d * scale * 1.6 + 3.0)
    # a uniform hand size scales the mesh
    v2, _ = pose_mesh(m, m.rest_angles, m.rest_ratios, 2 * m.rest_anchor, m.rest_root, m.rest_position)
    np.testing.assert_allclose(v2 - m.rest_position, 2 * (m.vertices - m.rest_position), atol=1e-6)


def _skin_end(m, finger: int) -> float:
    """Independent of the loader: how far beyond the DIP (IP) joint the skin reaches along the last bone (mm)."""
    tip, base = 4 + 4 * finger, 3 + 4 * finger
    axis = m.rest_joints[tip] - m.rest_joints[base]
    axis /= np.linalg.norm(axis)
    d = m.vertices - m.rest_joints[base]
    along = d @ axis
    near = np.linalg.norm(d - along[:, None] * axis, axis=1) < 10.0
    return float(along[near].max())


def test_fingertips_sit_at_the_end_of_the_skin():
    # the data sets' fingertip keypoint is the finger's end; the WebXR rig's tip joint is ~11 mm inside the pad
    for placement in ("convention", "tips"):
        m = default_hand_mesh(placement)
        for f in range(5):
            reach = np.linalg.norm(m.rest_joints[4 + 4 * f] - m.rest_joints[3 + 4 * f])
            assert abs(_skin_end(m, f) - reach) < 1.0, (placement, f)
    rig = default_hand_mesh("rig")
    short = [
        _skin_end(rig, f) - np.linalg.norm(rig.rest_joints[4 + 4 * f] - rig.rest_joints[3 + 4 * f]) for f in range(5)
    ]
    assert min(short) > 5.0  # the rig as it is: the reason for the fix


def test_convention_placement_recovers_known_shifts():
    from diffuhand.kinematics.limits import load_limits
    from diffuhand.kinematics.skeleton import ANCHOR_BONE, PARENTS
    from diffuhand.synth.mesh import CONVENTION_JOINTS, place_by_convention

    angles, ratios = named_pose("relaxed")
    joints = forward_kinematics(angles, ratios, 90.0).numpy()
    # a rig whose convention joints lie off the data's by known amounts along their outgoing bones
    shift = np.array([4.0, -3.0, 5.0, -8.0, 10.0, -6.0, 7.0])
    rig = joints.copy()
    for s, j in zip(shift, CONVENTION_JOINTS):
        axis = joints[j + 1] - joints[j]
        rig[j] += s * axis / np.linalg.norm(axis)
    placed, found = place_by_convention(rig, ratios.numpy())
    # not exact: moving the thumb's MCP turns the bone along which its CMC was moved (by up to 0.02 mm here)
    np.testing.assert_allclose(found, -shift, atol=0.05)
    lengths = np.linalg.norm(placed[1:] - placed[list(PARENTS[1:])], axis=1)
    np.testing.assert_allclose(lengths / lengths[ANCHOR_BONE], ratios.numpy(), atol=1e-3)
    # the shipped mesh: its bones follow the data's mean hand closely, the rig's did not
    neutral = load_limits().ratio_neutral
    assert np.abs(default_hand_mesh().rest_ratios - neutral).max() < 0.05
    assert np.abs(default_hand_mesh("rig").rest_ratios - neutral).max() > 0.2


def _frames(m, angles, ratios, anchor, rot, pos):
    _, r = forward_kinematics(
        torch.as_tensor(angles),
        torch.as_tensor(ratios),
        anchor,
        torch.as_tensor(rot),
        torch.as_tensor(pos),
        return_rotations=True,
    )
    return r.numpy()


#: per digit, its phalanges whose skin the test reads: (WebXR skin joint, model node of that bone)
_PHALANGES = {
    "thumb": ((2, 3), (3, 4)),
    "index": ((7, 7), (8, 8)),
    "middle": ((12, 11), (13, 12)),
    "ring": ((17, 15), (18, 16)),
    "pinky": ((22, 19), (23, 20)),
}


def test_each_digit_is_turned_on_its_bones_as_its_skin_is():
    """A straight finger's joints do not say how far its bones are turned about themselves; the skin does: a
    digit is flatter from nail to pad than from side to side. The rest fit's dorsal axis (frame z) of every
    phalanx lies along the thin axis of the skin around it (an SVD of the skin's cross-section here). Fitted freely
    the twists came out at 45-72 degrees off on the thumb, ring and little finger."""
    m = default_hand_mesh()
    rot = _frames(m, m.rest_angles, m.rest_ratios, m.rest_anchor, m.rest_root, m.rest_position)
    dominant = m.skin_joints[np.arange(len(m.vertices)), m.skin_weights.argmax(1)]
    for digit, phalanges in _PHALANGES.items():
        for webxr, node in phalanges:
            x, z = rot[node][:, 0], rot[node][:, 2]
            ring = m.vertices[dominant == webxr]
            ring = ring - ring.mean(0)
            ring = ring - np.outer(ring @ x, x)  # the cross-section: across the bone
            basis = np.linalg.svd(np.column_stack([np.cross(x, z), z]), full_matrices=False)[0]  # the plane across
            _, _, vt = np.linalg.svd(ring @ basis)
            thin = basis @ vt[-1]
            angle = np.degrees(np.arccos(min(1.0, abs(float(thin @ z)))))
            assert angle < 15.0, (digit, webxr, angle)


def test_a_posed_hand_keeps_its_nails_on_the_back_of_its_digits():
    """Posed to real hands' angles (the data's neutral hand, and a fist), each digit's nail (the painted nail
    region) faces the way its last bone's frame says is dorsal, and its pad's lighter skin the other way. (This
    checks the painting against the frames; whether the frames are turned as the skin is, the two tests above.)"""
    import trimesh

    from diffuhand.kinematics.limits import load_limits
    from diffuhand.synth.scene import _layout

    m = default_hand_mesh()
    layout = _layout(m, False, False, False)
    limits = load_limits()
    neutral = limits.angle_neutral.copy()
    fist, fist_ratios = named_pose("fist")
    tips = np.array([4, 8, 12, 16, 20])
    for angles, ratios in ((neutral, limits.ratio_neutral), (fist.numpy(), fist_ratios.numpy())):
        rot, pos = np.eye(3), np.array([0.0, 0.0, 400.0])
        v, j = pose_mesh(m, angles, ratios, 85.0, rot, pos)
        frames = _frames(m, angles, ratios, 85.0, rot, pos)
        normals = trimesh.Trimesh(v, m.faces, process=False).vertex_normals
        for digit, tip in enumerate(tips):
            near = np.linalg.norm(v - j[tip], axis=1) < 0.2 * 85.0
            nail = layout.nail & near
            assert nail.sum() >= 3, digit
            facing = normals[nail].mean(0)
            facing /= np.linalg.norm(facing)
            assert facing @ frames[tip][:, 2] > np.cos(np.radians(45.0)), (digit, facing @ frames[tip][:, 2])
            pad = (layout.palmar[:, 0] > 0.5) & near  # the lighter palmar skin: the pad's side
            assert pad.sum() >= 3, digit
            pad_facing = normals[pad].mean(0)
            pad_facing /= np.linalg.norm(pad_facing)
            assert pad_facing @ frames[tip][:, 2] < 0.0, (digit, pad_facing @ frames[tip][:, 2])


def test_each_digit_is_turned_as_the_rig_turns_it():
    """The rig's own joint frames are an independent reference the fit never reads: WebXR puts each joint's +Y out
    of the back of the hand, through the nail on a digit. The fitted model's frame moving each joint's skin has its
    dorsal axis (z) within 25 degrees of that +Y, the same way round (the thumb's pad towards the palm: a twist
    turned half a turn meets every thin-axis test). Stop 28's free fit was 38-48 degrees off on the thumb, 29-35 on
    the index, 43-52 on the ring finger and 68-79 on the little finger."""
    from importlib import resources

    from diffuhand.synth.mesh import SKIN_FRAME, load_gltf_hand

    m = default_hand_mesh()
    rig = load_gltf_hand(resources.files("diffuhand.synth").joinpath("assets/generic-hand-right.glb"))
    back = rig["bind"][:, :3, 1] / np.linalg.norm(rig["bind"][:, :3, 1], axis=1, keepdims=True)
    rot = _frames(m, m.rest_angles, m.rest_ratios, m.rest_anchor, m.rest_root, m.rest_position)
    for joint, name in enumerate(WEBXR_JOINTS):
        cos = float(rot[SKIN_FRAME[joint]][:, 2] @ back[joint])
        assert cos > np.cos(np.radians(25.0)), (name, np.degrees(np.arccos(cos)))
