"""The kinematic hand model: skeleton, limits, forward kinematics, IK, named poses, joint-order conventions."""

from diffuhand.kinematics.fk import forward_kinematics, rotation_from_9d
from diffuhand.kinematics.ik import IKResult, fit_ik
from diffuhand.kinematics.limits import Limits, derive_limits, load_limits, sine_normalise
from diffuhand.kinematics.poses import named_pose, named_poses

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
