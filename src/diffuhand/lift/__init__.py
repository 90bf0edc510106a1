"""Stage 3 of the pipeline: hands detected in a photo -> 3D hands of the hand model (:mod:`diffuhand.lift.base`
has the contract). Lifters: :class:`FusionLifter` (the shipped default: MediaPipe's 2D and 3D fused by the hand
model) and :class:`NetworkLifter` (the paper's networks); :func:`load_lifter` makes one from a checkpoint."""

from __future__ import annotations

import warnings
from pathlib import Path

from diffuhand import shipped_weights
from diffuhand.errors import DiffuhandError, DiffuhandWarning
from diffuhand.io.weights import read_config
from diffuhand.lift.base import HandInput, LiftedHand, Lifter, as_right, mirror_camera, photo_camera
from diffuhand.lift.fusion import FusionConfig, FusionLifter, save_fusion

#: what the network lift brings (diffusers, the networks, roma): imported on first use, not at start-up, so that
#: the default (fusion) lift of a photo starts without them
_NETWORK_NAMES = ("NetworkLifter", "solve_ik")


def __getattr__(name: str):
    if name in _NETWORK_NAMES:
        from diffuhand.lift import network

        return getattr(network, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: names of the models shipped in the package (``diffuhand.load("keypoints")``, ``--model keypoints``)
SHIPPED = ("hand", "keypoints")
_NETWORK_OPTIONS = ("ik", "backend", "sampler", "guide_world")


def checkpoint_kind(path) -> str:
    """The ``model.kind`` of a checkpoint folder's config.json (one-line errors for a missing or foreign file)."""

    return str(read_config(path)["model"].get("kind", ""))


def load_lifter(path=None, **options) -> Lifter:
    """A lifter from a checkpoint folder, or a shipped model by name (``"hand"``, the default; ``"keypoints"``).

    ``options``: for a network, :class:`NetworkLifter`'s (``ik``, ``backend``, ``sampler``, ``skeleton``,
    ``guide_world``); for the fusion lift, ``skeleton`` overrides its skeleton convention. Options the model
    does not use are refused with a warning, not silently dropped."""

    if path is None or (isinstance(path, str) and path in SHIPPED):
        name = path or "hand"
        path = shipped_weights(name)
        if path is None:
            raise DiffuhandError(
                f"this install has no shipped model {name!r}: pass a checkpoint folder made by `diffuhand train`"
            )
    path = Path(path)
    given = {k: v for k, v in options.items() if v is not None}
    if checkpoint_kind(path) == "fusion":
        from dataclasses import replace

        from diffuhand.io.weights import read_config

        config = FusionConfig(**read_config(path)["model"])
        unused = sorted(k for k in given if k in _NETWORK_OPTIONS and k != "backend")  # a backend choice is harmless
        if unused:
            warnings.warn(
                f"{', '.join(unused)}: not used by the fusion lift (it has no diffusion network)",
                DiffuhandWarning,
                stacklevel=2,
            )
        if given.get("skeleton"):
            config = replace(config, skeleton=given["skeleton"])
        return FusionLifter(config)

    from diffuhand.lift.network import NetworkLifter  # see _NETWORK_NAMES
    from diffuhand.models.estimator import load_model

    return NetworkLifter(load_model(path), **{k: v for k, v in given.items() if k in (*_NETWORK_OPTIONS, "skeleton")})


__all__ = [
    "SHIPPED",
    "FusionConfig",
    "FusionLifter",
    "HandInput",
    "LiftedHand",
    "Lifter",
    "NetworkLifter",
    "as_right",
    "checkpoint_kind",
    "load_lifter",
    "mirror_camera",
    "photo_camera",
    "save_fusion",
    "solve_ik",
]
