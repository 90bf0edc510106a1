"""The estimators of table 1 behind one interface.

``kind``: ``baseline`` (features -> angles -> FK), ``diffusion`` (features -> DDPM joints), ``diffusion_ik``
(diffusion joints -> IK MLP -> FK). ``condition``: ``image`` (ResNet features), ``keypoints`` (2D joints), ``both``, or ``landmarks``
(MediaPipe's landmark network). Output contract of :meth:`HandPoseModel.predict`: a :class:`HandPoseOutput`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from diffusers.utils import BaseOutput
from torch import nn

from diffuhand.errors import DiffuhandError
from diffuhand.io.weights import checkpoint_folder, read_checkpoint
from diffuhand.models.backbone import Backbone
from diffuhand.models.diffusion import DiffusionHead, SamplerConfig
from diffuhand.models.heads import IKMLP, BaselineHead
from diffuhand.models.keypoints import KeypointEncoder
from diffuhand.models.landmarks import LandmarkEncoder
from diffuhand.models.onnx import ONNX_FILE

KINDS = ("baseline", "diffusion", "diffusion_ik")
CONDITIONS = ("image", "keypoints", "both", "landmarks")


@dataclass
class ModelConfig:
    """Every constructor argument of a :class:`HandPoseModel`: a checkpoint's ``config.json`` holds all of them
    (``model``), so a checkpoint rebuilds its network whatever the defaults become (a field missing from an older
    checkpoint takes the default it was trained with).

    Args:
        kind: the head, ``baseline`` (section 2.2), ``diffusion`` or ``diffusion_ik`` (section 2.5).
        condition: what the head sees: ``image`` (the ResNet's features of the crop), ``keypoints`` (21 2D
            joints), ``both``, or ``landmarks`` (MediaPipe's landmark network, :mod:`~diffuhand.models.landmarks`).
        backbone: the torchvision ResNet of an image condition (``resnet18``, ``resnet34``, ``resnet50``).
        feature_dim: size of each condition's feature vector (the head's conditioning is one, or two for ``both``).
        input_size: side of the square RGB crop an image condition sees, pixels.
        timesteps: T of the diffusion (50 in the paper).
        sampler: the sampler :meth:`HandPoseModel.predict` uses by default (fields of
            :class:`~diffuhand.models.diffusion.SamplerConfig`).
        backbone_weights: a user's ResNet weights file to start from (training only; never saved).
        unet_channels: the diffusion U-Net's widths at its three levels.
        time_dim: size of the U-Net's time-step embedding.
        cond_channels: per-joint channels the U-Net projects the conditioning to.
        keypoint_hidden: hidden width of the 2D-keypoint encoder's MLP.
        landmark_hidden: hidden width of the landmark encoder's MLP; ``landmark_dropout`` its dropout.
        baseline_hidden: hidden width of the baseline head's MLPs.
        ik_hidden: hidden width of the IK MLP.
    """

    kind: str = "diffusion_ik"
    condition: str = "image"
    backbone: str = "resnet18"
    feature_dim: int = 256
    input_size: int = 128
    timesteps: int = 50
    sampler: dict = field(default_factory=lambda: asdict(SamplerConfig()))
    backbone_weights: str | None = None
    unet_channels: tuple[int, int, int] = (64, 128, 256)
    time_dim: int = 128
    cond_channels: int = 32
    keypoint_hidden: int = 512
    landmark_hidden: int = 512
    landmark_dropout: float = 0.1
    baseline_hidden: int = 256
    ik_hidden: int = 512

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"model kind must be one of {KINDS}, got {self.kind!r}")
        if self.condition not in CONDITIONS:
            raise ValueError(f"condition must be one of {CONDITIONS}, got {self.condition!r}")
        self.unet_channels = tuple(int(c) for c in self.unet_channels)  # a list when read back from JSON
        if len(self.unet_channels) != 3:
            raise ValueError(f"unet_channels: three widths, got {self.unet_channels}")

    def to_dict(self) -> dict:
        """The JSON a checkpoint's ``model`` section holds: every field but ``backbone_weights`` (a training
        start, not part of the network)."""
        d = asdict(self)
        d.pop("backbone_weights")
        d["unet_channels"] = list(self.unet_channels)
        return d


@dataclass
class HandPoseOutput(BaseOutput):
    """What :meth:`HandPoseModel.predict` gives, per hand of the batch (B): a RIGHT hand, wrist-relative, camera
    frame, in anchor lengths (the wrist -> index MCP bone is 1; multiply by a hand size in mm). As diffusers'
    outputs, fields read as attributes or as keys; a field a head does not make is None (and not a key).

    Args:
        joints: (B, 21, 3) the estimate: the baseline's or the IK MLP's FK joints, else the diffusion sample mean.
        uncertainty: (B, 21) per joint the spread of the diffusion samples (zeros for the baseline and for one
            sample: no spread was measured).
        samples: (B, S, 21, 3) the diffusion samples (diffusion heads).
        diffusion_joints: (B, 21, 3) the diffusion sample mean, where an IK MLP made ``joints`` from it.
        angles: (B, 41) radians, within the limits; ``ratios``: (B, 20) bone ratios; ``root_rotation``:
            (B, 3, 3); ``canonical``: (B, 21, 3) the pose with the identity root rotation (kinematic heads).
    """

    joints: torch.Tensor | None = None
    uncertainty: torch.Tensor | None = None
    samples: torch.Tensor | None = None
    diffusion_joints: torch.Tensor | None = None
    angles: torch.Tensor | None = None
    ratios: torch.Tensor | None = None
    root_rotation: torch.Tensor | None = None
    canonical: torch.Tensor | None = None

    @property
    def model_joints(self) -> torch.Tensor:
        """(B, 21, 3) the network's own estimate before any IK: the diffusion sample mean, or the baseline's."""
        return self.diffusion_joints if self.diffusion_joints is not None else self.joints


class HandPoseModel(nn.Module):
    """The models of table 1 behind one interface: a condition encoder and a head.

    Args:
        cfg: every size and choice of the network (:class:`ModelConfig`); saved whole in a checkpoint.

    Inputs (:meth:`predict`): ``images`` (B, 3, input_size, input_size) RGB in [0, 1], ``keypoints`` (B, 21, 2)
    crop pixels, or ``landmarks`` (B, :data:`~diffuhand.models.landmarks.CONDITION_DIM`), by ``cfg.condition``;
    all of a RIGHT hand (left hands mirrored first). Output: a :class:`HandPoseOutput` in anchor lengths.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.feature_dim
        self.backbone = Backbone(cfg.backbone, d, cfg.backbone_weights) if cfg.condition in ("image", "both") else None
        self.keypoints = KeypointEncoder(d, cfg.keypoint_hidden) if cfg.condition in ("keypoints", "both") else None
        # MediaPipe's landmark network (frozen, run outside the model) -> features, 2D and 3D: models.landmarks
        landmarks = cfg.condition == "landmarks"
        self.landmarks = LandmarkEncoder(d, cfg.landmark_hidden, cfg.landmark_dropout) if landmarks else None
        cond_dim = d * (2 if cfg.condition == "both" else 1)
        self.baseline = BaselineHead(cond_dim, cfg.baseline_hidden) if cfg.kind == "baseline" else None
        self.diffusion = (
            DiffusionHead(cond_dim, cfg.timesteps, cfg.unet_channels, cfg.time_dim, cfg.cond_channels)
            if cfg.kind != "baseline"
            else None
        )
        self.ik = IKMLP(cfg.ik_hidden) if cfg.kind == "diffusion_ik" else None
        self.onnx_file: Path | None = (
            None  # the U-Net exported for ONNX Runtime (load_model: the checkpoint's unet.onnx)
        )
        self.onnx_on_first_use = False  # a shipped model: no unet.onnx in the package, exported once into the cache

    def condition(
        self,
        images: torch.Tensor | None = None,
        keypoints: torch.Tensor | None = None,
        landmarks: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The head's conditioning (B, cond_dim) from what the model is conditioned on: ``images`` (B, 3, S, S),
        ``keypoints`` (B, 21, 2) crop pixels, or ``landmarks`` (B, CONDITION_DIM) (:func:`~diffuhand.models.
        landmarks.landmark_condition`)."""
        if self.landmarks is not None:
            if landmarks is None:
                raise ValueError("this model is conditioned on MediaPipe's landmark network (landmarks=...)")
            return self.landmarks(landmarks)
        parts = []
        if self.backbone is not None:
            if images is None:
                raise ValueError("this model is conditioned on images")
            parts.append(self.backbone(images))
        if self.keypoints is not None:
            if keypoints is None:
                raise ValueError("this model is conditioned on 2D keypoints")
            parts.append(self.keypoints(keypoints))
        return torch.cat(parts, dim=-1)

    @torch.no_grad()
    def predict(
        self,
        images: torch.Tensor | None = None,
        keypoints: torch.Tensor | None = None,
        sampler: SamplerConfig | None = None,
        generator: torch.Generator | None = None,
        ik_mlp: bool = True,
        unet=None,
        landmarks: torch.Tensor | None = None,
        guide=None,
        guide_scale: float = 0.0,
    ) -> HandPoseOutput:
        """``ik_mlp=False`` skips the IK MLP (for a caller that fits the sample mean with the IK solver instead);
        ``unet``: the diffusion network to run (see :meth:`DiffusionHead.sample`); ``landmarks``: the condition
        of a landmark-network model; ``guide``, ``guide_scale``: diffusion posterior sampling towards an
        observation (:meth:`~diffuhand.models.diffusion.DiffusionHead.sample`)."""
        cond = self.condition(images, keypoints, landmarks)
        if self.baseline is not None:
            out = self.baseline(cond)
            return HandPoseOutput(**out, uncertainty=torch.zeros(out["joints"].shape[:2], device=cond.device))
        sampler = sampler or SamplerConfig(**self.cfg.sampler)
        samples = self.diffusion.sample(cond, sampler, generator, unet, guide, guide_scale)  # (B, S, 21, 3)
        mean = samples.mean(1)
        spread = (
            samples.std(1, unbiased=False).norm(dim=-1)
            if samples.shape[1] > 1
            else torch.zeros(mean.shape[:2], device=cond.device)
        )
        if self.ik is not None and ik_mlp:
            return HandPoseOutput(**self.ik(mean), uncertainty=spread, samples=samples, diffusion_joints=mean)
        return HandPoseOutput(joints=mean, uncertainty=spread, samples=samples)


def load_model(path) -> HandPoseModel:
    """A trained :class:`HandPoseModel` from a checkpoint (safetensors + config.json), in eval mode."""

    cfg, state = read_checkpoint(path)
    try:
        mcfg = ModelConfig(**{**cfg["model"], "backbone_weights": None})
        model = HandPoseModel(mcfg)
        model.load_state_dict(state, strict=True)
    except (TypeError, ValueError, KeyError, RuntimeError) as exc:
        raise DiffuhandError(
            f"{path}: weights do not fit their configuration ({exc.__class__.__name__}: {str(exc)[:100]})"
        ) from None

    folder = checkpoint_folder(path)
    onnx = folder / ONNX_FILE
    model.onnx_file = onnx if onnx.is_file() else None
    model.onnx_on_first_use = model.onnx_file is None and _shipped(folder)
    return model.eval()


def _shipped(folder: Path) -> bool:
    """Whether ``folder`` is one of the package's own weights folders."""
    from importlib import resources

    try:
        return Path(folder).resolve().parent == Path(str(resources.files("diffuhand") / "weights")).resolve()
    except OSError:
        return False
