"""MANO (Romero et al. 2017) posed by our angles, for users who have the model file (section 2.3). MANO's licence
does not let us ship it; the user passes ``MANO_RIGHT.pkl``.

The official file pickles chumpy arrays (and a scipy sparse matrix), and chumpy does not import on Python 3.11:
it is read with the restricted unpickler, chumpy and scipy classes replaced by state-only stand-ins, so nothing
of either runs. Posing: our kinematic model is fitted once to MANO's rest joints; a pose of ours then gives each
MANO joint the change of rotation of the model node that moves the same bone, and MANO's own skinning (linear
blend skinning plus its pose blend shapes) follows. MANO keeps its mean shape (betas = 0): our bone ratios are
not carried over (MANO's shape lives in its betas), only its size is scaled to our anchor length.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from diffuhand.errors import DiffuhandError
from diffuhand.io.pickles import NUMPY_CLASSES, StateOnly, load_restricted
from diffuhand.kinematics import fit_ik, forward_kinematics
from diffuhand.kinematics.conventions import ORDERS
from diffuhand.kinematics.limits import anatomical_limits

#: MANO's 16 joints' parents (wrist; index, middle, pinky, ring, thumb 1-3)
MANO_PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)
#: fingertip vertices (thumb, index, middle, ring, pinky) of the right-hand MANO mesh, as in smplx's vertex_ids
MANO_TIP_VERTICES = (744, 320, 443, 554, 671)
# object reconstruction and the plain containers chumpy's state holds, under Python 3 and Python 2 names
_ALLOWED = (
    NUMPY_CLASSES
    | {(m, n) for m in ("builtins", "__builtin__") for n in ("object", "set", "frozenset")}
    | {("copyreg", "_reconstructor"), ("copy_reg", "_reconstructor")}
)
_KEYS = ("v_template", "weights", "J_regressor", "f", "kintree_table", "posedirs")


@dataclass
class ManoModel:
    """A MANO hand in metres: v_template (778, 3), faces (F, 3), weights (778, 16), J_regressor (16, 778) dense,
    posedirs (778, 3, 135), shapedirs (778, 3, 10) or None."""

    v_template: np.ndarray
    faces: np.ndarray
    weights: np.ndarray
    J_regressor: np.ndarray
    posedirs: np.ndarray
    shapedirs: np.ndarray | None
    tip_vertices: tuple[int, ...] = MANO_TIP_VERTICES

    def rest_joints(self) -> np.ndarray:
        """(16, 3) metres: MANO's joints regressed from its template."""
        return self.J_regressor @ self.v_template

    def rest_joints21(self) -> np.ndarray:
        """(21, 3) metres in the canonical order: the 16 joints plus the 5 fingertip vertices."""
        mano21 = np.concatenate([self.rest_joints(), self.v_template[list(self.tip_vertices)]])
        return mano21[list(ORDERS["mano"])]


def _array(value, key: str, path: Path) -> np.ndarray:
    if isinstance(value, StateOnly):
        state = value.state if isinstance(value.state, dict) else {}
        if "x" in state:  # chumpy.Ch: its value
            return np.asarray(state["x"], dtype=np.float64)
        if {"data", "indices", "indptr"} <= set(state):  # scipy CSC/CSR matrix, densified by hand
            shape = tuple(state.get("_shape") or state.get("shape"))
            fmt = state.get("format") or ("csr" if "csr" in type(value).__name__ else "csc")
            dense = np.zeros(shape if fmt == "csc" else shape[::-1])
            ptr, idx, data = (np.asarray(state[k]) for k in ("indptr", "indices", "data"))
            for col in range(len(ptr) - 1):
                dense[idx[ptr[col] : ptr[col + 1]], col] = data[ptr[col] : ptr[col + 1]]
            return dense if fmt == "csc" else dense.T
        raise DiffuhandError(f"{path}: {key} is a {type(value).__name__} without array data: not a MANO model file")
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise DiffuhandError(f"{path}: {key} is not an array: not a MANO model file") from None


def load_mano(path: str | Path) -> ManoModel:
    """Read ``MANO_RIGHT.pkl`` (or a file of the same structure) without chumpy or scipy; one-line errors."""
    path = Path(path)
    raw = load_restricted(path, _ALLOWED, substitute=("chumpy", "scipy"), what="MANO model file")
    if not isinstance(raw, dict):
        raise DiffuhandError(f"{path}: not a MANO model file (a pickled dict is expected)")
    missing = [k for k in _KEYS if k not in raw]
    if missing:
        raise DiffuhandError(f"{path}: not a MANO model file (missing {', '.join(missing)})")
    a = {k: _array(raw[k], k, path) for k in (*_KEYS, "shapedirs") if k in raw}
    v = a["v_template"]
    n = len(v)
    shapes = {"v_template": (n, 3), "weights": (n, 16), "J_regressor": (16, n), "posedirs": (n, 3, 135)}
    for k, want in shapes.items():
        if a[k].shape != want:
            raise DiffuhandError(f"{path}: {k} has shape {a[k].shape}, MANO's is {want}")
    if n <= max(MANO_TIP_VERTICES):
        raise DiffuhandError(f"{path}: {n} vertices; MANO's right hand has 778")
    faces = a["f"].astype(np.int64)
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.min() < 0 or faces.max() >= n:
        raise DiffuhandError(f"{path}: f is not a triangle list over its vertices")
    return ManoModel(v, faces, a["weights"], a["J_regressor"], a["posedirs"], a.get("shapedirs"))


class ManoPoser:
    """Poses a :class:`ManoModel` from our (angles, ratios, anchor, root rotation).

    The model is fitted once to MANO's rest joints (a residual of a few mm: MANO's palm is rigid where ours has
    metacarpal joints); for MANO joint k at canonical joint c its rotation follows our node that moves the bone
    leaving c (c + 1; the wrist follows the root)."""

    def __init__(self, mano: ManoModel):

        self.mano = mano
        rest21 = mano.rest_joints21() * 1000.0
        fit = fit_ik(torch.as_tensor(rest21)[None], limits=anatomical_limits())
        self.rest_fit_mm = float(fit.residual[0])
        _, rot = forward_kinematics(
            torch.as_tensor(fit.angles[0]),
            torch.as_tensor(fit.bone_ratios[0]),
            float(fit.anchor_length[0]),
            torch.as_tensor(fit.root_rotation[0]),
            return_rotations=True,
        )
        self.rest_rot = rot.numpy()
        self.rest_anchor_mm = float(fit.anchor_length[0])
        canon_of_mano = {m: c for c, m in enumerate(ORDERS["mano"]) if m < 16}
        self.node = np.array([0 if k == 0 else canon_of_mano[k] + 1 for k in range(16)])

    def pose(
        self,
        angles: np.ndarray,
        ratios: np.ndarray,
        anchor_mm: float,
        root_rotation: np.ndarray,
        root_position: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """-> vertices (778, 3) mm in the camera frame, and the posed joints (21, 3) mm (canonical order)."""

        _, rot = forward_kinematics(
            torch.as_tensor(angles, dtype=torch.float64),
            torch.as_tensor(ratios, dtype=torch.float64),
            anchor_mm,
            torch.as_tensor(root_rotation, dtype=torch.float64),
            return_rotations=True,
        )
        rot = rot.numpy()
        m = self.mano
        g = np.einsum("kab,kcb->kac", rot[self.node], self.rest_rot[self.node])  # change of global rotation
        local = np.stack([g[k] if p < 0 else g[p].T @ g[k] for k, p in enumerate(MANO_PARENTS)])
        v = m.v_template + m.posedirs @ (local[1:] - np.eye(3)).reshape(-1)  # pose blend shapes
        j = m.rest_joints()
        posed_j = np.zeros_like(j)
        for k, p in enumerate(MANO_PARENTS):
            posed_j[k] = j[k] if p < 0 else posed_j[p] + g[p] @ (j[k] - j[p])
        # each joint's transform: x -> g_k (x - j_k) + posed_j_k, blended by the skin weights
        a = np.einsum("vk,kab->vab", m.weights, g)
        b = np.einsum("vk,ka->va", m.weights, posed_j - np.einsum("kab,kb->ka", g, j))
        verts = np.einsum("vab,vb->va", a, v) + b
        scale = anchor_mm / self.rest_anchor_mm * 1000.0
        joints21 = np.concatenate([posed_j, verts[list(m.tip_vertices)]])[list(ORDERS["mano"])]
        origin = joints21[0].copy()
        offset = np.zeros(3) if root_position is None else np.asarray(root_position, dtype=np.float64)
        return (verts - origin) * scale + offset, (joints21 - origin) * scale + offset
