"""The shipped lift: MediaPipe's 2D keypoints and 3D estimate fused by the hand model (issue 13).

MediaPipe Hands' one landmark pass per hand gives 2D keypoints, accurate in the image plane, and 3D "world
landmarks" in its own skeleton convention. :func:`~diffuhand.kinematics.fusion.fuse_keypoints` fits our hand
model to both under the real-pose prior, and draws it with a skeleton convention learnt from data
(:mod:`diffuhand.kinematics.skeletons`). The lift has no network of its own: its configuration (noise levels,
skeleton, which bones) is its checkpoint, ``config.json`` with ``model.kind = "fusion"``, and says how each
number was obtained.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from diffuhand.errors import DiffuhandError
from diffuhand.io.files import atomic_write_text
from diffuhand.io.weights import MODEL_FORMAT
from diffuhand.kinematics import load_limits
from diffuhand.kinematics.fusion import ALL_BONES, PHALANGES, FusionWeights, fuse_keypoints
from diffuhand.kinematics.prior import default_prior
from diffuhand.kinematics.skeleton import ADULT_ANCHOR_MM
from diffuhand.kinematics.skeletons import load_skeleton
from diffuhand.lift.base import HandInput, LiftedHand, as_right, mirror_camera

if TYPE_CHECKING:
    import torch

#: which bones' directions of the detector's 3D are used
BONE_SETS = ("phalanges", "all")
#: when the detector's 3D is turned to the viewing ray (FusionConfig.ray_turn)
RAY_TURNS = ("off", "on", "known-camera")


@dataclass
class FusionConfig:
    """The fusion lift's settings (its checkpoint's ``model`` section; every field is saved).

    Attributes:
        kind: always ``"fusion"``.
        skeleton: the skeleton convention the hands are drawn with (:func:`~diffuhand.kinematics.skeletons.load_skeleton`).
        sigma_2d: 2D keypoint noise, fraction of the hand's box. sigma_dir: bone-direction noise of the 3D estimate.
        prior_weight: weight of the pose prior's negative log-likelihood (1: the posterior of these noise levels).
        bones: ``"all"`` or ``"phalanges"``: the bones whose 3D direction is used.
        anchor_mm: the hand size the fit assumes (one photo does not tell size from distance).
        ray_turn: the detector's 3D is taken as seen along the ray through the hand (its crop is centred there)
            and turned by the rotation that takes the optical axis to that ray before the fit: ``"on"``,
            ``"off"``, or ``"known-camera"`` (on when the photo's intrinsics are known, off under the assumed
            camera, whose rays are only a guess).
    """

    kind: str = "fusion"
    skeleton: str = "ge2019"
    sigma_2d: float = 0.068
    sigma_dir: float = 0.245
    prior_weight: float = 1.0
    bones: str = "all"
    anchor_mm: float = ADULT_ANCHOR_MM
    ray_turn: str = "known-camera"
    notes: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.kind != "fusion":
            raise ValueError(f"a fusion configuration has kind 'fusion', got {self.kind!r}")
        if self.bones not in BONE_SETS:
            raise ValueError(f"bones must be one of {BONE_SETS}, got {self.bones!r}")
        if isinstance(self.ray_turn, bool):  # configurations of the first release said true / false
            self.ray_turn = "on" if self.ray_turn else "off"
        if self.ray_turn not in RAY_TURNS:
            raise ValueError(f"ray_turn must be one of {RAY_TURNS}, got {self.ray_turn!r}")
        if self.sigma_2d <= 0 or self.sigma_dir <= 0 or self.prior_weight < 0:
            raise ValueError("sigma_2d and sigma_dir must be > 0 and prior_weight >= 0")


class FusionLifter:
    """Lifts hands from MediaPipe's 2D keypoints and world landmarks (see the module docstring)."""

    needs_keypoints = True
    needs_world = True
    needs_image = False
    #: the same hands give the same output, alone or in any batch (no random draw)
    deterministic = True

    def __init__(self, config: FusionConfig | None = None):

        self.config = config or FusionConfig()
        self.skeleton = load_skeleton(self.config.skeleton)
        self.weights = FusionWeights(
            self.config.sigma_2d,
            self.config.sigma_dir,
            self.config.prior_weight,
            ALL_BONES if self.config.bones == "all" else PHALANGES,
        )

        # what the fit computes with: its settings, its skeleton, the limits and the prior (so that a temporal
        # model trained on its outputs knows when any of them changed)
        h = hashlib.sha256(
            json.dumps({k: v for k, v in asdict(self.config).items() if k != "notes"}, sort_keys=True).encode()
        )
        h.update(self.skeleton.bone_ratios.tobytes())
        h.update(json.dumps(load_limits().to_json()["angles"], sort_keys=True).encode())
        prior = default_prior()
        h.update(np.ascontiguousarray(prior.means).tobytes() + np.ascontiguousarray(prior.covariances).tobytes())
        self.identity = "fusion-" + h.hexdigest()[:16]

    def options(self) -> dict:
        return {"config": self.config}

    def lift(
        self,
        image: np.ndarray | None,
        hands: list[HandInput],
        K: np.ndarray,
        generator: torch.Generator | None = None,
        camera_known: bool = False,
    ) -> list[LiftedHand]:
        """The hands of one photo (``K``: its intrinsics; ``camera_known``: they are the true ones, not assumed)
        -> one :class:`LiftedHand` each (deterministic)."""
        width = image.shape[1] if image is not None else 2.0 * K[0, 2]
        return self.lift_many([(width, h, K) for h in hands], camera_known=camera_known)

    def lift_many(
        self, items: list[tuple], generator: torch.Generator | None = None, camera_known: bool = False
    ) -> list[LiftedHand]:
        """Hands of any photos in one batch: (image or its width, :class:`HandInput`, K) items."""

        if not items:
            return []
        if any(h.keypoints_2d is None or h.world_mm is None for _, h, _ in items):
            raise DiffuhandError("the fusion lift needs the detector's 2D keypoints and its 3D estimate")
        widths = [
            x if isinstance(x, int | float) else (x.shape[1] if x is not None else 2.0 * K[0, 2]) for x, _, K in items
        ]
        rights = [as_right(h, w) for (_, h, _), w in zip(items, widths)]
        Ks = np.stack(
            [
                mirror_camera(K, w) if h.side == "left" else np.asarray(K, dtype=np.float64)
                for (_, h, K), w in zip(items, widths)
            ]
        )
        a = self.config.anchor_mm
        worlds = np.stack([r.world_mm for r in rights])
        if self.config.ray_turn == "on" or (self.config.ray_turn == "known-camera" and camera_known):
            worlds = np.stack([w @ ray_rotation(K, r.keypoints_2d.mean(0)).T for w, r, K in zip(worlds, rights, Ks)])
        res = fuse_keypoints(
            np.stack([r.keypoints_2d for r in rights]),
            Ks,
            worlds,
            self.skeleton.bone_ratios,
            anchor_mm=a,
            weights=self.weights,
        )
        rel = (res.joints - res.root_position[:, None]) / a
        return [
            LiftedHand(
                joints=rel[i],
                angles=res.angles[i],
                bone_ratios=res.bone_ratios[i],
                root_rotation=res.root_rotation[i],
                uncertainty=res.joint_std[i] / a,
                model_joints=rel[i],
            )
            for i in range(len(items))
        ]


def ray_rotation(K: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """(3, 3) the rotation taking the optical axis (0, 0, 1) to the viewing ray through pixel ``uv`` under ``K``
    (the smallest one, about the axis perpendicular to both)."""
    ray = np.linalg.solve(np.asarray(K, dtype=np.float64), np.array([uv[0], uv[1], 1.0]))
    ray = ray / np.linalg.norm(ray)
    axis = np.cross([0.0, 0.0, 1.0], ray)
    s, c = np.linalg.norm(axis), ray[2]
    if s < 1e-12:
        return np.eye(3)
    k = axis / s
    kx = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + s * kx + (1 - c) * kx @ kx  # Rodrigues


def save_fusion(folder: str | Path, config: FusionConfig, extra: dict | None = None) -> Path:
    """A fusion checkpoint: ``config.json`` (``model`` = the configuration, plus ``extra``)."""

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(
        folder / "config.json",
        json.dumps({"format": MODEL_FORMAT, "version": 1, "model": asdict(config), **(extra or {})}, indent=1) + "\n",
    )
    return folder
