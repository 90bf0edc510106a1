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

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from diffuhand.data.augment import to_tensor
from diffuhand.data.crops import crop_sample, flip_sample
from diffuhand.data.schema import HandSample
from diffuhand.errors import DiffuhandError, DiffuhandWarning

log = logging.getLogger(__name__)

#: mean wrist -> index MCP length of real adult hands (DexYCB 89.1 mm, the real-world dev set 86.1 mm)
DEFAULT_ANCHOR_MM = 88.0
_MIRROR = np.array([-1.0, 1.0, 1.0])


def to_camera_mm(joints: np.ndarray, side: str, anchor_mm: float) -> np.ndarray:
    """Model joints (21, 3) (right hand, anchor lengths) -> mm, wrist at the origin, mirrored back for a left hand."""
    j = np.asarray(joints, dtype=np.float64) * anchor_mm
    j = j - j[0]
    return j * _MIRROR if side == "left" else j


def mirror_mesh(vertices: np.ndarray, faces: np.ndarray, side: str) -> tuple[np.ndarray, np.ndarray]:
    """A right-hand mesh as the given side: a left hand mirrored, its triangles' winding reversed so that normals
    still point out."""
    return (vertices * _MIRROR, faces[:, ::-1]) if side == "left" else (vertices, faces)


@dataclass
class HandResult:
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

        return {"handedness": self.handedness, "status": self.status, "score": round(float(self.score), 4), "box": r(self.box),
                "joints_2d": r(self.joints_2d), "joints_3d": r(self.joints_3d), "angles": r(self.angles, 5),
                "bone_ratios": r(self.bone_ratios, 5), "uncertainty_mm": r(self.uncertainty_mm)}  # fmt: skip


def _unet_backend(model, backend: str) -> tuple[str, object | None]:
    """(backend name, the network the sampler calls) for an estimator of ``model``; the model is not changed, so
    estimators sharing it keep their own backends."""
    if model.diffusion is None:
        return "torch", None
    if backend == "torch":
        return "torch", model.diffusion.unet
    from diffuhand.models.onnx import OnnxUNet

    if backend == "onnx":  # asked for: a failure is the user's error (no unet.onnx: exported now, in memory)
        return "onnx", OnnxUNet(model.diffusion.unet, model.onnx_file)
    if model.onnx_file is None:
        log.debug("diffusion U-Net in torch (the checkpoint has no unet.onnx)")
        return "torch", model.diffusion.unet
    try:
        runner = OnnxUNet(model.diffusion.unet, model.onnx_file)
    except DiffuhandError as exc:
        warnings.warn(f"{model.onnx_file}: not used ({exc}); the diffusion network runs in torch (same output, "
                      "slower; --backend torch says so quietly)", DiffuhandWarning, stacklevel=3)  # fmt: skip
        return "torch", model.diffusion.unet
    log.debug("diffusion U-Net in ONNX Runtime (%s)", model.onnx_file)
    return "onnx", runner


def as_image(image) -> np.ndarray:
    """A photo as the estimator takes it -> (H, W, 3) uint8 RGB: a file's path (str or Path, read as the CLI reads
    it) or an array in any layout a photo file holds (:func:`~diffuhand.io.images.image_from_array`)."""
    from diffuhand.io.images import image_from_array, read_image

    return read_image(image) if isinstance(image, str | Path) else image_from_array(image)


def _is_video_path(x) -> bool:
    from diffuhand.io.images import VIDEO_SUFFIXES

    return isinstance(x, str | Path) and Path(x).suffix.lower() in VIDEO_SUFFIXES


class Estimator:
    """Photos in, 3D hands out. ``estimator.predict(image)`` -> list of :class:`HandResult`.

    Args:
        model: a trained :class:`~diffuhand.models.estimator.HandPoseModel` (image- or keypoint-conditioned).
        detector: a :class:`~diffuhand.detect.MediaPipeHands` (made on first use when None).
        anchor_mm: the hand size assumed for the millimetre output.
        ik: for diffusion models, how the sample mean becomes angles within the limits: "solver" (our
            Levenberg-Marquardt fit, :func:`~diffuhand.kinematics.fit_ik`; measured better on real photos, see the
            README) or "mlp" (the paper's IK MLP, section 2.5; needs a diffusion_ik model).
        backend: the diffusion U-Net in "torch", "onnx" (ONNX Runtime: equal outputs, 2-4x faster for the few
            hands of a photo, see :mod:`diffuhand.models.onnx`), or "auto": ONNX Runtime where the checkpoint has
            its ``unet.onnx`` (the shipped one does) and onnxruntime is installed, else torch (with a
            :class:`~diffuhand.errors.DiffuhandWarning` where a ``unet.onnx`` is there but cannot be used). The
            choice is this estimator's (``backend``, ``unet``): the shared model is not changed.
        sampler: overrides the model's sampler (a :class:`~diffuhand.models.diffusion.SamplerConfig` or its dict),
            e.g. ``{"samples": 1}`` for speed (no spread, so no uncertainty) or ``{"kind": "ddim", "steps": 10}``.
    """

    def __init__(self, model, detector=None, anchor_mm: float = DEFAULT_ANCHOR_MM, seed: int = 0, ik: str = "solver",
                 temporal=None, backend: str = "auto", sampler=None):  # fmt: skip
        if ik not in ("solver", "mlp"):
            raise ValueError(f"ik must be 'solver' or 'mlp', got {ik!r}")
        if backend not in ("auto", "torch", "onnx"):
            raise ValueError(f"backend must be 'auto', 'torch' or 'onnx', got {backend!r}")
        self.model = model.eval()
        self.backend, self.unet = _unet_backend(model, backend)
        self.sampler = None
        if sampler is not None and model.diffusion is not None:
            from diffuhand.models.diffusion import override_sampler

            # checks kind, steps, samples and steps <= T now rather than at the first photo
            self.sampler = override_sampler(model.cfg.sampler, sampler, model.diffusion.timesteps)
        self.temporal = temporal
        self.detector = detector
        self.anchor_mm = anchor_mm
        self.ik = ik
        self.seed = seed
        self._backend_asked = backend
        self.generator = torch.Generator().manual_seed(seed)

    def replace(self, **changes) -> Estimator:
        """A new estimator of the same model with the same options except ``changes`` (any of the constructor's
        arguments), its random generator started again from the seed: ``est.replace()`` gives what a new
        estimator would (e.g. for each video alone), ``est.replace(temporal=None)``, ``est.replace(seed=1)``."""
        options = {"model": self.model, "detector": self.detector, "anchor_mm": self.anchor_mm, "seed": self.seed,
                   "ik": self.ik, "temporal": self.temporal, "backend": self._backend_asked, "sampler": self.sampler}  # fmt: skip
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
          -> a list per frame, tracked and, with a temporal model, smoothed (:meth:`predict_frames`).

        ``crop=True`` (photos): each image is one hand crop already (as in evaluation sets); ``hand`` ("left" or
        "right") says which hand, else the detector's label is taken. A keypoint-conditioned model still needs
        the detector's 2D keypoints on it. Without ``crop`` the detector tells each hand's side."""
        if video or _is_video_path(inputs) or (isinstance(inputs, np.ndarray) and inputs.ndim == 4):
            if crop or hand is not None:
                warnings.warn("crop and hand are for photos: not used for a video's frames", DiffuhandWarning, stacklevel=2)
            from diffuhand.io.video import read_video

            return self.predict_frames(read_video(inputs) if isinstance(inputs, str | Path) else inputs)
        if isinstance(inputs, list | tuple):
            return [self.predict_image(x, crop, hand) for x in inputs]
        return self.predict_image(inputs, crop, hand)

    def predict_frames(self, frames) -> list[list[HandResult]]:
        """Frames of one video, in order (any iterable of images as :meth:`predict_image` takes them, read as it
        goes) -> per frame its hands.

        MediaPipe's tracker finds the hands; its detections are linked frame to frame into one track per physical
        hand by where they are, and each track takes the side most of its labels give, weighted by their scores
        (:mod:`diffuhand.tracking`: MediaPipe's label flips now and then); a frame whose label disagreed is lifted
        again as that side. With a temporal model each track is then smoothed (:func:`smooth_tracks`)."""
        from diffuhand.detect import MediaPipeHands
        from diffuhand.tracking import distinct_hands, link_tracks, one_result_per_hand, track_sides

        per_frame: list[list[HandResult]] = []
        inputs: list[list[tuple]] = []  # per frame and hand its model input, to lift it again as the other side
        with MediaPipeHands(max_hands=2, video=True) as tracker:
            for frame in frames:
                image = as_image(frame)
                dets = tracker(image)
                dets = [dets[k] for k in distinct_hands([d.keypoints_2d for d in dets], [d.box for d in dets])]
                hands = [(d.handedness, d.score, d.box, d.keypoints_2d) for d in dets]
                crops = self._crops(image, hands)
                per_frame.append(self._lift_crops(crops, hands) if hands else [])
                inputs.append(crops)
        ids = link_tracks([[h.box for h in hs] for hs in per_frame])
        sides = track_sides(ids, [[h.handedness for h in hs] for hs in per_frame], [[h.score for h in hs] for hs in per_frame])
        for i, hs in enumerate(per_frame):
            redo = [k for k, h in enumerate(hs) if h.handedness != sides[ids[i][k]]]
            if redo:  # the mirror image of a crop is the crop of the mirrored photo, pixel for pixel
                size = self.model.cfg.input_size
                mirrored = [(None if img is None else np.ascontiguousarray(img[:, ::-1]), kp * [-1.0, 1.0] + [size, 0.0])
                            for img, kp in (inputs[i][k] for k in redo)]  # fmt: skip
                # MediaPipe's score is its confidence in its label: 1 - score is that in the other side
                again = [(sides[ids[i][k]], 1.0 - hs[k].score, hs[k].box[:3], hs[k].joints_2d) for k in redo]
                for k, h in zip(redo, self._lift_crops(mirrored, again)):
                    hs[k] = h
            for k, h in enumerate(hs):
                h.track = ids[i][k]
            per_frame[i] = one_result_per_hand(hs, [None] * len(hs))  # two tracks never share a side in a frame
        return smooth_tracks(per_frame, self.temporal, self.anchor_mm) if self.temporal is not None else per_frame

    @torch.inference_mode()
    def predict_image(self, image, crop: bool = False, hand: str | None = None) -> list[HandResult]:
        """One photo (an array or a path, see :meth:`predict`) -> one result per hand found."""
        image = as_image(image)
        if hand not in (None, "left", "right"):
            raise DiffuhandError(f"hand must be left or right, got {hand!r}")
        if hand is not None and not crop:
            warnings.warn("hand is used only with crop=True (the detector tells each hand's side): ignored",
                          DiffuhandWarning, stacklevel=2)  # fmt: skip
        h, w = image.shape[:2]
        needs_2d = self.model.keypoints is not None
        if crop:
            side = float(max(h, w))
            box = np.array([(w - side) / 2, (h - side) / 2, side])
            uv, score = None, 1.0
            if needs_2d or hand is None:  # the detector's keypoints, or its label for the side
                dets = self._detector()(image)
                if dets:
                    det = min(dets, key=lambda d: (hand is not None and d.handedness != hand, -d.score))
                    if needs_2d:
                        uv, score = det.keypoints_2d, det.score
                    elif hand is None:
                        score = det.score
                    hand = hand or det.handedness
                elif needs_2d:
                    return []
                else:  # an image model lifts the crop anyway, but cannot know its side
                    warnings.warn("no hand found in the crop to tell its side: taken as a right hand (say which: "
                                  "hand=, --hand)", DiffuhandWarning, stacklevel=2)  # fmt: skip
                    hand = "right"
            hands = [(hand, score, box, uv)]
        else:
            hands = [(d.handedness, d.score, d.box, d.keypoints_2d) for d in self._detector()(image)]
        if not hands:
            return []
        return self._lift_crops(self._crops(image, hands), hands)

    def _crops(self, image: np.ndarray, hands: list) -> list[tuple[np.ndarray | None, np.ndarray]]:
        """Per hand (side, score, box (x, y, side), uv or None) the model's input: the square crop (S, S, 3) uint8
        as a right hand (None for a model that does not see images) and its 2D keypoints (21, 2) crop pixels."""
        size = self.model.cfg.input_size
        # a pinhole camera for the crop: the network predicts no scale or distance, so any focal length serves
        K = np.array([[image.shape[1], 0.0, image.shape[1] / 2], [0.0, image.shape[1], image.shape[0] / 2], [0, 0, 1]])
        out = []
        for side, _, box, uv in hands:
            uv_ = uv if uv is not None else np.full((21, 2), box[2] / 2) + box[:2]
            s = HandSample(joints_3d=np.zeros((21, 3)), valid=np.ones(21, bool), handedness=side, dataset="input",
                           index=0, image=image if self.model.backbone is not None else None, K=K, joints_2d=uv_)  # fmt: skip
            if side == "left":
                s = flip_sample(s.replace(extra={"width": image.shape[1]}))
                box = np.array([image.shape[1] - box[0] - box[2], box[1], box[2]])
            c = crop_sample(s, size, box=box)
            out.append((c.image, c.joints_2d))
        return out

    def _lift_crops(self, crops: list[tuple[np.ndarray | None, np.ndarray]], hands: list) -> list[HandResult]:
        """The model on the crops of :meth:`_crops` -> a result per hand, in the photo's terms."""
        images = torch.stack([to_tensor(img) for img, _ in crops]) if self.model.backbone is not None else None
        keypoints = torch.tensor(np.stack([kp for _, kp in crops]), dtype=torch.float32) if self.model.keypoints is not None else None
        with torch.inference_mode():
            res = self.model.predict(images, keypoints, self.sampler, generator=self.generator,
                                     ik_mlp=self.ik == "mlp", unet=self.unet)  # fmt: skip
            if "samples" in res and (self.ik == "solver" or self.model.ik is None):
                res = {**res, **solve_ik(res.get("diffusion_joints", res["joints"]))}
        # one diffusion sample has no spread: its uncertainty is unknown (NaN, null in JSON), not a certain 0 mm
        spread_known = "samples" not in res or res["samples"].shape[1] > 1
        out = []
        for i, (side, score, box, uv) in enumerate(hands):
            j = to_camera_mm(res["joints"][i].double().numpy(), side, self.anchor_mm)
            angles = res["angles"][i].numpy() if "angles" in res else np.full(41, np.nan)
            ratios = res["ratios"][i].numpy() if "ratios" in res else np.full(20, np.nan)
            j2 = uv if uv is not None else np.full((21, 2), np.nan)
            rot = res["root_rotation"][i].double().numpy() if "root_rotation" in res else None
            mj = res.get("diffusion_joints", res["joints"])[i].numpy()
            unc = res["uncertainty"][i].double().numpy() * self.anchor_mm if spread_known else np.full(21, np.nan)
            out.append(HandResult(side, score, np.array([box[0], box[1], box[2], box[2]]), j2, j, angles, ratios, unc,
                                  rot, mj))  # fmt: skip
        return out


def solve_ik(joints: torch.Tensor, tol: float = 1e-3) -> dict:
    """Diffusion joints (B, 21, 3) (right hand, anchor lengths) -> the closest pose of the hand model within the
    limits: ``joints`` (anchor length 1, wrist at 0), ``angles``, ``ratios``, ``root_rotation``,
    ``diffusion_joints``. ``tol``: the solver's relative-gain stop (1e-3 moves the joints 0.009 mm on average
    from a fit run to 1e-5 on 300 synthetic test hands; one hand 19.2 -> 15.9 ms, benchmarks/bench_speed.py)."""
    from diffuhand.kinematics import fit_ik

    # no second start: a network's joints are never exactly a model pose, so every one would be solved twice;
    # measured on the real-world set: same PA-MPJPE (12.57 mm), 127 -> 98 ms per hand at batch 1
    fit = fit_ik(joints.double(), retry=float("inf"), tol=tol)
    scale = fit.anchor_length[:, None, None]
    fitted = (fit.joints - fit.root_position[:, None]) / scale
    return {"joints": fitted.float(), "angles": fit.angles.float(), "ratios": fit.bone_ratios.float(),
            "root_rotation": fit.root_rotation.float(), "diffusion_joints": joints}  # fmt: skip


def posed_mesh(result: HandResult, anchor_mm: float = DEFAULT_ANCHOR_MM, mesh=None) -> tuple[np.ndarray, np.ndarray]:
    """The MIT-licensed rigged hand skinned to a result's angles and ratios (the renderer's skinning).

    Returns vertices (V, 3) mm in the camera frame relative to the wrist, and triangles (F, 3) (a left hand:
    :func:`mirror_mesh`)."""
    from diffuhand.synth.mesh import default_hand_mesh, pose_mesh

    if result.root_rotation is None or not np.isfinite(result.angles).all():
        raise DiffuhandError("this model gives no angles (a diffusion model without its IK MLP): no mesh")
    mesh = mesh or default_hand_mesh()
    v, _ = pose_mesh(mesh, result.angles, result.bone_ratios, anchor_mm, result.root_rotation, np.zeros(3))
    return mirror_mesh(v, np.asarray(mesh.faces), result.handedness)


def smooth_tracks(frames: list[list[HandResult]], temporal, anchor_mm: float = DEFAULT_ANCHOR_MM) -> list[list[HandResult]]:
    """Video: each hand's track (``HandResult.track``, as :meth:`Estimator.predict_frames` numbers them; results
    without one are grouped by side) through the temporal model.

    Frames where a track was not found are bridged when a found frame lies within half a window (``status``
    "bridged", no 2D joints or box), otherwise left out: nothing is invented beyond the model's window, and no
    bridged hand stands where another track's hand was found (:func:`~diffuhand.tracking.one_result_per_hand`)."""
    from diffuhand.models.temporal import smooth_sequence
    from diffuhand.tracking import one_result_per_hand

    t = len(frames)
    out: list[list[HandResult]] = [[] for _ in range(t)]
    refs: list[list[tuple[np.ndarray, int] | None]] = [[] for _ in range(t)]  # a bridged hand: (box, frames away)
    keys = list(dict.fromkeys(h.track if h.track is not None else h.handedness for hs in frames for h in hs))
    for key in keys:
        found = np.zeros(t, bool)
        joints = np.zeros((t, 21, 3), np.float32)
        by_frame: dict[int, HandResult] = {}
        for i, hands in enumerate(frames):
            mine = [h for h in hands if (h.track if h.track is not None else h.handedness) == key]
            if mine and mine[0].model_joints is not None:
                h = max(mine, key=lambda h: h.score)
                found[i], joints[i], by_frame[i] = True, h.model_joints, h
        if not found.any():
            continue
        side = by_frame[int(np.flatnonzero(found)[0])].handedness
        track = key if isinstance(key, int) else None
        res = smooth_sequence(temporal, joints, found)
        seen = np.flatnonzero(found)
        for i in np.flatnonzero(res["status"] != "missing"):
            j = to_camera_mm(res["joints"][i], side, anchor_mm)
            src = by_frame.get(int(i))
            if src is not None:
                h = HandResult(side, src.score, src.box, src.joints_2d, j, res["angles"][i], res["ratios"][i],
                               src.uncertainty_mm, res["root_rotation"][i], src.model_joints, "tracked", track)  # fmt: skip
                ref = None
            else:
                h = HandResult(side, 0.0, np.full(4, np.nan), np.full((21, 2), np.nan), j, res["angles"][i],
                               res["ratios"][i], np.full(21, np.nan), res["root_rotation"][i], None, "bridged", track)  # fmt: skip
                near = int(seen[np.abs(seen - i).argmin()])
                ref = (by_frame[near].box, abs(near - int(i)))
            out[int(i)].append(h)
            refs[int(i)].append(ref)
    return [one_result_per_hand(hs, rs) for hs, rs in zip(out, refs)]
