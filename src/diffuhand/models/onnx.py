"""ONNX Runtime for the diffusion U-Net, the network a diffusion model runs once per denoising step.

For the few hands of a photo (batch = hands x samples <= ~10) ONNX Runtime runs the U-Net 2-4x faster than eager
torch on a CPU (per-operator overhead dominates there); for large batches torch is faster, so evaluation and
training stay in torch. benchmarks/bench_speed.py measures both in one run.

A checkpoint folder may hold ``unet.onnx`` next to its weights (``diffuhand export-onnx CKPT`` writes one): loading
it needs only ``onnxruntime``. The file records a hash of the U-Net weights it was exported from and is used only
when they match. The shipped model's is not in the package (it would repeat the weights): it is exported from the
safetensors on first use into the user's cache (:func:`cached_unet_onnx`, a few seconds once). Exporting needs
``onnx`` and ``onnxscript`` (dependencies of the package).
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import torch

from diffuhand.errors import DiffuhandError
from diffuhand.io.files import atomic_path
from diffuhand.models.unet1d import _LEN, UNet1d

log = logging.getLogger(__name__)

ONNX_FILE = "unet.onnx"
_HASH_KEY = "diffuhand_unet_sha256"


def weights_hash(unet: UNet1d) -> str:
    """sha256 of the U-Net's parameters and buffers (names, shapes, float32 bytes), the export's identity."""
    h = hashlib.sha256()
    for name, t in sorted(unet.state_dict().items()):
        h.update(f"{name}{tuple(t.shape)}".encode())
        h.update(t.detach().to(torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()


def export_unet(unet: UNet1d) -> bytes:
    """The U-Net as an ONNX model (bytes), batch dimension dynamic, its weights' hash in the metadata."""
    try:
        import onnxscript  # noqa: F401  (the torch.export-based exporter needs it)
    except ImportError:
        raise DiffuhandError("exporting to ONNX needs onnx and onnxscript: pip install onnx onnxscript") from None
    example = (torch.zeros(2, 21, 3), torch.zeros(2, dtype=torch.long), torch.zeros(2, unet.cond_channels, _LEN))
    batch = torch.export.Dim("batch", min=1, max=65536)
    was_training = unet.training
    unet.eval()
    try:
        import warnings

        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's notes on axis names and opset conversion
            program = torch.onnx.export(
                unet,
                example,
                dynamo=True,
                input_names=["x", "t", "cond"],
                output_names=["eps"],
                dynamic_shapes=({0: batch}, {0: batch}, {0: batch}),
                verbose=False,
            )
    finally:
        unet.train(was_training)
    proto = program.model_proto
    entry = proto.metadata_props.add()
    entry.key, entry.value = _HASH_KEY, weights_hash(unet)
    return proto.SerializeToString()


def cache_dir() -> Path:
    """Where files made on first use go: ``$DIFFUHAND_CACHE``, else ``$XDG_CACHE_HOME/diffuhand``, else
    ``~/.cache/diffuhand``."""
    if os.environ.get("DIFFUHAND_CACHE"):
        return Path(os.environ["DIFFUHAND_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "diffuhand"


def cached_unet_onnx(unet: UNet1d) -> Path | None:
    """The U-Net as ONNX, exported once into :func:`cache_dir` under its weights' hash and read from there after;
    None where it cannot be made (the exporter missing, a read-only cache): the caller then runs torch."""

    path = cache_dir() / f"unet-{weights_hash(unet)[:16]}.onnx"
    if path.is_file():
        return path
    try:
        data = export_unet(unet)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:  # two processes exporting at once each write whole files
            Path(tmp).write_bytes(data)
    except (DiffuhandError, OSError) as exc:
        log.info("no ONNX export of the U-Net (%s): it runs in torch", exc)
        return None
    log.info("exported the U-Net for ONNX Runtime once: %s", path)
    return path


def write_unet_onnx(unet: UNet1d, folder: str | Path) -> Path:
    """Export the U-Net to ``folder/unet.onnx`` (written atomically)."""

    data = export_unet(unet)
    path = Path(folder) / ONNX_FILE
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)
    return path


class OnnxUNet:
    """Callable like :meth:`UNet1d.forward`: x (B, 21, 3), t (B,), cond_map (B, C, 24) -> eps (B, 21, 3).

    Args:
        unet: the network it stands for (its weights' hash must match a given ``model``).
        model: an ONNX file or its bytes from :func:`export_unet`; None: exported now, in memory.
        threads: ONNX Runtime's intra-op threads (default 1: at the batch of a photo's hands a second thread
            gains little, and ORT's waiting threads spin on the cores that MediaPipe and the IK solver need; measured
            with the whole predict of one photo: 78 ms with 2 spinning threads, 49 ms with 1, 54 ms in torch).
    """

    def __init__(self, unet: UNet1d, model: str | Path | bytes | None = None, threads: int | None = None):
        try:
            import onnxruntime as ort
        except ImportError:
            raise DiffuhandError("the ONNX backend needs onnxruntime: pip install onnxruntime") from None
        if model is None:
            model = export_unet(unet)
        elif not isinstance(model, bytes):
            try:
                model = Path(model).read_bytes()
            except OSError as exc:
                raise DiffuhandError(f"{model}: cannot read ({exc.__class__.__name__})") from None
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or 1
        opts.inter_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001  (ORT's errors derive from Exception alone: InvalidProtobuf, Fail, ...)
            raise DiffuhandError(f"not a usable ONNX model ({exc.__class__.__name__})") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        if meta.get(_HASH_KEY) != weights_hash(unet):
            raise DiffuhandError("the ONNX model was exported from other weights than this model's U-Net")

    def __call__(self, x: torch.Tensor, t: torch.Tensor, cond_map: torch.Tensor) -> torch.Tensor:
        feed = {
            "x": x.float().contiguous().numpy(),
            "t": t.long().contiguous().numpy(),
            "cond": cond_map.float().contiguous().numpy(),
        }
        return torch.from_numpy(self.session.run(None, feed)[0])
