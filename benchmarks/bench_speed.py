"""Per-stage speed on this CPU, in one run, on the same photos and crops: latency at batch 1, throughput at batch
64, FLOPs against the measured matrix-multiply peak and what bounds each stage; MediaPipe Hands beside it; and the
before / after of each speed change as ratios measured in this same run.

    python benchmarks/bench_speed.py [--threads 2] [--repeat 20] [--before cdbbc65] [--out benchmarks/results/speed.json]

Inputs: the 100 real-world dev photos (256 px) and their 128 px crops; the shipped keypoint model and its
sampler; image-conditioned models of the same heads (random weights: speed does not depend on them).

What bounds a stage: each torch stage is run once under a dispatch counter (aten operator calls, bytes read and
written by them, FLOPs); fractions of its measured time are then explained by the machine's measured limits:
compute (FLOPs / matmul peak), memory (bytes / copy bandwidth) and fixed per-call overhead (at batch 1: the part of
the time that does not grow with the batch, from the batch-1 and batch-64 times; it is Python, dispatch and
kernel set-up). Overhead above half the time names the bound, else the larger of compute and memory.
``--before REV`` loads ``kinematics/ik.py`` and ``pipeline.py`` as they were at that commit (git) for the
before / after rows.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

ROOT = Path(__file__).resolve().parents[1]


def median_ms(fn, repeat: int) -> float:
    fn()  # warm-up (allocations, lazy inits)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000.0 * float(np.median(times))


class OpCounter(TorchDispatchMode):
    """Counts aten operator calls and the bytes of their tensor inputs and outputs."""

    def __init__(self):
        super().__init__()
        self.calls = 0
        self.bytes = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.calls += 1
        for t in tree_flatten((args, kwargs, out))[0]:
            if isinstance(t, torch.Tensor):
                self.bytes += t.numel() * t.element_size()
        return out


def profile_ops(fn) -> dict:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc:
        fn()
    with OpCounter() as oc:
        fn()
    return {"flops": int(fc.get_total_flops()), "calls": oc.calls, "bytes": oc.bytes}


def machine_limits(threads: int) -> dict:
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    peak = 2 * 1024**3 / (median_ms(lambda: a @ b, 20) / 1000.0) / 1e9
    big, dst = torch.randn(64 * 2**20 // 4), torch.empty(64 * 2**20 // 4)
    bw = 2 * big.numel() * 4 / (median_ms(lambda: dst.copy_(big), 20) / 1000.0) / 1e9  # read + write
    one = torch.ones(1)
    op_us = 1000.0 * median_ms(lambda: [one.add(one) for _ in range(1000)], 20) / 1000.0
    return {"matmul_peak_gflops": peak, "copy_bandwidth_gb_s": bw, "trivial_op_us": op_us, "threads": threads}


def bound(ms: float, prof: dict, lim: dict, fixed_fraction: float | None = None) -> tuple[str, dict]:
    """What bounds a run of ``ms``: the fractions of its time that the compute peak, the copy bandwidth and the
    fixed per-call cost explain. The fixed cost is measured (``fixed_fraction``: the part of the batch-1 time that
    does not grow with the batch, from the batch-64 run: Python, dispatch, kernel set-up) or, without a batched
    run, estimated as operator calls x a trivial operator's cost."""
    s = ms / 1000.0
    over = fixed_fraction if fixed_fraction is not None else prof["calls"] * lim["trivial_op_us"] / 1e6 / s
    frac = {
        "compute": prof["flops"] / 1e9 / s / lim["matmul_peak_gflops"],
        "memory": prof["bytes"] / 1e9 / s / lim["copy_bandwidth_gb_s"],
        "overhead": over,
    }
    if frac["overhead"] > 0.5:
        return "overhead", frac
    return max(("compute", "memory"), key=frac.get), frac


def load_module_at(rev: str, rel: str, name: str, replace: tuple[str, str] | None = None):
    """A module's source as it was at git revision ``rev``, imported under ``name`` (for before / after);
    ``replace``: one text substitution first (e.g. its imports of another old module)."""
    src = subprocess.run(["git", "show", f"{rev}:{rel}"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    if replace:
        src = src.replace(*replace)
    path = Path(tempfile.mkdtemp()) / f"{name}.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def load_ik_at(rev: str):
    """The torch IK solver of a revision before the NumPy port (``kinematics/ik.py`` at ``rev``) as ``_ik_before``,
    given the skeleton's subtree mask as the tensor it took (a NumPy array now)."""
    from diffuhand.kinematics.skeleton import subtree_mask

    old_ik = load_module_at(rev, "src/diffuhand/kinematics/ik.py", "_ik_before")
    old_ik.subtree_mask = lambda: torch.from_numpy(subtree_mask())
    return old_ik


@contextmanager
def threads(n: int):
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def main() -> None:
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--before", default="cdbbc65", help="git revision for the 'before' rows (the last before issue 8)")
    ap.add_argument("--root", type=Path, default=here.parents[1] / "shared" / "data" / "ge2019-realworld-dev")
    ap.add_argument("--out", type=Path, default=here / "results" / "speed.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    import diffuhand
    from diffuhand.data import open_dataset
    from diffuhand.data.augment import to_tensor
    from diffuhand.data.crops import crop_sample, to_right_hand
    from diffuhand.detect import MediaPipeHands
    from diffuhand.kinematics import fit_ik, forward_kinematics
    from diffuhand.models.diffusion import SamplerConfig
    from diffuhand.models.estimator import HandPoseModel, ModelConfig
    from diffuhand.models.temporal import TemporalTransformer
    from diffuhand.pipeline import solve_ik

    lim = machine_limits(args.threads)
    print(
        f"{platform.processor() or platform.machine()}, {args.threads} threads: fp32 matmul peak (1024^3) "
        f"{lim['matmul_peak_gflops']:.0f} GFLOP/s, copy bandwidth {lim['copy_bandwidth_gb_s']:.1f} GB/s, "
        f"a trivial operator call {lim['trivial_op_us']:.1f} us"
    )

    ds = open_dataset("ge-realworld", args.root)
    samples = [ds[i] for i in range(len(ds))]
    crops = [crop_sample(to_right_hand(s), 128) for s in samples]
    x1 = to_tensor(crops[0].image)[None]
    x64 = torch.stack([to_tensor(c.image) for c in crops[:64]])
    kp = torch.tensor(np.stack([c.joints_2d for c in crops[:64]]), dtype=torch.float32)
    # the keypoint model (the default before issue 13) for the network rows; the shipped default lift is timed below
    est = diffuhand.load(
        "keypoints", temporal=False
    )  # backend auto: ONNX Runtime for the U-Net (the shipped unet.onnx)
    kmodel = est.model
    onnx_runner = est.unet if est.backend == "onnx" else None  # the estimator's own; the model stays torch
    default = SamplerConfig(**kmodel.cfg.sampler)
    imodel = HandPoseModel(ModelConfig(kind="diffusion_ik", condition="image")).eval()
    base = HandPoseModel(ModelConfig(kind="baseline", condition="image")).eval()
    temporal = TemporalTransformer().eval()
    cond64 = kmodel.condition(None, kp).detach()
    g = torch.Generator().manual_seed(0)
    rows: list[dict] = []

    def stage(name: str, fn1, fn64=None, per: int = 64, torch_stage: bool = True, repeat: int | None = None):
        rep = repeat or args.repeat
        with torch.inference_mode():
            ms1 = median_ms(fn1, rep)
            ms64 = median_ms(fn64, max(3, rep // 4)) if fn64 is not None else None
            prof = profile_ops(fn1) if torch_stage else None
        r = {"stage": name, "ms_batch1": ms1}
        line = f"{name:50} {ms1:8.2f} ms"
        if ms64 is not None:
            r["per_item_ms_batch64"] = ms64 / per
            r["items_per_s_batch64"] = per / (ms64 / 1000.0)
            line += f" {ms64 / per:8.3f} ms/item at 64"
        else:
            line += " " * 21
        if prof is not None:
            fixed = None
            if ms64 is not None:  # t(b) = fixed + b * marginal, from the batch-1 and batch-64 times
                marginal = max(0.0, (ms64 - ms1) / (per - 1))
                fixed = max(0.0, ms1 - marginal) / ms1
            b, frac = bound(ms1, prof, lim, fixed)
            r.update(
                {
                    "gflop_batch1": prof["flops"] / 1e9,
                    "op_calls_batch1": prof["calls"],
                    "mb_moved_batch1": prof["bytes"] / 1e6,
                    "fraction_of_peak_batch1": frac["compute"],
                    "fraction_of_bandwidth_batch1": frac["memory"],
                    "fraction_overhead_batch1": frac["overhead"],
                    "bound_batch1": b,
                }
            )
            if ms64 is not None:
                with torch.inference_mode():
                    p64 = profile_ops(fn64)
                b64, f64 = bound(ms64, p64, lim)  # at 64 the per-call cost is estimated from the operator calls
                r.update({"fraction_of_peak_batch64": f64["compute"], "bound_batch64": b64})
            line += (
                f" {r['gflop_batch1']:8.4f} GFLOP {100 * frac['compute']:5.1f}% peak, {prof['calls']:5d} ops, {100 * frac['overhead']:3.0f}% fixed"
                f" -> {b}"
                + (
                    f" | at 64: {100 * r['fraction_of_peak_batch64']:5.1f}% peak -> {r['bound_batch64']}"
                    if ms64
                    else ""
                )
            )
        rows.append(r)
        print(line, flush=True)

    images = [s.image for s in samples]
    print("\n== stages (batch 1 latency; per item at batch 64; FLOPs at batch 1 against the peak; bound) ==")
    with MediaPipeHands(max_hands=1) as mp:
        stage("localisation + 2D: MediaPipe Hands, 256 px photo", lambda: mp(images[0]), torch_stage=False)
    crop_img = next(c.image for c in crops if MediaPipeHands(max_hands=1)(c.image))
    with MediaPipeHands(max_hands=1, video=True) as tracker:
        tracker(crop_img)  # the first frame runs the palm detector; later ones only the landmark model
        stage("MediaPipe landmark model only (tracking), 128 px crop", lambda: tracker(crop_img), torch_stage=False)
    stage("crop to 128 px", lambda: crop_sample(to_right_hand(samples[1]), 128), torch_stage=False)
    stage("backbone ResNet-18 + FC, 128 px", lambda: imodel.backbone(x1), lambda: imodel.backbone(x64))
    stage("baseline head (MLPs + FK)", lambda: base.baseline(cond64[:1]), lambda: base.baseline(cond64))
    stage("keypoint encoder (MLP)", lambda: kmodel.keypoints(kp[:1]), lambda: kmodel.keypoints(kp))
    for kind, steps in [("ddpm", 50)] + [(k, s) for k in ("ddim", "ddpm") for s in (10, 5, 2, 1)]:
        cfg = SamplerConfig(kind=kind, steps=steps, samples=1)
        stage(
            f"diffusion {kind.upper()} {steps} steps, 1 sample",
            lambda c=cfg: kmodel.diffusion.sample(cond64[:1], c, g),
            lambda c=cfg: kmodel.diffusion.sample(cond64, c, g),
            repeat=max(5, args.repeat // (2 if steps == 50 else 1)),
        )
    for s in (5, 10):
        for kind, steps in (("ddpm", 50), (default.kind, default.steps)):
            cfg = SamplerConfig(kind=kind, steps=steps, samples=s)
            stage(
                f"diffusion {kind.upper()} {steps} steps, {s} samples in one batch",
                lambda c=cfg: kmodel.diffusion.sample(cond64[:1], c, g),
                lambda c=cfg: kmodel.diffusion.sample(cond64, c, g),
                per=64,
                repeat=5 if steps == 50 else None,
            )
    if onnx_runner is not None:
        kmodel.diffusion.runner = onnx_runner
        for n in sorted({1, default.samples}):
            cfg = SamplerConfig(kind=default.kind, steps=default.steps, samples=n)
            stage(
                f"diffusion {default.kind.upper()} {default.steps} steps, {n} sample{'s' * (n > 1)}, ONNX Runtime",
                lambda c=cfg: kmodel.diffusion.sample(cond64[:1], c, g),
                lambda c=cfg: kmodel.diffusion.sample(cond64, c, g),
                torch_stage=False,
            )
        kmodel.diffusion.runner = None
    j64 = kmodel.diffusion.sample(cond64, default, g).mean(1)
    stage("IK MLP (+ FK)", lambda: kmodel.ik(j64[:1]), lambda: kmodel.ik(j64))
    a, r = torch.zeros(64, 41), torch.ones(64, 20)
    stage("FK layer", lambda: forward_kinematics(a[:1], r[:1], 1.0), lambda: forward_kinematics(a, r, 1.0))
    stage("IK solver (product settings)", lambda: solve_ik(j64[:1]), lambda: solve_ik(j64))
    w = torch.randn(64, temporal.cfg.window if hasattr(temporal, "cfg") else 5, 21, 3)
    stage("temporal model, one window", lambda: temporal(w[:1]), lambda: temporal(w))
    photo = images[2]
    torch_est = est.replace(backend="torch", detector=est._detector())
    stage(
        "whole predict: photo in, results out (1 hand), keypoint model, torch",
        lambda: torch_est.predict_image(photo),
        torch_stage=False,
    )
    stage(
        "whole predict: photo in, results out (1 hand), keypoint model (auto)",
        lambda: est.predict_image(photo),
        torch_stage=False,
    )
    fast = diffuhand.load("keypoints", temporal=False, sampler={"samples": 1})
    fast.detector = est._detector()
    stage("whole predict, keypoint model, --samples 1", lambda: fast.predict_image(photo), torch_stage=False)
    fusion = diffuhand.load(temporal=False, detector=est._detector())  # the shipped default: the fusion lift
    stage(
        "whole predict, shipped default (MediaPipe + fusion lift), 1 hand",
        lambda: fusion.predict_image(photo),
        torch_stage=False,
    )
    from diffuhand.commands.predict import demo_inputs
    from diffuhand.io.images import read_image

    bundled = [read_image(f) for f in demo_inputs() if f.suffix == ".jpg"]
    two = [im for im in bundled if len(est.predict_image(im)) == 2][:1]  # the bundled render with two hands
    if two:  # both hands of a photo go through the model in one batch
        stage(
            "whole predict, a photo with 2 hands, keypoint model", lambda: est.predict_image(two[0]), torch_stage=False
        )
        stage(
            "whole predict, a photo with 2 hands, shipped default (fusion)",
            lambda: fusion.predict_image(two[0]),
            torch_stage=False,
        )

    kmodel.diffusion.runner = None  # torch, as before issue 8, for the rows below but the last
    print("\n== before / after, each pair measured here, interleaved ==")
    changes: list[dict] = []

    def compare(name: str, before, after, repeat: int | None = None, note: str = ""):
        rep = repeat or args.repeat
        tb, ta = [], []
        for _ in range(3):  # interleaved rounds: the machine's noise hits both alike
            tb.append(median_ms(before, max(3, rep // 3)))
            ta.append(median_ms(after, max(3, rep // 3)))
        b, a_ = float(np.median(tb)), float(np.median(ta))
        changes.append({"change": name, "before_ms": b, "after_ms": a_, "speedup": b / a_, "note": note})
        print(f"{name:62} {b:9.2f} -> {a_:8.2f} ms  x{b / a_:5.2f} {note}", flush=True)

    old_ik = load_ik_at(args.before)
    old_pipeline = load_module_at(args.before, "src/diffuhand/pipeline.py", "_pipeline_before")
    jd = j64.double()
    same = (old_ik.fit_ik(jd, retry=float("inf")).joints - fit_ik(jd, retry=float("inf")).joints).abs().max().item()
    compare(
        "IK init: twist trials one batch (was a loop), 1 hand",
        lambda: old_ik.fit_ik(jd[:1], retry=float("inf")),
        lambda: fit_ik(jd[:1], retry=float("inf")),
        note=f"(same fit: max diff {same:.1e})",
    )
    compare(
        "IK init: same, 64 hands",
        lambda: old_ik.fit_ik(jd, retry=float("inf")),
        lambda: fit_ik(jd, retry=float("inf")),
        repeat=6,
    )
    compare("IK solver stop tol 1e-5 -> 1e-3, 1 hand", lambda: solve_ik(j64[:1], tol=1e-5), lambda: solve_ik(j64[:1]))
    old_sampler = SamplerConfig(kind="ddim", steps=10, samples=5)
    compare(
        f"sampler DDIM 10 x 5 -> {default.kind.upper()} {default.steps} x {default.samples}, 1 hand",
        lambda: kmodel.diffusion.sample(cond64[:1], old_sampler, g),
        lambda: kmodel.diffusion.sample(cond64[:1], default, g),
    )

    def lift(grad_mode):
        with grad_mode():
            return solve_ik(kmodel.predict(None, kp[:1], generator=g, ik_mlp=False)["joints"])

    compare(
        "lift (model + IK) no_grad -> inference_mode, 1 hand",
        lambda: lift(torch.no_grad),
        lambda: lift(torch.inference_mode),
    )

    def one_thread(fn):
        with threads(1):
            return fn()

    def lifted():
        return lift(torch.inference_mode)

    def backbone64():
        return imodel.backbone(x64)

    compare(f"lift threads 1 -> {args.threads}, 1 hand", lambda: one_thread(lifted), lifted)
    compare(f"backbone threads 1 -> {args.threads}, batch 64", lambda: one_thread(backbone64), backbone64, repeat=6)
    cl = HandPoseModel(ModelConfig(kind="diffusion_ik", condition="image")).eval()
    cl.load_state_dict(imodel.state_dict())
    cl.backbone.to(memory_format=torch.channels_last)
    with torch.inference_mode():
        diff = (cl.backbone(x64.to(memory_format=torch.channels_last)) - imodel.backbone(x64)).abs().max().item()
        compare(
            "backbone channels-last, batch 1",
            lambda: imodel.backbone(x1),
            lambda: cl.backbone(x1.to(memory_format=torch.channels_last)),
        )
        compare(
            "backbone channels-last, batch 64",
            lambda: imodel.backbone(x64),
            lambda: cl.backbone(x64.to(memory_format=torch.channels_last)),
            repeat=6,
            note=f"(max diff {diff:.1e})",
        )
    unet_alternatives(kmodel, cond64, compare)

    old_est = old_pipeline.Estimator(kmodel, detector=est._detector(), seed=0)
    import diffuhand.kinematics as kin

    def predict_before():
        new_fit, kin.fit_ik = kin.fit_ik, old_ik.fit_ik
        cfg = kmodel.cfg.sampler
        kmodel.cfg.sampler = {"kind": "ddim", "steps": 10, "samples": 5}
        try:
            return old_est.predict_image(photo)
        finally:
            kin.fit_ik, kmodel.cfg.sampler = new_fit, cfg

    def predict_after():
        return est.predict_image(photo)  # the shipped backend (the estimator's own runner)

    compare("whole predict (photo in, 1 hand): all of the above", predict_before, predict_after)
    if onnx_runner is not None:  # ONNX Runtime's own default: as many threads as cores, spinning while idle
        from diffuhand.models.onnx import OnnxUNet

        spinning = OnnxUNet(kmodel.diffusion.unet, kmodel.onnx_file, threads=args.threads)
        spinning.session = _spinning_session(kmodel.onnx_file, args.threads)

        def predict_with(runner):
            shipped, est.unet = est.unet, runner
            try:
                return est.predict_image(photo)
            finally:
                est.unet = shipped

        compare(
            f"whole predict, ONNX Runtime {args.threads} spinning threads -> 1 thread, no spinning",
            lambda: predict_with(spinning),
            lambda: predict_with(onnx_runner),
        )

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"\npeak resident memory of this process: {peak_mb:.0f} MB")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "machine": lim,
                "torch": torch.__version__,
                "default_sampler": kmodel.cfg.sampler,
                "peak_rss_mb": peak_mb,
                "rows": rows,
                "changes": changes,
            },
            indent=1,
        )
        + "\n"
    )
    print(f"wrote {args.out}")


def _spinning_session(path, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def unet_alternatives(kmodel, cond64, compare) -> None:
    """The U-Net step under ONNX Runtime (the shipped export) and torch.compile against eager."""
    unet = kmodel.diffusion.unet
    cmap = unet.condition(cond64).detach()
    for b in (1, 5, 64):
        x, t, c = torch.randn(b, 21, 3), torch.full((b,), 10), cmap[:b]
        with torch.inference_mode():
            ref = unet(x, t, c)
        try:
            import onnxruntime as ort

            from diffuhand.models.onnx import OnnxUNet

            onx = OnnxUNet(unet, kmodel.onnx_file)
            diff = (onx(x, t, c) - ref).abs().max().item()
            with torch.inference_mode():
                compare(
                    f"U-Net step eager -> ONNX Runtime {ort.__version__}, batch {b}",
                    lambda x=x, t=t, c=c: unet(x, t, c),
                    lambda x=x, t=t, c=c, o=onx: o(x, t, c),
                    repeat=60,
                    note=f"(max diff {diff:.1e})",
                )
        except ImportError as exc:
            print(f"ONNX Runtime: not measured ({exc})")
        try:
            comp = torch.compile(unet, dynamic=False)
            t0 = time.perf_counter()
            with torch.inference_mode():
                diff = (comp(x, t, c) - ref).abs().max().item()
                secs = time.perf_counter() - t0
                compare(
                    f"U-Net step eager -> torch.compile, batch {b}",
                    lambda x=x, t=t, c=c: unet(x, t, c),
                    lambda x=x, t=t, c=c, f=comp: f(x, t, c),
                    repeat=60,
                    note=f"(max diff {diff:.1e}; compiling took {secs:.0f} s)",
                )
        except Exception as exc:  # noqa: BLE001  (inductor needs a C++ compiler: report it, do not fail the benchmark)
            print(f"torch.compile: not measured ({exc.__class__.__name__}: {str(exc)[:80]})")


if __name__ == "__main__":
    main()
