"""``diffuhand evaluate``: score 3D predictions against a data set with its published protocol."""

from __future__ import annotations

import argparse
import json

import numpy as np

from diffuhand.data import open_dataset
from diffuhand.data.joints import read_joints
from diffuhand.errors import DiffuhandError
from diffuhand.eval.protocols import evaluate_dataset
from diffuhand.io.files import atomic_write_text

#: denoising steps of a sampler chosen by --sampler without --steps
SAMPLER_STEPS = {"ddpm": 50, "ddim": 10}


def _is_checkpoint(path) -> bool:
    from diffuhand.lift import SHIPPED

    return path.is_dir() or path.suffix == ".safetensors" or (str(path) in SHIPPED and not path.exists())


def run_evaluate(args: argparse.Namespace) -> int:
    if str(args.predictions) == "mediapipe" and not args.predictions.exists():
        return _evaluate_mediapipe(args)
    if _is_checkpoint(args.predictions):
        return _evaluate_model(args)
    ds = open_dataset(args.dataset, args.root, args.split, load_images=False)
    pred = read_joints(args.predictions, unit=args.unit, order=args.order or "canonical", key=args.key).joints_mm
    if len(pred) != len(ds):
        raise DiffuhandError(
            f"{args.predictions}: {len(pred)} predictions for {len(ds)} samples of {args.dataset} ({ds.name}, split {args.split or 'default'})"
        )
    return _report(args, {"predictions": evaluate_dataset(pred, ds)}, len(ds))


def _evaluate_model(args: argparse.Namespace) -> int:
    import time
    from dataclasses import asdict
    from pathlib import Path

    from diffuhand import shipped_weights
    from diffuhand.eval.protocols import evaluate_samples
    from diffuhand.eval.run_model import predict_dataset
    from diffuhand.lift import SHIPPED, checkpoint_kind, load_lifter
    from diffuhand.models.diffusion import override_sampler
    from diffuhand.models.estimator import load_model

    path = (
        Path(shipped_weights(str(args.predictions)))
        if str(args.predictions) in SHIPPED and not args.predictions.exists()
        else args.predictions
    )
    ik = getattr(args, "ik", "solver")
    if checkpoint_kind(path) == "fusion":
        if args.keypoints != "mediapipe":
            raise DiffuhandError(
                f"{args.predictions}: the fusion lift takes MediaPipe's 2D and 3D: evaluate it with --keypoints mediapipe"
            )
        model, sampler, described = load_lifter(path), None, {"lift": "fusion"}
    else:
        model = load_model(path)
        if ik == "mlp" and model.diffusion is not None and model.ik is None:
            raise DiffuhandError(
                f"{args.predictions}: --ik mlp, but this {model.cfg.kind} model has no IK MLP (use --ik solver)"
            )
        sampler = None
        if model.diffusion is not None:  # the checkpoint's sampler with the options given, as predict does
            changes = {}
            if args.sampler:
                changes = {"kind": args.sampler, "steps": SAMPLER_STEPS[args.sampler]}
            changes.update({k: v for k, v in (("steps", args.steps), ("samples", args.samples)) if v is not None})
            try:
                sampler = override_sampler(model.cfg.sampler, changes, model.diffusion.timesteps)
            except ValueError as exc:
                raise DiffuhandError(str(exc)) from None
        described = {
            "ik": ik if model.diffusion is not None else None,
            "sampler": asdict(sampler) if sampler else None,
            "model": model.cfg.to_dict(),
        }
    ds = open_dataset(args.dataset, args.root, args.split)
    n = len(ds) if args.limit is None else min(args.limit, len(ds))
    keypoints, world, extra = None, None, {"keypoints": args.keypoints}
    if args.keypoints == "mediapipe":
        ds, det, extra["found"] = _detected(ds, n)
        keypoints, world = det["keypoints_2d"], det["world_mm"]
        n = len(ds)
    t = time.perf_counter()
    # "solver": our IK solver fits the sample mean, what predict ships; "mlp": the model's own output
    preds = predict_dataset(
        model,
        ds,
        sampler=sampler,
        limit=n,
        keypoints_2d=keypoints,
        world_mm=world,
        ik="solver" if ik == "solver" else "model",
    )
    seconds = time.perf_counter() - t
    ds.load_images = False  # the ground truth, read once for every output
    truth = [ds[i] for i in range(n)]
    results = {name: evaluate_samples(p, truth, ds.name) for name, p in preds.items() if name != "uncertainty_mm"}
    print(f"{args.predictions}: {n} hands in {seconds:.1f} s ({n / seconds:.1f} hands/s)")
    return _report(args, results, n, extra={**extra, **described, "seconds": seconds})


def _detected(ds, n: int):
    """MediaPipe on the first ``n`` samples -> (the samples where it found the hand, their detections (2D
    keypoints, world landmarks at the true wrist), counts)."""
    from diffuhand.eval.run_model import detect_dataset

    det = detect_dataset(ds, limit=n)
    found = np.flatnonzero(det["found"])
    print(f"MediaPipe found {len(found)}/{n} hands; the measures below are over those")
    return ds.subset(found), {k: v[found] for k, v in det.items()}, {"found": len(found), "of": n}


def _evaluate_mediapipe(args: argparse.Namespace) -> int:
    """MediaPipe's own 3D (world landmarks), placed at the true wrist: the scale- and rotation-free measures are
    the fair ones for it (wrist-aligned least-squares scale, PA-MPJPE)."""
    from diffuhand.eval.protocols import evaluate_samples

    ds = open_dataset(args.dataset, args.root, args.split)
    n = len(ds) if args.limit is None else min(args.limit, len(ds))
    ds, det, counts = _detected(ds, n)
    ds.load_images = False
    truth = [ds[i] for i in range(len(ds))]
    results = {"mediapipe": evaluate_samples(det["world_mm"], truth, ds.name)}
    return _report(args, results, len(truth), extra=counts)


def _report(args, results_by_output: dict, n: int, extra: dict | None = None) -> int:
    print(f"{args.dataset}: {n} hands")
    print(f"{'output':12} {'measure':22} {'mean mm':>8} {'median':>8} {'AUC 0-50':>9} {'AUC 20-50':>10}")
    for output, results in results_by_output.items():
        for name, r in results.items():
            auc = f"{r.auc_0_50:9.3f}" if r.auc_0_50 is not None else f"{'-':>9}"
            auc2 = f"{r.auc_20_50:10.3f}" if r.auc_20_50 is not None else f"{'-':>10}"
            print(f"{output:12} {name:22} {r.mean_mm:8.2f} {r.median_mm:8.2f} {auc} {auc2}")
    if args.out:
        flat = {o: {k: v.to_json() for k, v in res.items()} for o, res in results_by_output.items()}
        payload = {
            "dataset": args.dataset,
            "split": args.split,
            "predictions": str(args.predictions),
            "hands": n,
            "results": flat["predictions"] if list(flat) == ["predictions"] else flat,
            **(extra or {}),
        }
        atomic_write_text(args.out, json.dumps(payload, indent=1, default=float) + "\n")
        print(f"wrote {args.out}")
    return 0


__all__ = ["run_evaluate"]
