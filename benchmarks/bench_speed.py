"""Per-stage speed on this CPU, in one run: latency at batch 1, throughput at batch 64, FLOPs, the fraction of
the measured matrix-multiply peak each stage reaches, and MediaPipe Hands on the same images.

    python benchmarks/bench_speed.py [--threads 2] [--repeat 20] [--out benchmarks/results/speed.json]

Inputs: the 100 real-world dev photos (256 px) and their 128 px crops; the shipped hand model for the keypoint
path, and an image-conditioned model of the same heads (random weights: speed does not depend on them).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np
import torch


def best_ms(fn, repeat: int) -> float:
    fn()  # warm-up (allocations, lazy inits)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000.0 * float(np.median(times))


def flops(fn) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc:
        fn()
    return int(fc.get_total_flops())


def matmul_peak_gflops(threads: int) -> float:
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    ms = best_ms(lambda: a @ b, 10)
    return 2 * 1024**3 / (ms / 1000.0) / 1e9


def main() -> None:
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=20)
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

    ds = open_dataset("ge-realworld", args.root)
    samples = [ds[i] for i in range(len(ds))]
    crops = [crop_sample(to_right_hand(s), 128) for s in samples]
    x1 = to_tensor(crops[0].image)[None]
    x64 = torch.stack([to_tensor(c.image) for c in crops[:64]])
    kp64 = torch.tensor(np.stack([c.joints_2d for c in crops[:64]]), dtype=torch.float32)
    est = diffuhand.load(temporal=False)
    kmodel = est.model
    imodel = HandPoseModel(ModelConfig(kind="diffusion_ik", condition="image")).eval()
    base = HandPoseModel(ModelConfig(kind="baseline", condition="image")).eval()
    temporal = TemporalTransformer().eval()
    feats64 = torch.randn(64, 256)
    peak = matmul_peak_gflops(args.threads)
    rows: list[dict] = []

    def stage(name: str, fn1, fn64=None, per: int = 64):
        with torch.inference_mode():
            ms1 = best_ms(fn1, args.repeat)
            f1 = flops(fn1)
            ms64 = best_ms(fn64, max(3, args.repeat // 4)) if fn64 is not None else None
        r = {"stage": name, "ms_batch1": ms1, "gflop_batch1": f1 / 1e9,
             "fraction_of_peak_batch1": (f1 / 1e9) / (ms1 / 1000.0) / peak if f1 else 0.0}  # fmt: skip
        if ms64 is not None:
            r["per_item_ms_batch64"] = ms64 / per
            r["items_per_s_batch64"] = per / (ms64 / 1000.0)
        rows.append(r)
        print(f"{name:44} {ms1:9.2f} ms {r['gflop_batch1']:8.3f} GFLOP {100 * r['fraction_of_peak_batch1']:6.1f}%"
              + (f" {r['per_item_ms_batch64']:8.2f} ms/item at 64" if ms64 is not None else ""), flush=True)  # fmt: skip

    print(f"fp32 matmul peak (1024^3, {args.threads} threads): {peak:.0f} GFLOP/s")
    images = [s.image for s in samples[:20]]
    with MediaPipeHands(max_hands=1) as mp:
        stage("localisation: MediaPipe Hands, 256 px photo", lambda: mp(images[0]))
    stage("crop to 128 px", lambda: crop_sample(to_right_hand(samples[1]), 128))
    stage("backbone ResNet-18 + FC, 128 px", lambda: imodel.backbone(x1), lambda: imodel.backbone(x64))
    stage("baseline head (MLPs + FK)", lambda: base.baseline(feats64[:1]), lambda: base.baseline(feats64))
    g = torch.Generator().manual_seed(0)
    for kind, steps in (("ddpm", 50), ("ddim", 10), ("ddim", 5), ("ddim", 2), ("ddim", 1)):
        cfg = SamplerConfig(kind=kind, steps=steps, samples=1)
        stage(f"diffusion {kind.upper()} {steps} steps, 1 sample", lambda c=cfg: imodel.diffusion.sample(feats64[:1], c, g),
              lambda c=cfg: imodel.diffusion.sample(feats64, c, g))  # fmt: skip
    for s in (5, 10):
        cfg = SamplerConfig(kind="ddim", steps=10, samples=s)
        stage(f"diffusion DDIM 10 steps, {s} samples in one batch", lambda c=cfg: imodel.diffusion.sample(feats64[:1], c, g))
    j64 = torch.randn(64, 21, 3)
    stage("IK MLP (+ FK)", lambda: imodel.ik(j64[:1]), lambda: imodel.ik(j64))
    a, r = torch.zeros(64, 41), torch.ones(64, 20)
    stage("FK layer", lambda: forward_kinematics(a[:1], r[:1], 1.0), lambda: forward_kinematics(a, r, 1.0))
    jj = forward_kinematics(a, r, 1.0).double() + 0.01
    stage("IK solver (fit_ik)", lambda: fit_ik(jj[:1]), lambda: fit_ik(jj))
    stage("keypoint encoder", lambda: kmodel.keypoints(kp64[:1]), lambda: kmodel.keypoints(kp64))
    w = torch.randn(64, 5, 21, 3)
    stage("temporal model, window of 5", lambda: temporal(w[:1]), lambda: temporal(w))
    stage("whole predict, keypoint model (photo in)", lambda: est.predict_image(images[2]))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"peak resident memory of this process: {peak_mb:.0f} MB")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"threads": args.threads, "matmul_peak_gflops": peak, "peak_rss_mb": peak_mb,
                                    "rows": rows}, indent=1) + "\n")  # fmt: skip
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
