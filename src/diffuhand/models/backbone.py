"""Image features (section 2.1): a torchvision ResNet after average pooling, then one hidden fully-connected
layer that reduces the dimension. Contract: images (B, 3, H, W) float in [0, 1] (ImageNet-normalised inside)
-> features (B, feature_dim)."""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from torch import nn

from diffuhand.errors import DiffuhandError

_ARCHS = {"resnet18": 512, "resnet34": 512, "resnet50": 2048}
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


class Backbone(nn.Module):
    def __init__(self, arch: str = "resnet18", feature_dim: int = 256, weights: str | Path | None = None):
        super().__init__()
        if arch not in _ARCHS:
            raise DiffuhandError(f"unknown backbone {arch!r}; use one of {', '.join(_ARCHS)}")
        net = getattr(torchvision.models, arch)(weights=None)  # nothing is downloaded: from scratch or a user's file
        if weights is not None:
            load_resnet_weights(net, weights)
        net.fc = nn.Identity()
        self.net = net
        self.reduce = nn.Sequential(nn.Linear(_ARCHS[arch], feature_dim), nn.ReLU(inplace=True))
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)
        self.feature_dim = feature_dim

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> (B, feature_dim)."""
        return self.reduce(self.net((images - self.mean) / self.std))


def load_resnet_weights(net: nn.Module, path: str | Path) -> None:
    """Load a user's ResNet weights (.safetensors, or a torchvision .pth state dict read with weights_only)."""
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
            state = state.get("state_dict", state) if isinstance(state, dict) else state
    except FileNotFoundError:
        raise DiffuhandError(f"{path}: no such file") from None
    except Exception as exc:  # noqa: BLE001 (corrupt or foreign files raise many types; report one line)
        raise DiffuhandError(f"{path}: not a readable weights file ({exc.__class__.__name__})") from None
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    missing, unexpected = net.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("fc.")]
    if missing or unexpected:
        raise DiffuhandError(
            f"{path}: does not match the ResNet ({len(missing)} missing, {len(unexpected)} unexpected keys)"
        )
