"""The ONNX Runtime path of the diffusion U-Net: same samples as torch, tied to its weights, exported by the CLI."""

import pytest
import torch

from diffuhand.cli import main
from diffuhand.errors import DiffuhandError
from diffuhand.io.weights import save_checkpoint
from diffuhand.models.diffusion import DiffusionHead, SamplerConfig
from diffuhand.models.estimator import HandPoseModel, ModelConfig, load_model

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


def small_head(seed: int = 0) -> DiffusionHead:
    torch.manual_seed(seed)
    head = DiffusionHead(16, channels=(16, 32, 32))
    for p in head.unet.outp.parameters():  # zero-initialised: give the output layer weights so eps is not 0
        torch.nn.init.normal_(p, std=0.1)
    return head


def test_onnx_samples_equal_torch_samples():
    from diffuhand.models.onnx import export_unet

    head = small_head()
    data = export_unet(head.unet)
    cond = torch.randn(3, 16)
    for sampler in (SamplerConfig("ddpm", 5, 4), SamplerConfig("ddim", 2, 1), SamplerConfig("ddpm", 50, 1)):
        ref = head.sample(cond, sampler, torch.Generator().manual_seed(1))
        head.use_backend("onnx", data)
        got = head.sample(cond, sampler, torch.Generator().manual_seed(1))
        head.use_backend("torch")
        torch.testing.assert_close(got, ref, rtol=0, atol=1e-4)
        assert not torch.equal(ref, head.sample(cond, sampler, torch.Generator().manual_seed(2)))
    with pytest.raises(ValueError, match="backend"):
        head.use_backend("tensorrt")


def test_an_export_of_other_weights_is_refused():
    from diffuhand.models.onnx import export_unet

    data = export_unet(small_head(0).unet)
    with pytest.raises(DiffuhandError, match="other weights"):
        small_head(1).use_backend("onnx", data)
    with pytest.raises(DiffuhandError, match="not a usable ONNX model"):
        small_head(0).use_backend("onnx", b"not an onnx file")


def test_export_command_and_automatic_backend(tmp_path, capsys):
    from diffuhand.pipeline import Estimator

    cfg = ModelConfig(kind="diffusion", condition="keypoints", feature_dim=32)
    model = HandPoseModel(cfg)
    save_checkpoint(tmp_path / "ckpt", model, {"kind": cfg.kind, "condition": cfg.condition, "feature_dim": 32})
    assert Estimator(load_model(tmp_path / "ckpt"), backend="auto").backend == "torch"  # no unet.onnx yet
    assert main(["export-onnx", str(tmp_path / "ckpt")]) == 0
    assert (tmp_path / "ckpt" / "unet.onnx").is_file() and "unet.onnx" in capsys.readouterr().out
    loaded = load_model(tmp_path / "ckpt")
    est = Estimator(loaded, backend="auto")
    assert est.backend == "onnx"
    kp = torch.rand(2, 21, 2) * 100
    got = loaded.predict(None, kp, SamplerConfig("ddpm", 3, 2), torch.Generator().manual_seed(0))["joints"]
    loaded.diffusion.use_backend("torch")
    ref = loaded.predict(None, kp, SamplerConfig("ddpm", 3, 2), torch.Generator().manual_seed(0))["joints"]
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-4)
    # a model without a diffusion network: one line, exit 2
    base = HandPoseModel(ModelConfig(kind="baseline", condition="keypoints", feature_dim=32))
    save_checkpoint(tmp_path / "base", base, {"kind": "baseline", "condition": "keypoints", "feature_dim": 32})
    assert main(["export-onnx", str(tmp_path / "base")]) == 2
    assert "no diffusion network" in capsys.readouterr().err


def test_shipped_unet_onnx_is_made_on_first_use_and_cached(tmp_path, monkeypatch):
    """The package holds no unet.onnx (it would repeat the weights): the shipped model's U-Net is exported into the
    cache once, identical to the one that used to ship, and read from there after; without an exporter it runs in
    torch."""
    from importlib import resources

    import diffuhand.models.onnx as onnx_mod
    from diffuhand.lift.network import unet_backend

    folder = resources.files("diffuhand") / "weights" / "keypoints"
    assert not (folder / "unet.onnx").is_file()
    monkeypatch.setenv("DIFFUHAND_CACHE", str(tmp_path / "cache"))
    model = load_model(folder)
    assert model.onnx_file is None and model.onnx_on_first_use
    calls = []
    real = onnx_mod.export_unet
    monkeypatch.setattr(onnx_mod, "export_unet", lambda unet: calls.append(1) or real(unet))
    name, runner = unet_backend(model, "auto")
    assert name == "onnx" and model.onnx_file.parent == tmp_path / "cache" and len(calls) == 1
    again = load_model(folder)
    assert unet_backend(again, "auto")[0] == "onnx" and again.onnx_file == model.onnx_file and len(calls) == 1
    kp = torch.rand(2, 21, 2) * 100
    s = SamplerConfig("ddpm", 3, 2)
    got = again.predict(None, kp, s, torch.Generator().manual_seed(0), unet=runner)["joints"]
    ref = again.predict(None, kp, s, torch.Generator().manual_seed(0), unet=again.diffusion.unet)["joints"]
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-4)

    def no_exporter(unet):
        raise DiffuhandError("exporting to ONNX needs onnx and onnxscript")

    monkeypatch.setattr(onnx_mod, "export_unet", no_exporter)
    monkeypatch.setenv("DIFFUHAND_CACHE", str(tmp_path / "other"))
    assert unet_backend(load_model(folder), "auto")[0] == "torch"
