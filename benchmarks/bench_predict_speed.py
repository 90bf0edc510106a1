"""Time of plain ``diffuhand predict`` on a photo, against MediaPipe Hands alone, interleaved in one run.

    python benchmarks/bench_predict_speed.py [--photos 40] [--rounds 3] [--out benchmarks/results/predict_speed.json]

Per real dev photo (256 px, one hand), in rounds that alternate the methods (so a busy machine slows them alike):
MediaPipe Hands alone (static image mode: palm detector + landmarks, its 2D and 3D), the whole predict with the
shipped default lift (MediaPipe + the fusion fit), and with the keypoint model (the default before issue 13).
Reports the median milliseconds per photo and the ratios; writes JSON. Threads: 1 for NumPy's BLAS and for torch
(small per-hand work; benchmarks/bench_threads.py), as predict runs.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", type=Path, default=HERE.parents[1] / "shared" / "data" / "ge2019-realworld-dev")
    ap.add_argument("--photos", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "predict_speed.json")
    args = ap.parse_args()
    import torch

    import diffuhand
    from diffuhand.commands.predict import ComputeThreads

    ComputeThreads(1).apply()  # as predict runs: one BLAS thread (the fusion fit) and one torch thread (a network)
    torch.set_num_threads(1)
    from diffuhand.data import open_dataset
    from diffuhand.detect import MediaPipeHands

    ds = open_dataset("ge-realworld", args.real)
    photos = [ds[i].image for i in range(min(args.photos, len(ds)))]
    with MediaPipeHands(max_hands=2) as mp:
        methods = {
            "MediaPipe Hands alone (2D + its 3D)": mp,
            "diffuhand predict, shipped default (fusion)": diffuhand.load(temporal=False, detector=mp).predict_image,
            "diffuhand predict, keypoint model (previous default)": diffuhand.load(
                "keypoints", temporal=False, detector=mp
            ).predict_image,
        }
        for fn in methods.values():  # warm up: graphs started, sessions made, caches filled
            fn(photos[0])
        times: dict[str, list[float]] = {k: [] for k in methods}
        for _ in range(args.rounds):
            for photo in photos:
                for name, fn in methods.items():
                    t = time.perf_counter()
                    fn(photo)
                    times[name].append(1000 * (time.perf_counter() - t))
    med = {k: float(np.median(v)) for k, v in times.items()}
    base = med["MediaPipe Hands alone (2D + its 3D)"]
    print(f"{'method':56} {'median ms/photo':>16} {'x MediaPipe':>12}")
    for k, v in med.items():
        print(f"{k:56} {v:16.1f} {v / base:12.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "photos": len(photos),
                "rounds": args.rounds,
                "median_ms": med,
                "ratio_to_mediapipe": {k: v / base for k, v in med.items()},
            },
            indent=1,
        )
        + "\n"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
