"""Fit the hand model to what a hand detector sees: its 2D keypoints in the photo and its 3D estimate.

A detector such as MediaPipe Hands gives two things per hand from one network pass: 2D keypoints (accurate in the
image plane) and a coarse 3D estimate ("world landmarks": metric, but with its own skeleton convention and a
depth error). Neither is a hand of our model. :func:`fuse_keypoints` finds the pose of the model (root rotation and
position in the camera frame, the 41 angles within the limits, a fixed skeleton) that best explains both, under a
prior learnt from real 3D hands (the pose prior's Gaussian mixture). It is a maximum a posteriori fit, solved by
Levenberg-Marquardt with analytic Jacobians (the IK solver's, :mod:`diffuhand.kinematics.ik`):

    cost = 1/2 sum_j |pi(K X_j) - uv_j|^2 / (sigma_2d * box)^2        (2D keypoints, box = the hand's extent)
         + 1/2 sum_b |dir_b(X) - dir_b(W)|^2 / sigma_dir^2              (3D: directions of the bones in B)
         - prior * log p(angles)                                         (Gaussian mixture over the articulation)

Only bone *directions* of the 3D estimate are used, and by default only the fingers' phalanges: its joint
positions follow the detector's own skeleton convention (where a knuckle sits), which is not ours, while the way
each finger segment points is the same in any convention. The 2D keypoints place the hand and fix what the
image plane shows; depth comes from the 3D estimate's directions and the prior.

Units: pixels for ``uv`` and ``K``, any unit for the 3D estimate (only directions are used), millimetres out.
All hands are RIGHT hands (mirror left ones first, as everywhere in the project). NumPy float64 throughout: the
photo path never imports torch (see :mod:`diffuhand.kinematics.ik`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diffuhand.errors import DiffuhandError
from diffuhand.kinematics.fk_numpy import forward_kinematics, rotmat_to_euler_zyx, rotvec_to_rotmat
from diffuhand.kinematics.ik import (
    _clamp,
    _jacobian,
    _keep_where,
    _norm,
    _problem,
    box_constrained_step,
    fit_ik,
    next_damping,
)
from diffuhand.kinematics.limits import Limits, load_limits
from diffuhand.kinematics.skeleton import ADULT_ANCHOR_MM, NUM_BONES, NUM_JOINTS, PARENTS

#: the fingers' phalanges (bone k ends at joint k): their directions do not depend on a skeleton convention
PHALANGES = (2, 3, 4, 6, 7, 8, 10, 11, 12, 14, 15, 16, 18, 19, 20)
#: every bone
ALL_BONES = tuple(range(1, NUM_JOINTS))
#: parameters of the fit: root rotation (3), root position (3), then the free angles
_NUM_PLACEMENT = 6


@dataclass(frozen=True)
class FusionWeights:
    """How much each observation counts (the noise levels of a maximum a posteriori fit).

    Attributes:
        sigma_2d: 2D keypoint noise as a fraction of the hand's box (its 2D extent).
        sigma_dir: noise of a bone direction of the 3D estimate (distance between unit vectors; 0.1 ~ 6 degrees).
        prior: weight of the pose prior's negative log-likelihood (1: a proper posterior).
        bones: the bones (ending joint indices) whose 3D direction is used.
    """

    sigma_2d: float = 0.03
    sigma_dir: float = 0.1
    prior: float = 0.05
    bones: tuple[int, ...] = PHALANGES


@dataclass
class FusionResult:
    """A fitted pose per hand (leading shape N), NumPy float64.

    Attributes:
        angles: (N, 41) radians within the limits (root Euler ZYX included). bone_ratios: (N, 20) the skeleton's.
        root_rotation: (N, 3, 3) hand -> camera. root_position: (N, 3) mm, the wrist in the camera frame.
        joints: (N, 21, 3) mm, camera frame. reprojection_px: (N,) mean 2D distance to the keypoints.
        joint_std: (N, 21) mm, the posterior spread of each joint relative to the wrist (Laplace approximation:
            the Gauss-Newton curvature at the fit, under the noise levels of the weights).
        iterations: solver iterations run.
    """

    angles: np.ndarray
    bone_ratios: np.ndarray
    root_rotation: np.ndarray
    root_position: np.ndarray
    joints: np.ndarray
    reprojection_px: np.ndarray
    joint_std: np.ndarray
    iterations: int


def _log_softmax_parts(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """logsumexp over the last axis (...,) and the softmax (..., K), shifted by the maximum (no overflow)."""
    m = x.max(-1, keepdims=True)
    e = np.exp(x - m)
    s = e.sum(-1, keepdims=True)
    return (m + np.log(s))[..., 0], e / s


class _MixturePrior:
    """The pose prior's Gaussian mixture over the free articulation angles, as whitened residuals."""

    def __init__(self, prior, free_a: np.ndarray):
        idx = np.asarray(prior.angle_index, dtype=np.int64)
        pos = {int(a): k for k, a in enumerate(np.asarray(free_a).tolist())}
        missing = [int(a) for a in idx if int(a) not in pos]
        if missing:
            raise DiffuhandError(f"the pose prior covers angles {missing} that the limits pin")
        self.index = idx
        self.cols = np.array([pos[int(a)] for a in idx])  # its angles among the solver's free angles
        self.means = np.asarray(prior.means, dtype=np.float64)
        chol = np.linalg.cholesky(np.asarray(prior.covariances, dtype=np.float64))
        self.inv_chol = np.linalg.inv(chol)  # (K, D, D): whitens a deviation from a component's mean
        self.log_norm = np.log(np.asarray(prior.weights, dtype=np.float64)) - np.log(
            np.diagonal(chol, axis1=-2, axis2=-1)
        ).sum(-1)
        self.precision = self.inv_chol.swapaxes(1, 2) @ self.inv_chol  # (K, D, D) = L_k^-T L_k^-1

    def whitened(self, angles: np.ndarray) -> np.ndarray:
        """(N, K, D) whitened deviations of ``angles`` (N, 41) from every component."""
        d = angles[:, self.index][:, None] - self.means[None]
        return (self.inv_chol @ d[..., None])[..., 0]

    def nll(self, angles: np.ndarray) -> np.ndarray:
        """(N,) negative log density (up to a constant)."""
        z = self.whitened(angles)
        return -_log_softmax_parts(self.log_norm - 0.5 * (z**2).sum(-1))[0]

    def majorizer(self, angles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Residuals (N, K * D) and their Jacobian (N, K * D, D) of the mixture's majorizer at ``angles``: each
        component's whitened deviation weighted by the square root of its responsibility (Jensen's bound on
        -log sum_k pi_k N_k, tight here, so that a step that lowers it lowers the mixture's cost: an MM step)."""
        z = self.whitened(angles)
        resp = np.sqrt(_log_softmax_parts(self.log_norm - 0.5 * (z**2).sum(-1))[1])  # (N, K)
        n = z.shape[0]
        r = (z * resp[..., None]).reshape(n, -1)
        jac = (self.inv_chol[None] * resp[..., None, None]).reshape(n, -1, self.means.shape[-1])
        return r, jac

    def normal_equations(self, angles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The majorizer's J^T J (N, D, D) and J^T r (N, D) at ``angles`` without its (N, K * D, D) Jacobian:
        with responsibilities w_k, J^T J = sum_k w_k P_k and J^T r = sum_k w_k P_k (a - mu_k), P_k the
        components' precisions (what :meth:`majorizer` gives, in D^2 K instead of D^2 K D per hand)."""
        d = angles[:, self.index][:, None] - self.means[None]  # (N, K, D)
        z = (self.inv_chol @ d[..., None])[..., 0]
        w = _log_softmax_parts(self.log_norm - 0.5 * (z**2).sum(-1))[1]  # (N, K)
        k, dim = self.precision.shape[:2]
        jtj = (w @ self.precision.reshape(k, -1)).reshape(-1, dim, dim)
        jtr = (w[..., None] * (self.precision @ d[..., None])[..., 0]).sum(1)
        return jtj, jtr


_MIXTURES: dict = {}


def _mixture(prior, free_a: np.ndarray) -> _MixturePrior:
    """:class:`_MixturePrior` of ``prior`` for these free angles, made once (its Cholesky factors and inverses
    cost about a millisecond, a thirtieth of a photo's fit)."""
    # the prior and its arrays as they are now (a prior whose arrays were replaced is made again)
    arrays = (prior, prior.weights, prior.means, prior.covariances, prior.angle_index)
    key = (*map(id, arrays), tuple(np.asarray(free_a).tolist()))
    hit = _MIXTURES.get(key)
    if hit is None or any(a is not b for a, b in zip(hit[0], arrays)):
        if len(_MIXTURES) > 8:
            _MIXTURES.clear()
        hit = _MIXTURES[key] = (arrays, _MixturePrior(prior, free_a))
    return hit[1]


def _project(x: np.ndarray, K: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pinhole projection of (N, 21, 3) -> uv (N, 21, 2) and d uv / d x (N, 21, 2, 3)."""
    z = np.maximum(x[..., 2:3], 1e-6)
    f = np.stack([K[:, 0, 0], K[:, 1, 1]], -1)[:, None]  # (N, 1, 2)
    c = K[:, None, :2, 2]
    uv = f * x[..., :2] / z + c
    d = np.zeros((*x.shape[:-1], 2, 3))
    d[..., 0, 0] = f[..., 0] / z[..., 0]
    d[..., 1, 1] = f[..., 1] / z[..., 0]
    d[..., :, 2] = -f * x[..., :2] / z**2
    return uv, d


class _Terms:
    """Residuals and Jacobians of the cost for a batch of hands; the parameters are the root rotation (3),
    the root position (3) and the free angles (Fa)."""

    def __init__(self, uv, K, dirs, box, ratios, anchor, weights: FusionWeights, prior: _MixturePrior | None, prob):
        self.uv, self.K, self.dirs, self.ratios, self.anchor, self.prob, self.prior = (
            uv,
            K,
            dirs,
            ratios,
            anchor,
            prob,
            prior,
        )
        self.w2d = 1.0 / (weights.sigma_2d * box)[:, None, None]  # (N, 1, 1)
        self.wdir = 1.0 / weights.sigma_dir
        self.wprior = float(weights.prior) ** 0.5
        self.prior_weight = float(weights.prior)
        self.child = np.array(weights.bones)
        self.parent = np.array([PARENTS[b] for b in weights.bones])
        # rows of linearise's J: 2 per keypoint, 3 per bone direction, the prior's K * D (the solver's gain
        # is relative to this count: the cost of a fit within the noise)
        self.num_residuals = 2 * NUM_JOINTS + 3 * len(weights.bones)
        if prior is not None:
            self.num_residuals += prior.means.size

    def model(self, st: dict) -> tuple[np.ndarray, np.ndarray]:
        return forward_kinematics(st["angles"], self.ratios, self.anchor, st["rot0"], st["pos"], return_rotations=True)

    def cost(self, st: dict) -> np.ndarray:
        uv, _ = _project(st["joints"], self.K)
        c = 0.5 * (((uv - self.uv) * self.w2d) ** 2).sum((-1, -2))
        v = st["joints"][:, self.child] - st["joints"][:, self.parent]
        d = v / np.maximum(_norm(v), 1e-9)[..., None]
        c = c + 0.5 * ((d - self.dirs) ** 2).sum((-1, -2)) * self.wdir**2
        if self.prior is not None:
            c = c + self.prior_weight * self.prior.nll(st["angles"])
        return c

    def joint_jacobian(self, st: dict) -> np.ndarray:
        """d joints / d params (N, 21, 3, P) for the parameters the fit moves."""
        n = st["joints"].shape[0]
        jx = _jacobian(st["joints"], st["rots"], st["angles"], self.ratios, None, self.prob, with_size=False)
        return jx.reshape(n, NUM_JOINTS, 3, -1)

    def _image_and_direction_jacobians(self, st: dict, jx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Residuals (N, R) and Jacobian (N, R, P) of the 2D keypoints and bone directions, from the joints'
        Jacobian ``jx`` (N, 21, 3, P); the projection's derivative written out (a (2, 3) product per joint as
        a batched matmul is mostly call overhead)."""
        n, p = jx.shape[0], jx.shape[-1]
        x = st["joints"]
        uv, _ = _project(x, self.K)
        r_uv = ((uv - self.uv) * self.w2d).reshape(n, -1)
        z = np.maximum(x[..., 2:3], 1e-6)  # (N, 21, 1)
        f = np.stack([self.K[:, 0, 0], self.K[:, 1, 1]], -1)[:, None]  # (N, 1, 2)
        # d uv_a / d params = f_a / z (d x_a - x_a / z d z), a = u, v
        j_uv = (f / z)[..., None] * (jx[..., :2, :] - (x[..., :2] / z)[..., None] * jx[..., 2:3, :])
        j_uv = (j_uv * self.w2d[..., None]).reshape(n, -1, p)
        v = x[:, self.child] - x[:, self.parent]
        length = np.maximum(_norm(v), 1e-9)[..., None]
        d = v / length
        r_dir = ((d - self.dirs) * self.wdir).reshape(n, -1)
        dv = jx[:, self.child] - jx[:, self.parent]  # (N, B, 3, P)
        # d (v / |v|) = (I - d d^T) dv / |v|
        j_dir = (dv - d[..., None] * (d[..., None] * dv).sum(-2, keepdims=True)) / length[..., None]
        return np.concatenate([r_uv, r_dir], 1), np.concatenate([j_uv, (j_dir * self.wdir).reshape(n, -1, p)], 1)

    def normal_equations(self, st: dict) -> tuple[np.ndarray, np.ndarray]:
        """J^T J (N, P, P) and J^T r (N, P) of :meth:`linearise`'s Gauss-Newton model, the prior's part from its
        components' precisions (:meth:`_MixturePrior.normal_equations`) rather than its large Jacobian."""
        jx = self.joint_jacobian(st)
        r, jac = self._image_and_direction_jacobians(st, jx)
        jt = jac.swapaxes(1, 2)
        a_mat = jt @ jac
        g = (jt @ r[..., None])[..., 0]
        if self.prior is not None:
            jtj, jtr = self.prior.normal_equations(st["angles"])
            cols = _NUM_PLACEMENT + self.prior.cols
            a_mat[:, cols[:, None], cols[None, :]] += self.prior_weight * jtj
            g[:, cols] += self.prior_weight * jtr
        return a_mat, g

    def linearise(self, st: dict) -> tuple[np.ndarray, np.ndarray]:
        """Residuals r (N, R) and Jacobian J (N, R, P) of the Gauss-Newton model (the prior: its majorizer)."""
        n = st["joints"].shape[0]
        jx = self.joint_jacobian(st)  # (N, 21, 3, P)
        uv, d_uv = _project(st["joints"], self.K)
        r_uv = ((uv - self.uv) * self.w2d).reshape(n, -1)
        j_uv = (d_uv @ jx * self.w2d[..., None]).reshape(n, -1, jx.shape[-1])
        v = st["joints"][:, self.child] - st["joints"][:, self.parent]
        length = np.maximum(_norm(v), 1e-9)[..., None]
        d = v / length
        r_dir = ((d - self.dirs) * self.wdir).reshape(n, -1)
        d_d = (np.eye(3) - d[..., :, None] * d[..., None, :]) / length[..., None]  # (N, B, 3, 3)
        j_dir = (d_d @ (jx[:, self.child] - jx[:, self.parent]) * self.wdir).reshape(n, -1, jx.shape[-1])
        rs, js = [r_uv, r_dir], [j_uv, j_dir]
        if self.prior is not None:
            z, white = self.prior.majorizer(st["angles"])
            j_p = np.zeros((n, z.shape[1], jx.shape[-1]))
            j_p[:, :, _NUM_PLACEMENT + self.prior.cols] = white
            rs.append(z * self.wprior)
            js.append(j_p * self.wprior)
        return np.concatenate(rs, 1), np.concatenate(js, 1)


def _lm(st: dict, terms: _Terms, max_iter: int, tol: float) -> int:
    """Levenberg-Marquardt on all hands at once (each hand keeps its own damping and stops on its own)."""
    prob = terms.prob
    fa = prob.free_a
    n = st["angles"].shape[0]
    lam = np.full(n, 1e-3)
    done = np.zeros(n, dtype=bool)
    rejected = np.zeros(n, dtype=np.int64)  # steps refused in a row
    it = 0
    for it in range(1, max_iter + 1):
        a_mat, g = terms.normal_equations(st)
        ang = st["angles"][:, fa]
        step = box_constrained_step(a_mat, g, ang, prob.amin[fa], prob.amax[fa], lam)
        step = np.where(done[:, None], 0.0, step)
        new = {"rot0": st["rot0"] @ rotvec_to_rotmat(step[:, :3]), "pos": st["pos"] + step[:, 3:6]}
        angles = st["angles"].copy()
        angles[:, fa] = _clamp(ang + step[:, _NUM_PLACEMENT:], prob.amin[fa], prob.amax[fa])
        new["angles"] = angles
        new["joints"], new["rots"] = terms.model(new)
        new["cost"] = terms.cost(new)
        better = (new["cost"] < st["cost"]) & ~done
        # relative to |cost| + the number of residuals (the cost at a fit within the noise): the prior's negative
        # log density can make the cost negative or near zero, where a plain relative gain means nothing
        gain = (st["cost"] - new["cost"]) / (np.abs(st["cost"]) + terms.num_residuals)
        for k in ("rot0", "pos", "angles", "joints", "rots", "cost"):
            st[k] = _keep_where(better, new[k], st[k])
        lam = next_damping(lam, better)
        rejected = np.where(better, 0, rejected + 1)
        # done: an accepted step gained little, or steps keep being refused (at the optimum)
        done |= (better & (gain < tol)) | (rejected >= 3) | (lam >= 1e6)
        if done.all():
            break
    return it


def fuse_keypoints(
    uv,
    K,
    world,
    bone_ratios,
    *,
    anchor_mm: float = ADULT_ANCHOR_MM,
    weights: FusionWeights | None = None,
    prior=None,
    limits: Limits | None = None,
    max_iter: int = 20,
    tol: float = 1e-4,
    init_iter: int = 2,
) -> FusionResult:
    """Fit the hand model to detected 2D keypoints and a detector's 3D estimate (see the module docstring).

    Args:
        uv: (N, 21, 2) pixels of the 2D keypoints of RIGHT hands (mirror a left hand's image first).
        K: (N, 3, 3) or (3, 3) intrinsics of that image.
        world: (N, 21, 3) the detector's 3D estimate of the same hands, any unit, camera axes (x right, y down,
            z away); only its bone directions are used.
        bone_ratios: (20,) or (N, 20) the skeleton fitted (e.g. :func:`~diffuhand.kinematics.skeletons.load_skeleton`).
        anchor_mm: the hand's size (wrist -> index MCP); with one photo, size and distance are one unknown.
        weights: :class:`FusionWeights`. prior: a :class:`~diffuhand.kinematics.prior.PosePrior` (default the shipped
            one); ``weights.prior = 0`` fits without it. limits: the angle limits (default the shipped ones).

    Returns:
        :class:`FusionResult` (NumPy float64).
    """
    uv = np.asarray(uv, dtype=np.float64)
    world = np.asarray(world, dtype=np.float64)
    if uv.ndim != 3 or uv.shape[1:] != (NUM_JOINTS, 2) or world.shape != (*uv.shape[:2], 3):
        raise DiffuhandError(f"expected uv (N, 21, 2) and world (N, 21, 3), got {uv.shape} and {world.shape}")
    if not (np.isfinite(uv).all() and np.isfinite(world).all()):
        raise DiffuhandError("keypoints must be finite")
    n = uv.shape[0]
    K = np.broadcast_to(np.asarray(K, dtype=np.float64), (n, 3, 3))
    weights = weights or FusionWeights()
    limits = limits or load_limits()
    prob = _problem(limits)
    ratios = np.broadcast_to(np.asarray(bone_ratios, dtype=np.float64), (n, NUM_BONES))
    if weights.prior > 0 and prior is None:
        from diffuhand.kinematics.prior import default_prior

        prior = default_prior()
    mix = _mixture(prior, prob.free_a) if weights.prior > 0 else None

    # start: the model fitted to the 3D estimate (its articulation and orientation), then our skeleton, then the
    # wrist placed on its 2D keypoint at the depth where the hand's 2D size matches
    init = fit_ik(world, retry=float("inf"), tol=1e-3, max_iter=init_iter, as_numpy=True)
    angles = init.angles.copy()
    rot0 = init.root_rotation
    rel = forward_kinematics(angles, ratios, anchor_mm, rot0)  # wrist at 0
    size_2d = np.maximum(_norm(uv.max(1) - uv.min(1)), 1.0)
    size_3d = _norm(rel[..., :2].max(1) - rel[..., :2].min(1))
    f = K[:, 0, 0]
    depth = f * size_3d / size_2d
    ray = np.linalg.solve(K, np.concatenate([uv[:, 0], np.ones((n, 1))], -1)[..., None])[..., 0]
    pos = ray / ray[:, 2:3] * depth[:, None]
    st = {"rot0": rot0, "pos": pos, "angles": angles}
    box = np.maximum((uv.max(1) - uv.min(1)).max(-1), 1.0)
    terms = _Terms(uv, K, None, box, ratios, anchor_mm, weights, mix, prob)
    v = world[:, terms.child] - world[:, terms.parent]
    terms.dirs = v / np.maximum(_norm(v), 1e-12)[..., None]
    st["joints"], st["rots"] = terms.model(st)
    st["cost"] = terms.cost(st)
    it = _lm(st, terms, max_iter, tol)
    angles = st["angles"].copy()
    angles[:, :3] = rotmat_to_euler_zyx(st["rot0"])
    uv_fit, _ = _project(st["joints"], K)
    return FusionResult(
        angles=angles,
        bone_ratios=np.array(ratios),
        root_rotation=st["rot0"],
        root_position=st["pos"],
        joints=st["joints"],
        reprojection_px=_norm(uv_fit - uv).mean(-1),
        joint_std=_posterior_std(st, terms),
        iterations=it,
    )


def _posterior_std(st: dict, terms: _Terms) -> np.ndarray:
    """(N, 21) spread (mm) of each joint relative to the wrist under the Laplace approximation of the posterior:
    parameter covariance (J^T J)^-1 at the fit, mapped through d(joint - wrist)/d params."""
    h, _ = terms.normal_equations(st)
    h = h + 1e-9 * np.eye(h.shape[-1]) * np.diagonal(h, axis1=-2, axis2=-1).mean(-1)[:, None, None]
    cov = np.linalg.pinv(h, hermitian=True)
    jx = terms.joint_jacobian(st)
    rel = jx - jx[:, :1]  # relative to the wrist: the hand's placement drops out
    var = ((rel @ cov[:, None]) * rel).sum(-1).sum(-1)  # (N, 21): d^T cov d summed over x, y, z
    return np.sqrt(np.maximum(var, 0.0))


__all__ = ["ALL_BONES", "PHALANGES", "FusionResult", "FusionWeights", "fuse_keypoints"]
