"""``diffuhand evaluate``: score 3D predictions against a data set with its published protocol."""

from __future__ import annotations

import argparse
import json


from diffuhand.data import open_dataset
from diffuhand.errors import DiffuhandError
from diffuhand.eval.protocols import evaluate_dataset
from diffuhand.io.files import atomic_write_text
from diffuhand.io.joints import read_joints


def run_evaluate(args: argparse.Namespace) -> int:
    ds = open_dataset(args.dataset, args.root, args.split, load_images=False)
    pred = read_joints(args.predictions, unit=args.unit, order=args.order or "canonical", key=args.key).joints_mm
    if len(pred) != len(ds):
        raise DiffuhandError(f"{args.predictions}: {len(pred)} predictions for {len(ds)} samples of {args.dataset} ({ds.name}, split {args.split or 'default'})")
    results = evaluate_dataset(pred, ds)
    print(f"{args.dataset}: {len(ds)} hands")
    print(f"{'measure':22} {'mean mm':>8} {'median':>8} {'AUC 0-50':>9} {'AUC 20-50':>10}")
    for name, r in results.items():
        auc = f"{r.auc_0_50:9.3f}" if r.auc_0_50 is not None else f"{'-':>9}"
        auc2 = f"{r.auc_20_50:10.3f}" if r.auc_20_50 is not None else f"{'-':>10}"
        print(f"{name:22} {r.mean_mm:8.2f} {r.median_mm:8.2f} {auc} {auc2}")
    if args.out:
        payload = {"dataset": args.dataset, "split": args.split, "predictions": str(args.predictions),
                   "hands": len(ds), "results": {k: v.to_json() for k, v in results.items()}}  # fmt: skip
        atomic_write_text(args.out, json.dumps(payload, indent=1, default=float) + "\n")
        print(f"wrote {args.out}")
    return 0


__all__ = ["run_evaluate"]
