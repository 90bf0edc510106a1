"""Training configuration: one YAML (or JSON) file per model and data set (``configs/``).

The sections ``loss``, ``optim`` and ``train`` are typed (:class:`LossWeights`, :class:`OptimConfig`,
:class:`RunConfig`): a key given in a file replaces the default, and a key that is not a field (a misspelt
``checkpont_every``) is an error that names the section and the keys it accepts. ``model`` is checked by the model's
own configuration (:class:`~diffuhand.models.estimator.ModelConfig`, :class:`~diffuhand.models.temporal.
TemporalConfig`); ``data`` is ``{"train": [spec, ...], "val": [spec, ...]}`` with specs ``{"name", "root", "split"}``
as :func:`~diffuhand.data.build_datasets` reads them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from diffuhand.errors import DiffuhandError


@dataclass
class LossWeights:
    """Weights of the loss terms (a term with weight 0 is not computed where it costs anything).

    Single-frame models: ``camera`` (L1 on camera-frame joints, baseline), ``canonical`` (L1 on joints in the hand's
    own frame), ``reprojection`` (2D reprojection of the baseline's joints, crop pixels), ``contrastive`` (NT-Xent
    between two augmented views of the image backbone), ``diffusion`` (equation 5), ``ik`` (L1 of the IK MLP's
    joints). Temporal model: ``joints`` (L1 per frame), ``velocity`` and ``acceleration`` (L1 on first and second
    differences against the truth's)."""

    camera: float = 1.0
    canonical: float = 1.0
    reprojection: float = 0.1
    contrastive: float = 0.05
    diffusion: float = 1.0
    ik: float = 1.0
    joints: float = 1.0
    velocity: float = 0.0
    acceleration: float = 0.0


@dataclass
class OptimConfig:
    """AdamW with a linear warm-up and cosine decay (:func:`~diffuhand.train.loop.warmup_cosine`).

    ``lr`` learning rate, ``weight_decay``, ``batch_size`` (per process under torchrun), ``steps`` optimiser
    steps in all, ``warmup`` steps, ``grad_clip`` the largest gradient norm."""

    lr: float = 3e-4
    weight_decay: float = 1e-4
    batch_size: int = 64
    steps: int = 20000
    warmup: int = 500
    grad_clip: float = 1.0


@dataclass
class RunConfig:
    """How a run goes (the ``train`` section).

    ``seed``; ``workers`` data-loader processes; ``log_every`` / ``checkpoint_every`` steps; ``out`` the run folder
    (default ``runs/<name>``); ``p_ik`` the share of steps that also train the IK MLP on sampled joints, drawn with
    ``ik_sampler`` (a :class:`~diffuhand.models.diffusion.SamplerConfig` as a mapping); ``augment`` image
    augmentation; ``keypoint_noise_px`` 2D noise of keypoint-conditioned training, pixels; ``landmark_cache`` the
    folder of the landmark network's cached outputs (default: ``out``). Temporal model: ``source`` the single-frame
    lift whose outputs it learns to correct (a shipped name or a checkpoint), ``passes`` how many times each
    training sequence is run through it, ``target`` ``skeleton`` (the truth drawn in the lift's skeleton convention)
    or ``recorded``."""

    seed: int = 0
    workers: int = 2
    log_every: int = 50
    checkpoint_every: int = 500
    out: str | None = None
    p_ik: float = 0.25
    ik_sampler: dict = field(default_factory=lambda: {"kind": "ddim", "steps": 5})
    augment: bool = True
    keypoint_noise_px: float = 2.0
    landmark_cache: str | None = None
    source: str = "hand"
    passes: int = 1
    target: str = "skeleton"


_SECTIONS = {"loss": LossWeights, "optim": OptimConfig, "train": RunConfig}


def _section(name: str, value: Any, cls: type) -> Any:
    """``value`` (a mapping from a file, or already ``cls``) as ``cls``; DiffuhandError for an unknown key."""
    if isinstance(value, cls):
        return value
    if value is None:
        return cls()
    if not isinstance(value, dict):
        raise DiffuhandError(f"configuration section {name!r} must be a mapping, got {type(value).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(value) - known)
    if unknown:
        raise DiffuhandError(
            f"configuration section {name!r}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )
    return cls(**value)


@dataclass
class TrainConfig:
    """A training run: ``name``, ``model`` (the model's configuration as a mapping), ``data`` (train/val specs) and
    the typed sections ``loss``, ``optim``, ``train``."""

    name: str
    model: dict
    data: dict
    loss: LossWeights = field(default_factory=LossWeights)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: RunConfig = field(default_factory=RunConfig)

    def __post_init__(self):
        for key, cls in _SECTIONS.items():
            setattr(self, key, _section(key, getattr(self, key), cls))
        if self.train.out is None:
            self.train.out = f"runs/{self.name}"

    def to_dict(self) -> dict:
        return asdict(self)


def load_config(path: str | Path) -> TrainConfig:
    """The :class:`TrainConfig` of a YAML or JSON file; one-line DiffuhandError for a missing or bad file."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise DiffuhandError(f"{path}: no such file") from None
    except (OSError, yaml.YAMLError) as exc:
        raise DiffuhandError(f"{path}: not a readable YAML/JSON configuration ({exc.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise DiffuhandError(f"{path}: a configuration is a mapping with name, model, data, ...")
    try:
        return TrainConfig(**data)
    except TypeError as exc:
        raise DiffuhandError(f"{path}: {exc}") from None
    except DiffuhandError as exc:
        raise DiffuhandError(f"{path}: {exc}") from None
