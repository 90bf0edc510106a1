"""Inverse kinematics (paper section 3.1): fit the hand model to 3D joints.

A batched, box-constrained Levenberg-Marquardt solver. Per pose it finds the root rotation, root position,
scale (anchor length), the free angles and the free bone ratios whose forward kinematics best match the given
joints, within the limits. The Jacobian is analytic (a revolute joint moves its subtree by ``w x (p - pivot)``)
and is checked against autograd in the tests. An analytic level-by-level initialisation puts each bone on its
target direction first, so the solver starts close to the answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from diffuhand.errors import DiffuhandError
from diffuhand.kinematics.fk import forward_kinematics, rotmat_to_euler_zyx, rotvec_to_rotmat
from diffuhand.kinematics.limits import Limits, load_limits
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
    layout,
    subtree_mask,
)

#: Bumped whenever the solver's results change, so cached fits (``diffuhand limits --cache``) are not reused.
SOLVER_VERSION = 4
#: the fitted scale stays within a factor e^2.08 = 8 of the size the bones suggest: without a bound, joints that are
#: no hand at all (a failed network output) are fitted best by a hand shrunk to a point (scale 0, then NaN)
_LOG_SCALE_BOX = float(np.log(8.0))


@dataclass
class IKResult:
    """What :func:`fit_ik` found; leading shape ``...`` is the input's (none for a single (21, 3) pose).

    Attributes:
        angles: (..., 41) radians, root Euler ZYX included, so ``forward_kinematics(angles, bone_ratios,
            anchor_length, root_position=root_position)`` gives ``joints``.
        bone_ratios: (..., 20). anchor_length: (...) in the input's unit.
        root_rotation: (..., 3, 3). root_position: (..., 3) in the input's unit.
        joints: (..., 21, 3) fitted joints. residual: (...) mean distance between fitted and given joints
            (valid joints only), in the input's unit. per_joint: (..., 21) those distances.
        iterations: solver iterations run.
    """

    angles: torch.Tensor
    bone_ratios: torch.Tensor
    anchor_length: torch.Tensor
    root_rotation: torch.Tensor
    root_position: torch.Tensor
    joints: torch.Tensor
    residual: torch.Tensor
    per_joint: torch.Tensor
    iterations: int


def _cross(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.linalg.cross(a, b, dim=-1)


def _normalize(v: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(eps)


class _Problem:
    """Index bookkeeping shared by the initialisation, the Jacobian and the updates."""

    def __init__(self, limits: Limits, dtype: torch.dtype, device: torch.device):
        amin, amax = limits.angle_bounds(dtype, device)
        rmin, rmax = limits.ratio_bounds(dtype, device)
        free_a = [i for i in range(3, NUM_ANGLES) if limits.angle_max[i] > limits.angle_min[i]]
        free_r = [b for b in range(NUM_BONES) if limits.ratio_max[b] > limits.ratio_min[b] and b != ANCHOR_BONE]
        self.free_a = torch.tensor(free_a, device=device)
        self.free_r = torch.tensor(free_r, device=device)
        self.amin, self.amax, self.rmin, self.rmax = amin, amax, rmin, rmax
        self.neutral_a = torch.as_tensor(limits.angle_neutral, dtype=dtype, device=device)
        self.neutral_r = torch.as_tensor(limits.ratio_neutral, dtype=dtype, device=device)
        self.a_node = torch.tensor([ANGLE_NODE[i] for i in free_a], device=device)
        self.a_axis = torch.tensor([ANGLE_AXIS[i] for i in free_a], device=device)
        parents = torch.tensor([max(p, 0) for p in PARENTS], device=device)
        self.parents = parents
        self.a_pivot = parents[self.a_node]
        mask = subtree_mask().to(device=device, dtype=dtype)
        self.a_mask = mask[self.a_node]  # (Fa, 21)
        self.r_node = self.free_r + 1
        self.r_mask = mask[self.r_node]  # (Fr, 21)
        self.n_params = 7 + len(free_a) + len(free_r)
        self.lo = torch.cat([amin[self.free_a], rmin[self.free_r]])
        # per node, its free angles by kind (0 abduction, 1 flexion, 2 twist): looked up per bone in the init
        self.node_kinds = [{ANGLE_AXIS[i]: i for i in free_a if ANGLE_NODE[i] == j} for j in range(NUM_JOINTS)]
        self.hi = torch.cat([amax[self.free_a], rmax[self.free_r]])


_PROBLEMS: dict = {}


def _problem(limits: Limits, dtype: torch.dtype, device: torch.device) -> _Problem:
    """:class:`_Problem` for these limits, made once (its tables cost ~0.7 ms, a tenth of a one-pose fit)."""
    key = (id(limits), dtype, str(device))
    hit = _PROBLEMS.get(key)
    if hit is None or hit[0] is not limits:
        if len(_PROBLEMS) > 8:
            _PROBLEMS.clear()
        hit = _PROBLEMS[key] = (limits, _Problem(limits, dtype, device))
    return hit[1]


def hand_frame(joints: torch.Tensor) -> torch.Tensor:
    """Rotation (..., 3, 3) of the hand frame seen in right-hand joints (..., 21, 3): x from the wrist to the
    middle MCP, z dorsal (the normal of wrist, index MCP and pinky MCP), y towards the thumb. It approximates the
    model's root rotation (whose frame is the middle metacarpal's)."""
    p = joints
    x = _normalize(p[..., 9, :] - p[..., 0, :])
    z = _normalize(_cross(p[..., 17, :] - p[..., 0, :], p[..., 5, :] - p[..., 0, :]))
    y = _normalize(_cross(z, x))
    z = _cross(x, y)
    return torch.stack([x, y, z], dim=-1)


def _point_bones(target, rot0, pos, scale, angles, ratios, prob: _Problem) -> torch.Tensor:
    """Greedy analytic IK, level by level: every 2-/3-DoF node points its bone at the target exactly, every
    hinge takes the bend of its bone projected on its plane; twists keep the values given in ``angles``."""
    for level in LEVELS[1:]:
        _, rots = forward_kinematics(angles, ratios, scale, rot0, pos, return_rotations=True)
        for j in level:
            d = _normalize(target[:, j] - target[:, PARENTS[j]])
            d = (rots[:, PARENTS[j]].transpose(-1, -2) @ d[..., None])[..., 0]
            kinds = prob.node_kinds[j]
            if 0 in kinds:  # abduction present: a 2- or 3-DoF node points its bone exactly
                angles[:, kinds[0]] = torch.atan2(d[:, 1], d[:, 0])
                if 1 in kinds:
                    angles[:, kinds[1]] = torch.atan2(-d[:, 2], torch.hypot(d[:, 0], d[:, 1]))
            elif 1 in kinds:  # a hinge: the bend in its plane
                angles[:, kinds[1]] = torch.atan2(-d[:, 2], d[:, 0])
        angles = torch.minimum(torch.maximum(angles, prob.amin), prob.amax)
    return angles


def _initialise(target: torch.Tensor, prob: _Problem, n_twists: int = 17):
    """Analytic start: root from the palm, then :func:`_point_bones`. The free twists (the plane a finger bends
    in) cannot be read off one bone, and a wrong one is a local minimum, so each is tried at ``n_twists`` values
    across its range and each finger keeps the one that puts its joints nearest their targets (the first such
    value on a tie). The trials run as one batch of ``n_twists * N`` poses: one pass of Python over the tree
    instead of one per trial (measured 9x faster for one pose, benchmarks/bench_speed.py)."""
    n = target.shape[0]
    pos = target[:, 0].clone()
    scale = (target[:, ANCHOR_JOINT] - target[:, 0]).norm(dim=-1).clamp_min(1e-9)
    rot0 = hand_frame(target)
    bones = (target[:, 1:] - target[:, torch.tensor(PARENTS[1:])]).norm(dim=-1)
    ratios = torch.minimum(torch.maximum(bones / scale[:, None], prob.rmin), prob.rmax)
    twist = [i for i in prob.free_a.tolist() if ANGLE_AXIS[i] == 2]
    frac = (
        torch.linspace(0.0, 1.0, n_twists, dtype=target.dtype, device=target.device)
        if n_twists > 1
        else target.new_zeros(1)
    )
    angles = prob.neutral_a.expand(n_twists, n, NUM_ANGLES).clone()
    angles[:, :, twist] = prob.amin[twist] + frac[:, None, None] * (prob.amax[twist] - prob.amin[twist])

    def rep(x):  # (N, ...) -> (n_twists * N, ...), trial-major
        return x.expand(n_twists, *x.shape).reshape(-1, *x.shape[1:])

    tr = rep(target)
    angles = _point_bones(tr, rep(rot0), rep(pos), rep(scale), angles.reshape(-1, NUM_ANGLES), rep(ratios), prob)
    joints = forward_kinematics(angles, rep(ratios), rep(scale), rep(rot0), rep(pos))
    err = (joints - tr).norm(dim=-1)[:, 1:].reshape(n_twists, n, 5, 4).sum(-1)  # (trials, N, 5 fingers)
    pick = err.argmin(0)  # (N, 5): the first best trial per finger
    finger_of = torch.tensor([max(ANGLE_NODE[i] - 1, 0) // 4 for i in range(NUM_ANGLES)], device=target.device)
    choice = pick[:, finger_of]  # (N, 41)
    choice[:, :3] = 0  # the root's angles are not fitted here
    best = angles.reshape(n_twists, n, NUM_ANGLES).gather(0, choice[None]).squeeze(0)
    return rot0, pos, scale.log(), best, ratios


def _jacobian(joints, rots, angles, ratios, scale, prob: _Problem) -> torch.Tensor:
    """d joints / d params, (N, 63, P); params = [root rot-vector (3), root position (3), log scale, free angles,
    free ratios]."""
    n = joints.shape[0]
    rel = joints - joints[:, :1]
    rot0 = rots[:, 0]
    # root rotation, right-multiplied by exp(delta): column m moves joint k by (R0 e_m) x (p_k - p_0)
    j_rot = _cross(rot0.transpose(-1, -2)[:, :, None, :], rel[:, None])  # (N, 3, 21, 3)
    j_pos = torch.eye(3, dtype=joints.dtype, device=joints.device).expand(n, NUM_JOINTS, 3, 3).permute(0, 3, 1, 2)
    j_scale = rel[:, None]
    # angle axes in the world: abd about R_par z, flex about R_par Rz(a) y, twist about R_i x
    rpar = rots[:, prob.parents]
    euler = angles.new_zeros(n, NUM_JOINTS * 3).index_copy(-1, layout(angles.device).euler_index, angles)
    euler = euler.unflatten(-1, (NUM_JOINTS, 3))
    a = euler[..., 0:1]
    axes = torch.stack(
        [rpar[..., :, 2], -torch.sin(a) * rpar[..., :, 0] + torch.cos(a) * rpar[..., :, 1], rots[..., :, 0]], dim=-2
    )  # (N, 21, 3 kinds, 3)
    w = axes[:, prob.a_node, prob.a_axis]  # (N, Fa, 3)
    pivot = joints[:, prob.a_pivot]  # (N, Fa, 3)
    j_ang = _cross(w[:, :, None], joints[:, None] - pivot[:, :, None]) * prob.a_mask[None, :, :, None]
    bone_dir = rots[:, prob.r_node, :, 0] * scale[:, None, None]  # (N, Fr, 3)
    j_rat = bone_dir[:, :, None] * prob.r_mask[None, :, :, None]
    cols = torch.cat([j_rot, j_pos, j_scale, j_ang, j_rat], dim=1)  # (N, P, 21, 3)
    return cols.flatten(2).transpose(1, 2)


def _model(rot0, pos, logs, angles, ratios):
    return forward_kinematics(angles, ratios, logs.exp(), rot0, pos, return_rotations=True)


def _lm_step(st: dict, target, w, pw, prob: _Problem):
    """One Levenberg-Marquardt step for the poses in ``st`` (a dict of per-pose tensors); returns the new
    state (each pose keeps its old values where the step did not lower its cost) and the relative gain."""
    fa, fr = prob.free_a, prob.free_r
    na = len(fa)
    n = target.shape[0]
    rot0, pos, logs, angles, ratios = st["rot0"], st["pos"], st["logs"], st["angles"], st["ratios"]
    jac = _jacobian(st["joints"], st["rots"], angles, ratios, logs.exp(), prob)
    jac = jac * w.expand(n, NUM_JOINTS, 3).reshape(n, -1, 1)
    r = ((st["joints"] - target) * w).reshape(n, -1)
    a_mat = jac.transpose(1, 2) @ jac
    g = (jac.transpose(1, 2) @ r[..., None])[..., 0]
    sl = slice(7, 7 + na)
    a_mat[:, sl, sl] += pw[:, None, None] * torch.eye(na, dtype=target.dtype, device=target.device)
    g[:, sl] += pw[:, None] * (angles[:, fa] - prob.neutral_a[fa])
    # active set: a bounded parameter sitting on its bound and pushed outwards stays put this step
    box = torch.cat([angles[:, fa], ratios[:, fr]], dim=-1)
    stuck = ((box <= prob.lo + 1e-12) & (g[:, 7:] > 0)) | ((box >= prob.hi - 1e-12) & (g[:, 7:] < 0))
    keep = torch.cat([torch.ones(n, 7, dtype=torch.bool, device=target.device), ~stuck], dim=-1)
    a_mat = a_mat * (keep[:, :, None] & keep[:, None, :])
    g = g * keep
    diag = torch.diagonal(a_mat, dim1=-2, dim2=-1)
    # Marquardt damping on the diagonal; a frozen parameter gets a unit diagonal and a zero right-hand side
    diag.add_(st["lam"][:, None] * diag.clamp_min(1e-9) + (~keep).to(diag.dtype))
    chol, _ = torch.linalg.cholesky_ex(a_mat)
    step = -torch.cholesky_solve(g[..., None], chol)[..., 0]
    step = torch.where(torch.isfinite(step), step, torch.zeros_like(step))

    new = dict(st)
    new["rot0"] = rot0 @ rotvec_to_rotmat(step[:, 0:3])
    new["pos"] = pos + step[:, 3:6]
    new["logs"] = torch.minimum(
        torch.maximum(logs + step[:, 6], st["logs_mid"] - _LOG_SCALE_BOX), st["logs_mid"] + _LOG_SCALE_BOX
    )
    new["angles"] = angles.clone()
    new["angles"][:, fa] = torch.minimum(torch.maximum(angles[:, fa] + step[:, sl], prob.amin[fa]), prob.amax[fa])
    new["ratios"] = ratios.clone()
    new["ratios"][:, fr] = torch.minimum(torch.maximum(ratios[:, fr] + step[:, 7 + na :], prob.rmin[fr]), prob.rmax[fr])
    new["joints"], new["rots"] = _model(new["rot0"], new["pos"], new["logs"], new["angles"], new["ratios"])
    new["cost"] = _cost(new["joints"], new["angles"], target, w, pw, prob)
    better = new["cost"] < st["cost"]
    gain = (st["cost"] - new["cost"]) / st["cost"].clamp_min(1e-300)
    out = {k: torch.where(better.view(-1, *[1] * (v.ndim - 1)), new[k], v) for k, v in st.items() if k != "lam"}
    out["lam"] = torch.where(better, (st["lam"] / 3).clamp_min(1e-9), (st["lam"] * 4).clamp_max(1e9))
    return out, better, gain


def _cost(joints, angles, target, w, pw, prob: _Problem):
    r = (joints - target) * w
    prior = ((angles[:, prob.free_a] - prob.neutral_a[prob.free_a]) ** 2).sum(-1)
    return 0.5 * (r**2).sum((-1, -2)) + 0.5 * pw * prior


def _descend(st: dict, target, w, pw, floor, prob: _Problem, max_iter: int, tol: float):
    """Levenberg-Marquardt iterations on the state ``st`` (updated in place) until every pose is done."""
    done = torch.zeros(target.shape[0], dtype=torch.bool, device=target.device)
    it = 0
    for it in range(1, max_iter + 1):
        # only the poses still moving take a step: most converge in a few iterations
        if bool(done.any()):
            idx = (~done).nonzero().squeeze(1)
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
        if bool(done.all()):
            break
    return it


def _size_of(target: torch.Tensor, w: torch.Tensor, prob: _Problem) -> torch.Tensor:
    """log of the anchor length the joints suggest: the median over valid bones of length / neutral ratio (N,)
    (robust to a few wrong joints, unlike the anchor bone alone)."""
    par = torch.tensor(PARENTS[1:], device=target.device)
    both = (w[:, 1:, 0] * w[:, par, 0]) > 0
    est = (target[:, 1:] - target[:, par]).norm(dim=-1) / prob.neutral_r
    est = torch.where(both & (est > 0), est, torch.full_like(est, float("nan"))).nanmedian(-1).values
    return torch.where(torch.isfinite(est), est, torch.ones_like(est)).log()


def _start(rot0, pos, logs, angles, ratios, target, w, pw, prob: _Problem, logs_mid=None) -> dict:
    joints, rots = _model(rot0, pos, logs, angles, ratios)
    return {
        "rot0": rot0,
        "pos": pos,
        "logs": logs,
        "angles": angles,
        "ratios": ratios,
        "joints": joints,
        "rots": rots,
        "logs_mid": _size_of(target, w, prob) if logs_mid is None else logs_mid,
        "cost": _cost(joints, angles, target, w, pw, prob),
        "lam": torch.full((target.shape[0],), 1e-3, dtype=target.dtype, device=target.device),
    }


def _solve_chunk(target, valid, prob: _Problem, max_iter: int, prior_weight: float, tol: float, retry: float):
    rot0, pos, logs, angles, ratios = _initialise(target, prob)
    w = valid[..., None].to(target.dtype)  # (N, 21, 1)
    ref = logs.exp()  # the prior's scale: a radian of deviation weighs like a hand-size of distance
    pw = prior_weight * ref**2
    floor = 0.5 * (1e-9 * ref) ** 2 * NUM_JOINTS
    st = _start(rot0, pos, logs, angles, ratios, target, w, pw, prob)
    it = _descend(st, target, w, pw, floor, prob, max_iter, tol)
    # A twist half a turn away, with the bends that follow it negated, is a nearly as good local minimum
    # (seen for the thumb CMC). Poses that end far from their joints start again from their fit with every
    # free twist turned by pi and the bones re-pointed, and keep whichever fit is better.
    resid = ((st["joints"] - target).norm(dim=-1) * w[..., 0]).sum(-1) / w[..., 0].sum(-1)
    idx = (resid > retry * ref).nonzero().squeeze(1)
    if len(idx):
        t, ww, pp = target[idx], w[idx], pw[idx]
        twist = torch.tensor([i for i in prob.free_a.tolist() if ANGLE_AXIS[i] == 2])
        flipped = st["angles"][idx].clone()
        turned = flipped[:, twist] - torch.pi * torch.sign(flipped[:, twist])
        flipped[:, twist] = torch.minimum(torch.maximum(turned, prob.amin[twist]), prob.amax[twist])
        flipped = _point_bones(
            t, st["rot0"][idx], st["pos"][idx], st["logs"][idx].exp(), flipped, st["ratios"][idx], prob
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

    angles = st["angles"].clone()
    angles[:, :3] = rotmat_to_euler_zyx(st["rot0"])
    return st["rot0"], st["pos"], st["logs"].exp(), angles, st["ratios"], st["joints"], it


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

    Returns:
        :class:`IKResult`, computed in float64 and returned in float64.
    """
    target = torch.as_tensor(np.asarray(joints) if not torch.is_tensor(joints) else joints).detach()
    if target.ndim < 2 or target.shape[-2:] != (NUM_JOINTS, 3):
        raise DiffuhandError(f"joints must have shape (21, 3) or (N, 21, 3), got {tuple(target.shape)}")
    lead = target.shape[:-2]
    target = target.reshape(-1, NUM_JOINTS, 3).to(torch.float64)
    if valid is None:
        mask = torch.ones(target.shape[:2], dtype=torch.bool)
    else:
        mask = (
            torch.as_tensor(np.asarray(valid) if not torch.is_tensor(valid) else valid).reshape(-1, NUM_JOINTS).bool()
        )
    mask = mask & torch.isfinite(target).all(-1)
    if not bool(mask.any(-1).all()):
        raise DiffuhandError("every pose needs at least one valid, finite joint")
    target = torch.where(mask[..., None], target, torch.zeros_like(target))
    limits = limits or load_limits()
    prob = _problem(limits, torch.float64, target.device)

    outs, iters = [], 0
    starts = range(0, target.shape[0], chunk_size)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc="IK", unit="chunk")
    with torch.no_grad():
        for s in starts:
            out = _solve_chunk(
                target[s : s + chunk_size], mask[s : s + chunk_size], prob, max_iter, prior_weight, tol, retry
            )
            iters = max(iters, out[-1])
            outs.append(out[:-1])
    rot0, pos, scale, angles, ratios, fitted = (torch.cat(x) for x in zip(*outs))
    dist = (fitted - target).norm(dim=-1)
    per_joint = torch.where(mask, dist, torch.full_like(dist, float("nan")))
    residual = (dist * mask).sum(-1) / mask.sum(-1)
    return IKResult(
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
