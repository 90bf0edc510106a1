"""Overlays of predictions on the input photo: the posed mesh (rendered through an assumed pinhole camera, placed
where the hand's 2D joints are) and the 2D skeleton; and a 3D view of the hands."""

from __future__ import annotations

import numpy as np

from diffuhand.kinematics.skeleton import PARENTS
from diffuhand.synth.mesh import posed_mesh
from diffuhand.synth.render import Lighting, MeshItem, Renderer
from diffuhand.viz.skeleton3d import new_figure

FINGER_COLOURS = ((230, 60, 60), (240, 170, 30), (60, 190, 60), (40, 140, 230), (170, 80, 220))
#: an overlay's longest side in pixels: a larger photo is drawn downscaled (the mesh renderer's memory grows with
#: the pixels: a 60-megapixel photo took 7.5 GB at full size)
MAX_OVERLAY_SIDE = 2048


def assumed_intrinsics(width: int, height: int) -> np.ndarray:
    """A pinhole for a photo of unknown camera: focal length = the longer side (about 53 degrees across it)."""
    f = float(max(width, height))
    return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])


def fit_translation(joints_mm: np.ndarray, uv: np.ndarray, K: np.ndarray) -> np.ndarray:
    """The translation t (3,) mm that best projects ``joints_mm + t`` onto ``uv`` (least squares in the
    linearised form (u - cx)(Z + tz) = fx (X + tx), which is exact when the fit is exact)."""
    ok = np.isfinite(uv).all(1)
    x, y, z = (joints_mm[ok] - joints_mm[ok].mean(0)).T
    du, dv = uv[ok, 0] - K[0, 2], uv[ok, 1] - K[1, 2]
    fx, fy = K[0, 0], K[1, 1]
    n = len(x)
    a = np.zeros((2 * n, 3))
    a[:n, 0], a[:n, 2] = fx, -du
    a[n:, 1], a[n:, 2] = fy, -dv
    b = np.r_[du * z - fx * x, dv * z - fy * y]
    t, *_ = np.linalg.lstsq(a, b, rcond=None)
    return t - joints_mm[ok].mean(0)


def draw_skeleton(image: np.ndarray, uv: np.ndarray, width: int = 2) -> np.ndarray:
    """The 21 2D joints as bones coloured by finger (thumb red ... pinky purple) on a copy of ``image``."""
    from PIL import Image, ImageDraw

    im = Image.fromarray(image)
    draw = ImageDraw.Draw(im)
    for j in range(1, 21):
        p = PARENTS[j]
        if np.isfinite(uv[[j, p]]).all():
            draw.line([tuple(uv[p]), tuple(uv[j])], fill=FINGER_COLOURS[(j - 1) // 4], width=width)
    for j in range(21):
        if np.isfinite(uv[j]).all():
            r = width + 1
            draw.ellipse([uv[j, 0] - r, uv[j, 1] - r, uv[j, 0] + r, uv[j, 1] + r], fill=(255, 255, 255))
    return np.asarray(im)


def draw_body(image: np.ndarray, body, min_visibility: float = 0.5) -> np.ndarray:
    """MediaPipe Pose's skeleton (a :class:`~diffuhand.detect.BodyDetection`) in cyan on a copy of ``image``."""
    from PIL import Image, ImageDraw

    im = Image.fromarray(image)
    draw = ImageDraw.Draw(im)
    width = max(2, round(max(image.shape[:2]) / 250))
    seen = body.visibility >= min_visibility
    for i, j in body.connections:
        if seen[i] and seen[j]:
            draw.line([tuple(body.keypoints_2d[i]), tuple(body.keypoints_2d[j])], fill=(0, 220, 255), width=width)
    return np.asarray(im)


def downscaled(image: np.ndarray, hands: list, body=None, max_side: int = MAX_OVERLAY_SIDE) -> tuple:
    """(image, hands, body) with the image shrunk to ``max_side`` pixels on its longest side and the hands' 2D
    joints and boxes (and the body's) scaled with it; unchanged when the image is no larger."""
    from dataclasses import replace

    from PIL import Image

    h, w = image.shape[:2]
    if max(h, w) <= max_side:
        return image, hands, body
    size = (max(1, round(w * max_side / max(h, w))), max(1, round(h * max_side / max(h, w))))
    sx, sy = size[0] / w, size[1] / h  # per axis: continuous pixel coordinates scale exactly by these
    small = np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR, reducing_gap=2.0))
    hands = [replace(hd, joints_2d=hd.joints_2d * [sx, sy], box=hd.box * [sx, sy, sx, sy]) for hd in hands]
    if body is not None:
        body = replace(body, keypoints_2d=body.keypoints_2d * [sx, sy])
    return small, hands, body


def render_overlay(
    image: np.ndarray, hands: list, anchor_mm: float, alpha: float = 0.6, body=None, max_side: int = MAX_OVERLAY_SIDE
) -> np.ndarray:
    """The photo with each hand's posed mesh (placed by :func:`fit_translation` through
    :func:`assumed_intrinsics`) blended in, and the 2D skeletons on top. ``hands``: pipeline HandResults.

    A photo larger than ``max_side`` pixels on its longest side is drawn downscaled to it (:func:`downscaled`):
    the result is then that size, not the photo's."""

    image, hands, body = downscaled(image, hands, body, max_side)
    h, w = image.shape[:2]
    K = assumed_intrinsics(w, h)
    items = []
    for hand in hands:
        if not np.isfinite(hand.joints_2d).all() or hand.root_rotation is None:
            continue
        v, f = posed_mesh(hand, anchor_mm)
        t = fit_translation(hand.joints_3d, hand.joints_2d, K)
        colour = np.tile(np.array([0.85, 0.65, 0.55]), (len(v), 1))
        items.append(MeshItem(v + t, f, colour, label=len(items) + 1))
    out = image.copy() if body is None else draw_body(image, body)
    if items:
        colour, _, _, cover = Renderer(w, h).render(items, K, Lighting(ambient=0.5, intensity=2.5))
        a = (cover.astype(np.float64) / 255.0 * alpha)[..., None]
        out = (out * (1 - a) + colour * a).astype(np.uint8)
    for hand in hands:
        if np.isfinite(hand.joints_2d).all():
            out = draw_skeleton(out, hand.joints_2d, width=max(1, round(max(h, w) / 300)))
    return out


def plot_hands_3d(hands: list, path, title: str = "") -> None:
    """A 3D view of the hands' skeletons (mm, wrist-relative, camera frame; left hands beside right ones)."""

    fig = new_figure((4 * max(1, len(hands)), 4))
    for k, hand in enumerate(hands):
        ax = fig.add_subplot(1, max(1, len(hands)), k + 1, projection="3d")
        j = hand.joints_3d
        for c in range(1, 21):
            p = PARENTS[c]
            col = np.array(FINGER_COLOURS[(c - 1) // 4]) / 255
            ax.plot(*np.stack([j[p], j[c]]).T, color=col, lw=2)
        ax.scatter(*j.T, s=8, c="k")
        lim = np.abs(j).max() * 1.1
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim), zlim=(-lim, lim), xlabel="x mm", ylabel="y mm", zlabel="z mm")
        ax.view_init(elev=-75, azim=-90)  # roughly the camera's view: y down, z away
        ax.set_title(f"{hand.handedness} ({hand.status})", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100, format="png")
