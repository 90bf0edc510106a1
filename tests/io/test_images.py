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
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")
    )


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


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: None, "no such file"),
        (lambda p: p.write_bytes(b""), "empty file"),
        (lambda p: p.write_text("not a picture\n"), "not an image"),
        (lambda p: Image.new("RGB", (1, 1)).save(p, format="JPEG"), "too small"),
        (lambda p: png_header_only(p, 20000, 20000), "megapixel limit"),
    ],
)
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


def png16(path, a):
    """A 16-bit colour PNG (Pillow writes none) of a (H, W, 3 or 4) uint16 array."""
    h, w, c = a.shape

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + a[y].astype(">u2").tobytes() for y in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 16, {3: 2, 4: 6}[c], 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    )


def test_arrays_become_what_their_files_would(tmp_path):
    """An image array in any layout the files come in (grey (H, W) or (H, W, 1), RGB, RGBA, 8 or 16 bits) gives
    what read_image gives for the same pixels saved as a PNG; anything else is refused in one line."""
    from diffuhand.io.images import image_from_array

    rng = np.random.default_rng(0)
    arrays = {
        "grey": rng.integers(0, 256, (48, 64), dtype=np.uint8),
        "grey16": rng.integers(0, 65536, (48, 64), dtype=np.uint16),
        "rgba": rng.integers(0, 256, (48, 64, 4), dtype=np.uint8),
        "rgb": rng.integers(0, 256, (48, 64, 3), dtype=np.uint8),
    }
    for name, a in arrays.items():
        Image.fromarray(a).save(tmp_path / f"{name}.png")
    for c in (3, 4):
        arrays[f"colour16-{c}"] = rng.integers(0, 65536, (48, 64, c), dtype=np.uint16)
        png16(tmp_path / f"colour16-{c}.png", arrays[f"colour16-{c}"])
    for name, a in arrays.items():
        np.testing.assert_array_equal(image_from_array(a), read_image(tmp_path / f"{name}.png"), err_msg=name)
    np.testing.assert_array_equal(image_from_array(arrays["grey"][..., None]), read_image(tmp_path / "grey.png"))
    for bad in (
        np.zeros((48, 64, 2), np.uint8),
        np.zeros((4, 48, 64, 3), np.uint8),
        np.zeros((48, 64, 3), np.float32),
        np.zeros((48, 64, 3), np.int64),
        np.zeros(5, np.uint8),
        np.zeros((0, 64, 3), np.uint8),
    ):
        with pytest.raises(DiffuhandError, match=r"image array") as err:
            image_from_array(bad)
        assert "\n" not in str(err.value)
