"""The temporal model (section 2.7): a transformer encoder over a window of consecutive frames.

Contract: input (B, W, 21, 3) per-frame 3D joints (the single-frame model's output: right hand, wrist-relative,
anchor lengths, camera frame) and a mask (B, W) bool, True where a frame is hidden (no hand found, or masked in
training); output per frame the angles (within the limits, equation 1), the window's bone ratios (the mean of
the per-frame predictions over the visible frames) and the FK joints (B, W, 21, 3) in the same units and frame.
No decoder. :func:`smooth_sequence` runs it over a whole video.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from diffuhand.models.heads import KinematicOutput


@dataclass
class TemporalConfig:
    window: int = 5
    d_model: int = 128
    layers: int = 4
    heads: int = 4
    dropout: float = 0.1
    max_mask: float = 0.5  # training: at most this fraction of each window's frames is hidden

    def __post_init__(self):
        if self.window < 1 or self.window % 2 == 0:
            raise ValueError(f"the window is an odd number of frames, got {self.window}")

    def to_dict(self) -> dict:
        return {"kind": "temporal", **asdict(self)}


def sinusoidal_encoding(length: int, dim: int) -> torch.Tensor:
    """(length, dim) positional encoding of Vaswani et al. (sin on even, cos on odd channels)."""
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return pe


class TemporalTransformer(nn.Module):
    def __init__(self, cfg: TemporalConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or TemporalConfig()
        self.embed = nn.Linear(63, cfg.d_model)
        self.mask_token = nn.Parameter(torch.zeros(cfg.d_model))  # stands in for a hidden frame's joints
        self.register_buffer("position", sinusoidal_encoding(cfg.window, cfg.d_model), persistent=False)
        layer = nn.TransformerEncoderLayer(cfg.d_model, cfg.heads, 4 * cfg.d_model, cfg.dropout, batch_first=True,
                                           norm_first=True, activation="gelu")  # fmt: skip
        self.encoder = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.d_model)
        self.root = nn.Linear(cfg.d_model, 9)
        self.angles = nn.Linear(cfg.d_model, 38)
        self.ratios = nn.Linear(cfg.d_model, 20)
        self.out = KinematicOutput()

    def forward(self, joints: torch.Tensor, mask: torch.Tensor | None = None) -> dict:
        """joints (B, W, 21, 3), mask (B, W) True = hidden -> dict of joints (B, W, 21, 3), angles (B, W, 41),
        ratios (B, 20), root_rotation (B, W, 3, 3), canonical (B, W, 21, 3)."""
        b, w = joints.shape[:2]
        if w != self.cfg.window:
            raise ValueError(f"expected windows of {self.cfg.window} frames, got {w}")
        mask = torch.zeros(b, w, dtype=torch.bool, device=joints.device) if mask is None else mask
        if mask.all(1).any():
            raise ValueError("every window needs at least one visible frame")
        x = self.embed(torch.nan_to_num(joints).flatten(2))
        x = torch.where(mask[..., None], self.mask_token.to(x.dtype), x) + self.position
        h = self.norm(self.encoder(x, src_key_padding_mask=mask))
        rot, angles, ratios = self.out.decode(self.root(h), self.angles(h), self.ratios(h))
        keep = (~mask).to(ratios.dtype)[..., None]
        ratios = (ratios * keep).sum(1) / keep.sum(1)  # one skeleton per window (section 2.7)
        out = self.out.pose(rot, angles, ratios[:, None].expand(b, w, -1))
        out["ratios"] = ratios
        return out


def random_frame_mask(b: int, w: int, max_fraction: float, generator: torch.Generator | None = None,
                      device=None) -> torch.Tensor:  # fmt: skip
    """(b, w) bool on ``device``: per window, k ~ U{0..floor(max_fraction * w)} frames hidden at random positions."""
    from diffuhand.models import rng

    kmax = math.floor(max_fraction * w)
    k = rng.randint(0, kmax + 1, (b, 1), generator, device)
    rank = rng.rand((b, w), generator, device).argsort(1).argsort(1)
    mask = rank < k
    return mask & ~mask.all(1, keepdim=True)


@torch.no_grad()
def smooth_sequence(model: TemporalTransformer, joints: np.ndarray, found: np.ndarray | None = None,
                    batch_size: int = 256) -> dict[str, np.ndarray]:  # fmt: skip
    """Run the temporal model over a whole sequence with a window centred on every frame.

    Args:
        joints: (T, 21, 3) per-frame model output (right hand, wrist-relative, anchor lengths, camera frame).
        found: (T,) bool, False where no hand was found (those rows of ``joints`` are ignored).

    Returns ``joints`` (T, 21, 3), ``angles`` (T, 41), ``ratios`` (T, 20), ``root_rotation`` (T, 3, 3), and
    ``status`` (T,) str: "tracked"
    (a hand was found in this frame), "bridged" (not found, filled from visible neighbours inside the window) or
    "missing" (no visible frame within half a window: NaN rows, never invented). The first and last frames see
    a window padded with hidden frames, so no frame is dropped or extrapolated from padding.
    """
    joints = np.asarray(joints, dtype=np.float32)
    t = len(joints)
    found = np.ones(t, dtype=bool) if found is None else np.asarray(found, dtype=bool)
    w = model.cfg.window
    half = w // 2
    pad_j = np.concatenate([np.zeros((half, 21, 3), np.float32), joints, np.zeros((half, 21, 3), np.float32)])
    pad_m = np.concatenate([np.ones(half, bool), ~found, np.ones(half, bool)])
    idx = np.arange(t)[:, None] + np.arange(w)[None]  # window of frame i: padded rows i .. i + w - 1
    hidden = pad_m[idx]
    status = np.where(found, "tracked", np.where(hidden.all(1), "missing", "bridged"))
    out_j = np.full((t, 21, 3), np.nan, np.float32)
    out_a = np.full((t, 41), np.nan, np.float32)
    out_r = np.full((t, 20), np.nan, np.float32)
    out_rot = np.full((t, 3, 3), np.nan, np.float32)
    run = np.flatnonzero(status != "missing")
    model.eval()
    for s in range(0, len(run), batch_size):
        rows = run[s : s + batch_size]
        res = model(torch.from_numpy(pad_j[idx[rows]]), torch.from_numpy(hidden[rows]))
        out_j[rows] = res["joints"][:, half].numpy()
        out_a[rows] = res["angles"][:, half].numpy()
        out_r[rows] = res["ratios"].numpy()
        out_rot[rows] = res["root_rotation"][:, half].numpy()
    return {"joints": out_j, "angles": out_a, "ratios": out_r, "root_rotation": out_rot, "status": status}


def load_temporal(path) -> TemporalTransformer:
    """A trained temporal model from a checkpoint folder (safetensors + config.json), in eval mode. Its
    ``source_identity`` is the identity of the single-frame lift it was trained on (:mod:`diffuhand.lift`), where
    the checkpoint records it (older ones do not)."""
    from diffuhand.errors import DiffuhandError
    from diffuhand.io.weights import read_checkpoint

    cfg, state = read_checkpoint(path)
    try:
        model = TemporalTransformer(TemporalConfig(**{k: v for k, v in cfg["model"].items() if k != "kind"}))
        model.load_state_dict(state, strict=True)
    except (TypeError, ValueError, KeyError, RuntimeError) as exc:
        raise DiffuhandError(f"{path}: not a temporal model ({exc.__class__.__name__}: {str(exc)[:100]})") from None
    model.source_identity = cfg.get("source_identity")
    return model.eval()
