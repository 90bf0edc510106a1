import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from diffuhand.errors import DiffuhandError
from diffuhand.io.images import read_image


def png_header_only(path, w, h):
    """A PNG whose header claims w x h (no pixel data worth decoding): what must be refused before decoding."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b""))


def test_modes_all_become_uint8_rgb(tmp_path):
    grad = np.tile(np.arange(64, dtype=np.uint16), (48, 1))
    Image.fromarray((grad * 4).astype(np.uint8), "L").save(tmp_path / "grey.png")
    Image.fromarray(grad * 1024).save(tmp_path / "grey16.png")
    rgba = np.zeros((48, 64, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:, :32, 3] = 255  # left half opaque red, right half transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    for name in ("grey.png", "grey16.png", "rgba.png"):
        a = read_image(tmp_path / name)
        assert a.shape == (48, 64, 3) and a.dtype == np.uint8
    g16 = read_image(tmp_path / "grey16.png")
    assert g16[0, 0, 0] == 0 and g16[0, -1, 0] == round(63 * 1024 / 65535 * 255)  # scaled by 16-bit range, not clipped
    r = read_image(tmp_path / "rgba.png")
    assert tuple(r[0, 0]) == (200, 0, 0) and tuple(r[0, -1]) == (255, 255, 255)


def test_exif_orientation_is_applied(tmp_path):
    a = np.zeros((40, 80, 3), np.uint8)
    a[:, :10] = 255  # a white band on the left of the stored pixels
    im = Image.fromarray(a)
    exif = im.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to view"
    im.save(tmp_path / "rot.jpg", exif=exif, quality=95)
    up = read_image(tmp_path / "rot.jpg")
    assert up.shape == (80, 40, 3)
    assert up[:10].mean() > 200 and up[-10:].mean() < 50  # the band is now on top


@pytest.mark.parametrize("make, message", [
    (lambda p: None, "no such file"),
    (lambda p: p.write_bytes(b""), "empty file"),
    (lambda p: p.write_text("not a picture\n"), "not an image"),
    (lambda p: Image.new("RGB", (1, 1)).save(p, format="JPEG"), "too small"),
    (lambda p: png_header_only(p, 20000, 20000), "megapixel limit"),
])  # fmt: skip
def test_bad_files_give_one_line(tmp_path, make, message):
    p = tmp_path / "bad.jpg"
    make(p)
    with pytest.raises(DiffuhandError, match=message) as exc:
        read_image(p)
    assert "\n" not in str(exc.value) and str(p) in str(exc.value)


def test_truncated_jpeg(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (200, 200, 3), dtype=np.uint8)).save(tmp_path / "full.jpg", quality=90)
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 3])
    with pytest.raises(DiffuhandError, match="cannot decode"):
        read_image(tmp_path / "cut.jpg")
