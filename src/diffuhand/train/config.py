"""Training configuration: one YAML (or JSON) file per model and data set (``configs/``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from diffuhand.errors import DiffuhandError


@dataclass
class TrainConfig:
    name: str
    model: dict
    data: dict  # {"train": [{"name", "root", "split"}, ...], "val": [...]}
    loss: dict = field(default_factory=lambda: {"camera": 1.0, "canonical": 1.0, "reprojection": 0.1,
                                                 "contrastive": 0.05, "diffusion": 1.0, "ik": 1.0})  # fmt: skip
    optim: dict = field(default_factory=lambda: {"lr": 3e-4, "weight_decay": 1e-4, "batch_size": 64, "steps": 20000,
                                                  "warmup": 500, "grad_clip": 1.0})  # fmt: skip
    train: dict = field(default_factory=lambda: {"seed": 0, "workers": 2, "log_every": 50, "checkpoint_every": 500,
                                                  "out": None, "p_ik": 0.25, "ik_sampler": {"kind": "ddim", "steps": 5},
                                                  "augment": True, "keypoint_noise_px": 2.0,
                                                  "landmark_cache": None})  # fmt: skip

    def __post_init__(self):
        defaults = TrainConfig.__dataclass_fields__
        for key in ("loss", "optim", "train"):
            merged = defaults[key].default_factory()
            merged.update(getattr(self, key) or {})
            setattr(self, key, merged)
        if self.train["out"] is None:
            self.train["out"] = f"runs/{self.name}"

    def to_dict(self) -> dict:
        return asdict(self)


def load_config(path: str | Path) -> TrainConfig:
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
