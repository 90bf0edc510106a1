import numpy as np
import pytest
import torch

from diffuhand.kinematics import forward_kinematics
from diffuhand.kinematics.limits import load_limits
from diffuhand.kinematics.poses import named_poses
from diffuhand.pipeline import solve_ik


def test_solver_ik_recovers_model_poses_in_anchor_units():
    _, angles, ratios = named_poses(load_limits())
    rot = torch.tensor([[0.0, -1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, -1.0]], dtype=torch.float64)
    joints = forward_kinematics(angles, ratios, 1.0, rot).float()  # (10, 21, 3), anchor = 1, wrist at 0
    noisy = joints + 0.01 * torch.randn(joints.shape, generator=torch.Generator().manual_seed(0))
    out = solve_ik(noisy)
    assert out["joints"].shape == (10, 21, 3) and torch.allclose(out["joints"][:, 0], torch.zeros(10, 3), atol=1e-5)
    assert (out["joints"] - joints).norm(dim=-1).mean() < 0.03  # the noise (1.7% of the anchor in 3D), not the fit
    assert torch.allclose((out["joints"][:, 5] - out["joints"][:, 0]).norm(dim=-1), torch.ones(10), atol=1e-4)
    lo, hi = load_limits().angle_bounds(torch.float32)
    assert ((out["angles"][:, 3:] >= lo[3:] - 1e-5) & (out["angles"][:, 3:] <= hi[3:] + 1e-5)).all()
    import roma

    turn = roma.rotmat_geodesic_distance(out["root_rotation"].double(), rot.expand(10, 3, 3))
    assert turn.median() < 0.1  # rad; the joints pin it, up to the noise


def test_estimator_checks_its_ik_option():
    from diffuhand.models.estimator import HandPoseModel, ModelConfig
    from diffuhand.pipeline import Estimator

    m = HandPoseModel(ModelConfig(kind="diffusion_ik", condition="keypoints", feature_dim=16))
    assert Estimator(m, ik="mlp").ik == "mlp"
    with pytest.raises(ValueError, match="solver"):
        Estimator(m, ik="magic")


class StubDetector:
    """Stands in for MediaPipe: the given hands (keypoints (21, 2) px, side) on every image."""

    def __init__(self, *hands):
        from diffuhand.data.crops import square_box
        from diffuhand.detect.mediapipe import HandDetection

        self.dets = [
            HandDetection(np.asarray(uv, float), np.zeros((21, 3)), side, 0.9, square_box(np.asarray(uv, float)))
            for uv, side in hands
        ]

    def __call__(self, image):
        return list(self.dets)


def pose_keypoints(centre=(100.0, 100.0), size=60.0) -> np.ndarray:
    """A named pose's 2D joints (21, 2) px: its FK joints seen from the front, ``size`` px wrist to index MCP."""
    _, angles, ratios = named_poses(load_limits())
    j = forward_kinematics(angles[1], ratios[1], 1.0).numpy()
    return j[:, :2] * size + np.asarray(centre)


def test_hand_size_sets_the_millimetre_scale():
    from diffuhand.models.estimator import HandPoseModel, ModelConfig
    from diffuhand.pipeline import DEFAULT_ANCHOR_MM, Estimator

    torch.manual_seed(0)
    m = HandPoseModel(
        ModelConfig(
            kind="diffusion_ik",
            condition="keypoints",
            feature_dim=16,
            sampler={"kind": "ddim", "steps": 2, "samples": 2, "eta": 0.0},
        )
    )
    image = np.zeros((200, 200, 3), np.uint8)
    stub = StubDetector((pose_keypoints(), "right"))
    assert Estimator(m).anchor_mm == DEFAULT_ANCHOR_MM == 88.0  # an average adult hand (README)
    (a,) = Estimator(m, detector=stub).predict(image)
    (b,) = Estimator(m, detector=stub, anchor_mm=100.0).predict(image)
    # the anchor bone (wrist -> index MCP) of the output is the assumed size, and the rest scales with it
    assert np.linalg.norm(a.joints_3d[5] - a.joints_3d[0]) == pytest.approx(88.0, abs=1e-3)
    assert np.linalg.norm(b.joints_3d[5] - b.joints_3d[0]) == pytest.approx(100.0, abs=1e-3)
    np.testing.assert_allclose(b.joints_3d, a.joints_3d * (100.0 / 88.0), atol=1e-6)
    np.testing.assert_allclose(b.angles, a.angles)


def test_one_sample_reports_no_uncertainty():
    """The spread of one diffusion sample is unknown: NaN in the result and null in the JSON, never 0 mm."""
    from diffuhand.models.estimator import HandPoseModel, ModelConfig
    from diffuhand.pipeline import Estimator

    torch.manual_seed(0)
    m = HandPoseModel(
        ModelConfig(
            kind="diffusion_ik",
            condition="keypoints",
            feature_dim=16,
            sampler={"kind": "ddim", "steps": 2, "samples": 3, "eta": 0.0},
        )
    )
    image = np.zeros((200, 200, 3), np.uint8)
    stub = StubDetector((pose_keypoints(), "right"))
    (one,) = Estimator(m, detector=stub, sampler={"samples": 1}).predict(image)
    assert np.isnan(one.uncertainty_mm).all() and one.to_json()["uncertainty_mm"] is None
    (three,) = Estimator(m, detector=stub).predict(image)
    assert (three.uncertainty_mm > 0).all() and len(three.to_json()["uncertainty_mm"]) == 21


def tiny_model(condition: str = "keypoints"):
    from diffuhand.models.estimator import HandPoseModel, ModelConfig

    torch.manual_seed(0)
    m = HandPoseModel(
        ModelConfig(
            kind="diffusion_ik",
            condition=condition,
            feature_dim=16,
            input_size=32,
            sampler={"kind": "ddim", "steps": 2, "samples": 3, "eta": 0.0},
        )
    )
    with torch.no_grad():  # untrained zero-initialised layers ignore the input: make the output depend on it
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return m.eval()


def same_results(a: list, b: list) -> bool:
    return len(a) == len(b) and all(
        x.handedness == y.handedness and np.allclose(x.joints_3d, y.joints_3d) for x, y in zip(a, b)
    )


def test_predict_takes_paths_and_every_image_layout(tmp_path):
    """A photo's path (str or Path) and any array layout a photo file may hold give what read_image would."""
    from PIL import Image

    from diffuhand.io.images import read_image
    from diffuhand.pipeline import Estimator

    m = tiny_model("image")  # the image model sees the pixels: the conversion shows in its output
    stub = StubDetector((pose_keypoints(), "right"))
    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 256, (200, 200, 4), dtype=np.uint8)
    grey16 = rng.integers(0, 65536, (200, 200), dtype=np.uint16)
    for name, a in (("rgba", rgba), ("grey16", grey16), ("grey", rgba[..., 0])):
        Image.fromarray(a).save(tmp_path / f"{name}.png")
        ref = Estimator(m, detector=stub).predict(read_image(tmp_path / f"{name}.png"))
        for given in (a, str(tmp_path / f"{name}.png"), tmp_path / f"{name}.png"):
            assert same_results(Estimator(m, detector=stub).predict(given), ref), (name, type(given))
    assert same_results(
        Estimator(m, detector=stub).predict(rgba[..., :1]), Estimator(m, detector=stub).predict(rgba[..., 0])
    )


def test_a_list_of_photos_is_photos_and_frames_are_said(monkeypatch):
    """A list of photos gives each photo's hands as if it were alone (no tracking across them); frames of a
    video are a (T, H, W, 3) array, predict_frames, or video=True."""
    from diffuhand.pipeline import Estimator

    m = tiny_model()
    stub = StubDetector((pose_keypoints(), "right"))
    photos = [np.zeros((200, 200, 3), np.uint8), np.full((200, 200, 3), 9, np.uint8)]
    out = Estimator(m, detector=stub).predict(photos)
    alone = Estimator(m, detector=stub)
    assert len(out) == 2 and all(same_results(o, alone.predict(p)) for o, p in zip(out, photos))
    est = Estimator(m, detector=stub)
    calls = []
    monkeypatch.setattr(est, "predict_frames", lambda frames, fps=None: calls.append(len(list(frames))) or [])
    est.predict(photos, video=True)
    est.predict(np.stack(photos))
    from diffuhand.commands.predict import demo_inputs

    (clip,) = [p for p in demo_inputs() if p.suffix == ".mp4"]
    est.predict(clip)  # a video's path: its frames
    est.predict(str(clip), video=True)
    assert calls == [2, 2, 48, 48]


def test_estimators_of_one_model_keep_their_own_backend():
    """The backend belongs to the estimator: an ONNX estimator of a model leaves a torch one of the same model
    running torch (it used to switch the shared model), and the model itself is not changed."""
    import diffuhand
    from diffuhand.models.estimator import load_model
    from diffuhand.pipeline import Estimator

    folder = diffuhand.shipped_weights("keypoints")
    if folder is None:
        pytest.skip("no shipped weights (with their unet.onnx) in this install")
    m = load_model(folder)
    calls = []
    m.diffusion.unet.register_forward_hook(lambda *a: calls.append(1))
    stub = StubDetector((pose_keypoints(), "right"))
    torch_est = Estimator(m, detector=stub, backend="torch")
    onnx_est = Estimator(m, detector=stub, backend="onnx")
    assert (torch_est.backend, onnx_est.backend) == ("torch", "onnx") and m.diffusion.runner is None
    image = np.zeros((200, 200, 3), np.uint8)
    torch_est.predict(image)
    assert len(calls) > 0
    calls.clear()
    onnx_est.predict(image)
    assert calls == []
    torch_est.predict(image)
    assert len(calls) > 0 and torch_est.backend == "torch"


def test_auto_backend_says_when_it_falls_back(tmp_path):
    """auto: ONNX Runtime where the checkpoint has a usable unet.onnx; one that cannot be used is a warning, not
    silence."""
    from diffuhand.errors import DiffuhandWarning
    from diffuhand.pipeline import Estimator

    m = tiny_model()
    assert Estimator(m).backend == "torch"  # no unet.onnx: torch, nothing to say
    (tmp_path / "unet.onnx").write_bytes(b"not onnx")
    m.onnx_file = tmp_path / "unet.onnx"
    with pytest.warns(DiffuhandWarning, match=r"unet\.onnx.*torch"):
        est = Estimator(m)
    assert est.backend == "torch"


def test_replace_keeps_every_option_and_starts_the_generator_again():
    from diffuhand.pipeline import Estimator

    m = tiny_model()
    stub = StubDetector((pose_keypoints(), "right"))
    est = Estimator(
        m, detector=stub, anchor_mm=95.0, seed=3, ik="mlp", backend="torch", sampler={"samples": 2}, temporal="T"
    )
    image = np.zeros((200, 200, 3), np.uint8)
    first = est.predict(image)
    est.predict(image)  # moves the generator on
    again = est.replace()
    assert (again.anchor_mm, again.ik, again.backend, again.temporal, again.detector) == (
        95.0,
        "mlp",
        "torch",
        "T",
        stub,
    )
    assert again.sampler == est.sampler and again.sampler.samples == 2 and again.model is m
    assert same_results(again.predict(image), first)  # from the seed again, as a new estimator would
    assert est.replace(ik="solver").ik == "solver" and est.ik == "mlp"


def test_crop_takes_the_detectors_side_unless_told(recwarn):
    """A crop of a left hand, no side given: the detector's label (it used to be taken as right, mirrored wrong)."""
    from diffuhand.errors import DiffuhandWarning
    from diffuhand.pipeline import Estimator

    for condition in ("keypoints", "image"):
        m = tiny_model(condition)
        image = np.zeros((200, 200, 3), np.uint8)
        left = StubDetector((pose_keypoints(), "left"))
        (a,) = Estimator(m, detector=left).predict(image, crop=True)
        (b,) = Estimator(m, detector=left).predict(image, crop=True, hand="left")
        (c,) = Estimator(m, detector=left).predict(image, crop=True, hand="right")
        assert a.handedness == b.handedness == "left" and c.handedness == "right"
        assert same_results([a], [b])
    # without crop the detector tells each hand's side: a given hand is ignored, and said to be
    with pytest.warns(DiffuhandWarning, match="only with crop"):
        (d,) = Estimator(m, detector=left).predict(image, hand="right")
    assert d.handedness == "left"


def test_a_crop_without_a_found_hand_says_which_side_it_took():
    from diffuhand.errors import DiffuhandWarning
    from diffuhand.pipeline import Estimator

    image = np.zeros((200, 200, 3), np.uint8)
    with pytest.warns(DiffuhandWarning, match="taken as a right hand"):
        (hand,) = Estimator(tiny_model("image"), detector=StubDetector()).predict(image, crop=True)
    assert hand.handedness == "right"
    assert Estimator(tiny_model("keypoints"), detector=StubDetector()).predict(image, crop=True) == []  # needs 2D


def test_training_still_works_after_predicting_in_the_same_process(tmp_path):
    """Prediction must not leave inference tensors in libraries' caches (roma caches constants on first use):
    a baseline model predicted with, then trained, in one process."""
    import torch

    from diffuhand.models.estimator import HandPoseModel, ModelConfig

    m = HandPoseModel(ModelConfig(kind="baseline", condition="keypoints", feature_dim=16))
    from diffuhand.pipeline import Estimator

    (hand,) = Estimator(m, detector=StubDetector((pose_keypoints(), "right"))).predict(
        np.zeros((200, 200, 3), np.uint8)
    )
    assert np.isfinite(hand.joints_3d).all()
    out = m.baseline(m.condition(keypoints=torch.rand(2, 21, 2) * 100))
    out["joints"].sum().backward()  # raised "Inference tensors cannot be saved for backward" before
    assert all(p.grad is not None for p in m.baseline.parameters() if p.requires_grad)
