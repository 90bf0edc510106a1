"""A pose prior that looks like real hands: a Gaussian mixture over the free articulation angles, fitted (EM)
to IK fits of real poses, sampled inside the limits. Shipped as aggregate statistics (means, covariances,
weights), never the poses themselves."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
from scipy.special import logsumexp

from diffuhand.errors import DiffuhandError
from diffuhand.io.files import atomic_write_text
from diffuhand.kinematics.limits import Limits, load_limits

PRIOR_FORMAT = "diffuhand-pose-prior"


@dataclass
class PosePrior:
    """Mixture over ``angle_index`` (the free articulation angles, radians)."""

    angle_index: np.ndarray  # (D,)
    weights: np.ndarray  # (K,)
    means: np.ndarray  # (K, D)
    covariances: np.ndarray  # (K, D, D)
    provenance: dict = field(default_factory=dict)

    def sample(self, n: int, rng: np.random.Generator, limits: Limits | None = None, spread: float = 1.0) -> np.ndarray:
        """(n, 41) angles: articulations from the mixture (``spread`` scales its covariances), the rest neutral,
        all clipped to the limits; root angles are zero (the caller orients the hand)."""
        limits = limits or load_limits()
        comp = rng.choice(len(self.weights), size=n, p=self.weights)
        chol = np.linalg.cholesky(self.covariances)
        z = rng.standard_normal((n, len(self.angle_index)))
        x = self.means[comp] + spread * np.einsum("nij,nj->ni", chol[comp], z)
        out = np.tile(limits.angle_neutral, (n, 1))
        out[:, self.angle_index] = x
        out[:, :3] = 0.0
        return np.clip(out, limits.angle_min, limits.angle_max)

    def log_prob(self, angles: np.ndarray) -> np.ndarray:
        """Log density (N,) of the mixture at angles (N, 41) rad, over the free articulation angles (the others
        ignored; the limits' clipping at sampling not counted): a held-out score for the mixture."""
        x = np.asarray(angles, dtype=np.float64)[:, self.angle_index]
        return logsumexp(_weighted_log_densities(x, self.weights, self.means, self.covariances), axis=1)

    def save(self, path: str | Path) -> None:
        data = {
            "format": PRIOR_FORMAT,
            "version": 1,
            "angle_index": self.angle_index.tolist(),
            "weights": self.weights.tolist(),
            "means": self.means.round(6).tolist(),
            "covariances": self.covariances.round(8).tolist(),
            "provenance": self.provenance,
        }
        atomic_write_text(Path(path), json.dumps(data) + "\n")

    @classmethod
    def load(cls, path: str | Path | None = None) -> PosePrior:
        try:
            if path is None:
                text = resources.files("diffuhand.kinematics").joinpath("data/pose_prior.json").read_text()
            else:
                text = Path(path).read_text()
            d = json.loads(text)
            if d.get("format") != PRIOR_FORMAT:
                raise DiffuhandError(f"{path}: not a {PRIOR_FORMAT} file")
            return cls(
                np.array(d["angle_index"]),
                np.array(d["weights"]),
                np.array(d["means"]),
                np.array(d["covariances"]),
                d.get("provenance", {}),
            )
        except (OSError, ValueError, KeyError) as exc:
            raise DiffuhandError(f"{path or 'shipped pose prior'}: cannot read ({exc.__class__.__name__})") from None


def _weighted_log_densities(x: np.ndarray, weights: np.ndarray, means: np.ndarray, covs: np.ndarray) -> np.ndarray:
    """(N, K): log(weight_k) + log N(x_n; mean_k, cov_k) for x (N, D), through each covariance's Cholesky factor."""
    out = np.empty((len(x), len(weights)))
    for k in range(len(weights)):
        chol = np.linalg.cholesky(covs[k])
        z = np.linalg.solve(chol, (x - means[k]).T)
        out[:, k] = (
            np.log(weights[k])
            - 0.5 * (z**2).sum(0)
            - np.log(np.diag(chol)).sum()
            - 0.5 * x.shape[1] * np.log(2 * np.pi)
        )
    return out


@lru_cache(maxsize=1)
def default_prior() -> PosePrior:
    return PosePrior.load()


def fit_prior(
    angles: np.ndarray, limits: Limits, components: int = 12, iterations: int = 100, seed: int = 0, reg: float = 1e-4
) -> PosePrior:
    """EM for a full-covariance Gaussian mixture on the free articulation angles of ``angles`` (N, 41)."""
    free = np.nonzero(limits.angle_max > limits.angle_min)[0]
    free = free[free >= 3]
    x = angles[:, free]
    n, d = x.shape
    rng = np.random.default_rng(seed)
    # k-means++ seeds and a few Lloyd steps, so EM starts from separated components
    means = x[[rng.integers(n)]]
    for _ in range(components - 1):
        d2 = ((x[:, None] - means[None]) ** 2).sum(-1).min(1)
        means = np.vstack([means, x[rng.choice(n, p=d2 / d2.sum())]])
    for _ in range(10):
        assign = ((x[:, None] - means[None]) ** 2).sum(-1).argmin(1)
        means = np.stack([x[assign == k].mean(0) if (assign == k).any() else means[k] for k in range(components)])
    covs = np.stack([np.cov(x[assign == k].T) if (assign == k).sum() > d else np.cov(x.T) for k in range(components)])
    covs = covs + reg * np.eye(d)
    weights = np.bincount(assign, minlength=components) / n + 1e-6
    weights /= weights.sum()
    for _ in range(iterations):
        logp = _weighted_log_densities(x, weights, means, covs)  # E step, in log space
        resp = np.exp(logp - logp.max(1, keepdims=True))
        resp /= resp.sum(1, keepdims=True)
        # M step
        nk = resp.sum(0) + 1e-9
        weights = nk / n
        means = (resp.T @ x) / nk[:, None]
        for k in range(components):
            c = x - means[k]
            covs[k] = (resp[:, k, None] * c).T @ c / nk[k] + reg * np.eye(d)
    return PosePrior(free, weights, means, covs, {"poses": int(n), "components": components, "iterations": iterations})
