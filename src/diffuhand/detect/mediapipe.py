"""MediaPipe Hands (the legacy ``mediapipe.solutions.hands`` of releases <= 0.10.21, whose wheels bundle the palm
detector and landmark models; nothing is downloaded).

MediaPipe's 21 landmarks are in the canonical order (wrist, thumb CMC..tip, index MCP..tip, ...), so no
re-ordering is needed. Its handedness assumes a mirrored (selfie) image; :class:`MediaPipeHands` swaps it for
ordinary photos so that ``handedness`` is the hand's own.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.machinery
import importlib.util
import os
import sys
import types
from dataclasses import dataclass

import numpy as np

from diffuhand.detect.boxes import square_box
from diffuhand.errors import DiffuhandError


@contextlib.contextmanager
def _quiet_native_stderr():
    """MediaPipe's C++ start-up logs (TFLite delegate, absl warnings) go straight to file descriptor 2 and no
    setting silences them; hide them while its graphs start (Python exceptions still propagate)."""
    try:
        saved = os.dup(2)
    except OSError:  # no real stderr (embedded interpreters): nothing to hide
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class _Deferred(types.ModuleType):
    """Stands in for a module until one of its attributes is used, then imports it and hands on to it (pickled
    as that module's import, as a real module is)."""

    def _load(self) -> types.ModuleType:
        real = self.__dict__.get("_real")
        if real is None:
            if sys.modules.get(self.__name__) is self:  # used while it still stands in: the real one replaces it
                del sys.modules[self.__name__]
            real = self.__dict__["_real"] = importlib.import_module(self.__name__)
        return real

    def __getattr__(self, attr: str):
        return getattr(self._load(), attr)

    def __dir__(self) -> list[str]:
        return dir(self._load())

    def __reduce__(self):
        return importlib.import_module, (self.__name__,)


@contextlib.contextmanager
def _matplotlib_deferred():
    """While MediaPipe is imported: its drawing utilities' ``import matplotlib.pyplot as plt`` (for a plotting
    function never called here; 0.4-0.8 s of every start-up, ``python -X importtime``) binds a stand-in that imports
    pyplot on first use. Afterwards ``sys.modules`` is as before: any other import of matplotlib gets the real one."""
    spec = None if "matplotlib" in sys.modules else importlib.util.find_spec("matplotlib")
    if spec is None:
        yield
        return
    package, pyplot = _Deferred("matplotlib"), _Deferred("matplotlib.pyplot")
    # specs as the import system and importlib.util.find_spec (another thread's, meanwhile) expect of a module
    package.__spec__, pyplot.__spec__ = spec, importlib.machinery.ModuleSpec("matplotlib.pyplot", None)
    package.__dict__["pyplot"] = pyplot
    sys.modules.update({"matplotlib": package, "matplotlib.pyplot": pyplot})
    try:
        yield
    finally:
        for name, stand_in in (("matplotlib", package), ("matplotlib.pyplot", pyplot)):
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]


def import_mediapipe():
    """``import mediapipe``, without the matplotlib it imports at once for a plotting function never called here
    (:func:`_matplotlib_deferred`): MediaPipe's share of a start-up halves."""
    if "mediapipe" in sys.modules:
        import mediapipe  # another thread may be importing it still: the import statement waits for it

        return mediapipe
    with _matplotlib_deferred():
        import mediapipe
    return mediapipe


def mediapipe_available() -> bool:
    """True where a MediaPipe with the bundled hand models (``mediapipe.solutions.hands``) can be imported."""
    try:
        mp = import_mediapipe()

        return hasattr(mp, "solutions") and hasattr(mp.solutions, "hands")
    except ImportError:
        return False


@dataclass
class HandDetection:
    """One detected hand.

    Attributes:
        keypoints_2d: (21, 2) float64 pixels of the input image (continuous: pixel i covers [i, i+1)).
        world_mm: (21, 3) float64 MediaPipe's own 3D estimate ("world landmarks"), mm, origin near the hand's
            centre, axes of the camera (x right, y down, z away); a baseline to compare with, not our output.
        handedness: "left" or "right", as the hand really is.
        score: handedness confidence in [0, 1].
        box: (x, y, side) square crop in image pixels around the keypoints (``margin`` times their extent).
    """

    keypoints_2d: np.ndarray
    world_mm: np.ndarray
    handedness: str
    score: float
    box: np.ndarray


class _Graph:
    """One MediaPipe solution graph: made and first run with its native logs hidden, closed with the object."""

    def __init__(self, make):
        if not mediapipe_available():
            raise DiffuhandError("MediaPipe with bundled models is not installed: pip install 'mediapipe<=0.10.21'")
        mp = import_mediapipe()

        with _quiet_native_stderr():
            self._graph = make(mp.solutions)
        self._started = False

    def _process(self, image: np.ndarray):
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise DiffuhandError(f"expected an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}")
        if self._started:
            return self._graph.process(np.ascontiguousarray(image))
        with _quiet_native_stderr():  # the first call starts the graph, which logs
            res = self._graph.process(np.ascontiguousarray(image))
        self._started = True
        return res

    def close(self) -> None:
        self._graph.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class MediaPipeHands(_Graph):
    """Detect up to ``max_hands`` hands per RGB image.

    Args:
        video: track across consecutive frames (MediaPipe's video mode, much faster); False: every image alone.
        mirrored: the images are mirrored (a selfie view), so MediaPipe's handedness is already the hand's own.
        model_complexity: 0 (lite) or 1 (full, the default).
        margin: crop side as a multiple of the keypoints' extent (1.5 matches the training crops).
    """

    def __init__(
        self,
        max_hands: int = 2,
        video: bool = False,
        mirrored: bool = False,
        model_complexity: int = 1,
        min_confidence: float = 0.5,
        margin: float = 1.5,
    ):
        self.mirrored = mirrored
        self.margin = margin
        super().__init__(
            lambda solutions: solutions.hands.Hands(
                static_image_mode=not video,
                max_num_hands=max_hands,
                model_complexity=model_complexity,
                min_detection_confidence=min_confidence,
                min_tracking_confidence=min_confidence,
            )
        )

    def __call__(self, image: np.ndarray) -> list[HandDetection]:
        """(H, W, 3) uint8 RGB -> the hands found, most confident first."""
        res = self._process(image)  # checks the array first
        h, w = np.shape(image)[:2]
        if not res.multi_hand_landmarks:
            return []
        out = []
        for lms, world, hd in zip(res.multi_hand_landmarks, res.multi_hand_world_landmarks, res.multi_handedness):
            uv = np.array([[p.x * w, p.y * h] for p in lms.landmark], dtype=np.float64)
            xyz = np.array([[p.x, p.y, p.z] for p in world.landmark], dtype=np.float64) * 1000.0
            label = hd.classification[0].label.lower()
            if not self.mirrored:
                label = "left" if label == "right" else "right"
            out.append(
                HandDetection(uv, xyz, label, float(hd.classification[0].score), square_box(uv, margin=self.margin))
            )
        return sorted(out, key=lambda d: -d.score)


@dataclass
class BodyDetection:
    """MediaPipe Pose's 33 body landmarks (its order and names: ``names``), for context beside the hands.

    Attributes: keypoints_2d (33, 2) pixels of the input; visibility (33,) in [0, 1]; names (33,) str;
    connections: the (i, j) pairs of its skeleton."""

    keypoints_2d: np.ndarray
    visibility: np.ndarray
    names: tuple[str, ...]
    connections: tuple[tuple[int, int], ...]

    def to_json(self) -> dict:
        return {
            "joints_2d": np.round(self.keypoints_2d, 2).tolist(),
            "visibility": np.round(self.visibility, 3).tolist(),
            "names": list(self.names),
            "connections": [list(c) for c in self.connections],
        }


class MediaPipeBody(_Graph):
    """MediaPipe Pose (full model, bundled with 0.10.21): one body per image, or None."""

    def __init__(self, video: bool = False, min_confidence: float = 0.5):
        super().__init__(
            lambda solutions: solutions.pose.Pose(
                static_image_mode=not video, model_complexity=1, min_detection_confidence=min_confidence
            )
        )
        mp = import_mediapipe()

        self.names = tuple(lm.name.lower() for lm in mp.solutions.pose.PoseLandmark)
        self.connections = tuple(sorted(tuple(c) for c in mp.solutions.pose.POSE_CONNECTIONS))

    def __call__(self, image: np.ndarray) -> BodyDetection | None:
        """(H, W, 3) uint8 RGB -> the body's landmarks, or None."""
        res = self._process(image)  # checks the array first
        h, w = np.shape(image)[:2]
        if res.pose_landmarks is None:
            return None
        lms = res.pose_landmarks.landmark
        uv = np.array([[p.x * w, p.y * h] for p in lms], dtype=np.float64)
        return BodyDetection(uv, np.array([p.visibility for p in lms]), self.names, self.connections)
