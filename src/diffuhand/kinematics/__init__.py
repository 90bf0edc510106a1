"""The kinematic hand model: skeleton, limits, forward kinematics, IK, named poses, joint-order conventions.

``forward_kinematics`` and ``rotation_from_9d`` are torch's (:mod:`diffuhand.kinematics.fk`, for the networks and
their training), imported on first use so that the NumPy photo path (:mod:`~diffuhand.kinematics.fk_numpy`,
:mod:`~diffuhand.kinematics.ik`, :mod:`~diffuhand.kinematics.fusion`) starts without torch."""

from diffuhand.kinematics.ik import IKResult, fit_ik
from diffuhand.kinematics.limits import Limits, derive_limits, load_limits, sine_normalise
from diffuhand.kinematics.poses import named_pose, named_poses

#: torch's, imported from :mod:`diffuhand.kinematics.fk` on first use
_TORCH_NAMES = ("forward_kinematics", "rotation_from_9d")


def __getattr__(name: str):
    if name in _TORCH_NAMES:
        from diffuhand.kinematics import fk

        return getattr(fk, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "IKResult",
    "Limits",
    "derive_limits",
    "fit_ik",
    "forward_kinematics",
    "load_limits",
    "named_pose",
    "named_poses",
    "rotation_from_9d",
    "sine_normalise",
]
