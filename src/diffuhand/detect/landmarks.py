"""MediaPipe's hand landmark network, called directly: one pass per hand gives its 2D keypoints, its 3D "world
landmarks", presence and handedness scores, and the image features they are read from.

The network is the one inside the MediaPipe 0.10.21 wheel (``mediapipe/modules/hand_landmark/
hand_landmark_full.tflite``, Apache-2.0): a MobileNetV2-like body on a 224 x 224 RGB crop (values in [0, 1]),
whose 7 x 7 x 1152 map is averaged into a 1152-d vector (``global_average_pooling2d``), read by four linear
heads. It runs in Google's LiteRT interpreter (``ai-edge-litert``) straight from the installed wheel: nothing is
converted or copied into this package.

The crop is MediaPipe's own (``HandLandmarksToRectCalculator`` + ``RectTransformationCalculator`` of its hand
tracking graph): a square around the keypoints, turned so that the wrist -> middle-finger direction points up,
twice the keypoints' extent, shifted 10% towards the wrist. Called on such a crop, the network reproduces what
MediaPipe Hands reports (tested).

Frames: ``keypoints_2d`` pixels of the input image; ``world`` metres as MediaPipe reports them (origin near the
hand's centre, camera axes x right, y down, z away, turned back from the crop's rotation); ``features`` (1152,).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from diffuhand.errors import DiffuhandError

#: the network's input side (pixels)
INPUT_SIZE = 224
#: length of the pooled feature vector
FEATURE_DIM = 1152
#: MediaPipe's crop around tracked keypoints: twice their rotated extent, shifted by -0.1 of it along the hand
RECT_SCALE, RECT_SHIFT_Y = 2.0, -0.1
#: the keypoints that make MediaPipe's crop: the wrist, the thumb's first three and two of each finger
RECT_JOINTS = (0, 1, 2, 3, 5, 6, 9, 10, 13, 14, 17, 18)
_FEATURE_TENSOR = "model_1/model/global_average_pooling2d/Mean"


def model_path(variant: str = "full") -> Path:
    """The landmark network inside the installed MediaPipe wheel (``full`` or ``lite``)."""
    from diffuhand.detect.mediapipe import import_mediapipe

    try:
        mediapipe = import_mediapipe()
    except ImportError:
        raise DiffuhandError("MediaPipe is not installed: pip install 'mediapipe<=0.10.21'") from None
    path = Path(mediapipe.__file__).parent / "modules" / "hand_landmark" / f"hand_landmark_{variant}.tflite"
    if not path.is_file():
        raise DiffuhandError(f"{path}: not in this MediaPipe install (0.10.21 and older bundle it)")
    return path


@dataclass
class HandRect:
    """A rotated square in image pixels: centre (cx, cy), side, rotation (radians, clockwise in the image as
    MediaPipe counts it: the hand's wrist -> fingers direction is turned to point up)."""

    cx: float
    cy: float
    side: float
    rotation: float

    def crop_to_image(self, size: int = INPUT_SIZE) -> np.ndarray:
        """2x3 affine map from crop pixels (continuous, 0..size) to image pixels."""
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        k = self.side / size
        # crop (u, v) -> centred, scaled, rotated by +rotation, moved to the centre
        return np.array(
            [
                [k * c, -k * s, self.cx - k * (c * size / 2 - s * size / 2)],
                [k * s, k * c, self.cy - k * (s * size / 2 + c * size / 2)],
            ]
        )


def _normalize_radians(a: float) -> float:
    return a - 2 * math.pi * math.floor((a + math.pi) / (2 * math.pi))


def hand_rect(keypoints_2d: np.ndarray) -> HandRect:
    """MediaPipe's landmark crop for hand keypoints (21, 2) in pixels (its tracking step)."""
    p = np.asarray(keypoints_2d, dtype=np.float64)
    wrist = p[0]
    mid = ((p[5] + p[13]) / 2 + p[9]) / 2
    rotation = _normalize_radians(math.pi / 2 - math.atan2(-(mid[1] - wrist[1]), mid[0] - wrist[0]))
    pts = p[list(RECT_JOINTS)]
    centre = (pts.max(0) + pts.min(0)) / 2
    c, s = math.cos(-rotation), math.sin(-rotation)
    q = (pts - centre) @ np.array([[c, s], [-s, c]])  # turned by -rotation: the hand upright
    lo, hi = q.min(0), q.max(0)
    pc = (lo + hi) / 2
    c, s = math.cos(rotation), math.sin(rotation)
    cx, cy = pc[0] * c - pc[1] * s + centre[0], pc[0] * s + pc[1] * c + centre[1]
    w, h = hi - lo
    # the shift is along the rotated y axis, by a fraction of the (unsquared) height
    cx, cy = cx - h * RECT_SHIFT_Y * s, cy + h * RECT_SHIFT_Y * c
    return HandRect(float(cx), float(cy), float(max(w, h) * RECT_SCALE), float(rotation))


def rotated_crop(image: np.ndarray, rect: HandRect, size: int = INPUT_SIZE) -> np.ndarray:
    """(size, size, 3) float32 in [0, 1]: the image inside ``rect``, upright (bilinear; black outside)."""
    from PIL import Image

    m = rect.crop_to_image(size)
    # PIL's affine transform maps output (crop) pixel centres to input coordinates
    out = Image.fromarray(np.asarray(image)).transform(
        (size, size), Image.AFFINE, data=tuple(m.ravel()), resample=Image.BILINEAR
    )
    return np.asarray(out, dtype=np.float32) / 255.0


@dataclass
class LandmarkOutput:
    """One pass of the landmark network per hand (leading shape N).

    Attributes:
        keypoints_2d: (N, 21, 2) pixels of the image. keypoints_z: (N, 21) relative depth in the same scale.
        world: (N, 21, 3) metres, camera axes (MediaPipe's world landmarks). presence: (N,) in [0, 1].
        right_score: (N,) the network's score that the crop shows a right hand, as the hand really is in an
            unmirrored photo (the dev photos' left hands score 0.00-0.09, the same photos mirrored 0.97-0.99;
            MediaPipe's graph names the classes for mirrored selfie images, :class:`MediaPipeHands` swaps them).
        features: (N, 1152) the pooled image features. rects: the crops used.
    """

    keypoints_2d: np.ndarray
    keypoints_z: np.ndarray
    world: np.ndarray
    presence: np.ndarray
    right_score: np.ndarray
    features: np.ndarray
    rects: list[HandRect]


class LandmarkNet:
    """MediaPipe's hand landmark network in LiteRT, with its pooled features.

    Args:
        variant: ``"full"`` (the model MediaPipe Hands uses with ``model_complexity=1``) or ``"lite"``.
        threads: interpreter threads (1: small per-hand work does not gain from more, and spins on a busy CPU).
    """

    def __init__(self, variant: str = "full", threads: int = 1):
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise DiffuhandError("the LiteRT interpreter is not installed: pip install ai-edge-litert") from None
        self.path = model_path(variant)
        import warnings

        with warnings.catch_warnings():
            # keeping the intermediate tensors is how the pooled features are read (the model has no output for
            # them); LiteRT warns that this costs memory: a few MB for this 2.7 M-parameter network
            warnings.filterwarnings("ignore", message=".*experimental_preserve_all_tensors.*")
            self._it = Interpreter(
                model_path=str(self.path), num_threads=threads, experimental_preserve_all_tensors=True
            )
        self._it.allocate_tensors()
        self._input = self._it.get_input_details()[0]["index"]
        outs = {d["name"]: d["index"] for d in self._it.get_output_details()}
        # Identity: 2D (x, y, z) in crop pixels; _1 presence; _2 handedness; _3 world landmarks (metres)
        self._out = [outs[k] for k in ("Identity", "Identity_1", "Identity_2", "Identity_3")]
        names = {d["name"]: d["index"] for d in self._it.get_tensor_details()}
        if _FEATURE_TENSOR not in names:
            raise DiffuhandError(f"{self.path}: no {_FEATURE_TENSOR} tensor (not MediaPipe 0.10.21's landmark model?)")
        self._feat = names[_FEATURE_TENSOR]

    def run_crops(self, crops: np.ndarray) -> dict[str, np.ndarray]:
        """(N, 224, 224, 3) float32 [0, 1] crops -> raw outputs: ``landmarks`` (N, 21, 3) crop pixels,
        ``presence`` (N,), ``right_score`` (N,), ``world`` (N, 21, 3) m (crop axes), ``features`` (N, 1152)."""
        out: dict[str, list] = {k: [] for k in ("landmarks", "presence", "right_score", "world", "features")}
        for crop in np.asarray(crops, dtype=np.float32):
            self._it.set_tensor(self._input, crop[None])
            self._it.invoke()
            lm, pres, hand, world = (self._it.get_tensor(i) for i in self._out)
            out["landmarks"].append(lm.reshape(21, 3))
            out["presence"].append(float(pres.ravel()[0]))
            out["right_score"].append(float(hand.ravel()[0]))
            out["world"].append(world.reshape(21, 3))
            out["features"].append(self._it.get_tensor(self._feat).reshape(FEATURE_DIM).copy())
        return {k: np.asarray(v) for k, v in out.items()}

    def __call__(self, image: np.ndarray, rects: list[HandRect]) -> LandmarkOutput:
        """Run on the crops ``rects`` of an (H, W, 3) uint8 RGB image; keypoints back in image pixels."""
        crops = (
            np.stack([rotated_crop(image, r) for r in rects])
            if rects
            else np.zeros((0, INPUT_SIZE, INPUT_SIZE, 3), np.float32)
        )
        raw = self.run_crops(crops)
        uv, z, world = [], [], []
        for r, lm, w in zip(rects, raw["landmarks"], raw["world"]):
            m = r.crop_to_image()
            uv.append(lm[:, :2] @ m[:, :2].T + m[:, 2])
            z.append(lm[:, 2] * r.side / INPUT_SIZE)
            c, s = math.cos(r.rotation), math.sin(r.rotation)
            rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])  # the crop's turn, undone
            world.append(w @ rot.T)
        n = len(rects)
        return LandmarkOutput(
            np.asarray(uv).reshape(n, 21, 2),
            np.asarray(z).reshape(n, 21),
            np.asarray(world).reshape(n, 21, 3),
            raw["presence"].reshape(n),
            raw["right_score"].reshape(n),
            raw["features"].reshape(n, FEATURE_DIM),
            list(rects),
        )


@lru_cache(maxsize=2)
def default_landmark_net(variant: str = "full") -> LandmarkNet:
    """One shared interpreter per process."""
    return LandmarkNet(variant)
