"""The rigged hand mesh (glTF skin) and linear blend skinning driven by the FK layer's joint frames.

The mesh's 25 WebXR joints are fitted once by our IK (:func:`fit_rest_pose`), which gives every skin joint a frame of
the kinematic model: the wrist follows the root, a finger's metacarpal joint the finger's base node, each phalanx
the node whose bone it covers, and the tip the last one. Each digit's frames are turned about its bones as its skin
is (the nails dorsal, the pads palmar), which the joints of a near-straight finger do not say. A new pose moves each frame rigidly (plus a stretch along its bone
when the bone ratio changes, and a uniform scale for the hand's size), and the vertices follow their skin weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from diffuhand.errors import DiffuhandError
from diffuhand.kinematics import fit_ik, forward_kinematics
from diffuhand.kinematics.fk_numpy import forward_kinematics as fk_numpy
from diffuhand.kinematics.limits import Limits, anatomical_limits, load_limits
from diffuhand.kinematics.skeleton import ADULT_ANCHOR_MM, ANGLE_NAMES, FINGERS, PALM, bone_lengths, bone_ratios

WEBXR_JOINTS = (
    "wrist",
    "thumb-metacarpal",
    "thumb-phalanx-proximal",
    "thumb-phalanx-distal",
    "thumb-tip",
    *(
        f"{f}-finger-{p}"
        for f in FINGERS[1:]
        for p in ("metacarpal", "phalanx-proximal", "phalanx-intermediate", "phalanx-distal", "tip")
    ),
)

#: canonical joint -> the WebXR joint at the same place
CANONICAL_FROM_WEBXR = (0, 1, 2, 3, 4, *(j for f in range(4) for j in (6 + 5 * f, 7 + 5 * f, 8 + 5 * f, 9 + 5 * f)))


def _frames() -> tuple[np.ndarray, np.ndarray]:
    """For each WebXR joint: the model node whose frame moves it, and the pivot joint of that frame."""
    frame = [0, 2, 3, 4, 4]  # wrist; thumb CMC->MCP bone (node 2), MCP->IP (3), IP->tip (4), tip
    pivot = [0, 1, 2, 3, 3]
    for f in range(4):
        mcp = 5 + 4 * f
        frame += [mcp, mcp + 1, mcp + 2, mcp + 3, mcp + 3]  # metacarpal (base node), phalanges, tip
        pivot += [0, mcp, mcp + 1, mcp + 2, mcp + 2]
    return np.array(frame), np.array(pivot)


SKIN_FRAME, SKIN_PIVOT = _frames()

#: how the model's joints are placed on the rig: ``"convention"`` where the data's convention puts them (the
#: default), ``"tips"`` the rig's joints with the fingertips at the skin's end, ``"rig"`` the rig's joints as they are
#: (the renders before; kept to measure the difference, benchmarks/bench_render_realism.py --meshes)
JOINT_PLACEMENTS = ("convention", "tips", "rig")


@dataclass
class HandMesh:
    """A right-hand mesh in millimetres with its skin and its fit by the kinematic model.

    Attributes:
        vertices (V, 3) mm, faces (F, 3), normals (V, 3), uv (V, 2), skin_joints (V, 4) WebXR joint indices,
        skin_weights (V, 4); rest_angles (41,), rest_ratios (20,), rest_anchor (mm), rest_root (3, 3),
        rest_position (3,): the model fitted to the mesh's skeleton; rest_joints (21, 3) that fit;
        fit_residual_mm: how far the model's joints are from the mesh's; convention_shift_mm: how far each of
        :data:`CONVENTION_JOINTS` was moved from the rig's joint along its bone (mm, positive: distal);
        rig_joints (21, 3) mm: the rig's own joints (with any placement but ``"rig"``, the tips at the skin's
        end), where anatomy has them, from which the skin's features (creases, palm lines) are laid out;
        rest_dorsal (V, 3): each vertex's dorsal direction at rest (mesh frame, unit): the z axes of the model's
        frames that move it, blended by its skin weights (the hand's back on the palm, the nail's side on a digit);
        surfaces: what painting the skin needs, worked out on first use (not copied by ``replace``): its UV
        surface per texture size, and where its features lie (:func:`~diffuhand.synth.scene._layout`).
    """

    vertices: np.ndarray
    faces: np.ndarray
    normals: np.ndarray
    uv: np.ndarray
    skin_joints: np.ndarray
    skin_weights: np.ndarray
    rest_angles: np.ndarray
    rest_ratios: np.ndarray
    rest_anchor: float
    rest_root: np.ndarray
    rest_position: np.ndarray
    rest_joints: np.ndarray
    fit_residual_mm: float
    convention_shift_mm: np.ndarray
    rig_joints: np.ndarray
    rest_dorsal: np.ndarray
    surfaces: dict = field(default_factory=dict, init=False, repr=False, compare=False)


def _accessor(gltf, blob: bytes, index: int) -> np.ndarray:
    acc = gltf.accessors[index]
    view = gltf.bufferViews[acc.bufferView]
    dtype = {5120: np.int8, 5121: np.uint8, 5122: np.int16, 5123: np.uint16, 5125: np.uint32, 5126: np.float32}[
        acc.componentType
    ]
    width = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}[acc.type]
    start = (view.byteOffset or 0) + (acc.byteOffset or 0)
    item = np.dtype(dtype).itemsize * width
    stride = view.byteStride or item
    raw = np.frombuffer(blob, dtype=np.uint8, count=stride * (acc.count - 1) + item, offset=start)
    rows = np.lib.stride_tricks.as_strided(raw, shape=(acc.count, item), strides=(stride, 1))
    return (
        np.ascontiguousarray(rows).view(dtype).reshape(acc.count, width)
        if width > 1
        else np.ascontiguousarray(rows).view(dtype).ravel()
    )


def load_gltf_hand(path: str | Path) -> dict[str, np.ndarray]:
    """Read the skinned mesh of a WebXR hand .glb: geometry, skin, and the joints' bind (rest) transforms."""
    from pygltflib import GLTF2

    try:
        gltf = GLTF2().load(str(path))
        blob = gltf.binary_blob()
        prim = gltf.meshes[0].primitives[0]
        skin = gltf.skins[0]
        names = [gltf.nodes[j].name for j in skin.joints]
        ibm = _accessor(gltf, blob, skin.inverseBindMatrices).reshape(-1, 4, 4).transpose(0, 2, 1)  # column-major
        out = {
            "vertices": _accessor(gltf, blob, prim.attributes.POSITION).astype(np.float64),
            "normals": _accessor(gltf, blob, prim.attributes.NORMAL).astype(np.float64),
            "uv": _accessor(gltf, blob, prim.attributes.TEXCOORD_0).astype(np.float64),
            "skin_joints": _accessor(gltf, blob, prim.attributes.JOINTS_0).astype(np.int64),
            "skin_weights": _accessor(gltf, blob, prim.attributes.WEIGHTS_0).astype(np.float64),
            "faces": _accessor(gltf, blob, prim.indices).astype(np.int64).reshape(-1, 3),
            "bind": np.linalg.inv(ibm.astype(np.float64)),
        }
    except (OSError, KeyError, IndexError, AttributeError, TypeError, ValueError) as exc:
        raise DiffuhandError(f"{path}: not a skinned glTF hand ({exc.__class__.__name__}: {exc})") from None
    if names != list(WEBXR_JOINTS):
        raise DiffuhandError(f"{path}: skin joints {names[:3]}... are not the 25 WebXR hand joints")
    return out


def default_hand_mesh(placement: str = "convention") -> HandMesh:
    """The shipped MIT hand (``synth/assets/generic-hand-right.glb``), fitted by the kinematic model
    (``placement``: :data:`JOINT_PLACEMENTS`); one object per placement, however it is asked for."""
    return _default_hand_mesh(placement)


@lru_cache(maxsize=len(JOINT_PLACEMENTS))
def _default_hand_mesh(placement: str) -> HandMesh:
    path = resources.files("diffuhand.synth").joinpath("assets/generic-hand-right.glb")
    with resources.as_file(path) as p:
        return hand_mesh_from_gltf(p, placement=placement)


#: the WebXR joints at the fingertips and the finger joints before them (the last phalanx's base)
WEBXR_TIPS = tuple(i for i, n in enumerate(WEBXR_JOINTS) if n.endswith("-tip"))
WEBXR_DISTAL = tuple(i - 1 for i in WEBXR_TIPS)
#: how far from a finger's last bone a vertex may lie to count as its pad, not a neighbouring finger (mm)
FINGERTIP_RADIUS_MM = 12.0


def skin_end_tips(
    joints_mm: np.ndarray, vertices: np.ndarray, skin_joints: np.ndarray, skin_weights: np.ndarray
) -> np.ndarray:
    """The 25 WebXR joints (mm) with each fingertip moved out along its last bone to where the skin ends.

    Every hand data set puts the fingertip keypoint at the end of the finger (MANO's tip vertices, FreiHAND,
    RHD, DexYCB, MediaPipe); the WebXR rig's tip joint sits inside the pad, about 11 mm short of it. Fitted as
    it is, the model's last phalanx is half the data's, and posing the mesh to the data's ratios stretched the
    fingertips to twice their length (docs/results.md, renders).

    joints_mm: (25, 3); vertices: (V, 3) mm; skin_joints, skin_weights: (V, 4) -> (25, 3) mm."""
    out = np.array(joints_mm, dtype=np.float64)
    for tip, base in zip(WEBXR_TIPS, WEBXR_DISTAL):
        axis = out[tip] - out[base]
        axis /= np.linalg.norm(axis)
        # the vertices the last phalanx moves, near its axis: the pad, nail and tip
        moved = (np.isin(skin_joints, (base, tip)) & (skin_weights > 0)).any(1)
        d = vertices[moved] - out[base]
        along = d @ axis
        near = np.linalg.norm(d - along[:, None] * axis, axis=1) < FINGERTIP_RADIUS_MM
        if near.any():
            out[tip] = out[base] + max(float(along[near].max()), 0.0) * axis
    return out


#: the joints whose place along their outgoing bone the data's convention decides: the thumb's CMC, MCP and IP,
#: and the four fingers' MCP (the wrist, the finger PIP and DIP joints and the tips stay where the rig has them)
CONVENTION_JOINTS = (1, 2, 3, 5, 9, 13, 17)


def place_by_convention(joints_mm: np.ndarray, ratios: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Move the :data:`CONVENTION_JOINTS` of a rig's 21 joints along their outgoing bones so that its bone ratios
    come closest (least squares) to ``ratios``, the mean hand of the data the labels follow.

    A rig places the knuckles at the joints' anatomical centres; hand data sets place them by their own convention
    (MANO's regressed joints for DexYCB). Against the shipped limits' mean hand (DexYCB), the WebXR rig's finger MCPs
    sit about 1 cm short of the data's and its thumb joints about 1 cm beyond: posed to the data's ratios as they
    were, the rig's proximal phalanges shrank to 0.7x and the thumb's last phalanx stretched to 1.5x, a hand
    MediaPipe finds less often (docs/results.md, renders). Moving the pivots instead keeps the skin's proportions.

    joints_mm: (21, 3); ratios: (20,) -> the moved joints (21, 3) and each joint's shift (len(CONVENTION_JOINTS),)
    mm (positive: distal)."""
    from scipy.optimize import least_squares

    joints = np.asarray(joints_mm, dtype=np.float64)
    axes = np.stack([joints[j + 1] - joints[j] for j in CONVENTION_JOINTS])  # each joint's outgoing bone
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)

    def moved(shift: np.ndarray) -> np.ndarray:
        out = joints.copy()
        out[list(CONVENTION_JOINTS)] += shift[:, None] * axes
        return out

    def residual(shift: np.ndarray) -> np.ndarray:
        return bone_ratios(moved(shift)) - np.asarray(ratios)

    shift = least_squares(residual, np.zeros(len(CONVENTION_JOINTS))).x
    return moved(shift), shift


#: the finger bases' twists (axial turns), pinned at the data's neutral hand when the mesh is fitted: a near-straight
#: finger's joints leave them free (a bend of a few degrees decides them), and fitted free they turned the ring and
#: little fingers' skin 40-80 degrees about their bones, the nails sideways (tests/synth/test_mesh.py checks the
#: pinned frames against the skin's cross-sections)
FINGER_TWISTS = ("index_base.twist", "ring_base.twist", "pinky_base.twist")
#: the thumb's axial turn: the shipped mesh's thumb lies outside the data's range (flatter in the palm), so the
#: data's neutral twist does not carry over; it is read from the thumb's skin (:func:`fit_rest_pose`)
THUMB_TWIST = "thumb_cmc.twist"
THUMB_JOINTS = (1, 2, 3, 4)
_THUMB_ANGLES = tuple(
    ANGLE_NAMES.index(n)
    for n in (
        "thumb_base.abd",
        "thumb_base.flex",
        "thumb_cmc.abd",
        "thumb_cmc.flex",
        "thumb_mcp.abd",
        "thumb_mcp.flex",
        "thumb_ip.flex",
    )
)
#: the thumb's phalanges whose cross-sections set its twist: (WebXR skin joint, model node whose frame moves it)
THUMB_PHALANGES = ((2, 3), (3, 4))
#: the thumb twists tried before the best is refined (degrees)
_TWIST_STEP_DEG = 10.0


@dataclass(frozen=True)
class RestFit:
    """The kinematic model fitted to a rig's 21 joints (:func:`fit_rest_pose`), NumPy float64.

    Attributes:
        angles (41,) rad, ratios (20,), anchor_mm, root_rotation (3, 3) hand -> mesh frame, root_position (3,) mm;
        joints (21, 3) mm the fitted joints; rotations (21, 3, 3) each node's frame in the mesh frame (columns: x
        along its bone, z dorsal); residual_mm: mean distance to the rig's joints; thumb_misalignment_deg: per
        :data:`THUMB_PHALANGES`, the angle between its frame's dorsal axis and its skin's thickness axis.
    """

    angles: np.ndarray
    ratios: np.ndarray
    anchor_mm: float
    root_rotation: np.ndarray
    root_position: np.ndarray
    joints: np.ndarray
    rotations: np.ndarray
    residual_mm: float
    thumb_misalignment_deg: tuple[float, ...]


def thickness_axis(vertices: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """(3,) unit: the direction across a bone in which its skin is thinnest, from the skin's vertices (N, 3) moved by
    that bone and the bone's direction ``axis`` (3,), unit. A digit is flatter from nail to pad than from side to
    side, so this is its dorsal-palmar axis (up to sign)."""
    d = vertices - vertices.mean(0)
    across = np.eye(3) - np.outer(axis, axis)
    _, vectors = np.linalg.eigh(across @ (d.T @ d) @ across)  # ascending: ~0 along the bone, then thin, then wide
    return vectors[:, 1]


def skin_dorsal(rotations: np.ndarray, skin_joints: np.ndarray, skin_weights: np.ndarray) -> np.ndarray:
    """(V, 3) unit dorsal directions: per vertex, the z axes of the model frames (``rotations`` (21, 3, 3)) that
    move its skin joints (skin_joints, skin_weights (V, 4)), blended by weight."""
    z = rotations[SKIN_FRAME][:, :, 2]  # (25, 3): per WebXR joint, its frame's dorsal axis
    d = np.einsum("vk,vka->va", skin_weights, z[skin_joints])
    return d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)


def _pinned(limits: Limits, values: dict[str, float]) -> Limits:
    """``limits`` with the named angles pinned (min = max = neutral) at ``values`` (rad)."""
    lo, hi, neutral = limits.angle_min.copy(), limits.angle_max.copy(), limits.angle_neutral.copy()
    for name, v in values.items():
        i = ANGLE_NAMES.index(name)
        lo[i] = hi[i] = neutral[i] = v
    return replace(limits, angle_min=lo, angle_max=hi, angle_neutral=neutral)


def fit_rest_pose(
    target: np.ndarray, vertices: np.ndarray, skin_joints: np.ndarray, skin_weights: np.ndarray
) -> RestFit:
    """The kinematic model fitted to a rig's skeleton, its frames turned about the bones as the skin is.

    A finger's joints decide its bones, not how far each bone is turned about itself, and a pose moves the skin
    with the frames: fitted freely, the twists came out wherever a few degrees of bend put them, and every posed
    hand had digits turned on their bones (the thumb's nail facing the palm). So the frames are fitted in two steps:

    1. the root and the fingers (the thumb left out), in the wide anatomical box (the mesh's own skeleton need not
       lie inside the data-derived limits), the fingers' base twists pinned at the data's neutral hand
       (:data:`FINGER_TWISTS`);
    2. the thumb on that root: its bones' lengths taken from the rig, its angles fitted for each twist of
       :data:`THUMB_TWIST` on a grid, keeping the twist that lays its phalanges' dorsal axes along their skin's
       thickness axes (:func:`thickness_axis`; the pad on the palm's side, as flexion bends it), then refined.

    target (21, 3) mm the rig's joints; vertices (V, 3) mm, skin_joints and skin_weights (V, 4): its skin."""
    from scipy.optimize import least_squares, minimize_scalar

    box, data = anatomical_limits(), load_limits()
    fingers = _pinned(box, {n: float(data.angle_neutral[ANGLE_NAMES.index(n)]) for n in FINGER_TWISTS})
    valid = np.ones((1, 21), dtype=bool)
    valid[0, list(THUMB_JOINTS)] = False
    fit = fit_ik(target[None], valid=valid, limits=fingers, as_numpy=True)
    anchor = float(fit.anchor_length[0])
    ratios = np.array(fit.bone_ratios[0], dtype=np.float64)
    ratios[: len(THUMB_JOINTS)] = bone_lengths(target)[: len(THUMB_JOINTS)] / anchor  # the thumb's bones, as rigged
    base = np.array(fit.angles[0], dtype=np.float64)
    root, position = np.array(fit.root_rotation[0], np.float64), np.array(fit.root_position[0], np.float64)
    thumb, twist = list(_THUMB_ANGLES), ANGLE_NAMES.index(THUMB_TWIST)
    dominant = skin_joints[np.arange(len(skin_joints)), skin_weights.argmax(1)]
    lo, hi = box.angle_min[thumb], box.angle_max[thumb]
    start = np.clip(data.angle_neutral[thumb], lo, hi)

    def pose(angles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return fk_numpy(angles, ratios, anchor, root, position, return_rotations=True)

    def solve(t: float, x0: np.ndarray = start) -> tuple[np.ndarray, float, tuple[float, ...], bool]:
        """The thumb fitted with twist ``t`` (rad), from thumb angles ``x0`` -> angles, how far its phalanges'
        frames lie from their skin's thickness axes (sum of squared sines), each misalignment (degrees), and
        whether the pad faces the palm."""
        angles = base.copy()
        angles[twist] = t

        def residual(x: np.ndarray) -> np.ndarray:
            angles[thumb] = x
            return (pose(angles)[0][list(THUMB_JOINTS)] - target[list(THUMB_JOINTS)]).ravel()

        angles[thumb] = least_squares(residual, x0, bounds=(lo, hi)).x
        joints, rot = pose(angles)
        cosines = [
            abs(thickness_axis(vertices[dominant == webxr], rot[node][:, 0]) @ rot[node][:, 2])
            for webxr, node in THUMB_PHALANGES
        ]
        palm = joints[list(PALM)].mean(0) - joints[THUMB_JOINTS[-1]]
        pad_to_palm = float(-rot[THUMB_JOINTS[-1]][:, 2] @ palm) > 0.0  # flexion bends the tip towards -z
        cost = float(sum(1.0 - c**2 for c in cosines))
        return angles, cost, tuple(float(np.degrees(np.arccos(min(c, 1.0)))) for c in cosines), pad_to_palm

    lo_t, hi_t = box.angle_min[twist], box.angle_max[twist]
    grid = np.radians(np.arange(-180.0, 180.0, _TWIST_STEP_DEG))
    tried, x0 = [], start
    for t in grid[(grid >= lo_t) & (grid <= hi_t)]:  # each from the last: a neighbouring twist's thumb is near
        tried.append((t, solve(t, x0)))
        x0 = tried[-1][1][0][thumb]
    facing = [(t, r[1], r[0][thumb]) for t, r in tried if r[3]]
    if not facing:
        raise DiffuhandError("no thumb twist puts the rig's thumb pad on the palm's side: not a right hand's rig")
    best, _, x0 = min(facing, key=lambda f: f[1])
    step = np.radians(_TWIST_STEP_DEG)
    t = minimize_scalar(
        lambda t: solve(t, x0)[1],
        bounds=(max(best - step, lo_t), min(best + step, hi_t)),
        method="bounded",
        options={"xatol": np.radians(0.5)},
    ).x
    angles, _, misalignment, _ = solve(t, x0)
    joints, rotations = pose(angles)
    return RestFit(
        angles=angles,
        ratios=ratios,
        anchor_mm=anchor,
        root_rotation=np.array(fit.root_rotation[0], dtype=np.float64),
        root_position=np.array(fit.root_position[0], dtype=np.float64),
        joints=joints,
        rotations=rotations,
        residual_mm=float(np.linalg.norm(joints - target, axis=1).mean()),
        thumb_misalignment_deg=misalignment,
    )


def hand_mesh_from_gltf(path: str | Path, ratios: np.ndarray | None = None, placement: str = "convention") -> HandMesh:
    """A WebXR hand .glb fitted by the kinematic model, its joints placed as the data's convention places them
    (:func:`skin_end_tips`, then :func:`place_by_convention` against ``ratios``, default the shipped limits' mean
    hand); ``placement``: one of :data:`JOINT_PLACEMENTS`."""
    if placement not in JOINT_PLACEMENTS:
        raise ValueError(f"placement must be one of {JOINT_PLACEMENTS}, got {placement!r}")
    g = load_gltf_hand(path)
    joints_mm = g["bind"][:, :3, 3] * 1000.0  # metres -> mm, in the mesh's own frame
    w = g["skin_weights"]
    if placement != "rig":
        joints_mm = skin_end_tips(joints_mm, g["vertices"] * 1000.0, g["skin_joints"], w)
    target = rig = joints_mm[list(CANONICAL_FROM_WEBXR)]
    shift = np.zeros(len(CONVENTION_JOINTS))
    if placement == "convention":
        target, shift = place_by_convention(target, load_limits().ratio_neutral if ratios is None else ratios)
    fit = fit_rest_pose(target, g["vertices"] * 1000.0, g["skin_joints"], w)
    return HandMesh(
        vertices=g["vertices"] * 1000.0,
        faces=g["faces"],
        normals=g["normals"],
        uv=g["uv"],
        skin_joints=g["skin_joints"],
        skin_weights=w / np.maximum(w.sum(1, keepdims=True), 1e-12),
        rest_angles=fit.angles,
        rest_ratios=fit.ratios,
        rest_anchor=fit.anchor_mm,
        rest_root=fit.root_rotation,
        rest_position=fit.root_position,
        rest_joints=fit.joints,
        fit_residual_mm=fit.residual_mm,
        convention_shift_mm=shift,
        rig_joints=rig,
        rest_dorsal=skin_dorsal(fit.rotations, g["skin_joints"], w),
    )


def pose_mesh(
    mesh: HandMesh,
    angles: np.ndarray,
    ratios: np.ndarray,
    anchor_mm: float,
    root_rotation: np.ndarray,
    root_position: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Skin the mesh to a pose of the model.

    Args:
        angles (41,) rad (root angles ignored), ratios (20,), anchor_mm, root_rotation (3, 3) hand -> camera,
        root_position (3,) mm: the pose in the camera frame.

    Returns:
        vertices (V, 3) mm in the camera frame, and the model's joints (21, 3) mm (the labels).
    """
    f64 = torch.float64
    _, r_rest = forward_kinematics(
        torch.as_tensor(mesh.rest_angles, dtype=f64),
        torch.as_tensor(mesh.rest_ratios, dtype=f64),
        mesh.rest_anchor,
        torch.as_tensor(mesh.rest_root, dtype=f64),
        torch.as_tensor(mesh.rest_position, dtype=f64),
        return_rotations=True,
    )
    joints, r_new = forward_kinematics(
        torch.as_tensor(angles, dtype=f64),
        torch.as_tensor(ratios, dtype=f64),
        anchor_mm,
        torch.as_tensor(root_rotation, dtype=f64),
        torch.as_tensor(root_position, dtype=f64),
        return_rotations=True,
    )
    joints, r_rest, r_new = joints.numpy(), r_rest.numpy(), r_new.numpy()
    scale = anchor_mm / mesh.rest_anchor
    stretch = np.ones((21, 3))
    stretch[1:, 0] = np.asarray(ratios) / mesh.rest_ratios  # along each bone's own axis
    f, p = SKIN_FRAME, SKIN_PIVOT
    a = scale * np.einsum("jab,jb,jcb->jac", r_new[f], stretch[f], r_rest[f])  # R_new S R_rest^T per skin joint
    b = joints[p] - np.einsum("jab,jb->ja", a, mesh.rest_joints[p])
    # linear blend: v' = sum_k w_k (A_k v + b_k)
    aw = np.einsum("vk,vkab->vab", mesh.skin_weights, a[mesh.skin_joints])
    bw = np.einsum("vk,vka->va", mesh.skin_weights, b[mesh.skin_joints])
    return np.einsum("vab,vb->va", aw, mesh.vertices) + bw, joints


def mirror_mesh(vertices: np.ndarray, faces: np.ndarray, side: str) -> tuple[np.ndarray, np.ndarray]:
    """A right-hand mesh as the given side: a left hand mirrored, its triangles' winding reversed so that normals
    still point out."""
    return (vertices * np.array([-1.0, 1.0, 1.0]), faces[:, ::-1]) if side == "left" else (vertices, faces)


def posed_mesh(
    result, anchor_mm: float = ADULT_ANCHOR_MM, mesh: HandMesh | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The MIT-licensed rigged hand skinned to a result's angles and ratios (the renderer's skinning).

    ``result``: a :class:`~diffuhand.pipeline.HandResult` (or anything with its ``handedness``, ``angles``,
    ``bone_ratios`` and ``root_rotation``); ``anchor_mm``: the hand size (wrist -> index MCP).

    Returns vertices (V, 3) mm in the camera frame relative to the wrist, and triangles (F, 3) (a left hand:
    :func:`mirror_mesh`)."""
    if result.root_rotation is None or not np.isfinite(result.angles).all():
        raise DiffuhandError("this model gives no angles (a diffusion model without its IK MLP): no mesh")
    mesh = mesh or default_hand_mesh()
    v, _ = pose_mesh(mesh, result.angles, result.bone_ratios, anchor_mm, result.root_rotation, np.zeros(3))
    return mirror_mesh(v, np.asarray(mesh.faces), result.handedness)
