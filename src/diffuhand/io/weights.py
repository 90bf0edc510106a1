"""Checkpoints: weights as safetensors (never pickles) plus a JSON of the configuration.

A checkpoint is a folder (or its ``model.safetensors``): ``model.safetensors`` and ``config.json``
(``{"format": "diffuhand-model", "version": 1, "model": ModelConfig, ...}``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from diffuhand.errors import DiffuhandError
from diffuhand.io.files import atomic_path, atomic_write_text

if TYPE_CHECKING:  # start-up: torch (2.2-3.3 s) only where weights are read or written, never for a configuration
    import torch

MODEL_FORMAT = "diffuhand-model"


def weights_digest(config: Mapping, state: Mapping) -> str:
    """A short hash (16 hex digits) of a model's configuration (field -> value) and weights (name -> tensor or
    array): the same for a loaded module and for its checkpoint's files (read without torch)."""
    h = hashlib.sha256(repr(sorted(config.items())).encode())
    for k, v in sorted(state.items()):
        h.update(k.encode())
        h.update(np.ascontiguousarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v).tobytes())
    return h.hexdigest()[:16]


def save_checkpoint(folder: str | Path, model: torch.nn.Module, config: dict, extra: dict | None = None) -> Path:
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(folder / "model.safetensors") as tmp:
        save_file(state, str(tmp))
    atomic_write_text(
        folder / "config.json",
        json.dumps({"format": MODEL_FORMAT, "version": 1, "model": config, **(extra or {})}, indent=1) + "\n",
    )
    return folder


def checkpoint_folder(path: str | Path) -> Path:
    """A checkpoint given as its folder or as its .safetensors file -> the folder."""
    path = Path(path)
    return path if path.is_dir() else path.parent


def read_config(path: str | Path) -> dict:
    """The ``config.json`` of a checkpoint folder (or of the folder of its .safetensors file), checked to be a
    diffuhand model configuration; one-line errors for a missing, corrupt or foreign file."""
    cfg_path = checkpoint_folder(path) / "config.json"
    try:
        cfg = json.loads(cfg_path.read_text())
    except FileNotFoundError:
        raise DiffuhandError(f"{cfg_path}: no such file (a checkpoint needs its configuration)") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise DiffuhandError(f"{cfg_path}: corrupt ({exc.__class__.__name__})") from None
    if not isinstance(cfg, dict) or cfg.get("format") != MODEL_FORMAT or not isinstance(cfg.get("model"), dict):
        raise DiffuhandError(f"{cfg_path}: not a {MODEL_FORMAT} configuration")
    return cfg


def read_checkpoint(path: str | Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """(config, state dict) of a checkpoint folder or its .safetensors file; one-line errors for anything else."""
    path = Path(path)
    folder = checkpoint_folder(path)
    weights = folder / "model.safetensors" if path.is_dir() else path
    if not weights.exists():
        raise DiffuhandError(f"{weights}: no such file")
    cfg = read_config(folder)
    try:
        from safetensors.torch import load_file

        state = load_file(str(weights))
    except Exception as exc:  # noqa: BLE001 (safetensors raises its own error types for truncated or foreign files)
        raise DiffuhandError(f"{weights}: not a readable safetensors file ({exc.__class__.__name__})") from None
    return cfg, state
