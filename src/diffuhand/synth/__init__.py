"""Synthetic training data: the rigged MIT hand mesh posed by the kinematic model, rendered offscreen."""
