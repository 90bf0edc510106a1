"""Reading users' photos: any mode Pillow decodes (grayscale, 16-bit, palette, RGBA, CMYK) to 8-bit RGB, turned
upright by its EXIF orientation, with a one-line error for what cannot be a photo of a hand."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from diffuhand.errors import DiffuhandError

#: refused before decoding: a 20,000 x 20,000 image would need 1.2 GB as RGB
MAX_PIXELS = 100_000_000
#: smaller than this on a side cannot hold a hand the detector can find
MIN_SIDE = 16


def _to_uint8_rgb(im) -> np.ndarray:
    from PIL import Image

    if im.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16/32-bit grey: scale by its real range
        a = np.asarray(im, dtype=np.float64)
        hi = 65535.0 if im.mode.startswith("I;16") or a.max() > 255 else 255.0
        a = np.clip(a / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(a[..., None], 3, axis=-1)
    if im.mode == "F":
        a = np.asarray(im, dtype=np.float64)
        a = (a - a.min()) / max(float(a.max() - a.min()), 1e-12) * 255.0
        return np.repeat(a.astype(np.uint8)[..., None], 3, axis=-1)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))  # transparent parts over white
        return np.asarray(Image.alpha_composite(bg, rgba).convert("RGB"))
    return np.asarray(im.convert("RGB"))


def image_from_array(image) -> np.ndarray:
    """An image array -> (H, W, 3) uint8 RGB, as :func:`read_image` reads the same pixels from a file.

    Takes (H, W) or (H, W, 1) grey (uint8; uint16 and int32 scaled by their range; float32/64 stretched to its
    own min-max, as Pillow's mode F), (H, W, 3) RGB or (H, W, 4) RGBA (transparent parts over white), uint8 or
    uint16 (16-bit colour keeps its high byte, as Pillow reads 16-bit colour files). An (H, W, 3) uint8 array comes
    back as it is. Raises :class:`DiffuhandError` (one line) for any other shape or type."""
    from PIL import Image

    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    grey_types = (np.uint8, np.uint16, np.int32, np.float32, np.float64)
    ok = (a.ndim == 2 and a.dtype in grey_types) or (
        a.ndim == 3 and a.shape[2] in (3, 4) and a.dtype in (np.uint8, np.uint16)
    )
    if not ok or a.size == 0:
        raise DiffuhandError(
            f"expected an image array: (H, W) or (H, W, 1) grey, (H, W, 3) RGB or (H, W, 4) RGBA, "
            f"8 or 16 bits; got {a.shape} {a.dtype}"
        )
    if a.ndim == 3 and a.shape[2] == 3 and a.dtype == np.uint8:
        return a
    if a.ndim == 3 and a.dtype == np.uint16:
        a = (a >> 8).astype(np.uint8)  # what Pillow makes of a 16-bit colour file
    elif a.dtype == np.float64:
        a = a.astype(np.float32)  # Pillow's mode F
    return np.ascontiguousarray(_to_uint8_rgb(Image.fromarray(np.ascontiguousarray(a))))


def read_image(path: str | Path) -> np.ndarray:
    """A photo file -> (H, W, 3) uint8 RGB, upright (EXIF orientation applied).

    Raises :class:`DiffuhandError` (one line naming the file) for a missing or empty file, a file that is not an
    image, a truncated one, one over :data:`MAX_PIXELS` (checked from the header, before decoding) or one under
    :data:`MIN_SIDE` pixels on a side."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.exists():
        raise DiffuhandError(f"{path}: no such file")
    if path.is_dir():
        raise DiffuhandError(f"{path}: is a folder, not an image")
    if path.stat().st_size == 0:
        raise DiffuhandError(f"{path}: empty file")
    try:
        with warnings.catch_warnings():
            # Pillow warns from 89 MP as it opens the file; our own limit (checked next) says it in one line
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
        with im:
            w, h = im.size
            if w * h > MAX_PIXELS:
                raise DiffuhandError(
                    f"{path}: {w}x{h} pixels is over the {MAX_PIXELS // 1_000_000} megapixel limit; downscale it first"
                )
            if min(w, h) < MIN_SIDE:
                raise DiffuhandError(f"{path}: {w}x{h} pixels is too small to hold a hand (at least {MIN_SIDE} a side)")
            im.load()
            im = ImageOps.exif_transpose(im)
            return np.ascontiguousarray(_to_uint8_rgb(im))
    except UnidentifiedImageError:
        raise DiffuhandError(f"{path}: not an image Pillow can read") from None
    except Image.DecompressionBombError:
        raise DiffuhandError(
            f"{path}: over the {MAX_PIXELS // 1_000_000} megapixel limit (refused before decoding)"
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:  # truncated or corrupt data
        raise DiffuhandError(f"{path}: cannot decode the image ({str(exc)[:80] or exc.__class__.__name__})") from None


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm")
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
