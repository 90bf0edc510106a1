"""diffuhand: 3D hand pose from images and video with a kinematically constrained hand model."""

__version__ = "0.1.0"


def shipped_weights(name: str = "hand"):
    """The folder of a model shipped inside the package ("hand": the single-frame model, "temporal": the
    temporal model), or None where this install has none."""
    from importlib import resources

    folder = resources.files("diffuhand") / "weights" / name
    return folder if (folder / "model.safetensors").is_file() else None


def load(path=None, temporal=None, **options):
    """A ready estimator (:class:`diffuhand.pipeline.Estimator`): ``est.predict(photo)`` (an array or a path),
    ``est.predict(photos)`` (a list: each on its own) or ``est.predict_frames(frames)`` (one video, tracked); no
    download ever happens.

    Args:
        path: a checkpoint folder (safetensors + config.json) made by ``diffuhand train``; None: the model shipped
            with the package (see its MODEL_CARD.md).
        temporal: a temporal-model checkpoint for frame sequences; None: the shipped one where there is one;
            False: none (every frame on its own).
        options: passed to :class:`~diffuhand.pipeline.Estimator` (``anchor_mm``, ``ik``, ``seed``, ``backend``,
            ``sampler``).

    The bare network (``est.model``, a :class:`~diffuhand.models.estimator.HandPoseModel`) takes crop tensors:
    ``est.model.predict(images)`` gives joints, angles, ratios and the diffusion samples' spread.
    """
    from diffuhand.errors import DiffuhandError
    from diffuhand.models.estimator import load_model
    from diffuhand.pipeline import Estimator

    if path is None:
        path = shipped_weights("hand")
        if path is None:
            raise DiffuhandError("this install has no shipped model: pass a checkpoint folder made by `diffuhand train`")
    model = load_model(path)
    if temporal is None:
        temporal = shipped_weights("temporal")
    if temporal:
        from diffuhand.train.temporal import load_temporal

        temporal = load_temporal(temporal)
    return Estimator(model, temporal=temporal or None, **options)
