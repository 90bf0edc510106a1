"""The whole path on users' photos (paper section 3.4): MediaPipe finds the hands, each becomes a square crop
(left hands flipped to right), the model lifts it to 3D, and the result is flipped back and reported in the
photo's terms. Composes the stages; holds no model code of its own.

Output contract, per hand (:class:`HandResult`): ``joints_2d`` (21, 2) pixels of the input photo (the
detector's keypoints; for ``crop=True`` inputs the crop's), ``joints_3d`` (21, 3) mm relative to the wrist in
the camera frame (x right, y down, z away), at the scale of an average adult hand (a single photo does not give
the size: the anchor bone, wrist to index MCP, is :data:`DEFAULT_ANCHOR_MM`), ``angles`` (41,) radians and
``bone_ratios`` (20,) of the RIGHT-hand model (a left hand's are those of its mirror image), ``uncertainty_mm``
(21,) the spread of the diffusion samples (0 for a baseline model; NaN, unknown, for a single sample). Canonical
joint order.
"""

from __future__ import annotations

import math
import sys
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from diffuhand.detect import MediaPipeHands
from diffuhand.errors import DiffuhandError, DiffuhandWarning
from diffuhand.io.images import VIDEO_SUFFIXES, image_from_array, read_image
from diffuhand.io.weights import read_config
from diffuhand.kinematics.skeleton import ADULT_ANCHOR_MM, NUM_JOINTS
from diffuhand.lift.base import HandInput, photo_camera
from diffuhand.tracking import distinct_hands, link_tracks, one_result_per_hand, track_sides

# start-up: torch (2.2-3.3 s, benchmarks/bench_startup.py) is imported only by what computes with it (a network
# lift, the temporal model of a video, a mesh), never by a photo's fusion lift
if TYPE_CHECKING:
    import torch

    from diffuhand.models.temporal import TemporalTransformer
    from diffuhand.synth.mesh import mirror_mesh, posed_mesh  # noqa: F401 (for the docs' and checkers' eyes)

#: re-exported from :mod:`diffuhand.synth.mesh` (a result's mesh), imported on first use: it needs torch
_MESH_NAMES = ("mirror_mesh", "posed_mesh")


def __getattr__(name: str):
    if name in _MESH_NAMES:
        from diffuhand.synth import mesh

        return getattr(mesh, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: the hand size of the millimetre output (one constant for the whole package)
DEFAULT_ANCHOR_MM = ADULT_ANCHOR_MM
_MIRROR = np.array([-1.0, 1.0, 1.0])
#: frames of a video whose hands are lifted in one batch (benchmarks/bench_video_speed.py: per hand the fusion fit
#: costs about a quarter at a batch of 16 hands of what it costs alone)
VIDEO_CHUNK = 16
#: lift batches a video may have waiting while the tracker reads on (bounds the frames held in memory)
VIDEO_BACKLOG = 2
#: the frame rate the temporal model was trained at (DexYCB's): a video whose rate is not known is taken as this
DEFAULT_FPS = 30.0
#: standard deviation, in seconds, of the Gaussian over time applied to each track's pose after the temporal model
#: (kinematics.smoothing; chosen on the training split of the rendered prior motion, benchmarks/bench_temporal.py)
POSE_SMOOTHING_S = 0.05


def to_camera_mm(joints: np.ndarray, side: str, anchor_mm: float) -> np.ndarray:
    """Model joints (21, 3) (right hand, anchor lengths) -> mm, wrist at the origin, mirrored back for a left hand."""
    j = np.asarray(joints, dtype=np.float64) * anchor_mm
    j = j - j[0]
    return j * _MIRROR if side == "left" else j


@dataclass(kw_only=True)
class HandResult:
    """One hand found in a photo or video frame, as ``predict`` writes it (built by keyword: its fields are many)."""

    handedness: str
    score: float
    box: np.ndarray  # (4,) x, y, w, h pixels of the input
    joints_2d: np.ndarray  # (21, 2)
    joints_3d: np.ndarray  # (21, 3) mm, wrist-relative, camera frame
    angles: np.ndarray  # (41,) rad, right-hand model
    bone_ratios: np.ndarray  # (20,)
    uncertainty_mm: np.ndarray  # (21,)
    root_rotation: np.ndarray | None = None  # (3, 3) right-hand model frame -> camera (of the mirrored hand if left)
    model_joints: np.ndarray | None = None  # (21, 3) the per-frame 3D the temporal model takes (see models.temporal)
    status: str = "tracked"  # video: "tracked" (found in this frame) or "bridged" (filled by the temporal model)
    track: int | None = None  # video: one number per physical hand (diffuhand.tracking), the same in every frame

    def to_json(self) -> dict:
        def r(a, d=2):  # NaN (unknown, e.g. a bridged frame's 2D) -> null
            a = np.round(np.asarray(a, dtype=np.float64), d)
            return None if not np.isfinite(a).any() else np.where(np.isfinite(a), a, None).tolist()

        return {
            "handedness": self.handedness,
            "status": self.status,
            "score": round(float(self.score), 4),
            "box": r(self.box),
            "joints_2d": r(self.joints_2d),
            "joints_3d": r(self.joints_3d),
            "angles": r(self.angles, 5),
            "bone_ratios": r(self.bone_ratios, 5),
            "uncertainty_mm": r(self.uncertainty_mm),
        }


def as_image(image) -> np.ndarray:
    """A photo as the estimator takes it -> (H, W, 3) uint8 RGB: a file's path (str or Path, read as the CLI reads
    it) or an array in any layout a photo file holds (:func:`~diffuhand.io.images.image_from_array`)."""

    return read_image(image) if isinstance(image, str | Path) else image_from_array(image)


def _is_video_path(x) -> bool:

    return isinstance(x, str | Path) and Path(x).suffix.lower() in VIDEO_SUFFIXES


def _no_grad():
    """``torch.no_grad()`` where torch is in use (a network lift has imported it), else nothing: a lift that never
    imported torch makes no tensor that could keep a graph (start-up: the fusion lift of a photo never imports it)."""
    torch = sys.modules.get("torch")
    return torch.no_grad() if torch is not None else nullcontext()


class TemporalCheckpoint:
    """A temporal model's checkpoint folder, loaded when first used (:meth:`load`): a video's frames need it, a
    photo never does, and loading it imports torch (2.2-3.3 s of start-up, benchmarks/bench_startup.py). Its
    ``config.json`` is read at once: ``source_identity`` (the lift it was trained on) pairs it with a lift without
    loading it.

    Attributes:
        path: the checkpoint folder. config: its configuration (``config.json``).
        source_identity: the identity of the single-frame lift it was trained on, None where not recorded.
    """

    def __init__(self, path):
        self.path = Path(path)
        self.config = read_config(self.path)
        self.source_identity = self.config.get("source_identity")
        self._model: TemporalTransformer | None = None

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> TemporalTransformer:
        """The model (:func:`~diffuhand.models.temporal.load_temporal`), loaded once and kept (for every estimator
        that holds this checkpoint: ``Estimator.replace`` shares it)."""
        if self._model is None:
            from diffuhand.models.temporal import load_temporal

            self._model = load_temporal(self.path)
        return self._model

    def state_arrays(self) -> dict[str, np.ndarray]:
        """The weights as NumPy arrays, read from the file without torch (the run's stamp hashes them)."""
        from safetensors.numpy import load_file

        return load_file(str(self.path / "model.safetensors"))

    def __repr__(self) -> str:
        return f"TemporalCheckpoint({str(self.path)!r}, loaded={self.loaded})"


class Estimator:
    """Photos in, 3D hands out. ``estimator.predict(image)`` -> list of :class:`HandResult`.

    Args:
        model: the lift (:mod:`diffuhand.lift`): a lifter (the shipped :class:`~diffuhand.lift.FusionLifter`, or a
            :class:`~diffuhand.lift.NetworkLifter`), or a trained :class:`~diffuhand.models.estimator.HandPoseModel`,
            made a network lifter with ``ik``, ``backend``, ``sampler`` and ``skeleton``.
        detector: a :class:`~diffuhand.detect.MediaPipeHands` (made on first use when None).
        anchor_mm: the hand size assumed for the millimetre output.
        seed: of this estimator's random generator (the diffusion samples).
        ik: for a network (see :class:`~diffuhand.lift.NetworkLifter`): how the diffusion mean becomes a pose,
            "solver" (our IK fit) or "mlp" (the paper's IK MLP).
        temporal: a temporal model for videos (None: every frame on its own).
        backend: for a network: where the U-Net runs, "auto", "torch" or "onnx".
        sampler: for a network: the sampler's settings (``samples``, ``steps``), None for the model's own.
        skeleton: for a network: the skeleton convention the pose is drawn with (None: the model's).
        camera: (3, 3) intrinsics of the photos in pixels, where known (e.g. from a calibration); None: a
            centred principal point and a focal length of the image width (:func:`~diffuhand.lift.photo_camera`).
            The camera frame of the output is this camera's: with the true one, the hands' orientation is.
        smoothing_s: videos with a temporal model: the standard deviation in seconds of the Gaussian over time
            applied to each track's pose after it (angles, root rotation and bone ratios, within the limits;
            :func:`~diffuhand.kinematics.smoothing.smooth_pose_sequence`); 0: none.

    ``temporal`` may be a :class:`TemporalCheckpoint`: it is loaded when a video's frames first need it
    (``est.temporal`` loads it too; ``est.temporal_ref`` does not). The random generator is made on first use.
    """

    def __init__(
        self,
        model,
        detector=None,
        anchor_mm: float = DEFAULT_ANCHOR_MM,
        seed: int = 0,
        ik: str = "solver",
        temporal=None,
        backend: str = "auto",
        sampler=None,
        skeleton: str | None = None,
        camera: np.ndarray | None = None,
        smoothing_s: float = POSE_SMOOTHING_S,
    ):

        if hasattr(model, "lift"):
            self.lifter = model
        else:
            from diffuhand.lift.network import NetworkLifter  # start-up: only a network lift loads diffusers

            self.lifter = NetworkLifter(model, ik=ik, backend=backend, sampler=sampler, skeleton=skeleton)
        self.temporal = temporal
        self.detector = detector
        self.anchor_mm = anchor_mm
        self.seed = seed
        self.camera = None if camera is None else np.asarray(camera, dtype=np.float64).reshape(3, 3)
        if not math.isfinite(smoothing_s) or smoothing_s < 0:
            raise ValueError(f"smoothing_s: a finite number of seconds >= 0, got {smoothing_s}")
        self.smoothing_s = float(smoothing_s)
        # start-up: the generator is a torch one, made when first drawn from (a network lift), never for the fusion
        # lift of a photo; made from this seed, as if made now
        self._generator: torch.Generator | None = None
        self._generator_seed = seed
        if temporal is not None:
            check_pairing(temporal, self.lifter)

    @property
    def generator(self) -> torch.Generator:
        """This estimator's random generator (the diffusion samples), started from ``seed``."""
        if self._generator is None:
            import torch

            self._generator = torch.Generator().manual_seed(self._generator_seed)
        return self._generator

    @generator.setter
    def generator(self, value: torch.Generator) -> None:
        self._generator = value

    def reseed(self) -> None:
        """Start the random generator again from ``seed`` (each input of a corpus run: its result depends on it
        alone); one not made yet is made from it when first drawn from."""
        if self._generator is None:
            self._generator_seed = self.seed
        else:
            self._generator.manual_seed(self.seed)

    @property
    def _lift_generator(self) -> torch.Generator | None:
        # a deterministic lift (the fusion fit) draws nothing: no generator is made for it (making one imports torch)
        if self._generator is None and getattr(self.lifter, "deterministic", False):
            return None
        return self.generator

    @property
    def temporal(self):
        """The temporal model for videos (None: every frame on its own); a :class:`TemporalCheckpoint` held is
        loaded now (torch)."""
        t = self._temporal
        return t.load() if isinstance(t, TemporalCheckpoint) else t

    @temporal.setter
    def temporal(self, value) -> None:
        self._temporal = value

    @property
    def temporal_ref(self):
        """The temporal model as held, loading nothing: the model, its :class:`TemporalCheckpoint` while not
        loaded, or None."""
        return self._temporal

    # a network lifter's settings, for callers that ask the estimator
    model = property(lambda self: getattr(self.lifter, "model", None), doc="the network, or None for the fusion lift")
    backend = property(lambda self: getattr(self.lifter, "backend", "none"))
    unet = property(lambda self: getattr(self.lifter, "unet", None))
    sampler = property(lambda self: getattr(self.lifter, "sampler", None))
    ik = property(lambda self: getattr(self.lifter, "ik", "fusion"))

    def replace(self, **changes) -> Estimator:
        """A new estimator with the same lift and options except ``changes`` (``detector``, ``anchor_mm``,
        ``seed``, ``temporal``, or a network lifter's ``ik``, ``backend``, ``sampler``, ``skeleton``), its random
        generator started again from the seed: ``est.replace()`` gives what a new estimator would (e.g. for each
        video alone)."""
        lift_keys = {"ik", "backend", "sampler", "skeleton", "model"}
        lifter = self.lifter
        if lift_keys & changes.keys():
            if not hasattr(lifter, "model"):
                raise ValueError(f"{sorted(lift_keys & changes.keys())}: not options of the fusion lift")
            lifter = type(lifter)(
                **{**lifter.options(), **{k: changes.pop(k) for k in list(changes) if k in lift_keys}}
            )
        options = {
            "model": lifter,
            "detector": self.detector,
            "anchor_mm": self.anchor_mm,
            "seed": self.seed,
            "temporal": self._temporal,  # a checkpoint not loaded yet stays so (and is loaded once for all)
            "camera": self.camera,
            "smoothing_s": self.smoothing_s,
        }
        return Estimator(**{**options, **changes})

    def _detector(self):
        if self.detector is None:
            from diffuhand.detect import MediaPipeHands

            self.detector = MediaPipeHands(max_hands=2)
        return self.detector

    def predict(self, inputs, crop: bool = False, hand: str | None = None, video: bool = False):
        """3D hands in photos or a video.

        ``inputs``:

        - a photo: an (H, W, 3) uint8 RGB array, an array in any other layout a photo file holds ((H, W) or
          (H, W, 1) grey, (H, W, 4) RGBA, 16-bit: read as the CLI reads such files), or a photo file's path (str
          or Path) -> list of :class:`HandResult` (empty: no hand);
        - a list (or tuple) of photos -> a list per photo, each photo on its own, as if predicted alone;
        - frames of one video: a (T, H, W, 3) array, a video file's path, or a list of frames with ``video=True``
          -> a list per frame, tracked and, with a temporal model, smoothed (:meth:`predict_frames`; a file's pose
          smoothing at its own frame rate, arrays' at :data:`DEFAULT_FPS`).

        ``crop=True`` (photos): each image is one hand crop already (as in evaluation sets); ``hand`` ("left" or
        "right") says which hand, else the detector's label is taken. A lift that needs the detector's keypoints
        (all but the image models) still runs it on the crop. Without ``crop`` the detector tells each hand's side."""
        if video or _is_video_path(inputs) or (isinstance(inputs, np.ndarray) and inputs.ndim == 4):
            if crop or hand is not None:
                warnings.warn(
                    "crop and hand are for photos: not used for a video's frames", DiffuhandWarning, stacklevel=2
                )
            if not isinstance(inputs, str | Path):
                return self.predict_frames(inputs)
            from diffuhand.io.video import read_video, video_info

            # the smoothing is in seconds: the file's own frame rate turns it into frames
            return self.predict_frames(read_video(inputs), fps=video_info(inputs).fps)
        if isinstance(inputs, list | tuple):
            return [self.predict_image(x, crop, hand) for x in inputs]
        return self.predict_image(inputs, crop, hand)

    def predict_frames(
        self, frames, chunk: int = VIDEO_CHUNK, overlap: bool = True, fps: float | None = None
    ) -> list[list[HandResult]]:
        """Frames of one video, in order (any iterable of images as :meth:`predict_image` takes them, read as it
        goes) -> per frame its hands.

        MediaPipe's tracker finds the hands; its detections are linked frame to frame into one track per physical
        hand by where they are, and each track takes the side most of its labels give, weighted by their scores
        (:mod:`diffuhand.tracking`: MediaPipe's label flips now and then); a frame whose label disagreed is lifted
        again as that side. With a temporal model each track is then smoothed (:func:`smooth_tracks`), its pose
        then by a Gaussian over time of ``smoothing_s`` seconds at the video's ``fps`` (frames per second; None:
        :data:`DEFAULT_FPS`).

        Throughput: the hands of ``chunk`` frames are lifted in one batch (``chunk=1``: frame by frame), and with
        ``overlap`` in a second thread while the tracker reads on (MediaPipe leaves the interpreter while it runs,
        so the two share the cores). A deterministic lift (the shipped fusion fit) gives the same output whatever
        ``chunk`` and ``overlap`` are; a diffusion model draws its samples per batch (reproducible for one seed
        and chunk, the same distribution)."""
        if chunk < 1:
            raise ValueError(f"chunk must be >= 1, got {chunk}")
        per_frame: list[list[HandResult] | None] = []
        kept: list[list[tuple]] = []  # per frame and hand what lifts it again: (image or patch, hand, K)
        needs_image = getattr(self.lifter, "needs_image", True)
        known = self.camera is not None
        pending: list[tuple[int, np.ndarray, list[HandInput], np.ndarray]] = []  # frames not lifted yet
        lifted: list[Future] = []

        def lift(batch: list[tuple]) -> None:  # results go to their frames; batches run in order (one worker)
            results = self._lift_frames([(image, hands, K) for _, image, hands, K in batch], known)
            for (i, *_), hs in zip(batch, results):
                per_frame[i] = hs

        with ThreadPoolExecutor(max_workers=1) if overlap else nullcontext() as pool:
            submit = pool.submit if pool is not None else lambda f, *a: _done(f(*a))
            with MediaPipeHands(max_hands=2, video=True) as tracker:
                for frame in frames:
                    image = as_image(frame)
                    dets = tracker(image)
                    dets = [dets[k] for k in distinct_hands([d.keypoints_2d for d in dets], [d.box for d in dets])]
                    hands = [hand_input(d) for d in dets]
                    K = self._camera(image)
                    pending.append((len(per_frame), image, hands, K))
                    per_frame.append(None)
                    kept.append([hand_patch(image, h, K) if needs_image else (None, h, K) for h in hands])
                    if len(pending) >= chunk:
                        lifted.append(submit(lift, pending))
                        pending = []
                        if len(lifted) > VIDEO_BACKLOG:  # the lift is behind: wait rather than hold more frames
                            lifted[-1 - VIDEO_BACKLOG].result()
            if pending:
                lifted.append(submit(lift, pending))
            for f in lifted:
                f.result()  # a lift's error is raised here
        done: list[list[HandResult]] = [hs if hs is not None else [] for hs in per_frame]
        ids = link_tracks([[h.box for h in hs] for hs in done])
        sides = track_sides(ids, [[h.handedness for h in hs] for hs in done], [[h.score for h in hs] for hs in done])
        again = [(i, k) for i, hs in enumerate(done) for k, h in enumerate(hs) if h.handedness != sides[ids[i][k]]]
        # MediaPipe's score is its confidence in its label: 1 - score is that in the other side
        relifted = self._lift_frames(
            [
                (kept[i][k][0], [kept[i][k][1].with_side(sides[ids[i][k]], 1.0 - kept[i][k][1].score)], kept[i][k][2])
                for i, k in again
            ],
            known,
        )
        for (i, k), (h,) in zip(again, relifted):
            h.box, h.joints_2d = done[i][k].box, done[i][k].joints_2d  # in the frame's pixels, not the patch's
            done[i][k] = h
        for i, hs in enumerate(done):
            for k, h in enumerate(hs):
                h.track = ids[i][k]
            done[i] = one_result_per_hand(hs, [None] * len(hs))  # two tracks never share a side in a frame
        if self._temporal is None:
            return done
        sigma_frames = self.smoothing_s * (fps if fps and fps > 0 else DEFAULT_FPS)
        return smooth_tracks(done, self.temporal, self.anchor_mm, sigma_frames)

    def _camera(self, image: np.ndarray) -> np.ndarray:
        return self.camera if self.camera is not None else photo_camera(image.shape[1], image.shape[0])

    def predict_image(
        self, image, crop: bool = False, hand: str | None = None, K: np.ndarray | None = None
    ) -> list[HandResult]:
        """One photo (an array or a path, see :meth:`predict`) -> one result per hand found; ``K``: this photo's
        intrinsics where known (else the estimator's ``camera``)."""
        (hands,) = self.lift_found([self.find_hands(image, crop, hand, K)])
        return hands

    def find_hands(self, image, crop: bool = False, hand: str | None = None, K: np.ndarray | None = None) -> FoundHands:
        """The first half of :meth:`predict_image`: the photo read and its hands found (MediaPipe), not lifted
        yet; :meth:`lift_found` lifts the hands of many photos in one batch."""
        image = as_image(image)
        if hand not in (None, "left", "right"):
            raise DiffuhandError(f"hand must be left or right, got {hand!r}")
        if hand is not None and not crop:
            warnings.warn(
                "hand is used only with crop=True (the detector tells each hand's side): ignored",
                DiffuhandWarning,
                stacklevel=3,
            )
        h, w = image.shape[:2]
        known = K is not None or self.camera is not None
        K = np.asarray(K, dtype=np.float64) if K is not None else self._camera(image)
        if not crop:
            return FoundHands(image, [hand_input(d) for d in self._detector()(image)], K, known)
        needs_2d = self.lifter.needs_keypoints
        side = float(max(h, w))
        box = np.array([(w - side) / 2, (h - side) / 2, side])
        found = HandInput(hand or "right", 1.0, box)
        if needs_2d or hand is None:  # the detector's keypoints, or its label for the side
            dets = self._detector()(image)
            if dets:
                det = min(dets, key=lambda d: (hand is not None and d.handedness != hand, -d.score))
                found = HandInput(
                    hand or det.handedness,
                    det.score,
                    box,
                    det.keypoints_2d if needs_2d else None,
                    det.world_mm if needs_2d else None,
                )
            elif needs_2d:
                return FoundHands(image, [], K, known)
            else:  # an image model lifts the crop anyway, but cannot know its side
                warnings.warn(
                    "no hand found in the crop to tell its side: taken as a right hand (say which: hand=, --hand)",
                    DiffuhandWarning,
                    stacklevel=3,
                )
        return FoundHands(image, [found], K, known)

    def lift_found(self, photos: list[FoundHands]) -> list[list[HandResult]]:
        """The hands :meth:`find_hands` found in several photos, lifted in one batch -> per photo its results. A
        deterministic lift (``lifter.deterministic``, the shipped fusion fit) gives each photo what it gives the
        photo alone; a diffusion model draws its samples for the batch."""
        out: list[list[HandResult] | None] = [None] * len(photos)
        for known in (False, True):  # one batch per kind of camera (the lift turns 3D with a known one)
            idx = [i for i, f in enumerate(photos) if f.camera_known == known]
            if idx:
                lifted = self._lift_frames([(photos[i].image, photos[i].hands, photos[i].K) for i in idx], known)
                for i, hs in zip(idx, lifted):
                    out[i] = hs
        return [hs or [] for hs in out]

    def _lift(
        self, image: np.ndarray | None, hands: list, K: np.ndarray, camera_known: bool = False
    ) -> list[HandResult]:
        """The lift on the hands of one photo -> a result per hand, in the photo's terms."""
        if not hands:
            return []
        with _no_grad():  # not inference_mode: see NetworkLifter.lift_many
            lifted = self.lifter.lift(image, hands, K, self._lift_generator, camera_known)
        return self._results(hands, lifted)

    def _lift_frames(self, photos: list[tuple], camera_known: bool = False) -> list[list[HandResult]]:
        """The hands of several photos or frames in one batch: (image or its width, hands, K) each -> a result
        list per photo, as :meth:`_lift` gives for each alone (a deterministic lift: the same numbers)."""
        items = [(image, h, K) for image, hands, K in photos for h in hands]
        if not items:
            return [[] for _ in photos]
        with _no_grad():
            lifted = self.lifter.lift_many(items, self._lift_generator, camera_known)
        out, k = [], 0
        for _, hands, _ in photos:
            out.append(self._results(hands, lifted[k : k + len(hands)]))
            k += len(hands)
        return out

    def _results(self, hands: list[HandInput], lifted: list) -> list[HandResult]:
        a = self.anchor_mm
        return [
            HandResult(
                handedness=h.side,
                score=h.score,
                box=np.array([h.box[0], h.box[1], h.box[2], h.box[2]]),
                joints_2d=h.keypoints_2d if h.keypoints_2d is not None else np.full((21, 2), np.nan),
                joints_3d=to_camera_mm(x.joints, h.side, a),
                angles=x.angles,
                bone_ratios=x.bone_ratios,
                uncertainty_mm=x.uncertainty * a,
                root_rotation=x.root_rotation,
                model_joints=x.model_joints,
            )
            for h, x in zip(hands, lifted)
        ]


@dataclass
class FoundHands:
    """A photo's hands as the detector found them, before the lift (:meth:`Estimator.find_hands`).

    Attributes:
        image: (H, W, 3) uint8 RGB. hands: per hand its side, score, box and keypoints (:class:`HandInput`).
        K: (3, 3) the photo's intrinsics, pixels. camera_known: they are the true ones, not assumed.
    """

    image: np.ndarray
    hands: list[HandInput]
    K: np.ndarray
    camera_known: bool


def _done(value=None) -> Future:
    """A finished future holding ``value`` (the frame-by-frame path, no thread, shares the threaded one's code)."""
    f: Future = Future()
    f.set_result(value)
    return f


def hand_input(detection) -> HandInput:
    """A detector's hand (:class:`~diffuhand.detect.mediapipe.HandDetection`) as the lift takes it."""
    return HandInput(
        detection.handedness,
        float(detection.score),
        np.asarray(detection.box, dtype=np.float64),
        detection.keypoints_2d,
        detection.world_mm,
    )


#: a hand's patch of a video frame (kept to lift it again as the other side) spans this many times its box
PATCH_MARGIN = 3.0


def hand_patch(image: np.ndarray, hand: HandInput, K: np.ndarray) -> tuple[np.ndarray, HandInput, np.ndarray]:
    """The part of a frame around a hand (``PATCH_MARGIN`` times its box, inside the frame) with the hand and the
    camera in the patch's pixels: a crop of a photo is a photo whose principal point moved."""
    c = np.asarray(hand.box[:2]) + hand.box[2] / 2
    half = PATCH_MARGIN * hand.box[2] / 2
    x0, y0 = (int(max(np.floor(v - half), 0)) for v in c)
    x1, y1 = int(min(np.ceil(c[0] + half), image.shape[1])), int(min(np.ceil(c[1] + half), image.shape[0]))
    shift = np.array([x0, y0], dtype=np.float64)
    moved = HandInput(
        hand.side,
        hand.score,
        np.r_[hand.box[:2] - shift, hand.box[2]],
        None if hand.keypoints_2d is None else hand.keypoints_2d - shift,
        hand.world_mm,
    )
    Kp = np.array(K, dtype=np.float64)
    Kp[:2, 2] -= shift
    return np.ascontiguousarray(image[y0:y1, x0:x1]), moved, Kp


def trained_on_another_lift(temporal, lifter) -> str | None:
    """The identity of the single-frame lift ``temporal`` was trained on, where it is not ``lifter``'s; None when
    they pair or the checkpoint does not record it (older ones)."""
    trained_on = getattr(temporal, "source_identity", None)
    return trained_on if trained_on and trained_on != lifter.identity else None


def check_pairing(temporal, lifter) -> None:
    """Warn (one line) when a temporal model was trained on another single-frame lift than the one it smooths."""
    trained_on = trained_on_another_lift(temporal, lifter)
    if trained_on:
        warnings.warn(
            f"the temporal model was trained on the outputs of another single-frame model ({trained_on}, "
            f"not {lifter.identity}): its smoothing may make frames worse; retrain it (docs/training.md)",
            DiffuhandWarning,
            stacklevel=3,
        )


def solve_ik(joints: torch.Tensor, tol: float = 1e-3) -> dict:
    """See :func:`diffuhand.lift.solve_ik` (kept here for callers of earlier releases)."""

    from diffuhand.lift.network import solve_ik as solve

    return solve(joints, tol)


def smooth_tracks(
    frames: list[list[HandResult]], temporal, anchor_mm: float = DEFAULT_ANCHOR_MM, sigma_frames: float = 0.0
) -> list[list[HandResult]]:
    """Video: each hand's track (``HandResult.track``, as :meth:`Estimator.predict_frames` numbers them; results
    without one are grouped by side) through the temporal model, its pose then smoothed over time by a Gaussian
    of ``sigma_frames`` frames (0: none; :func:`~diffuhand.models.temporal.smooth_sequence`).

    Frames where a track was not found are bridged when a found frame lies within half a window (``status``
    "bridged", no 2D joints or box), otherwise left out: nothing is invented beyond the model's window, and no
    bridged hand stands where another track's hand was found (:func:`~diffuhand.tracking.one_result_per_hand`)."""
    from diffuhand.models.temporal import smooth_sequence  # start-up: videos only (torch)

    t = len(frames)
    out: list[list[HandResult]] = [[] for _ in range(t)]
    refs: list[list[tuple[np.ndarray, int] | None]] = [[] for _ in range(t)]  # a bridged hand: (box, frames away)
    keys = list(dict.fromkeys(h.track if h.track is not None else h.handedness for hs in frames for h in hs))
    for key in keys:
        found = np.zeros(t, bool)
        joints = np.zeros((t, 21, 3), np.float32)
        angles, rots = np.full((t, 41), np.nan, np.float32), np.tile(np.eye(3, dtype=np.float32), (t, 1, 1))
        ratios, spread = np.full((t, 20), np.nan, np.float32), np.full((t, 21), np.nan, np.float32)
        by_frame: dict[int, HandResult] = {}
        for i, hands in enumerate(frames):
            mine = [h for h in hands if (h.track if h.track is not None else h.handedness) == key]
            if mine and mine[0].model_joints is not None:
                h = max(mine, key=lambda h: h.score)
                found[i], joints[i], by_frame[i] = True, h.model_joints, h
                angles[i], ratios[i], spread[i] = h.angles, h.bone_ratios, h.uncertainty_mm / anchor_mm
                if h.root_rotation is not None:
                    rots[i] = h.root_rotation
        if not found.any():
            continue
        side = by_frame[int(np.flatnonzero(found)[0])].handedness
        track = key if isinstance(key, int) else None
        own = (
            {"angles": angles, "root_rotation": rots, "ratios": ratios, "spread": spread}
            if temporal.cfg.mode == "residual"
            else {}
        )
        res = smooth_sequence(temporal, joints, found, **own, sigma_frames=sigma_frames)
        seen = np.flatnonzero(found)
        for i in np.flatnonzero(res["status"] != "missing"):
            j = to_camera_mm(res["joints"][i], side, anchor_mm)
            src = by_frame.get(int(i))
            pose = {
                "handedness": side,
                "joints_3d": j,
                "angles": res["angles"][i],
                "bone_ratios": res["ratios"][i],
                "root_rotation": res["root_rotation"][i],
                "track": track,
            }
            if src is not None:  # what the frame's detection saw, with the smoothed pose
                h = HandResult(
                    **pose,
                    score=src.score,
                    box=src.box,
                    joints_2d=src.joints_2d,
                    uncertainty_mm=src.uncertainty_mm,
                    model_joints=src.model_joints,
                    status="tracked",
                )
                ref = None
            else:  # bridged by the temporal model: nothing was seen, so no box, 2D or spread
                h = HandResult(
                    **pose,
                    score=0.0,
                    box=np.full(4, np.nan),
                    joints_2d=np.full((NUM_JOINTS, 2), np.nan),
                    uncertainty_mm=np.full(NUM_JOINTS, np.nan),
                    model_joints=None,
                    status="bridged",
                )
                near = int(seen[np.abs(seen - i).argmin()])
                ref = (by_frame[near].box, abs(near - int(i)))
            out[int(i)].append(h)
            refs[int(i)].append(ref)
    return [one_result_per_hand(hs, rs) for hs, rs in zip(out, refs)]
