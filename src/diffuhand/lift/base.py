"""The contract between hand detection and the 3D lift.

Detection gives, per hand, :class:`HandInput` in the photo's own terms (as the hand really is: a left hand is a
left hand). A lifter (:class:`Lifter`) turns the hands of one photo into :class:`LiftedHand`: a pose of the
RIGHT-hand model (left hands mirrored), wrist-relative, in anchor lengths (the wrist -> index MCP bone is 1),
camera axes (x right, y down, z away) of the (mirrored, for a left hand) photo. The estimator
(:class:`~diffuhand.pipeline.Estimator`) mirrors it back and scales it to millimetres.

One lift path: ``diffuhand predict``, ``diffuhand evaluate`` and the temporal model's training all call a lifter's
:meth:`Lifter.lift`, so what is evaluated and what the temporal model learns from is what ships.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from diffuhand.kinematics.skeleton import NUM_ANGLES, NUM_BONES, NUM_JOINTS

if TYPE_CHECKING:  # start-up: only a network lift imports torch (2.2-3.3 s, benchmarks/bench_startup.py)
    import torch

#: x -> -x: a left hand is the mirror image of a right one
MIRROR = np.array([-1.0, 1.0, 1.0])


@dataclass
class HandInput:
    """One detected hand, in the photo's terms.

    Attributes:
        side: ``"left"`` or ``"right"``, the hand's own side. score: the detector's confidence in [0, 1].
        box: (3,) x, y, side of a square around the hand, pixels of the photo.
        keypoints_2d: (21, 2) pixels of the photo, canonical order; None where no detector ran (a crop lifted
            by an image model alone).
        world_mm: (21, 3) the detector's own 3D estimate (MediaPipe's world landmarks), mm, camera axes; None if
            it gave none.
    """

    side: str
    score: float
    box: np.ndarray
    keypoints_2d: np.ndarray | None = None
    world_mm: np.ndarray | None = None

    def with_side(self, side: str, score: float | None = None) -> HandInput:
        return HandInput(side, self.score if score is None else score, self.box, self.keypoints_2d, self.world_mm)


@dataclass
class LiftedHand:
    """One hand lifted to 3D, as the right-hand model (see the module docstring for units and frames).

    Attributes:
        joints: (21, 3) anchor lengths, wrist at the origin. angles: (41,) radians within the limits.
        bone_ratios: (20,). root_rotation: (3, 3) hand frame -> camera.
        uncertainty: (21,) anchor lengths, NaN where the lift cannot tell (one diffusion sample).
        model_joints: (21, 3) the per-frame 3D the temporal model takes (anchor lengths, wrist at the origin).
    """

    joints: np.ndarray
    angles: np.ndarray
    bone_ratios: np.ndarray
    root_rotation: np.ndarray | None
    uncertainty: np.ndarray
    model_joints: np.ndarray

    def __post_init__(self):
        shapes = {
            "joints": (NUM_JOINTS, 3),
            "angles": (NUM_ANGLES,),
            "bone_ratios": (NUM_BONES,),
            "uncertainty": (NUM_JOINTS,),
            "model_joints": (NUM_JOINTS, 3),
        }
        for name, shape in shapes.items():
            v = np.asarray(getattr(self, name), dtype=np.float64)
            if v.shape != shape:
                raise ValueError(f"LiftedHand.{name} must be {shape}, got {v.shape}")
            setattr(self, name, v)


class Lifter(Protocol):
    """Lifts the hands of one photo. ``needs_keypoints``: it needs the detector's 2D keypoints (and
    ``needs_world``: its 3D estimate); ``identity``: a short hash of what it computes (its weights and settings),
    so that a temporal model can say which single-frame model it was trained on. ``K`` is the photo's camera,
    the true one (``camera_known``) or the one assumed for a photo of unknown intrinsics (:func:`photo_camera`).
    ``deterministic``: a hand's output does not depend on the batch it is lifted in (no random draw), so the
    pipeline may batch hands of many photos and frames and still give each what it gives it alone."""

    needs_keypoints: bool
    needs_world: bool
    deterministic: bool
    identity: str

    def lift(
        self,
        image: np.ndarray | None,
        hands: list[HandInput],
        K: np.ndarray,
        generator: torch.Generator | None = None,
        camera_known: bool = False,
    ) -> list[LiftedHand]: ...

    def lift_many(
        self, items: list[tuple], generator: torch.Generator | None = None, camera_known: bool = False
    ) -> list[LiftedHand]:
        """Hands of any photos or frames in one batch, (image or its width, :class:`HandInput`, K) items -> one
        :class:`LiftedHand` each: how the pipeline calls every lift."""
        ...


def photo_camera(width: int, height: int) -> np.ndarray:
    """The camera assumed for a photo of unknown intrinsics: the principal point at the centre and a focal
    length of the image width (a 53 degree horizontal field of view, an ordinary lens). One photo tells neither
    the hand's size nor its distance, so this fixes only the directions in which the hands are seen."""
    return np.array([[float(width), 0.0, width / 2], [0.0, float(width), height / 2], [0.0, 0.0, 1.0]])


def mirror_camera(K: np.ndarray, width: int) -> np.ndarray:
    """Intrinsics of the mirrored photo (u -> width - u)."""
    K = np.array(K, dtype=np.float64)
    K[0, 1] = -K[0, 1]
    K[0, 2] = width - K[0, 2]
    return K


def as_right(hand: HandInput, width: int) -> HandInput:
    """The hand of the mirrored photo when it is a left hand (keypoints and box mirrored, 3D x negated)."""
    if hand.side != "left":
        return hand
    kp = None if hand.keypoints_2d is None else np.asarray(hand.keypoints_2d) * [-1.0, 1.0] + [width, 0.0]
    world = None if hand.world_mm is None else np.asarray(hand.world_mm) * MIRROR
    box = np.array([width - hand.box[0] - hand.box[2], hand.box[1], hand.box[2]])
    return HandInput("right", hand.score, box, kp, world)
