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

from diffuhand.errors import DiffuhandError
from diffuhand.io.weights import read_checkpoint
from diffuhand.kinematics.fk import euler_zyx_to_rotmat, forward_kinematics, rotmat_to_euler_zyx, rotvec_to_rotmat
from diffuhand.kinematics.limits import inverse_sine_normalise, sine_normalise
from diffuhand.kinematics.skeleton import (
    NUM_ANGLES,
    NUM_BONES,
    NUM_FINGER_ANGLES,
    NUM_JOINTS,
    NUM_ROOT_ANGLES,
    ROTATION_9D,
)
from diffuhand.kinematics.smoothing import smooth_pose_sequence
from diffuhand.models import rng
from diffuhand.models.heads import KinematicOutput

#: ``mode`` of the temporal model: "joints", the paper's (each frame's pose read from the window's joints
#: alone), or "residual" (a correction of each frame's own pose, its angles and root rotation, from the window's
#: joints, angles and spreads; the correction starts at zero, so an untrained model is the single frame)
MODES = ("joints", "residual")
#: per-frame inputs of the residual mode: joints (63) + raw angles (41) + root rotation as its first two columns (6)
#: + spread (21)
RESIDUAL_INPUTS = NUM_JOINTS * 3 + NUM_ANGLES + 6 + NUM_JOINTS


@dataclass
class TemporalConfig:
    """The temporal model's constructor arguments (saved in its checkpoint).

    Attributes:
        window: frames per window (odd; the middle one is the frame a window smooths).
        d_model, layers, heads, dropout: the transformer encoder's width, depth, attention heads, dropout.
        max_mask: training hides up to this fraction of each window's frames (bridging is learnt).
        mode: "joints" or "residual" (:data:`MODES`).
    """

    window: int = 5
    d_model: int = 128
    layers: int = 4
    heads: int = 4
    dropout: float = 0.1
    max_mask: float = 0.5  # training: at most this fraction of each window's frames is hidden
    mode: str = "joints"

    def __post_init__(self):
        if self.window < 1 or self.window % 2 == 0:
            raise ValueError(f"the window is an odd number of frames, got {self.window}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")

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
    """A transformer encoder over a window of frames of one hand (section 2.6), ending in the kinematic model.

    Args:
        cfg: the window (odd, frames), width, depth, heads, dropout, training mask fraction and mode
            (:class:`TemporalConfig`); saved whole in the checkpoint.

    Input per window (:meth:`forward`): ``joints`` (B, W, 21, 3) the single frame's 3D (right hand, wrist-relative,
    camera frame, anchor lengths) and ``mask`` (B, W) bool, True where no hand was found; the residual mode also
    each frame's own ``angles`` (B, W, 41) rad, ``root_rotation`` (B, W, 3, 3), ``ratios`` (B, W, 20) and
    ``spread`` (B, W, 21) anchor lengths. Output: every frame's pose within the limits, in the same units.
    """

    def __init__(self, cfg: TemporalConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or TemporalConfig()
        self.embed = nn.Linear(NUM_JOINTS * 3 if cfg.mode == "joints" else RESIDUAL_INPUTS, cfg.d_model)
        self.mask_token = nn.Parameter(torch.zeros(cfg.d_model))  # stands in for a hidden frame's joints
        self.register_buffer("position", sinusoidal_encoding(cfg.window, cfg.d_model), persistent=False)
        layer = nn.TransformerEncoderLayer(
            cfg.d_model, cfg.heads, 4 * cfg.d_model, cfg.dropout, batch_first=True, norm_first=True, activation="gelu"
        )
        self.encoder = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.d_model)
        self.out = KinematicOutput()
        if cfg.mode == "joints":
            self.root = nn.Linear(cfg.d_model, ROTATION_9D)
            self.angles = nn.Linear(cfg.d_model, NUM_FINGER_ANGLES)
            self.ratios = nn.Linear(cfg.d_model, NUM_BONES)
        else:  # corrections of the raw angles (equation 1's x) and of the root rotation (a rotation vector)
            self.delta = nn.Linear(cfg.d_model, NUM_ANGLES + 3)
            nn.init.zeros_(self.delta.weight)
            nn.init.zeros_(self.delta.bias)

    def forward(
        self,
        joints: torch.Tensor,
        mask: torch.Tensor | None = None,
        angles: torch.Tensor | None = None,
        root_rotation: torch.Tensor | None = None,
        ratios: torch.Tensor | None = None,
        spread: torch.Tensor | None = None,
    ) -> dict:
        """joints (B, W, 21, 3), mask (B, W) True = hidden -> dict of joints (B, W, 21, 3), angles (B, W, 41),
        ratios (B, 20), root_rotation (B, W, 3, 3), canonical (B, W, 21, 3).

        The residual mode also takes each frame's own pose: ``angles`` (B, W, 41), ``root_rotation``
        (B, W, 3, 3), ``ratios`` (B, W, 20) and ``spread`` (B, W, 21) (the single frame's uncertainty, anchor
        lengths; NaN: unknown); a hidden frame's pose is that of the nearest visible frame of its window."""
        b, w = joints.shape[:2]
        if w != self.cfg.window:
            raise ValueError(f"expected windows of {self.cfg.window} frames, got {w}")
        mask = torch.zeros(b, w, dtype=torch.bool, device=joints.device) if mask is None else mask
        if mask.all(1).any():
            raise ValueError("every window needs at least one visible frame")
        if self.cfg.mode == "residual":
            return self._residual(joints, mask, angles, root_rotation, ratios, spread)
        x = self.embed(torch.nan_to_num(joints).flatten(2))
        x = torch.where(mask[..., None], self.mask_token.to(x.dtype), x) + self.position
        h = self.norm(self.encoder(x, src_key_padding_mask=mask))
        rot, angles, ratios = self.out.decode(self.root(h), self.angles(h), self.ratios(h))
        keep = (~mask).to(ratios.dtype)[..., None]
        ratios = (ratios * keep).sum(1) / keep.sum(1)  # one skeleton per window (section 2.7)
        out = self.out.pose(rot, angles, ratios[:, None].expand(b, w, -1))
        out["ratios"] = ratios
        return out

    def _residual(self, joints, mask, angles, root_rotation, ratios, spread) -> dict:

        if angles is None or root_rotation is None or ratios is None:
            raise ValueError("the residual temporal model needs each frame's angles, root rotation and bone ratios")
        b, w = joints.shape[:2]
        # a hidden frame takes the pose of the nearest visible frame of its window (the correction's base)
        pos = torch.arange(w, device=joints.device)
        dist = (pos[:, None] - pos[None]).abs().float().expand(b, w, w).masked_fill(mask[:, None, :], float("inf"))
        src = dist.argmin(-1)  # (B, W)

        def take(t):
            return t.gather(1, src.view(b, w, *[1] * (t.ndim - 2)).expand_as(t))

        joints, angles, root_rotation, ratios = take(joints), take(angles), take(root_rotation), take(ratios)
        spread = take(torch.nan_to_num(spread, nan=0.0)) if spread is not None else joints.new_zeros(b, w, NUM_JOINTS)
        raw = inverse_sine_normalise(angles, self.out.a_lo, self.out.a_hi)
        feats = torch.cat([joints.flatten(2), raw, root_rotation[..., :2].flatten(-2), spread], -1)
        x = self.embed(feats)
        x = torch.where(mask[..., None], self.mask_token.to(x.dtype), x) + self.position
        h = self.norm(self.encoder(x, src_key_padding_mask=mask))
        d = self.delta(h)
        new_angles = sine_normalise(raw + d[..., :NUM_ANGLES], self.out.a_lo, self.out.a_hi)
        rot = root_rotation @ rotvec_to_rotmat(d[..., NUM_ANGLES:])
        keep = (~mask).to(ratios.dtype)[..., None]
        window_ratios = (ratios * keep).sum(1) / keep.sum(1)
        out = self.out.pose(rot, new_angles, window_ratios[:, None].expand(b, w, -1))
        out["ratios"] = window_ratios
        return out


def random_frame_mask(
    b: int, w: int, max_fraction: float, generator: torch.Generator | None = None, device=None
) -> torch.Tensor:
    """(b, w) bool on ``device``: per window, k ~ U{0..floor(max_fraction * w)} frames hidden at random positions."""

    kmax = math.floor(max_fraction * w)
    k = rng.randint(0, kmax + 1, (b, 1), generator, device)
    rank = rng.rand((b, w), generator, device).argsort(1).argsort(1)
    mask = rank < k
    return mask & ~mask.all(1, keepdim=True)


@torch.no_grad()
def smooth_sequence(
    model: TemporalTransformer,
    joints: np.ndarray,
    found: np.ndarray | None = None,
    batch_size: int = 256,
    angles: np.ndarray | None = None,
    root_rotation: np.ndarray | None = None,
    ratios: np.ndarray | None = None,
    spread: np.ndarray | None = None,
    sigma_frames: float = 0.0,
) -> dict[str, np.ndarray]:
    """Run the temporal model over a whole sequence with a window centred on every frame, then (``sigma_frames``
    > 0) smooth the pose it gives over time (:func:`~diffuhand.kinematics.smoothing.smooth_pose_sequence`).

    Args:
        joints: (T, 21, 3) per-frame model output (right hand, wrist-relative, anchor lengths, camera frame).
        found: (T,) bool, False where no hand was found (those rows of ``joints`` are ignored).
        angles, root_rotation, ratios, spread: (T, 41), (T, 3, 3), (T, 20), (T, 21): each frame's own pose, for
            a residual-mode model.
        sigma_frames: standard deviation in frames of the Gaussian over time applied to the pose (0: none).

    Returns ``joints`` (T, 21, 3), ``angles`` (T, 41), ``ratios`` (T, 20), ``root_rotation`` (T, 3, 3), and
    ``status`` (T,) str: "tracked"
    (a hand was found in this frame), "bridged" (not found, filled from visible neighbours inside the window) or
    "missing" (no visible frame within half a window: NaN rows, never invented). The first and last frames see
    a window padded with hidden frames, so no frame is dropped or extrapolated from padding. As for a single
    frame, ``angles[:, :3]`` are the Euler angles of ``root_rotation`` and ``joints`` are the forward kinematics
    of ``angles`` and ``ratios`` under ``root_rotation`` (anchor lengths).
    """
    joints = np.asarray(joints, dtype=np.float32)
    t = len(joints)
    found = np.ones(t, dtype=bool) if found is None else np.asarray(found, dtype=bool)
    w = model.cfg.window
    half = w // 2

    def pad(a, fill=0.0):
        a = np.asarray(a, dtype=np.float32)
        edge = np.full((half, *a.shape[1:]), fill, np.float32)
        return np.concatenate([edge, np.nan_to_num(a) if fill == 0.0 else a, edge])

    pad_j = pad(joints)
    extra = {}
    if model.cfg.mode == "residual":
        if angles is None or root_rotation is None or ratios is None:
            raise ValueError("a residual temporal model needs each frame's angles, root rotation and bone ratios")
        rot = np.where(found[:, None, None], np.nan_to_num(np.asarray(root_rotation, dtype=np.float32)), np.eye(3))
        eye = np.tile(np.eye(3, dtype=np.float32), (half, 1, 1))  # padding: hidden, never read (nearest visible)
        extra = {
            "angles": pad(angles),
            "root_rotation": np.concatenate([eye, rot.astype(np.float32), eye]),
            "ratios": pad(ratios),
            "spread": pad(spread if spread is not None else np.full((t, NUM_JOINTS), np.nan), np.nan),
        }
    pad_m = np.concatenate([np.ones(half, bool), ~found, np.ones(half, bool)])
    idx = np.arange(t)[:, None] + np.arange(w)[None]  # window of frame i: padded rows i .. i + w - 1
    hidden = pad_m[idx]
    status = np.where(found, "tracked", np.where(hidden.all(1), "missing", "bridged"))
    out_j = np.full((t, NUM_JOINTS, 3), np.nan, np.float32)
    out_a = np.full((t, NUM_ANGLES), np.nan, np.float32)
    out_r = np.full((t, NUM_BONES), np.nan, np.float32)
    out_rot = np.full((t, 3, 3), np.nan, np.float32)
    run = np.flatnonzero(status != "missing")
    model.eval()
    for s in range(0, len(run), batch_size):
        rows = run[s : s + batch_size]
        more = {k: torch.from_numpy(v[idx[rows]]) for k, v in extra.items()}
        res = model(torch.from_numpy(pad_j[idx[rows]]), torch.from_numpy(hidden[rows]), **more)
        out_j[rows] = res["joints"][:, half].numpy()
        out_a[rows] = res["angles"][:, half].numpy()
        out_r[rows] = res["ratios"].numpy()
        # the model's pose turns the hand by its root angles, then by its rotation (KinematicOutput.pose): one
        # rotation holds both, as a single frame's result of the IK-solver and fusion lifts does (root_rotation,
        # angles[:3] its Euler angles)
        full = res["root_rotation"][:, half].double() @ euler_zyx_to_rotmat(
            res["angles"][:, half, :NUM_ROOT_ANGLES].double()
        )
        out_rot[rows] = full.numpy()
        out_a[rows, :NUM_ROOT_ANGLES] = rotmat_to_euler_zyx(full).numpy()
    if sigma_frames > 0:
        valid = status != "missing"
        a, rot, r = smooth_pose_sequence(out_a, out_rot, out_r, valid, sigma_frames)
        out_a[valid], out_rot[valid], out_r[valid] = a[valid], rot[valid], r[valid]
        joints = forward_kinematics(*(torch.from_numpy(x[valid]) for x in (a, r)), 1.0, torch.from_numpy(rot[valid]))
        out_j[valid] = joints.numpy()
    return {"joints": out_j, "angles": out_a, "ratios": out_r, "root_rotation": out_rot, "status": status}


def load_temporal(path) -> TemporalTransformer:
    """A trained temporal model from a checkpoint folder (safetensors + config.json), in eval mode. Its
    ``source_identity`` is the identity of the single-frame lift it was trained on (:mod:`diffuhand.lift`), where
    the checkpoint records it (older ones do not)."""

    cfg, state = read_checkpoint(path)
    try:
        model = TemporalTransformer(TemporalConfig(**{k: v for k, v in cfg["model"].items() if k != "kind"}))
        model.load_state_dict(state, strict=True)
    except (TypeError, ValueError, KeyError, RuntimeError) as exc:
        raise DiffuhandError(f"{path}: not a temporal model ({exc.__class__.__name__}: {str(exc)[:100]})") from None
    model.source_identity = cfg.get("source_identity")
    return model.eval()
