"""Contact sheets: a grid of images with their 2D joints drawn on (visible joints yellow, hidden red)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from diffuhand.data import open_dataset
from diffuhand.data.schema import load_rgb
from diffuhand.io.files import atomic_path
from diffuhand.kinematics.skeleton import PARENTS

BONE_RGB = ((214, 39, 40), (44, 160, 44), (31, 119, 180), (148, 103, 189), (255, 127, 14))


def contact_sheet(
    path: str | Path,
    images: list[np.ndarray],
    joints_2d: list[list[np.ndarray]],
    visible: list[list[np.ndarray]] | None = None,
    cols: int = 8,
    scale: int = 2,
) -> None:
    """Write a PNG grid: ``images[i]`` (H, W, 3) uint8 with each of its hands' (21, 2) joints drawn."""
    from PIL import Image, ImageDraw

    h, w = images[0].shape[:2]
    rows = (len(images) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * w * scale, rows * h * scale), (255, 255, 255))
    for i, img in enumerate(images):
        tile = Image.fromarray(img).resize((w * scale, h * scale), Image.NEAREST)
        draw = ImageDraw.Draw(tile)
        for k, uv in enumerate(joints_2d[i]):
            uv = np.asarray(uv) * scale
            for j in range(1, 21):
                draw.line([tuple(uv[PARENTS[j]]), tuple(uv[j])], fill=BONE_RGB[(j - 1) // 4], width=1)
            vis = visible[i][k] if visible is not None else np.ones(21, bool)
            for (x, y), v in zip(uv, vis):
                draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=(255, 230, 0) if v else (255, 0, 0))
        sheet.paste(tile, ((i % cols) * w * scale, (i // cols) * h * scale))
    with atomic_path(path) as tmp:
        sheet.save(tmp, format="PNG")


def synth_contact_sheet(root: str | Path, path: str | Path, count: int = 24) -> None:
    """The first ``count`` images of a ``diffuhand synth`` folder with their labels."""

    ds = open_dataset("synth", root, load_images=False)
    by_image: dict[int, list[int]] = {}
    for i, rec in enumerate(ds.records):
        by_image.setdefault(rec["extra"]["image_index"], []).append(i)
    picks = sorted(by_image)[:count]

    images = [load_rgb(ds.records[by_image[p][0]]["image_path"]) for p in picks]
    joints = [[ds.records[i]["joints_2d"] for i in by_image[p]] for p in picks]
    vis = [[ds.records[i]["extra"]["visible"] for i in by_image[p]] for p in picks]
    contact_sheet(path, images, joints, vis)
