"""Random draws for any device: each takes a ``generator`` and a ``device`` (as ``roma.random_rotmat`` does).

The numbers are drawn where the generator lives (a ``torch.Generator()`` is a CPU one) and then moved to
``device``: a CPU generator can seed work on a GPU (torch refuses a CPU generator for a CUDA draw), and a seed
gives the same numbers whatever the device. Without a generator they are drawn on ``device`` from its global RNG.
"""

from __future__ import annotations

import torch


def _source(generator: torch.Generator | None, device) -> torch.device | None:
    return generator.device if generator is not None else (torch.device(device) if device is not None else None)


def rand(size, generator: torch.Generator | None = None, device=None, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Uniform [0, 1) of ``size`` on ``device``."""
    return torch.rand(size, generator=generator, device=_source(generator, device), dtype=dtype).to(device)


def randn(
    size, generator: torch.Generator | None = None, device=None, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """Standard normal of ``size`` on ``device``."""
    return torch.randn(size, generator=generator, device=_source(generator, device), dtype=dtype).to(device)


def randint(low: int, high: int, size, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """Integers in [low, high) of ``size`` (int64) on ``device``."""
    return torch.randint(low, high, size, generator=generator, device=_source(generator, device)).to(device)


def random_rotation(
    n: int, generator: torch.Generator | None = None, device=None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """(n, 3, 3) rotations, uniform on SO(3): a normalised Gaussian quaternion (uniform on the 3-sphere)."""
    import roma  # training only: not on the photo path's start-up (kinematics.fk.rotmat_to_euler_zyx says why)

    quat = torch.nn.functional.normalize(randn((n, 4), generator, device, dtype), dim=-1)
    return roma.unitquat_to_rotmat(quat)
