"""The paper's networks as lifters: a trained :class:`~diffuhand.models.estimator.HandPoseModel` (baseline,
diffusion, diffusion + IK MLP; conditioned on image crops, 2D keypoints, or MediaPipe's landmark network) on the
hands of a photo, the diffusion sample mean made a pose of the hand model by the IK solver (or the IK MLP), and
optionally drawn with a named skeleton convention (:mod:`diffuhand.kinematics.skeletons`)."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import torch

from diffuhand.data.augment import to_tensor
from diffuhand.data.crops import crop_sample
from diffuhand.data.schema import HandSample
from diffuhand.errors import DiffuhandError, DiffuhandWarning
from diffuhand.io.weights import weights_digest
from diffuhand.kinematics import fit_ik
from diffuhand.kinematics.fusion import ALL_BONES
from diffuhand.kinematics.skeleton import PARENTS
from diffuhand.lift.base import MIRROR, HandInput, LiftedHand, as_right, mirror_camera
from diffuhand.models.onnx import OnnxUNet

log = logging.getLogger(__name__)


def solve_ik(joints: torch.Tensor, tol: float = 1e-3) -> dict:
    """Diffusion joints (B, 21, 3) (right hand, anchor lengths) -> the closest pose of the hand model within the
    limits: ``joints`` (anchor length 1, wrist at 0), ``angles``, ``ratios``, ``root_rotation``,
    ``diffusion_joints``. ``tol``: the solver's relative-gain stop (1e-3 moves the joints 0.009 mm on average
    from a fit run to 1e-5 on 300 synthetic test hands; one hand 19.2 -> 15.9 ms, benchmarks/bench_speed.py)."""

    # no second start: a network's joints are never exactly a model pose, so every one would be solved twice;
    # measured on the real-world set: same PA-MPJPE (12.57 mm), 127 -> 98 ms per hand at batch 1
    fit = fit_ik(joints.double(), retry=float("inf"), tol=tol)
    scale = fit.anchor_length[:, None, None]
    fitted = (fit.joints - fit.root_position[:, None]) / scale
    return {
        "joints": fitted.float(),
        "angles": fit.angles.float(),
        "ratios": fit.bone_ratios.float(),
        "root_rotation": fit.root_rotation.float(),
        "diffusion_joints": joints,
    }


def unet_backend(model, backend: str) -> tuple[str, object | None]:
    """(backend name, the network the sampler calls) for a lifter of ``model``; the model is not changed, so
    lifters sharing it keep their own backends."""
    if model.diffusion is None:
        return "torch", None
    if backend == "torch":
        return "torch", model.diffusion.unet

    if model.onnx_file is None and getattr(model, "onnx_on_first_use", False):  # a shipped model: its export, cached
        from diffuhand.models.onnx import cached_unet_onnx

        model.onnx_file = cached_unet_onnx(model.diffusion.unet)
        model.onnx_on_first_use = False
    if backend == "onnx":  # asked for: a failure is the user's error (no unet.onnx: exported now, in memory)
        return "onnx", OnnxUNet(model.diffusion.unet, model.onnx_file)
    if model.onnx_file is None:
        log.debug("diffusion U-Net in torch (the checkpoint has no unet.onnx)")
        return "torch", model.diffusion.unet
    try:
        runner = OnnxUNet(model.diffusion.unet, model.onnx_file)
    except DiffuhandError as exc:
        warnings.warn(
            f"{model.onnx_file}: not used ({exc}); the diffusion network runs in torch (same output, "
            "slower; --backend torch says so quietly)",
            DiffuhandWarning,
            stacklevel=4,
        )
        return "torch", model.diffusion.unet
    log.debug("diffusion U-Net in ONNX Runtime (%s)", model.onnx_file)
    return "onnx", runner


def model_identity(model) -> str:
    """A short hash of a model's weights and configuration."""
    return weights_digest(vars(model.cfg), model.state_dict())


class NetworkLifter:
    """A trained network on the hands of a photo.

    Args:
        model: a :class:`~diffuhand.models.estimator.HandPoseModel`.
        ik: for diffusion models, how the sample mean becomes a pose within the limits: ``"solver"`` (our
            Levenberg-Marquardt fit, measured better on real photos), ``"mlp"`` (the paper's IK MLP) or ``"none"``
            (the sample mean as it is: joints only, no angles).
        backend: the diffusion U-Net in ``"torch"``, ``"onnx"`` or ``"auto"`` (:func:`unet_backend`).
        sampler: overrides the model's sampler (a SamplerConfig or its dict).
        skeleton: draw the fitted pose with this named skeleton's bone ratios (None: the model's own).
        guide_world: diffusion posterior sampling towards the detector's 3D estimate (its bone directions),
            with this step size (0: off).
    """

    needs_world = False
    #: the diffusion samples are drawn for a whole batch (a baseline network would be deterministic, but is not
    #: told apart here: batching its hands is merely not promised to match)
    deterministic = False

    def __init__(
        self,
        model,
        ik: str = "solver",
        backend: str = "auto",
        sampler=None,
        skeleton: str | None = None,
        guide_world: float = 0.0,
    ):
        if ik not in ("solver", "mlp", "none"):
            raise ValueError(f"ik must be 'solver', 'mlp' or 'none', got {ik!r}")
        if backend not in ("auto", "torch", "onnx"):
            raise ValueError(f"backend must be 'auto', 'torch' or 'onnx', got {backend!r}")
        if ik == "mlp" and model.ik is None and model.diffusion is not None:
            raise ValueError("ik='mlp' needs a diffusion_ik model (this one has no IK MLP)")
        self.model = model.eval()
        self.ik, self.backend_asked, self.skeleton, self.guide_world = ik, backend, skeleton, float(guide_world)
        self.backend, self.unet = unet_backend(model, backend)
        self.sampler = None
        if sampler is not None and model.diffusion is not None:
            from diffuhand.models.diffusion import override_sampler

            # checks kind, steps, samples and steps <= T now rather than at the first photo
            self.sampler = override_sampler(model.cfg.sampler, sampler, model.diffusion.timesteps)
        self.needs_keypoints = model.keypoints is not None or model.landmarks is not None
        self.needs_image = model.backbone is not None or model.landmarks is not None
        self.needs_world = self.guide_world > 0
        self._ratios = None
        if skeleton is not None:
            from diffuhand.kinematics.skeletons import load_skeleton

            self._ratios = torch.as_tensor(load_skeleton(skeleton).bone_ratios, dtype=torch.float64)
        self._identity = None

    @property
    def identity(self) -> str:
        if self._identity is None:
            self._identity = f"{model_identity(self.model)}-{self.ik}-{self.sampler}-{self.skeleton}-{self.guide_world}"
        return self._identity

    def options(self) -> dict:
        """This lifter's constructor arguments (to make another like it)."""
        return {
            "model": self.model,
            "ik": self.ik,
            "backend": self.backend_asked,
            "sampler": self.sampler,
            "skeleton": self.skeleton,
            "guide_world": self.guide_world,
        }

    def _inputs(self, items: list[tuple]) -> dict:
        """The model's inputs for (image, hand, K) items, each hand as a right hand: crops, crop keypoints or
        landmark conditions."""
        m = self.model
        out: dict = {"images": None, "keypoints": None, "landmarks": None}
        mirrored: dict[int, np.ndarray] = {}  # one mirrored copy per photo

        def right_image(image, side):
            if side != "left":
                return image
            if id(image) not in mirrored:
                mirrored[id(image)] = np.ascontiguousarray(image[:, ::-1])
            return mirrored[id(image)]

        if m.landmarks is not None:
            from diffuhand.detect.landmarks import default_landmark_net, hand_rect
            from diffuhand.models.landmarks import landmark_condition

            conds = []
            for image, h, K in items:
                if image is None:
                    raise DiffuhandError("a landmark-network model needs the photo")
                width = image.shape[1]
                r = as_right(h, width)
                Kh = mirror_camera(K, width) if h.side == "left" else K
                rect = hand_rect(r.keypoints_2d)
                o = default_landmark_net()(right_image(image, h.side), [rect])
                conds.append(
                    landmark_condition(
                        o.features, o.world, o.keypoints_2d, np.array([[rect.cx, rect.cy]]), np.array([rect.side]), Kh
                    )[0]
                )
            out["landmarks"] = torch.as_tensor(np.stack(conds))
            return out
        size = m.cfg.input_size
        crops, kps = [], []
        for image, h, K in items:
            width = image.shape[1] if image is not None else 2.0 * K[0, 2]
            r = as_right(h, width)
            uv = r.keypoints_2d if r.keypoints_2d is not None else np.full((21, 2), r.box[2] / 2) + r.box[:2]
            img = None
            if m.backbone is not None:
                if image is None:
                    raise DiffuhandError("an image-conditioned model needs the photo")
                img = right_image(image, h.side)
            s = HandSample(
                joints_3d=np.zeros((21, 3)),
                valid=np.ones(21, bool),
                handedness="right",
                dataset="input",
                index=0,
                image=img,
                K=K,
                joints_2d=uv,
            )
            c = crop_sample(s, size, box=r.box)
            crops.append(c.image)
            kps.append(c.joints_2d)
        if m.backbone is not None:
            out["images"] = torch.stack([to_tensor(c) for c in crops])
        if m.keypoints is not None:
            out["keypoints"] = torch.tensor(np.stack(kps), dtype=torch.float32)
        return out

    def _guide(self, items: list[tuple], samples: int):
        """Diffusion posterior sampling's residual: the bone directions of the detector's 3D estimate."""

        bones = torch.tensor(ALL_BONES)
        parents = torch.tensor([PARENTS[b] for b in ALL_BONES])
        if any(h.world_mm is None for _, h, _ in items):
            raise DiffuhandError("guidance towards the detector's 3D needs its 3D estimate (world landmarks)")
        w = torch.tensor(
            np.stack([h.world_mm * (MIRROR if h.side == "left" else 1.0) for _, h, _ in items]), dtype=torch.float32
        )
        d = w[:, bones] - w[:, parents]
        d = (d / d.norm(dim=-1, keepdim=True).clamp_min(1e-9)).repeat_interleave(samples, 0)

        def residual(x0: torch.Tensor) -> torch.Tensor:
            v = x0[:, bones] - x0[:, parents]
            return ((v / v.norm(dim=-1, keepdim=True).clamp_min(1e-6) - d) ** 2).sum((-1, -2))

        return residual

    def lift(
        self,
        image: np.ndarray | None,
        hands: list[HandInput],
        K: np.ndarray,
        generator: torch.Generator | None = None,
        camera_known: bool = False,
    ) -> list[LiftedHand]:
        """The hands of one photo (``K``: its intrinsics) -> one :class:`LiftedHand` each."""
        return self.lift_many([(image, h, K) for h in hands], generator)

    # no_grad, not inference_mode: tensors a library caches on first use (roma's constants) would otherwise
    # become inference tensors and break any later training in the same process
    @torch.no_grad()
    def lift_many(
        self, items: list[tuple], generator: torch.Generator | None = None, camera_known: bool = False
    ) -> list[LiftedHand]:
        """Hands of any photos in one batch: (image or None, :class:`HandInput`, K (3, 3)) items -> one
        :class:`LiftedHand` each (how evaluation runs over a data set)."""
        if not items:
            return []
        if self.needs_keypoints and any(h.keypoints_2d is None for _, h, _ in items):
            raise DiffuhandError("this model needs the detector's 2D keypoints")
        x = self._inputs(items)
        guide = None
        if self.guide_world > 0 and self.model.diffusion is not None:
            from diffuhand.models.diffusion import SamplerConfig

            sampler = self.sampler or SamplerConfig(**self.model.cfg.sampler)
            guide = self._guide(items, sampler.samples)
        guided = {"guide": guide, "guide_scale": self.guide_world} if guide is not None else {}
        with torch.no_grad():  # the sampler turns gradients on for the guidance itself
            res = self.model.predict(
                x["images"],
                x["keypoints"],
                self.sampler,
                generator=generator,
                ik_mlp=self.ik == "mlp",
                unet=self.unet,
                landmarks=x["landmarks"],
                **guided,
            )
        model_joints = res.model_joints
        if res.samples is not None and self.ik == "solver":  # the sample mean fitted by our IK solver
            res = {**res, **solve_ik(model_joints)}
        joints, ratios = res["joints"].double(), res.get("ratios")
        if self._ratios is not None and "angles" in res:
            from diffuhand.kinematics import forward_kinematics

            ratios = self._ratios.expand(len(items), -1)
            joints = forward_kinematics(res["angles"].double(), ratios, 1.0, res["root_rotation"].double())
        # one diffusion sample has no spread: its uncertainty is unknown (NaN, null in JSON), not a certain 0 mm
        spread_known = "samples" not in res or res["samples"].shape[1] > 1
        out = []
        for i in range(len(items)):
            unc = res["uncertainty"][i].double().numpy() if spread_known else np.full(21, np.nan)
            out.append(
                LiftedHand(
                    joints=joints[i].numpy(),
                    angles=res["angles"][i].numpy() if "angles" in res else np.full(41, np.nan),
                    bone_ratios=ratios[i].numpy() if ratios is not None else np.full(20, np.nan),
                    root_rotation=res["root_rotation"][i].double().numpy() if "root_rotation" in res else None,
                    uncertainty=unc,
                    model_joints=model_joints[i].double().numpy(),
                )
            )
        return out
