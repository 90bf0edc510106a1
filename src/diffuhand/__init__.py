"""diffuhand: 3D hand pose from images and video with a kinematically constrained hand model."""

import logging

__version__ = "0.1.0"


def shipped_weights(name: str = "hand"):
    """The folder of a model shipped inside the package ("hand": the default single-frame lift, "keypoints": the
    2D-keypoint diffusion model, "temporal": the temporal model), or None where this install has none."""
    from importlib import resources

    folder = resources.files("diffuhand") / "weights" / name
    return folder if (folder / "config.json").is_file() else None


def load(path=None, temporal=None, **options):
    """A ready estimator (:class:`diffuhand.pipeline.Estimator`): ``est.predict(photo)`` (an array or a path),
    ``est.predict(photos)`` (a list: each on its own) or ``est.predict_frames(frames)`` (one video, tracked); no
    download ever happens.

    Args:
        path: a checkpoint folder made by ``diffuhand train`` (or a fusion configuration), or the name of a
            shipped model: None or ``"hand"`` (the default: MediaPipe's 2D and 3D fused by the hand model, see
            ``weights/hand/MODEL_CARD.md``), ``"keypoints"`` (the 2D-keypoint diffusion model).
        temporal: a temporal-model checkpoint for frame sequences; None: the shipped one where it was trained on
            this lift (the shipped default; loaded when a video first needs it), else none; False: none (every
            frame on its own).
        options: ``anchor_mm``, ``seed``, ``detector`` and ``smoothing_s`` for :class:`~diffuhand.pipeline.Estimator`; ``skeleton``
            (the skeleton convention of the output); for a network ``ik``, ``backend``, ``sampler``, ``guide_world``
            (:class:`~diffuhand.lift.NetworkLifter`).

    ``est.lifter`` is the lift (:mod:`diffuhand.lift`); for a network, ``est.model`` is the bare network, which
    takes crop tensors: ``est.model.predict(images)`` gives joints, angles, ratios and the samples' spread.
    """
    from diffuhand.lift import load_lifter
    from diffuhand.pipeline import Estimator, TemporalCheckpoint, trained_on_another_lift

    lift_keys = ("ik", "backend", "sampler", "skeleton", "guide_world")
    lifter = load_lifter(path, **{k: options.pop(k) for k in lift_keys if k in options})
    default = temporal is None
    if default:
        # start-up: the shipped model is loaded (with torch, 2.2-3.3 s) when a video first needs it, never for a
        # photo; its configuration tells now whether it pairs with the lift
        shipped = shipped_weights("temporal")
        temporal = TemporalCheckpoint(shipped) if shipped is not None else None
    elif temporal:
        from diffuhand.models.temporal import load_temporal

        temporal = load_temporal(temporal)  # one given is loaded now: a bad checkpoint is one line before any input
    if temporal:
        trained_on = trained_on_another_lift(temporal, lifter)
        if default and trained_on:
            # the shipped temporal model corrects the shipped lift's frames: another lift's videos go frame by frame
            # (a temporal model given explicitly is paired, with a warning, by the Estimator)
            logging.getLogger(__name__).info(
                "the shipped temporal model was trained on another lift (%s, not %s): videos run frame by frame; "
                "train one for this lift (docs/training.md) and pass it as temporal=",
                trained_on,
                lifter.identity,
            )
            temporal = None
    return Estimator(lifter, temporal=temporal or None, **options)
