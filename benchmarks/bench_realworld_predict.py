"""`diffuhand predict --crop` on the real-world dev photos against MediaPipe's own 3D, same protocol, same images.

    python benchmarks/bench_realworld_predict.py [--model PATH] [--out benchmarks/results/realworld_predict.json]

Each photo goes through the product path (``Estimator.predict(image, crop=True, hand="left")``: MediaPipe's 2D
on the crop, the model, the flip back), and separately through MediaPipe Hands' world landmarks. Both are placed
at the true wrist; measures: the RHD protocol (palm root, scaled to the true middle MCP-PIP bone), the
wrist-aligned least-squares scale, and PA-MPJPE (mm), with how many photos each found a hand in.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from diffuhand import load
from diffuhand.data import open_dataset
from diffuhand.detect import MediaPipeHands
from diffuhand.eval.protocols import evaluate_samples


def main() -> None:
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, help="checkpoint folder (default: the shipped model)")
    ap.add_argument("--root", type=Path, default=here.parents[1] / "shared" / "data" / "ge2019-realworld-dev")
    ap.add_argument("--out", type=Path, default=here / "results" / "realworld_predict.json")
    args = ap.parse_args()
    ds = open_dataset("ge-realworld", args.root)
    samples = [ds[i] for i in range(len(ds))]
    est = load(args.model, temporal=False)
    ours, ours_found, mp, mp_found = [], [], [], []
    t0 = time.perf_counter()
    for i, s in enumerate(samples):
        hands = est.predict(s.image, crop=True, hand=s.handedness)
        if hands:
            ours.append(hands[0].joints_3d + s.joints_3d[0])
            ours_found.append(i)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    with MediaPipeHands(max_hands=1) as detect:
        for i, s in enumerate(samples):
            d = detect(s.image)
            if d:
                mp.append(d[0].world_mm - d[0].world_mm[0] + s.joints_3d[0])
                mp_found.append(i)
    t_mp = time.perf_counter() - t0
    rows = {}
    for name, pred, found, sec in (
        ("diffuhand predict --crop", ours, ours_found, t_ours),
        ("MediaPipe world landmarks", mp, mp_found, t_mp),
    ):
        res = evaluate_samples(np.stack(pred), [samples[i] for i in found], ds.name)
        rows[name] = {
            "found": len(found),
            "of": len(samples),
            "ms_per_image": 1000 * sec / len(samples),
            **{k: round(v.mean_mm, 2) for k, v in res.items()},
        }
    both = sorted(set(ours_found) & set(mp_found))
    print(f"{'method':28} {'found':>7} {'RHD-prot':>9} {'wrist-LS':>9} {'PA':>7} {'ms/img':>7}")
    for name, r in rows.items():
        print(
            f"{name:28} {r['found']:>3}/{r['of']:<3} {r['spurr']:9.2f} {r['wrist_scaled']:9.2f} {r['pa_mpjpe']:7.2f} {r['ms_per_image']:7.1f}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"model": str(args.model or "shipped"), "rows": rows, "found_by_both": len(both)}, indent=1) + "\n"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
