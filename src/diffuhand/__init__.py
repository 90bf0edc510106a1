"""diffuhand: 3D hand pose from images and video with a kinematically constrained hand model."""

__version__ = "0.1.0"


def shipped_weights(name: str = "hand"):
    """The folder of a model shipped inside the package ("hand": the single-frame model, "temporal": the
    temporal model), or None where this install has none."""
    from importlib import resources

    folder = resources.files("diffuhand") / "weights" / name
    return folder if (folder / "model.safetensors").is_file() else None


def load(path=None):
    """A trained estimator from a checkpoint folder (safetensors + config.json); no download ever happens.

    ``path=None``: the model shipped with the package (see its MODEL_CARD.md)."""
    from diffuhand.errors import DiffuhandError
    from diffuhand.models.estimator import load_model

    if path is None:
        path = shipped_weights("hand")
        if path is None:
            raise DiffuhandError("this install has no shipped model: pass a checkpoint folder made by `diffuhand train`")
    return load_model(path)
