"""``diffuhand export-onnx``: write a checkpoint's diffusion U-Net as ``unet.onnx`` beside its weights."""

from __future__ import annotations

import argparse
from pathlib import Path

from diffuhand.errors import DiffuhandError


def run_export_onnx(args: argparse.Namespace) -> int:
    from diffuhand.io.weights import checkpoint_folder
    from diffuhand.models.estimator import load_model
    from diffuhand.models.onnx import OnnxUNet, write_unet_onnx

    model = load_model(args.checkpoint)
    if model.diffusion is None:
        raise DiffuhandError(f"{args.checkpoint}: a {model.cfg.kind} model has no diffusion network to export")
    path = write_unet_onnx(model.diffusion.unet, checkpoint_folder(args.checkpoint))
    OnnxUNet(model.diffusion.unet, path)  # it loads, and its hash matches the weights
    print(f"wrote {path} ({Path(path).stat().st_size / 1e6:.1f} MB): `diffuhand predict` uses it (--backend auto)")
    return 0


__all__ = ["run_export_onnx"]
