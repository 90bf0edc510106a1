"""Augmentations of section 2.4: noise of several kinds, blur, sharpening, colour jitter (torchvision v2), and
random shift and scale of the crop (which change ``K``, so they happen in the crop); two differently augmented
views of one crop for the contrastive loss."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torchvision.transforms import v2

from diffuhand.data.crops import crop_sample
from diffuhand.data.schema import HandSample


class ShotNoise(torch.nn.Module):
    """Poisson-like noise whose variance grows with brightness (sensor shot noise), on float images in [0, 1]."""

    def __init__(self, max_strength: float = 0.05):
        super().__init__()
        self.max_strength = max_strength

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        k = torch.rand(()) * self.max_strength
        return (img + torch.randn_like(img) * img.clamp_min(0).sqrt() * k).clamp(0, 1)


class JpegArtifacts:
    """Re-encodes a (H, W, 3) uint8 image as JPEG at a random quality (compression artefacts), with Pillow."""

    def __init__(self, quality: tuple[int, int] = (40, 95)):
        self.quality = quality

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        import io

        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format="JPEG", quality=int(rng.integers(*self.quality)))
        with Image.open(buf) as im:
            return np.array(im.convert("RGB"))


class SaltPepper(torch.nn.Module):
    """Sets a random fraction (up to ``max_fraction``) of pixels to black or white."""

    def __init__(self, max_fraction: float = 0.02):
        super().__init__()
        self.max_fraction = max_fraction

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        frac = float(torch.rand(())) * self.max_fraction
        hit = torch.rand(img.shape[-2:]) < frac
        value = (torch.rand(img.shape[-2:]) < 0.5).to(img.dtype)
        return torch.where(hit, value, img)


@dataclass
class AugmentConfig:
    """Strengths of each augmentation; ``p_*`` are probabilities."""

    shift: float = 0.1  # crop centre moves up to this fraction of the box
    scale: tuple[float, float] = (0.85, 1.2)
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.05
    p_blur: float = 0.3
    p_sharpen: float = 0.3
    p_gaussian_noise: float = 0.3
    p_shot_noise: float = 0.2
    p_salt_pepper: float = 0.1
    p_jpeg: float = 0.2


def photometric(cfg: AugmentConfig) -> v2.Compose:
    """The photometric part, applied to a (3, H, W) float image in [0, 1]."""
    return v2.Compose(
        [
            v2.ColorJitter(cfg.brightness, cfg.contrast, cfg.saturation, cfg.hue),
            v2.RandomApply([v2.GaussianBlur(5, sigma=(0.1, 2.0))], p=cfg.p_blur),
            v2.RandomAdjustSharpness(2.0, p=cfg.p_sharpen),
            v2.RandomApply([v2.GaussianNoise(sigma=0.03)], p=cfg.p_gaussian_noise),
            v2.RandomApply([ShotNoise()], p=cfg.p_shot_noise),
            v2.RandomApply([SaltPepper()], p=cfg.p_salt_pepper),
        ]
    )


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, H, W) float32 in [0, 1]."""
    return torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).float().div_(255.0)


class Augmenter:
    """Random crop geometry plus photometric augmentation; ``views=2`` gives two differently augmented views of
    the same crop (the pair of the SimCLR / PeCLR loss)."""

    def __init__(self, cfg: AugmentConfig | None = None, size: int = 128, seed: int | None = None):
        self.cfg = cfg or AugmentConfig()
        self.size = size
        self.rng = np.random.default_rng(seed)
        self.photo = photometric(self.cfg)
        self.jpeg = JpegArtifacts()

    def crop(self, sample: HandSample) -> HandSample:
        shift = tuple(self.rng.uniform(-self.cfg.shift, self.cfg.shift, size=2))
        scale = float(self.rng.uniform(*self.cfg.scale))
        return crop_sample(sample, self.size, shift=shift, scale=scale)

    def view(self, image: np.ndarray) -> torch.Tensor:
        if self.rng.random() < self.cfg.p_jpeg:
            image = self.jpeg(image, self.rng)
        return self.photo(to_tensor(image)).clamp(0, 1)

    def __call__(self, sample: HandSample, views: int = 1) -> tuple[HandSample, list[torch.Tensor]]:
        """Crop ``sample`` once (random shift/scale) and return it with ``views`` augmented image tensors."""
        crop = self.crop(sample)
        if crop.image is None:
            raise ValueError(f"{sample.dataset}[{sample.index}] has no image to augment")
        return crop, [self.view(crop.image) for _ in range(views)]
