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
