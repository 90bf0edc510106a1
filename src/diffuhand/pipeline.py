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

from dataclasses import dataclass

import numpy as np
import torch

from diffuhand.data.augment import to_tensor
from diffuhand.data.crops import crop_sample, flip_sample
from diffuhand.data.schema import HandSample
from diffuhand.errors import DiffuhandError

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

    def to_json(self) -> dict:
        def r(a, d=2):  # NaN (unknown, e.g. a bridged frame's 2D) -> null
            a = np.round(np.asarray(a, dtype=np.float64), d)
            return None if not np.isfinite(a).any() else np.where(np.isfinite(a), a, None).tolist()

        return {"handedness": self.handedness, "status": self.status, "score": round(float(self.score), 4), "box": r(self.box),
                "joints_2d": r(self.joints_2d), "joints_3d": r(self.joints_3d), "angles": r(self.angles, 5),
                "bone_ratios": r(self.bone_ratios, 5), "uncertainty_mm": r(self.uncertainty_mm)}  # fmt: skip


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
            its ``unet.onnx`` (the shipped one does) and onnxruntime is installed, else torch.
        sampler: overrides the model's sampler (a :class:`~diffuhand.models.diffusion.SamplerConfig` or its dict),
            e.g. ``{"samples": 1}`` for speed (no spread, so no uncertainty) or ``{"kind": "ddpm", "steps": 50}``.
    """

    def __init__(self, model, detector=None, anchor_mm: float = DEFAULT_ANCHOR_MM, seed: int = 0, ik: str = "solver",
                 temporal=None, backend: str = "auto", sampler=None):  # fmt: skip
        if ik not in ("solver", "mlp"):
            raise ValueError(f"ik must be 'solver' or 'mlp', got {ik!r}")
        if backend not in ("auto", "torch", "onnx"):
            raise ValueError(f"backend must be 'auto', 'torch' or 'onnx', got {backend!r}")
        self.backend = "torch"
        if model.diffusion is not None and backend != "torch":
            try:
                if backend == "onnx" or model.onnx_file is not None:
                    model.diffusion.use_backend("onnx", model.onnx_file)
                    self.backend = "onnx"
            except DiffuhandError:
                if backend == "onnx":
                    raise
        self.model = model.eval()
        self.sampler = None
        if sampler is not None and model.diffusion is not None:
            from dataclasses import asdict

            from diffuhand.models.diffusion import SamplerConfig

            given = asdict(sampler) if isinstance(sampler, SamplerConfig) else dict(sampler)
            try:
                self.sampler = SamplerConfig(**{**model.cfg.sampler, **given})  # checks kind, steps, samples
            except TypeError as exc:
                raise ValueError(f"bad sampler {sampler!r}: {exc}") from None
            model.diffusion.scheduler(self.sampler)  # and steps <= T, now rather than at the first photo
        self.temporal = temporal
        self.detector = detector
        self.anchor_mm = anchor_mm
        self.ik = ik
        self.generator = torch.Generator().manual_seed(seed)

    def _detector(self):
        if self.detector is None:
            from diffuhand.detect import MediaPipeHands

            self.detector = MediaPipeHands(max_hands=2)
        return self.detector

    def predict(self, image_or_frames, crop: bool = False, hand: str = "right"):
        """A photo (H, W, 3) uint8 RGB -> list of :class:`HandResult` (empty: no hand); consecutive frames (a list
        of photos or a (T, H, W, 3) array) -> a list per frame, tracked and, with a temporal model, smoothed.

        ``crop=True`` (photos): the image is one hand crop already (as in evaluation sets), of the given ``hand``;
        a keypoint-conditioned model still needs the detector's 2D keypoints on it."""
        if isinstance(image_or_frames, (list, tuple)) or np.ndim(image_or_frames) == 4:
            return self.predict_frames(image_or_frames)
        return self.predict_image(image_or_frames, crop, hand)

    def predict_frames(self, frames) -> list[list[HandResult]]:
        """Frames of one video, in order (any iterable, read as it goes) -> per frame its hands (MediaPipe's
        tracker, then the temporal model)."""
        from diffuhand.detect import MediaPipeHands

        with MediaPipeHands(max_hands=2, video=True) as tracker:
            own, self.detector = self.detector, tracker
            try:
                per_frame = [self.predict_image(f) for f in frames]
            finally:
                self.detector = own
        return smooth_tracks(per_frame, self.temporal, self.anchor_mm) if self.temporal is not None else per_frame

    @torch.inference_mode()
    def predict_image(self, image: np.ndarray, crop: bool = False, hand: str = "right") -> list[HandResult]:
        """(H, W, 3) uint8 RGB photo -> one result per hand found (see :meth:`predict`)."""
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise DiffuhandError(f"expected an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}")
        h, w = image.shape[:2]
        needs_2d = self.model.keypoints is not None
        if crop:
            if hand not in ("left", "right"):
                raise DiffuhandError(f"hand must be left or right, got {hand!r}")
            side = float(max(h, w))
            box = np.array([(w - side) / 2, (h - side) / 2, side])
            uv, score = None, 1.0
            if needs_2d:
                dets = self._detector()(image)
                if not dets:
                    return []
                det = min(dets, key=lambda d: (d.handedness != hand, -d.score))
                uv, score = det.keypoints_2d, det.score
            hands = [(hand, score, box, uv)]
        else:
            hands = [(d.handedness, d.score, d.box, d.keypoints_2d) for d in self._detector()(image)]
        if not hands:
            return []
        return self._lift(image, hands)

    def _lift(self, image: np.ndarray, hands: list) -> list[HandResult]:
        size = self.model.cfg.input_size
        # a pinhole camera for the crop: the network predicts no scale or distance, so any focal length serves
        K = np.array([[image.shape[1], 0.0, image.shape[1] / 2], [0.0, image.shape[1], image.shape[0] / 2], [0, 0, 1]])
        crops, kps = [], []
        for side, _, box, uv in hands:
            uv_ = uv if uv is not None else np.full((21, 2), box[2] / 2) + box[:2]
            s = HandSample(joints_3d=np.zeros((21, 3)), valid=np.ones(21, bool), handedness=side, dataset="input",
                           index=0, image=image, K=K, joints_2d=uv_)  # fmt: skip
            if side == "left":
                s = flip_sample(s)
                box = np.array([image.shape[1] - box[0] - box[2], box[1], box[2]])
            c = crop_sample(s, size, box=box)
            crops.append(to_tensor(c.image))
            kps.append(c.joints_2d)
        images = torch.stack(crops) if self.model.backbone is not None else None
        keypoints = torch.tensor(np.stack(kps), dtype=torch.float32) if self.model.keypoints is not None else None
        res = self.model.predict(images, keypoints, self.sampler, generator=self.generator, ik_mlp=self.ik == "mlp")
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
    """Video: one track per hand side (MediaPipe's tracker keeps a hand's side), each through the temporal model.

    Frames where a side was not found are bridged when a found frame lies within half a window (``status``
    "bridged", no 2D joints or box), otherwise left out: nothing is invented beyond the model's window."""
    from diffuhand.models.temporal import smooth_sequence

    t = len(frames)
    out: list[list[HandResult]] = [[] for _ in range(t)]
    for side in ("left", "right"):
        found = np.zeros(t, bool)
        joints = np.zeros((t, 21, 3), np.float32)
        by_frame: dict[int, HandResult] = {}
        for i, hands in enumerate(frames):
            mine = [h for h in hands if h.handedness == side]
            if mine and mine[0].model_joints is not None:
                h = max(mine, key=lambda h: h.score)
                found[i], joints[i], by_frame[i] = True, h.model_joints, h
        if not found.any():
            continue
        res = smooth_sequence(temporal, joints, found)
        for i in np.flatnonzero(res["status"] != "missing"):
            j = to_camera_mm(res["joints"][i], side, anchor_mm)
            src = by_frame.get(int(i))
            if src is not None:
                h = HandResult(side, src.score, src.box, src.joints_2d, j, res["angles"][i], res["ratios"][i],
                               src.uncertainty_mm, res["root_rotation"][i], src.model_joints, "tracked")  # fmt: skip
            else:
                h = HandResult(side, 0.0, np.full(4, np.nan), np.full((21, 2), np.nan), j, res["angles"][i],
                               res["ratios"][i], np.full(21, np.nan), res["root_rotation"][i], None, "bridged")  # fmt: skip
            out[int(i)].append(h)
    return out
