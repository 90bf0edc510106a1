"""A small 1D U-Net over the 21 joints (section 2.5): input the noisy joints (B, 21, 3) concatenated, per joint,
with the conditioning vector; residual blocks with a time-step embedding; output the predicted noise (B, 21, 3).

The joint axis is padded to 24 so that it halves twice (24 -> 12 -> 6). The conditioning is projected once per
image (``condition``) and reused at every denoising step (it does not depend on the step).
"""

from __future__ import annotations

import math

import torch
from torch import nn

_LEN = 24


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of integer steps (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=-1)


class ResBlock1d(nn.Module):
    def __init__(self, c_in: int, c_out: int, t_dim: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(8, c_in)
        self.conv1 = nn.Conv1d(c_in, c_out, 3, padding=1)
        self.time = nn.Linear(t_dim, c_out)
        self.norm2 = nn.GroupNorm(8, c_out)
        self.conv2 = nn.Conv1d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        h = self.conv1(torch.nn.functional.silu(self.norm1(x)))
        h = h + self.time(t)[:, :, None]
        h = self.conv2(torch.nn.functional.silu(self.norm2(h)))
        return h + self.skip(x)


class UNet1d(nn.Module):
    """The noise predictor eps_theta(x_t, t, f) of equation (5), over the joint axis.

    Args:
        cond_dim: size of the conditioning vector f (B, cond_dim) (image or keypoint features).
        channels: widths at the three levels (24, 12 and 6 joint slots).
        t_dim: size of the sinusoidal time-step embedding and of its MLP.
        cond_channels: channels per joint slot that f is projected to and concatenated with x_t.

    Shapes: x_t (B, 21, 3) joints in anchor lengths, t (B,) integer steps in [0, T), output (B, 21, 3) the noise.
    """

    def __init__(
        self,
        cond_dim: int = 256,
        channels: tuple[int, int, int] = (64, 128, 256),
        t_dim: int = 128,
        cond_channels: int = 32,
    ):
        super().__init__()
        c1, c2, c3 = channels
        self.t_dim = t_dim
        self.time_mlp = nn.Sequential(nn.Linear(t_dim, t_dim), nn.SiLU(), nn.Linear(t_dim, t_dim))
        # the conditioning vector becomes a per-joint signal concatenated to the noisy joints
        self.cond_proj = nn.Linear(cond_dim, cond_channels * _LEN)
        self.cond_channels = cond_channels
        self.inp = nn.Conv1d(3 + cond_channels, c1, 3, padding=1)
        self.down1 = ResBlock1d(c1, c1, t_dim)
        self.pool = nn.AvgPool1d(2)
        self.down2 = ResBlock1d(c1, c2, t_dim)
        self.mid = ResBlock1d(c2, c3, t_dim)
        self.mid2 = ResBlock1d(c3, c2, t_dim)
        self.up2 = ResBlock1d(c2 + c2, c2, t_dim)
        self.up1 = ResBlock1d(c2 + c1, c1, t_dim)
        self.outp = nn.Conv1d(c1, 3, 3, padding=1)
        nn.init.zeros_(self.outp.weight)
        nn.init.zeros_(self.outp.bias)

    def condition(self, cond: torch.Tensor) -> torch.Tensor:
        """(B, cond_dim) -> (B, cond_channels, 24), computed once per image."""
        return self.cond_proj(cond).view(cond.shape[0], self.cond_channels, _LEN)

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond_map: torch.Tensor) -> torch.Tensor:
        """x (B, 21, 3) noisy joints, t (B,) steps, cond_map (B, C, 24) from :meth:`condition` -> (B, 21, 3)."""
        h = torch.nn.functional.pad(x.transpose(1, 2), (0, _LEN - x.shape[1]))
        h = self.inp(torch.cat([h, cond_map], dim=1))
        temb = self.time_mlp(timestep_embedding(t, self.t_dim))
        s1 = self.down1(h, temb)  # 24
        s2 = self.down2(self.pool(s1), temb)  # 12
        m = self.mid2(self.mid(self.pool(s2), temb), temb)  # 6
        u2 = self.up2(torch.cat([torch.nn.functional.interpolate(m, scale_factor=2), s2], 1), temb)
        u1 = self.up1(torch.cat([torch.nn.functional.interpolate(u2, scale_factor=2), s1], 1), temb)
        return self.outp(u1)[:, :, : x.shape[1]].transpose(1, 2)
