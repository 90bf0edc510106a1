"""The diffusion head (section 2.5): a DDPM over the 21 wrist-relative joints (anchor units), conditioned on
image features (or 2D keypoints), T = 50.

Schedules and samplers are diffusers' (not rewritten): training adds noise by equation (3)
(``scheduler.add_noise``) and regresses it (equation 5); sampling starts from pure noise and steps by
equation (6) (``DDPMScheduler.step``, on all T steps or a strided few) or DDIM. With T = 50 diffusers' default linear betas would
leave ~60% of the signal at the last step, so the schedule is cosine (``squaredcos_cap_v2``); DDIM uses
``timestep_spacing="trailing"`` so that its first step starts from t = T - 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers import DDIMScheduler, DDPMScheduler
from torch import nn

from diffuhand.kinematics.skeleton import NUM_JOINTS
from diffuhand.models import rng
from diffuhand.models.unet1d import UNet1d

#: the data the network sees, wrist-relative joints in anchor units, span about +-2.5: denoised estimates are
#: clipped to +-3
CLIP_RANGE = 3.0


@dataclass
class SamplerConfig:
    """``ddpm`` (ancestral, equation 6) with ``steps`` = T as in the paper or fewer (a strided schedule), or
    ``ddim`` (deterministic for ``eta`` = 0); ``samples`` per image, drawn in one batch."""

    kind: str = "ddpm"
    steps: int = 50
    samples: int = 1
    eta: float = 0.0

    def __post_init__(self):
        if self.kind not in ("ddpm", "ddim") or self.steps < 1 or self.samples < 1:
            raise ValueError(f"bad sampler {self}: kind ddpm or ddim, steps >= 1, samples >= 1")


def override_sampler(
    base: dict | SamplerConfig, changes: dict | SamplerConfig | None = None, timesteps: int | None = None
) -> SamplerConfig:
    """``base`` (e.g. a checkpoint's sampler) with the fields of ``changes`` replaced (e.g. ``{"samples": 1}``).

    Raises ValueError (one line, "bad sampler ...") for an unknown field or kind, steps or samples < 1, or more
    steps than the model's ``timesteps`` T."""
    from dataclasses import asdict

    base = asdict(base) if isinstance(base, SamplerConfig) else dict(base)
    changes = asdict(changes) if isinstance(changes, SamplerConfig) else dict(changes or {})
    try:
        cfg = SamplerConfig(**{**base, **changes})  # checks kind, steps, samples
    except TypeError as exc:
        raise ValueError(f"bad sampler {changes!r}: {exc}") from None
    if timesteps is not None and cfg.steps > timesteps:
        raise ValueError(f"bad sampler {cfg}: at most T = {timesteps} steps")
    return cfg


class DiffusionHead(nn.Module):
    """The DDPM of section 2.5 over the joints: training loss (equation 5) and samplers (equation 6, DDIM).

    Args:
        cond_dim: size of the conditioning vector (B, cond_dim) the head is given.
        timesteps: T, the number of diffusion steps (50 in the paper).
        channels: the U-Net's widths at its three levels (:class:`~diffuhand.models.unet1d.UNet1d`).
        time_dim: size of the U-Net's time-step embedding.
        cond_channels: per-joint channels the conditioning vector is projected to.
    """

    def __init__(
        self,
        cond_dim: int = 256,
        timesteps: int = 50,
        channels: tuple[int, int, int] = (64, 128, 256),
        time_dim: int = 128,
        cond_channels: int = 32,
    ):
        super().__init__()
        self.unet = UNet1d(cond_dim=cond_dim, channels=channels, t_dim=time_dim, cond_channels=cond_channels)
        self.runner = None  # what sampling calls instead of the U-Net module (an ONNX Runtime session): use_backend
        self.timesteps = timesteps
        self.train_scheduler = DDPMScheduler(
            num_train_timesteps=timesteps,
            beta_schedule="squaredcos_cap_v2",
            clip_sample=False,
            prediction_type="epsilon",
        )

    def use_backend(self, backend: str = "torch", onnx_model=None, threads: int | None = None) -> None:
        """Sampling runs the U-Net in ``"torch"`` (eager) or ``"onnx"`` (ONNX Runtime, from ``onnx_model``: a file or
        bytes of :func:`~diffuhand.models.onnx.export_unet`, else exported now; :mod:`diffuhand.models.onnx`).
        Training always uses torch."""
        if backend == "torch":
            self.runner = None
        elif backend == "onnx":
            from diffuhand.models.onnx import OnnxUNet

            self.runner = OnnxUNet(self.unet, onnx_model, threads)
        else:
            raise ValueError(f"backend must be 'torch' or 'onnx', got {backend!r}")

    def scheduler(self, cfg: SamplerConfig):
        """diffusers' scheduler for ``cfg`` (ValueError when it asks for more steps than T)."""
        if cfg.steps > self.timesteps:
            raise ValueError(f"bad sampler {cfg}: at most T = {self.timesteps} steps")
        # the training schedule (T, betas) is the one the network learnt; x0 predictions are clipped to the joints'
        # range: at t = T the cosine schedule leaves sqrt(a_T) ~ 1e-3, and a few-step DDIM would otherwise multiply
        # the first step's noise error by hundreds; "trailing" starts at t = T - 1 (for steps = T every spacing is
        # the same); fewer DDPM steps than T is ancestral sampling on a strided schedule (diffusers takes the
        # posterior between the strided steps)
        common = {"clip_sample": True, "clip_sample_range": CLIP_RANGE, "timestep_spacing": "trailing"}
        if cfg.kind == "ddpm":
            return DDPMScheduler.from_config(self.train_scheduler.config, **common)
        return DDIMScheduler.from_config(self.train_scheduler.config, **common, set_alpha_to_one=False)  # "ddim"

    def loss(self, joints: torch.Tensor, cond: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Equation (5): || eps - eps_theta(sqrt(a_t) x0 + sqrt(1 - a_t) eps, t, f) ||^2, t uniform."""
        x0 = joints
        noise = rng.randn(x0.shape, generator, x0.device, x0.dtype)  # a CPU generator may seed a GPU run
        t = rng.randint(0, self.timesteps, (x0.shape[0],), generator, x0.device)
        xt = self.train_scheduler.add_noise(x0, noise, t)  # equation (3)
        pred = self.unet(xt, t, self.unet.condition(cond))
        return torch.nn.functional.mse_loss(pred, noise)

    @torch.no_grad()
    def sample(
        self,
        cond: torch.Tensor,
        cfg: SamplerConfig | None = None,
        generator: torch.Generator | None = None,
        unet=None,
        guide=None,
        guide_scale: float = 0.0,
    ) -> torch.Tensor:
        """(B, cond_dim) -> (B, S, 21, 3) joints, S = ``cfg.samples``, all drawn in one batch. ``unet``: what to
        call at each step (the U-Net module or an ONNX Runtime runner of it; default: :meth:`use_backend`'s).

        ``guide``: diffusion posterior sampling (Chung et al. 2023, "Diffusion posterior sampling for general noisy
        inverse problems", algorithm 1): a function of the denoised estimate x0 (B * S, 21, 3) (row ``i`` belongs
        to image ``i // S``) returning each sample's observation residual |y - A(x0)|^2 (B * S,); every step then
        also moves x_t by ``-guide_scale * grad |y - A(x0)|`` (the gradient through the torch U-Net; the step
        size normalised by the residual, as the paper's zeta_i)."""
        cfg = cfg or SamplerConfig()
        sched = self.scheduler(cfg)
        sched.set_timesteps(cfg.steps)
        b, s = cond.shape[0], cfg.samples
        cond_map = self.unet.condition(cond).repeat_interleave(s, dim=0)  # once per image, not per step
        x = rng.randn((b * s, NUM_JOINTS, 3), generator, cond.device, cond.dtype)
        unet = self.unet if guide is not None else (unet or self.runner or self.unet)  # guidance needs gradients
        for t in sched.timesteps:
            tt = t.expand(b * s).to(cond.device)
            kw = {"eta": cfg.eta} if cfg.kind == "ddim" else {}
            if guide is None:
                eps = unet(x, tt, cond_map)
                x = sched.step(eps, t, x, generator=generator, **kw).prev_sample  # equation (6) for DDPM
                continue
            with torch.enable_grad():
                xg = x.detach().requires_grad_(True)
                eps = unet(xg, tt, cond_map)
                a = sched.alphas_cumprod[int(t)].to(x.dtype)
                x0 = (xg - (1 - a).sqrt() * eps) / a.sqrt()  # Tweedie's estimate of the clean joints
                resid = guide(x0.clamp(-CLIP_RANGE, CLIP_RANGE)).clamp_min(1e-12).sqrt()
                (grad,) = torch.autograd.grad(resid.sum(), xg)
            x = sched.step(eps.detach(), t, x, generator=generator, **kw).prev_sample - guide_scale * grad
        return x.view(b, s, NUM_JOINTS, 3)
