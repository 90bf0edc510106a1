"""Square hand crops with their own intrinsics, and left-to-right flips (paper sections 2.1, 2.4).

Pixel convention: continuous coordinates, pixel ``i`` covers ``[i, i + 1)`` (so a pixel centre is at ``i + 0.5``),
the convention of the data sets' 2D keypoints and of ``uv ~ K xyz``. A crop only changes ``K`` and the 2D joints;
the 3D joints stay in the camera frame.
"""

from __future__ import annotations

import numpy as np

from diffuhand.data.schema import HandSample, project
from diffuhand.detect.boxes import square_box
from diffuhand.errors import DiffuhandError


def crop_matrix(box: np.ndarray, size: int) -> np.ndarray:
    """3x3 map from image pixels to crop pixels for the square ``box`` (x, y, side) resized to ``size``."""
    x, y, side = box
    s = size / side
    return np.array([[s, 0.0, -x * s], [0.0, s, -y * s], [0.0, 0.0, 1.0]])


def crop_sample(
    sample: HandSample,
    size: int = 128,
    box: np.ndarray | None = None,
    margin: float = 1.5,
    shift: tuple[float, float] = (0.0, 0.0),
    scale: float = 1.0,
) -> HandSample:
    """The square crop of ``sample`` around its hand, resized to ``size`` x ``size``, with the crop's ``K``.

    Args:
        box: (x, y, side) square in image pixels; by default :func:`square_box` of the valid 2D joints.
        shift: moves the box by this fraction of its side (augmentation); scale: multiplies its side.
    """
    if sample.K is None:
        raise DiffuhandError(f"{sample.dataset}[{sample.index}]: no intrinsics, cannot crop")
    joints_2d = sample.joints_2d if sample.joints_2d is not None else project(sample.joints_3d, sample.K)
    box = square_box(joints_2d, sample.valid, margin) if box is None else np.asarray(box, dtype=np.float64)
    side = box[2] * scale
    centre = box[:2] + box[2] / 2 + np.asarray(shift) * box[2]
    box = np.array([centre[0] - side / 2, centre[1] - side / 2, side])
    m = crop_matrix(box, size)
    image = None
    if sample.image is not None:
        from PIL import Image

        inv = np.linalg.inv(m)
        image = np.array(
            Image.fromarray(sample.image).transform(
                (size, size), Image.AFFINE, data=tuple(inv[:2].ravel()), resample=Image.BILINEAR
            )
        )
    extra = {**sample.extra, "crop_box": box.tolist(), "crop_matrix": m}
    return sample.replace(image=image, K=m @ sample.K, joints_2d=joints_2d * m[0, 0] + m[:2, 2], extra=extra)


def flip_sample(sample: HandSample) -> HandSample:
    """Mirror horizontally: image columns reversed, x of the 3D joints negated, ``K`` and 2D joints to match,
    handedness swapped. ``uv' = (W - u, v)`` for an image ``W`` pixels wide."""
    width = sample.image.shape[1] if sample.image is not None else sample.extra.get("width")
    if width is None and sample.K is not None:
        width = 2.0 * sample.K[0, 2]  # no image: mirror about the principal point
    K = None
    if sample.K is not None:
        K = sample.K.copy()
        K[0, 1] = -K[0, 1]
        K[0, 2] = width - K[0, 2]
    j2 = None
    if sample.joints_2d is not None:
        j2 = sample.joints_2d.copy()
        j2[:, 0] = width - j2[:, 0]
    return sample.replace(
        image=None if sample.image is None else np.ascontiguousarray(sample.image[:, ::-1]),
        K=K,
        joints_2d=j2,
        joints_3d=sample.joints_3d * np.array([-1.0, 1.0, 1.0]),
        handedness="right" if sample.handedness == "left" else "left",
        extra={**sample.extra, "flipped": not sample.extra.get("flipped", False)},
    )


def to_right_hand(sample: HandSample) -> HandSample:
    """Left hands are flipped so the model only ever sees right hands (section 2.1); right hands pass."""
    return flip_sample(sample) if sample.handedness == "left" else sample


def unflip_joints(joints: np.ndarray, flipped: bool) -> np.ndarray:
    """Undo :func:`to_right_hand` on predicted (..., 21, 3) camera-frame joints: negate x if it flipped."""
    return joints * np.array([-1.0, 1.0, 1.0]) if flipped else joints
