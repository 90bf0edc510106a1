"""Threads for the lift (NumPy's BLAS for the shipped fusion fit, torch's for a network), idle and on a busy machine:
per-photo time of the whole predict (MediaPipe, lift) on real photos with 2 threads (the libraries' default here)
and 1 (OMP_NUM_THREADS, read by both), without and with a background load (two busy processes
started and stopped by this script), in rounds that alternate the configurations (median per configuration); the
ratios are what counts (the machine is shared).

    python benchmarks/bench_threads.py [--photos 20] [--rounds 3] [--out benchmarks/results/threads.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOAD = "import numpy as np\na = np.random.rand(600, 600)\nwhile True:\n    a @ a\n"
TIMED = """
import sys, time, diffuhand
from diffuhand.io.images import read_image
est = diffuhand.load(temporal=False)
ims = [read_image(p) for p in sys.argv[1:]]
est.predict(ims[0])
t = time.perf_counter()
for im in ims:
    est.predict(im)
print((time.perf_counter() - t) / len(ims) * 1000)
"""


def per_photo_ms(photos: list[str], threads: int, loaded: bool) -> float:
    """One configuration, timed in a fresh process (the thread count is fixed at its start)."""
    busy = []
    if loaded:
        quiet = {**os.environ, "OMP_NUM_THREADS": "1"}
        busy = [subprocess.Popen([sys.executable, "-c", LOAD], env=quiet) for _ in range(os.cpu_count() or 2)]
        time.sleep(1.0)
    try:
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        out = subprocess.run(
            [sys.executable, "-c", TIMED, *photos], capture_output=True, text=True, env=env, check=True
        )
        return float(out.stdout.strip().splitlines()[-1])
    finally:
        for p in busy:
            p.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "ge2019-realworld-dev" / "images")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "threads.json")
    args = ap.parse_args()
    photos = [str(p) for p in sorted(args.data.glob("*.jpg"))[: args.photos]]
    if not photos:
        sys.exit(f"no photos in {args.data}")
    runs: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for loaded in (False, True):
            for threads in (2, 1):
                key = f"{'loaded' if loaded else 'idle'}, {threads} thread{'s' if threads > 1 else ''}"
                runs.setdefault(key, []).append(per_photo_ms(photos, threads, loaded))
    rows = {k: statistics.median(v) for k, v in runs.items()}
    print(f"{'machine, threads':28} {'ms per photo':>13}")
    for k, v in rows.items():
        print(f"{k:28} {v:13.1f}")
    ratios = {"idle 1/2": rows["idle, 1 thread"] / rows["idle, 2 threads"]}
    ratios["loaded 1/2"] = rows["loaded, 1 thread"] / rows["loaded, 2 threads"]
    print("ratio 1 thread / 2 threads: idle x{:.2f}, loaded x{:.2f}".format(*ratios.values()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"ms_per_photo": rows, "runs_ms": runs, "ratios": ratios, "photos": len(photos)}, indent=1) + "\n"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
