"""The kinematic hand model: skeleton, limits, forward kinematics, IK, named poses, joint-order conventions."""

from diffuhand.kinematics.fk import forward_kinematics, rotation_from_9d
from diffuhand.kinematics.limits import Limits, derive_limits, load_limits, sine_normalise

__all__ = ["Limits", "derive_limits", "forward_kinematics", "load_limits", "rotation_from_9d", "sine_normalise"]
