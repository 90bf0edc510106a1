"""diffuhand: 3D hand pose from images and video with a kinematically constrained hand model."""

__version__ = "0.1.0"


def load(path=None):
    """A trained estimator from a checkpoint folder (safetensors + config.json); no download ever happens.

    ``path=None`` means the model shipped with the package, which does not exist yet in this release."""
    from diffuhand.errors import DiffuhandError
    from diffuhand.models.estimator import load_model

    if path is None:
        raise DiffuhandError("no model ships with this release yet: pass a checkpoint folder made by `diffuhand train`")
    return load_model(path)
