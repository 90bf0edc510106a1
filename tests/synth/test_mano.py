"""MANO without chumpy, on files made in the official structure (the real model cannot ship here)."""

import pickle
import sys
import types

import numpy as np
import pytest
import torch

from diffuhand.errors import DiffuhandError
from diffuhand.kinematics import forward_kinematics
from diffuhand.kinematics.conventions import ORDERS
from diffuhand.kinematics.limits import load_limits
from diffuhand.kinematics.poses import named_poses
from diffuhand.kinematics.skeleton import ANGLE_NAMES, PARENTS
from diffuhand.synth.mano import MANO_PARENTS, MANO_TIP_VERTICES, ManoPoser, load_mano


class _FakeModules:
    """chumpy.ch.Ch and scipy.sparse.csc.csc_matrix as the official pickle names them (neither is imported)."""

    def __enter__(self):
        self.saved = {k: sys.modules.get(k) for k in ("chumpy", "chumpy.ch", "scipy.sparse.csc")}
        ch = types.ModuleType("chumpy.ch")

        class Ch:
            def __init__(self, x):
                self.x, self._dirty_vars, self._parents = np.asarray(x), set(), {}

        Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
        ch.Ch = Ch
        csc = types.ModuleType("scipy.sparse.csc")

        class csc_matrix:  # the pickled name
            def __init__(self, dense):
                dense = np.asarray(dense)
                self._shape, self.format, self.maxprint = dense.shape, "csc", 50
                idx, ptr, data = [], [0], []
                for col in range(dense.shape[1]):
                    rows = np.flatnonzero(dense[:, col])
                    idx += rows.tolist()
                    data += dense[rows, col].tolist()
                    ptr.append(len(idx))
                self.indices, self.indptr, self.data = np.array(idx), np.array(ptr), np.array(data)

        csc_matrix.__module__, csc_matrix.__qualname__ = "scipy.sparse.csc", "csc_matrix"
        csc.csc_matrix = csc_matrix
        sys.modules.update({"chumpy": types.ModuleType("chumpy"), "chumpy.ch": ch, "scipy.sparse.csc": csc})
        return Ch, csc_matrix

    def __exit__(self, *exc):
        for k, v in self.saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def rest_pose():
    names, angles, ratios = named_poses(load_limits())
    i = names.index("relaxed")
    return angles[i].double(), ratios[i].double()


def make_mano_like(path, n=778, posedirs_scale=0.0):
    """A MANO-structured right hand built on our own FK: joints and tips at known vertices, every other vertex
    on a bone, skinned one-hot to the MANO joint that moves that bone."""
    angles, ratios = rest_pose()
    j21 = forward_kinematics(angles, ratios, 0.09).numpy()  # metres
    mano21 = np.empty_like(j21)
    mano21[list(ORDERS["mano"])] = j21  # canonical -> MANO order
    rng = np.random.default_rng(0)
    v = np.zeros((n, 3))
    w = np.zeros((n, 16))
    joint_vertex = np.arange(700, 716)  # the 16 joints sit on these vertices
    v[joint_vertex] = mano21[:16]
    w[joint_vertex, np.arange(16)] = 1.0
    canon_of_mano = {m: c for c, m in enumerate(ORDERS["mano"])}
    mano_of_canon = {c: m for m, c in canon_of_mano.items()}
    for t, tip_c in zip(MANO_TIP_VERTICES, (4, 8, 12, 16, 20)):
        v[t] = j21[tip_c]
        w[t, mano_of_canon[PARENTS[tip_c]]] = 1.0  # the tip moves with the last phalanx
    free = [i for i in range(n) if i not in set(joint_vertex) | set(MANO_TIP_VERTICES)]
    for i in free:
        c = int(rng.integers(1, 21))  # a point on the bone parent(c) -> c, moved by the parent's MANO joint
        p = PARENTS[c]
        v[i] = j21[p] + rng.uniform(0.1, 0.9) * (j21[c] - j21[p]) + rng.normal(0, 0.002, 3)
        owner = p if p == 0 or mano_of_canon.get(p, 99) < 16 else 0
        if p in (5, 9, 13, 17, 1) and c in (5, 9, 13, 17, 1):
            owner = 0
        w[i, mano_of_canon[owner] if owner else 0] = 1.0
    jreg = np.zeros((16, n))
    jreg[np.arange(16), joint_vertex] = 1.0
    faces = rng.integers(0, n, (1538, 3))
    posedirs = rng.normal(0, posedirs_scale, (n, 3, 135)) if posedirs_scale else np.zeros((n, 3, 135))
    posedirs[joint_vertex] = 0.0
    posedirs[list(MANO_TIP_VERTICES)] = 0.0
    with _FakeModules() as (Ch, csc_matrix):
        data = {
            "v_template": Ch(v),
            "weights": w,
            "J_regressor": csc_matrix(jreg),
            "f": faces.astype(np.uint32),
            "kintree_table": np.array([[4294967295, *MANO_PARENTS[1:]], list(range(16))]),
            "posedirs": Ch(posedirs),
            "shapedirs": Ch(np.zeros((n, 3, 10))),
            "bs_type": "lrotmin",
            "bs_style": "lbs",
            "hands_mean": np.zeros(45),
            "hands_components": np.eye(45),
        }
        path.write_bytes(pickle.dumps(data, protocol=2))
    return angles, ratios


def test_loads_without_chumpy(tmp_path):
    make_mano_like(tmp_path / "MANO_RIGHT.pkl")
    assert "chumpy" not in sys.modules
    m = load_mano(tmp_path / "MANO_RIGHT.pkl")
    assert m.v_template.shape == (778, 3) and m.J_regressor.shape == (16, 778) and m.posedirs.shape == (778, 3, 135)
    assert np.allclose(m.rest_joints(), m.v_template[700:716])


def test_posed_mano_follows_our_skeleton(tmp_path):
    angles, ratios = make_mano_like(tmp_path / "m.pkl")
    poser = ManoPoser(load_mano(tmp_path / "m.pkl"))
    assert poser.rest_fit_mm < 0.5
    rng = np.random.default_rng(1)
    lo, hi = load_limits().angle_bounds(torch.float64)
    keep = np.array([n.split(".")[0].endswith("_base") for n in ANGLE_NAMES])  # MANO's palm is rigid
    rot = torch.tensor([[0.0, -1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, -1.0]], dtype=torch.float64)
    for _ in range(3):
        target = lo + (hi - lo) * torch.as_tensor(rng.uniform(0.2, 0.8, 41))
        target[keep] = angles[keep]
        verts, joints = poser.pose(target.numpy(), ratios.numpy(), 85.0, rot.numpy(), np.array([0.0, 0.0, 400.0]))
        ours = forward_kinematics(
            target, ratios, 85.0, rot, torch.tensor([0.0, 0.0, 400.0], dtype=torch.float64)
        ).numpy()
        assert np.abs(joints - ours).max() < 0.05  # mm: the same skeleton, posed by MANO's skinning
        assert verts.shape == (778, 3)


def test_pose_blend_shapes_apply(tmp_path):
    make_mano_like(tmp_path / "m.pkl", posedirs_scale=1e-3)
    poser = ManoPoser(load_mano(tmp_path / "m.pkl"))
    from diffuhand.kinematics.ik import fit_ik
    from diffuhand.kinematics.limits import anatomical_limits

    # the rest pose: no rotation change, no blend-shape offset, so the template comes back
    f = fit_ik(torch.as_tensor(poser.mano.rest_joints21() * 1000.0)[None], limits=anatomical_limits())
    a0, r0, rot0 = (np.asarray(x[0], dtype=np.float64) for x in (f.angles, f.bone_ratios, f.root_rotation))
    v, _ = poser.pose(a0, r0, poser.rest_anchor_mm, rot0)
    m = poser.mano
    assert np.allclose(v, (m.v_template - m.v_template[700]) * 1000.0, atol=0.05)
    bent = a0.copy()
    bent[ANGLE_NAMES.index("index_pip.flex")] += 0.8
    v2, _ = poser.pose(bent, r0, poser.rest_anchor_mm, rot0)
    static = m.weights[:, 0] == 1.0  # vertices on the wrist joint: moved only by the blend shapes
    assert np.abs(v2[static] - v[static]).max() > 0.01


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"not a pickle at all", "not a readable MANO model file"),
        (pickle.dumps([1, 2, 3], protocol=2), "a pickled dict"),
        (pickle.dumps({"v_template": np.zeros((10, 3))}, protocol=2), "missing"),
        (b"cos\nsystem\n(S'echo hacked'\ntR.", "refusing to load os.system"),
    ],
)
def test_wrong_files(tmp_path, payload, message):
    (tmp_path / "bad.pkl").write_bytes(payload)
    with pytest.raises(DiffuhandError, match=message):
        load_mano(tmp_path / "bad.pkl")
