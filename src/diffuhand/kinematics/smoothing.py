"""Smoothing a hand's pose over the frames of a video, within the joint limits.

The temporal model corrects each frame from a window of its neighbours, but what it gives still jitters from
frame to frame (benchmarks/bench_temporal.py: most of its acceleration error is left). A Gaussian over time
applied to the *pose*, not the joints, removes that jitter and keeps the output a hand of the model:

- finger angles (41 less the root's 3) are averaged with non-negative weights summing to one: a convex
  combination of angles within the limits is within the limits;
- the root rotation is averaged as a matrix and projected back onto SO(3) (the chordal L2 mean; Hartley et al.,
  "Rotation averaging", IJCV 2013, section 5.3); averaging Euler angles would break where they wrap;
- bone ratios likewise by convex weights.

Frames are smoothed within runs of consecutive valid frames (a gap is never bridged by the filter).
"""

from __future__ import annotations

import numpy as np

from diffuhand.kinematics.fk_numpy import rotmat_to_euler_zyx  # NumPy: no torch on the photo path
from diffuhand.kinematics.skeleton import NUM_ROOT_ANGLES

#: the Gaussian is cut at this many standard deviations
KERNEL_SIGMAS = 3.0


def gaussian_weights(sigma_frames: float) -> np.ndarray:
    """(2r + 1,) normalised Gaussian kernel, r = ceil(KERNEL_SIGMAS * sigma); ``[1.0]`` for sigma <= 0."""
    if sigma_frames <= 0:
        return np.ones(1)
    r = int(np.ceil(KERNEL_SIGMAS * sigma_frames))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma_frames) ** 2)
    return k / k.sum()


def _runs(valid: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of consecutive True in ``valid``."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], valid.astype(np.int8), [0]])))
    return list(zip(edges[::2], edges[1::2]))


def smooth_over_time(x: np.ndarray, valid: np.ndarray, sigma_frames: float) -> np.ndarray:
    """``x`` (T, ...) averaged over time with a Gaussian of ``sigma_frames`` within each run of valid frames
    (weights renormalised at a run's ends, so nothing is pulled towards zero); invalid rows are returned as
    they were."""
    x = np.asarray(x, dtype=np.float64)
    out = x.copy()
    k = gaussian_weights(sigma_frames)
    r = len(k) // 2
    if r == 0:
        return out
    for start, stop in _runs(np.asarray(valid, bool)):
        seg = x[start:stop]
        n = len(seg)
        for i in range(n):
            lo, hi = max(0, i - r), min(n, i + r + 1)
            w = k[lo - i + r : hi - i + r]
            out[start + i] = np.tensordot(w / w.sum(), seg[lo:hi], axes=(0, 0))
    return out


def project_to_rotation(m: np.ndarray) -> np.ndarray:
    """(..., 3, 3) nearest rotation matrices (Frobenius norm) to ``m``, via SVD with the determinant fixed to +1."""
    u, _, vt = np.linalg.svd(m)
    d = np.sign(np.linalg.det(u @ vt))
    u[..., :, -1] *= d[..., None]
    return u @ vt


def smooth_pose_sequence(
    angles: np.ndarray,
    root_rotation: np.ndarray,
    ratios: np.ndarray,
    valid: np.ndarray,
    sigma_frames: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A hand's pose over time, smoothed by a Gaussian of ``sigma_frames`` frames.

    Args:
        angles: (T, 41) rad; the first three (root Euler ZYX) are recomputed from the smoothed root rotation.
        root_rotation: (T, 3, 3) hand -> camera.
        ratios: (T, 20) bone ratios.
        valid: (T,) bool; invalid frames are left as they are and split the runs (a frame with a value not
            finite counts as invalid: one NaN never spreads to its neighbours).
        sigma_frames: the Gaussian's standard deviation in frames (0: unchanged).

    Returns (angles, root_rotation, ratios) as float64 arrays of the same shapes, within the limits wherever the
    inputs were.
    """
    valid = np.asarray(valid, bool).copy()
    for x in (angles, root_rotation, ratios):
        valid &= np.isfinite(np.asarray(x, dtype=np.float64)).reshape(len(valid), -1).all(1)
    if sigma_frames <= 0 or not valid.any():
        return tuple(np.asarray(a, dtype=np.float64).copy() for a in (angles, root_rotation, ratios))
    a = smooth_over_time(angles, valid, sigma_frames)
    rot = smooth_over_time(root_rotation, valid, sigma_frames)
    rot[valid] = project_to_rotation(rot[valid])
    a[valid, :NUM_ROOT_ANGLES] = rotmat_to_euler_zyx(rot[valid])
    return a, rot, smooth_over_time(ratios, valid, sigma_frames)


__all__ = ["gaussian_weights", "project_to_rotation", "smooth_over_time", "smooth_pose_sequence"]
