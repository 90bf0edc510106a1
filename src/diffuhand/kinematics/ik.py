"""Inverse kinematics (paper section 3.1): fit the hand model to 3D joints.

A batched, box-constrained Levenberg-Marquardt solver. Per pose it finds the root rotation, root position,
scale (anchor length), the free angles and the free bone ratios whose forward kinematics best match the given
joints, within the limits. The Jacobian is analytic (a revolute joint moves its subtree by ``w x (p - pivot)``)
and is checked against autograd in the tests. An analytic level-by-level initialisation puts each bone on its
target direction first, so the solver starts close to the answer.

The solver is NumPy (float64, :mod:`diffuhand.kinematics.fk_numpy`): it needs no gradient, and the fusion fit
of a photo, which starts from it, then runs without torch, whose import is most of a photo's start-up
(``benchmarks/bench_startup.py``). :func:`fit_ik` returns torch tensors, or NumPy arrays (``as_numpy``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from diffuhand.errors import DiffuhandError
from diffuhand.kinematics.fk_numpy import EULER_INDEX, forward_kinematics, rotmat_to_euler_zyx, rotvec_to_rotmat
from diffuhand.kinematics.limits import Limits, as_float64, load_limits
from diffuhand.kinematics.skeleton import (
    ANCHOR_BONE,
    ANCHOR_JOINT,
    ANGLE_AXIS,
    ANGLE_NODE,
    LEVELS,
    NUM_ANGLES,
    NUM_BONES,
    NUM_JOINTS,
    PARENTS,
    bone_lengths,
    subtree_mask,
)

if TYPE_CHECKING:
    import torch

#: Bumped whenever the solver's results change, so cached fits (``diffuhand limits --cache``) are not reused.
SOLVER_VERSION = 5
#: pairs of knuckles (pinky side, thumb side) whose vectors from the wrist span the palm, the best conditioned first:
#: hand_frame takes the first pair that is given and not on one line with the wrist
PALM_PAIRS = ((17, 5), (13, 5), (17, 9), (13, 9), (9, 5), (17, 13))
#: |a x b| under this fraction of |a| |b|: the two vectors are on one line (no plane; see hand_frame)
_PLANE_EPS = 1e-9
#: the fitted scale stays within a factor e^2.08 = 8 of the size the bones suggest: without a bound, joints that are
#: no hand at all (a failed network output) are fitted best by a hand shrunk to a point (scale 0, then NaN)
_LOG_SCALE_BOX = float(np.log(8.0))
#: columns of the Jacobian: root rotation (3), root position (3), log scale (1), then the free angles and ratios
_ROT, _POS, _SCALE = slice(0, 3), slice(3, 6), 6
NUM_POSE_PARAMS = 7
#: the bones' parents (bone k ends at joint k + 1)
_BONE_PARENTS = np.array(PARENTS[1:])


@dataclass
class IKResult:
    """What :func:`fit_ik` found (torch tensors, or NumPy arrays with ``as_numpy``), float64; leading shape
    ``...`` is the input's (none for a single (21, 3) pose).

    Attributes:
        angles: (..., 41) radians, root Euler ZYX included, so ``forward_kinematics(angles, bone_ratios,
            anchor_length, root_position=root_position)`` gives ``joints``.
        bone_ratios: (..., 20). anchor_length: (...) in the input's unit.
        root_rotation: (..., 3, 3). root_position: (..., 3) in the input's unit.
        joints: (..., 21, 3) fitted joints. residual: (...) mean distance between fitted and given joints
            (valid joints only), in the input's unit. per_joint: (..., 21) those distances.
        iterations: solver iterations run.
    """

    angles: Any
    bone_ratios: Any
    anchor_length: Any
    root_rotation: Any
    root_position: Any
    joints: Any
    residual: Any
    per_joint: Any
    iterations: int


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross product over the last axis, broadcast (np.cross checks and moves axes: slower at these sizes)."""
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    return np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)


def _norm(v: np.ndarray) -> np.ndarray:
    return np.sqrt((v * v).sum(-1))


def _normalize(v: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    return v / np.maximum(_norm(v), eps)[..., None]


def _clamp(x: np.ndarray, lo, hi) -> np.ndarray:
    return np.minimum(np.maximum(x, lo), hi)  # NaN stays NaN (as torch's)


def solve_batched(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x (N, P) with a x = b for a batch of (N, P, P) systems; NaN for a system that has no solution (a singular
    one: np.linalg.solve raises for the whole batch, the others are solved alone)."""
    try:
        return np.linalg.solve(a, b[..., None])[..., 0]
    except np.linalg.LinAlgError:
        out = np.full(b.shape, np.nan)
        for i in range(a.shape[0]):
            try:
                out[i] = np.linalg.solve(a[i], b[i])
            except np.linalg.LinAlgError:
                pass
        return out


def box_constrained_step(a_mat: np.ndarray, g: np.ndarray, box, lo, hi, lam: np.ndarray) -> np.ndarray:
    """One Levenberg-Marquardt step (N, P) from the normal equations J^T J (N, P, P) and J^T r (N, P), whose last
    parameters ``box`` (N, B) are bounded by ``lo``, ``hi`` (B,), with damping ``lam`` (N,); 0 where no finite step.

    Active set: a bounded parameter sitting on its bound and pushed outwards stays put this step (its row and
    column are cleared, its diagonal 1). Marquardt damping: the diagonal grows by ``lam`` times itself."""
    tail = g[:, g.shape[1] - box.shape[1] :]
    stuck = ((box <= lo + 1e-12) & (tail > 0)) | ((box >= hi - 1e-12) & (tail < 0))
    keep = np.concatenate([np.ones((g.shape[0], g.shape[1] - box.shape[1]), dtype=bool), ~stuck], axis=-1)
    a_mat = a_mat * (keep[:, :, None] & keep[:, None, :])
    g = g * keep
    diag = np.arange(a_mat.shape[-1])
    d = a_mat[:, diag, diag]
    a_mat[:, diag, diag] = d + lam[:, None] * np.maximum(d, 1e-9) + ~keep
    step = -solve_batched(a_mat, g)
    return np.where(np.isfinite(step), step, 0.0)


def next_damping(lam: np.ndarray, better: np.ndarray) -> np.ndarray:
    """Levenberg-Marquardt's damping after a step: a third where it lowered the cost, four times where not."""
    return np.where(better, np.maximum(lam / 3, 1e-9), np.minimum(lam * 4, 1e9))


class _Problem:
    """Index bookkeeping shared by the initialisation, the Jacobian and the updates."""

    def __init__(self, limits: Limits):
        amin, amax = (np.asarray(x, dtype=np.float64) for x in (limits.angle_min, limits.angle_max))
        rmin, rmax = (np.asarray(x, dtype=np.float64) for x in (limits.ratio_min, limits.ratio_max))
        free_a = [i for i in range(3, NUM_ANGLES) if limits.angle_max[i] > limits.angle_min[i]]
        free_r = [b for b in range(NUM_BONES) if limits.ratio_max[b] > limits.ratio_min[b] and b != ANCHOR_BONE]
        self.free_a = np.array(free_a, dtype=np.int64)
        self.free_r = np.array(free_r, dtype=np.int64)
        self.amin, self.amax, self.rmin, self.rmax = amin, amax, rmin, rmax
        self.neutral_a = np.asarray(limits.angle_neutral, dtype=np.float64)
        self.neutral_r = np.asarray(limits.ratio_neutral, dtype=np.float64)
        self.a_node = np.array([ANGLE_NODE[i] for i in free_a], dtype=np.int64)
        self.a_axis = np.array([ANGLE_AXIS[i] for i in free_a], dtype=np.int64)
        self.parents = np.array([max(p, 0) for p in PARENTS])
        self.a_pivot = self.parents[self.a_node]
        mask = subtree_mask().astype(np.float64)
        self.a_mask = mask[self.a_node]  # (Fa, 21)
        self.r_node = self.free_r + 1
        self.r_mask = mask[self.r_node]  # (Fr, 21)
        self.n_params = NUM_POSE_PARAMS + len(free_a) + len(free_r)
        self.lo = np.concatenate([amin[self.free_a], rmin[self.free_r]])
        self.hi = np.concatenate([amax[self.free_a], rmax[self.free_r]])
        # per node, its free angles by kind (0 abduction, 1 flexion, 2 twist): looked up per bone in the init
        self.node_kinds = [{ANGLE_AXIS[i]: i for i in free_a if ANGLE_NODE[i] == j} for j in range(NUM_JOINTS)]
        self.twist = np.array([i for i in free_a if ANGLE_AXIS[i] == 2], dtype=np.int64)
        # the finger (0 thumb .. 4 pinky) each angle moves; the root's angles count as the thumb's (not used)
        self.finger_of = np.array([max(ANGLE_NODE[i] - 1, 0) // 4 for i in range(NUM_ANGLES)])


_PROBLEMS: dict = {}


def _problem(limits: Limits) -> _Problem:
    """:class:`_Problem` for these limits, made once (its tables cost ~0.7 ms, a tenth of a one-pose fit)."""
    hit = _PROBLEMS.get(id(limits))
    if hit is None or hit[0] is not limits:
        if len(_PROBLEMS) > 8:
            _PROBLEMS.clear()
        hit = _PROBLEMS[id(limits)] = (limits, _Problem(limits))
    return hit[1]


def hand_frame(joints, valid=None):
    """Rotation (..., 3, 3) of the hand frame seen in right-hand joints (..., 21, 3): x from the wrist to the
    middle MCP, z dorsal (the normal of the palm: wrist, pinky MCP and index MCP), y towards the thumb. It
    approximates the model's root rotation (whose frame is the middle metacarpal's).

    ``valid`` (..., 21) bool: joints to use. Where the pinky or index MCP is missing, or the three are on one line,
    the palm's normal comes from the next pair of knuckles (:data:`PALM_PAIRS`); where none is left, y is any
    direction across x; where the wrist -> middle MCP axis is missing x is the camera's: always a rotation, which
    a fit then turns. NumPy in, NumPy out; a torch tensor in, a tensor of its dtype and device out (no gradient)."""
    if hasattr(joints, "detach"):  # a torch tensor
        return joints.new_tensor(hand_frame(as_float64(joints), None if valid is None else as_float64(valid) > 0))
    p = np.asarray(joints, dtype=np.float64)
    ok = np.ones(p.shape[:-1], dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    ok = ok & np.isfinite(p).all(-1)
    x_raw = p[..., 9, :] - p[..., 0, :]
    has_x = (_norm(x_raw) > 0) & ok[..., 0] & ok[..., 9]
    x = np.where(has_x[..., None], _normalize(x_raw), [1.0, 0.0, 0.0])
    normal = np.zeros_like(x)
    found = np.zeros(x.shape[:-1], dtype=bool)
    for pinky_side, thumb_side in PALM_PAIRS:
        a, b = p[..., pinky_side, :] - p[..., 0, :], p[..., thumb_side, :] - p[..., 0, :]
        n = _cross(a, b)
        use = ~found & ok[..., 0] & ok[..., pinky_side] & ok[..., thumb_side]
        use &= _norm(n) > _PLANE_EPS * _norm(a) * _norm(b)  # a plane (not three points on one line)
        normal = np.where(use[..., None], n, normal)
        found |= use
    y_raw = _cross(normal, x)
    flat = ~found | (_norm(y_raw) <= _PLANE_EPS * _norm(normal))  # no normal, or one along x
    across = np.eye(3)[np.argmin(np.abs(x), axis=-1)]  # the axis least along x
    y = _normalize(np.where(flat[..., None], _cross(x, across), y_raw))
    z = _cross(x, y)
    return np.stack([x, y, z], axis=-1)


def _point_bones(target, rot0, pos, scale, angles, ratios, prob: _Problem) -> np.ndarray:
    """Greedy analytic IK, level by level: every 2-/3-DoF node points its bone at the target exactly, every
    hinge takes the bend of its bone projected on its plane; twists keep the values given in ``angles``."""
    angles = angles.copy()
    for level in LEVELS[1:]:
        _, rots = forward_kinematics(angles, ratios, scale, rot0, pos, return_rotations=True)
        for j in level:
            d = _normalize(target[:, j] - target[:, PARENTS[j]])
            d = (rots[:, PARENTS[j]].swapaxes(-1, -2) @ d[..., None])[..., 0]
            kinds = prob.node_kinds[j]
            if 0 in kinds:  # abduction present: a 2- or 3-DoF node points its bone exactly
                angles[:, kinds[0]] = np.arctan2(d[:, 1], d[:, 0])
                if 1 in kinds:
                    angles[:, kinds[1]] = np.arctan2(-d[:, 2], np.hypot(d[:, 0], d[:, 1]))
            elif 1 in kinds:  # a hinge: the bend in its plane
                angles[:, kinds[1]] = np.arctan2(-d[:, 2], d[:, 0])
        angles = _clamp(angles, prob.amin, prob.amax)
    return angles


def _initialise(target: np.ndarray, prob: _Problem, n_twists: int = 17, valid: np.ndarray | None = None):
    """Analytic start: root from the palm, then :func:`_point_bones`. The free twists (the plane a finger bends
    in) cannot be read off one bone, and a wrong one is a local minimum, so each is tried at ``n_twists`` values
    across its range and each finger keeps the one that puts its joints nearest their targets (the first such
    value on a tie). The trials run as one batch of ``n_twists * N`` poses: one pass of Python over the tree
    instead of one per trial (measured 9x faster for one pose, benchmarks/bench_speed.py)."""
    n = target.shape[0]
    pos = target[:, 0].copy()
    scale = np.maximum(_norm(target[:, ANCHOR_JOINT] - target[:, 0]), 1e-9)
    rot0 = hand_frame(target, valid)
    bones = bone_lengths(target)
    ratios = _clamp(bones / scale[:, None], prob.rmin, prob.rmax)
    twist = prob.twist
    frac = np.linspace(0.0, 1.0, n_twists) if n_twists > 1 else np.zeros(1)
    angles = np.repeat(prob.neutral_a[None, None], n_twists, 0).repeat(n, 1)  # (trials, N, 41)
    angles[:, :, twist] = prob.amin[twist] + frac[:, None, None] * (prob.amax[twist] - prob.amin[twist])

    def rep(x):  # (N, ...) -> (n_twists * N, ...), trial-major
        return np.broadcast_to(x, (n_twists, *x.shape)).reshape(-1, *x.shape[1:])

    tr = rep(target)
    angles = _point_bones(tr, rep(rot0), rep(pos), rep(scale), angles.reshape(-1, NUM_ANGLES), rep(ratios), prob)
    joints = forward_kinematics(angles, rep(ratios), rep(scale), rep(rot0), rep(pos))
    dist = _norm(joints - tr) if valid is None else _norm(joints - tr) * rep(valid)  # missing joints: not targets
    err = dist[:, 1:].reshape(n_twists, n, 5, 4).sum(-1)  # (trials, N, 5 fingers)
    pick = err.argmin(0)  # (N, 5): the first best trial per finger
    choice = pick[:, prob.finger_of]  # (N, 41)
    choice[:, :3] = 0  # the root's angles are not fitted here
    best = np.take_along_axis(angles.reshape(n_twists, n, NUM_ANGLES), choice[None], axis=0)[0]
    return rot0, pos, np.log(scale), best, ratios


def _jacobian(joints, rots, angles, ratios, scale, prob: _Problem, with_size: bool = True) -> np.ndarray:
    """d joints / d params, (N, 63, P); params = [root rot-vector (3), root position (3), log scale, free angles,
    free ratios], or without ``with_size`` [root rot-vector, root position, free angles] (the hand's size fixed)."""
    n = joints.shape[0]
    rel = joints - joints[:, :1]
    rot0 = rots[:, 0]
    # root rotation, right-multiplied by exp(delta): column m moves joint k by (R0 e_m) x (p_k - p_0)
    j_rot = _cross(rot0.swapaxes(-1, -2)[:, :, None, :], rel[:, None])  # (N, 3, 21, 3)
    j_pos = np.broadcast_to(np.eye(3)[:, None, :], (n, 3, NUM_JOINTS, 3))
    # angle axes in the world: abd about R_par z, flex about R_par Rz(a) y, twist about R_i x
    rpar = rots[:, prob.parents]
    abd = np.zeros((n, NUM_JOINTS * 3))
    abd[:, EULER_INDEX] = angles
    a = abd.reshape(n, NUM_JOINTS, 3)[..., 0:1]
    axes = np.stack(
        [rpar[..., :, 2], -np.sin(a) * rpar[..., :, 0] + np.cos(a) * rpar[..., :, 1], rots[..., :, 0]], axis=-2
    )  # (N, 21, 3 kinds, 3)
    w = axes[:, prob.a_node, prob.a_axis]  # (N, Fa, 3)
    pivot = joints[:, prob.a_pivot]  # (N, Fa, 3)
    j_ang = _cross(w[:, :, None], joints[:, None] - pivot[:, :, None]) * prob.a_mask[None, :, :, None]
    if with_size:
        j_scale = rel[:, None]
        bone_dir = rots[:, prob.r_node][..., 0] * scale[:, None, None]  # (N, Fr, 3)
        j_rat = bone_dir[:, :, None] * prob.r_mask[None, :, :, None]
        cols = np.concatenate([j_rot, j_pos, j_scale, j_ang, j_rat], axis=1)  # (N, P, 21, 3)
    else:
        cols = np.concatenate([j_rot, j_pos, j_ang], axis=1)
    return cols.reshape(n, cols.shape[1], -1).swapaxes(1, 2)


def _model(rot0, pos, logs, angles, ratios):
    return forward_kinematics(angles, ratios, np.exp(logs), rot0, pos, return_rotations=True)


def _keep_where(better: np.ndarray, new: np.ndarray, old: np.ndarray) -> np.ndarray:
    return np.where(better.reshape(-1, *[1] * (old.ndim - 1)), new, old)


def _lm_step(st: dict, target, w, pw, prob: _Problem):
    """One Levenberg-Marquardt step for the poses in ``st`` (a dict of per-pose arrays); returns the new
    state (each pose keeps its old values where the step did not lower its cost) and the relative gain."""
    fa, fr = prob.free_a, prob.free_r
    na = len(fa)
    n = target.shape[0]
    rot0, pos, logs, angles, ratios = st["rot0"], st["pos"], st["logs"], st["angles"], st["ratios"]
    jac = _jacobian(st["joints"], st["rots"], angles, ratios, np.exp(logs), prob)
    jac = jac * np.broadcast_to(w, (n, NUM_JOINTS, 3)).reshape(n, -1, 1)
    r = ((st["joints"] - target) * w).reshape(n, -1)
    jt = jac.swapaxes(1, 2)
    a_mat = jt @ jac
    g = (jt @ r[..., None])[..., 0]
    sl = slice(NUM_POSE_PARAMS, NUM_POSE_PARAMS + na)
    a_mat[:, sl, sl] += pw[:, None, None] * np.eye(na)
    g[:, sl] += pw[:, None] * (angles[:, fa] - prob.neutral_a[fa])
    box = np.concatenate([angles[:, fa], ratios[:, fr]], axis=-1)
    step = box_constrained_step(a_mat, g, box, prob.lo, prob.hi, st["lam"])

    new = dict(st)
    new["rot0"] = rot0 @ rotvec_to_rotmat(step[:, _ROT])
    new["pos"] = pos + step[:, _POS]
    new["logs"] = _clamp(logs + step[:, _SCALE], st["logs_mid"] - _LOG_SCALE_BOX, st["logs_mid"] + _LOG_SCALE_BOX)
    new["angles"] = angles.copy()
    new["angles"][:, fa] = _clamp(angles[:, fa] + step[:, sl], prob.amin[fa], prob.amax[fa])
    new["ratios"] = ratios.copy()
    new["ratios"][:, fr] = _clamp(ratios[:, fr] + step[:, NUM_POSE_PARAMS + na :], prob.rmin[fr], prob.rmax[fr])
    new["joints"], new["rots"] = _model(new["rot0"], new["pos"], new["logs"], new["angles"], new["ratios"])
    new["cost"] = _cost(new["joints"], new["angles"], target, w, pw, prob)
    better = new["cost"] < st["cost"]
    gain = (st["cost"] - new["cost"]) / np.maximum(st["cost"], 1e-300)
    out = {k: _keep_where(better, new[k], v) for k, v in st.items() if k != "lam"}
    out["lam"] = next_damping(st["lam"], better)
    return out, better, gain


def _cost(joints, angles, target, w, pw, prob: _Problem):
    r = (joints - target) * w
    prior = ((angles[:, prob.free_a] - prob.neutral_a[prob.free_a]) ** 2).sum(-1)
    return 0.5 * (r**2).sum((-1, -2)) + 0.5 * pw * prior


def _descend(st: dict, target, w, pw, floor, prob: _Problem, max_iter: int, tol: float):
    """Levenberg-Marquardt iterations on the state ``st`` (updated in place) until every pose is done."""
    done = np.zeros(target.shape[0], dtype=bool)
    it = 0
    for it in range(1, max_iter + 1):
        # only the poses still moving take a step: most converge in a few iterations
        if done.any():
            idx = np.flatnonzero(~done)
            sub, better, gain = _lm_step({k: v[idx] for k, v in st.items()}, target[idx], w[idx], pw[idx], prob)
            for k, v in sub.items():
                st[k][idx] = v
        else:  # all still moving (always so for one pose): no gather and scatter
            idx = slice(None)
            sub, better, gain = _lm_step(st, target, w, pw, prob)
            st.update(sub)
        # a pose is done when an accepted step gains little, when it fits to float precision, or when no
        # step is accepted even with heavy damping (a constrained optimum)
        done[idx] = (better & (gain < tol)) | (sub["cost"] < floor[idx]) | (sub["lam"] >= 1e6)
        if done.all():
            break
    return it


def _lower_nanmedian(x: np.ndarray) -> np.ndarray:
    """(N,) the lower median of each row's finite values (NaN for none): the middle value for an odd count, the
    lower of the two middle ones for an even count (as torch.nanmedian, never their mean)."""
    count = np.isfinite(x).sum(-1)
    ordered = np.sort(np.where(np.isfinite(x), x, np.inf), axis=-1)
    med = np.take_along_axis(ordered, np.maximum((count - 1) // 2, 0)[:, None], axis=-1)[:, 0]
    return np.where(count > 0, med, np.nan)


def _size_of(target: np.ndarray, w: np.ndarray, prob: _Problem) -> np.ndarray:
    """log of the anchor length the joints suggest: the median over valid bones of length / neutral ratio (N,)
    (robust to a few wrong joints, unlike the anchor bone alone)."""
    both = (w[:, 1:, 0] * w[:, _BONE_PARENTS, 0]) > 0
    est = bone_lengths(target) / prob.neutral_r
    est = _lower_nanmedian(np.where(both & (est > 0), est, np.nan))
    return np.log(np.where(np.isfinite(est), est, 1.0))


def _start(rot0, pos, logs, angles, ratios, target, w, pw, prob: _Problem, logs_mid=None) -> dict:
    joints, rots = _model(rot0, pos, logs, angles, ratios)
    return {
        "rot0": np.array(rot0),
        "pos": np.array(pos),
        "logs": np.array(logs),
        "angles": np.array(angles),
        "ratios": np.array(ratios),
        "joints": joints,
        "rots": rots,
        "logs_mid": _size_of(target, w, prob) if logs_mid is None else logs_mid,
        "cost": _cost(joints, angles, target, w, pw, prob),
        "lam": np.full(target.shape[0], 1e-3),
    }


def _solve_chunk(target, valid, prob: _Problem, max_iter: int, prior_weight: float, tol: float, retry: float):
    rot0, pos, logs, angles, ratios = _initialise(target, prob, valid=valid)
    w = valid[..., None].astype(np.float64)  # (N, 21, 1)
    ref = np.exp(logs)  # the prior's scale: a radian of deviation weighs like a hand-size of distance
    pw = prior_weight * ref**2
    floor = 0.5 * (1e-9 * ref) ** 2 * NUM_JOINTS
    st = _start(rot0, pos, logs, angles, ratios, target, w, pw, prob)
    it = _descend(st, target, w, pw, floor, prob, max_iter, tol)
    # A twist half a turn away, with the bends that follow it negated, is a nearly as good local minimum
    # (seen for the thumb CMC). Poses that end far from their joints start again from their fit with every
    # free twist turned by pi and the bones re-pointed, and keep whichever fit is better.
    resid = (_norm(st["joints"] - target) * w[..., 0]).sum(-1) / w[..., 0].sum(-1)
    idx = np.flatnonzero(resid > retry * ref)
    if len(idx):
        t, ww, pp = target[idx], w[idx], pw[idx]
        twist = prob.twist
        flipped = st["angles"][idx].copy()
        turned = flipped[:, twist] - np.pi * np.sign(flipped[:, twist])
        flipped[:, twist] = _clamp(turned, prob.amin[twist], prob.amax[twist])
        flipped = _point_bones(
            t, st["rot0"][idx], st["pos"][idx], np.exp(st["logs"][idx]), flipped, st["ratios"][idx], prob
        )
        alt = _start(
            st["rot0"][idx],
            st["pos"][idx],
            st["logs"][idx],
            flipped,
            st["ratios"][idx],
            t,
            ww,
            pp,
            prob,
            st["logs_mid"][idx],
        )
        it = max(it, _descend(alt, t, ww, pp, floor[idx], prob, max_iter, tol))
        better = alt["cost"] < st["cost"][idx]
        for k in st:
            st[k][idx[better]] = alt[k][better]

    angles = st["angles"].copy()
    angles[:, :3] = rotmat_to_euler_zyx(st["rot0"])
    return st["rot0"], st["pos"], np.exp(st["logs"]), angles, st["ratios"], st["joints"], it


def fit_ik(
    joints: torch.Tensor | np.ndarray,
    *,
    valid: torch.Tensor | np.ndarray | None = None,
    limits: Limits | None = None,
    max_iter: int = 60,
    tol: float = 1e-5,
    prior_weight: float = 1e-6,
    retry: float = 0.001,
    chunk_size: int = 2048,
    progress: bool = False,
    as_numpy: bool = False,
) -> IKResult:
    """Fit root rotation, root position, scale, the 41 angles and the 20 bone ratios to 3D joints.

    Args:
        joints: (21, 3) or (N, 21, 3) in the canonical order, a RIGHT hand, in any unit (mm, cm, m).
        valid: optional (N, 21) bool; invalid joints are ignored (residual over valid ones only).
        limits: the box for angles and ratios; the shipped, data-derived limits by default.
        max_iter: Levenberg-Marquardt iterations at most.
        tol: stop when no pose improves its cost by more than this fraction.
        prior_weight: a faint pull (per radian, relative to the hand's scale) towards the neutral pose; it only
            decides directions the joints leave free (the twist of a straight finger).
        retry: poses whose mean residual exceeds this fraction of their anchor length (0.005: 0.4 mm on an
            adult hand) are solved again from a second start, and keep the better fit.
        chunk_size: poses solved together (memory bound).
        progress: show a progress bar over chunks.
        as_numpy: return NumPy arrays; torch is then never imported (the photo path's start-up).

    Returns:
        :class:`IKResult` of float64 torch tensors (on the input's device, the CPU for NumPy input), or NumPy
        arrays with ``as_numpy``.
    """
    target = as_float64(joints)
    device = getattr(joints, "device", None)  # a tensor's results come back on its device
    if target.ndim < 2 or target.shape[-2:] != (NUM_JOINTS, 3):
        raise DiffuhandError(f"joints must have shape (21, 3) or (N, 21, 3), got {tuple(target.shape)}")
    lead = target.shape[:-2]
    target = target.reshape(-1, NUM_JOINTS, 3)
    if valid is None:
        mask = np.ones(target.shape[:2], dtype=bool)
    else:
        mask = as_float64(valid).reshape(-1, NUM_JOINTS).astype(bool)
    mask = mask & np.isfinite(target).all(-1)
    if not mask.any(-1).all():
        raise DiffuhandError("every pose needs at least one valid, finite joint")
    target = np.where(mask[..., None], target, 0.0)
    limits = limits or load_limits()
    prob = _problem(limits)

    outs, iters = [], 0
    starts = range(0, target.shape[0], chunk_size)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc="IK", unit="chunk")
    for s in starts:
        out = _solve_chunk(
            target[s : s + chunk_size], mask[s : s + chunk_size], prob, max_iter, prior_weight, tol, retry
        )
        iters = max(iters, out[-1])
        outs.append(out[:-1])
    rot0, pos, scale, angles, ratios, fitted = (np.concatenate(x) for x in zip(*outs))
    dist = _norm(fitted - target)
    per_joint = np.where(mask, dist, np.nan)
    residual = (dist * mask).sum(-1) / mask.sum(-1)
    res = IKResult(
        angles=angles.reshape(*lead, NUM_ANGLES),
        bone_ratios=ratios.reshape(*lead, NUM_BONES),
        anchor_length=scale.reshape(lead),
        root_rotation=rot0.reshape(*lead, 3, 3),
        root_position=pos.reshape(*lead, 3),
        joints=fitted.reshape(*lead, NUM_JOINTS, 3),
        residual=residual.reshape(lead),
        per_joint=per_joint.reshape(*lead, NUM_JOINTS),
        iterations=iters,
    )
    if not as_numpy:
        import torch

        for name, value in vars(res).items():
            if isinstance(value, np.ndarray):
                # a copy: ascontiguousarray would make a 0-d array 1-d
                setattr(res, name, torch.from_numpy(value.copy()).to(device or "cpu"))
    return res
