"""Start-up: wall time of `import torch`, `import mediapipe` (the floor of a photo path: MediaPipe finds the hand),
`import torch, mediapipe` (the floor of one that lifts with torch), `import diffuhand.pipeline` and a whole
`diffuhand predict photo.jpg`, as ratios to `import torch` measured in the same run (the machine is shared and
noisy), interleaved. A run that fails stops the benchmark (a failing command would look fast).

    python benchmarks/bench_startup.py [--repeats 3] [--before SRC] [--out benchmarks/results/startup.json]

``--before SRC``: also time another source tree (e.g. a `git worktree add /tmp/before REV` checkout's ``src``),
imported through PYTHONPATH, in the same interleaved run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "src" / "diffuhand" / "demo" / "hand1.jpg"


def wall(cmd: list[str], env: dict | None = None) -> float:
    t = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, check=False, env=env, cwd=ROOT, text=True)
    took = time.perf_counter() - t
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--before", type=Path, help="another source tree to time beside this one")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "startup.json")
    args = ap.parse_args()
    py = sys.executable
    trees = {"": None}
    if args.before:
        trees[" (before)"] = {**os.environ, "PYTHONPATH": str(args.before.resolve())}
    # the floor of a photo's start-up while its lift runs on torch and its detector is MediaPipe: both imported
    runs: dict[str, list[float]] = {"import torch": [], "import mediapipe": [], "import torch, mediapipe": []}
    for _ in range(args.repeats):
        runs["import torch"].append(wall([py, "-c", "import torch"]))
        runs["import mediapipe"].append(wall([py, "-c", "import mediapipe"]))
        runs["import torch, mediapipe"].append(wall([py, "-c", "import torch, mediapipe"]))
        for tag, env in trees.items():
            runs.setdefault(f"import diffuhand.pipeline{tag}", []).append(
                wall([py, "-c", "import diffuhand.pipeline"], env)
            )
            # a new output folder each round: every round predicts (a resumed run would skip the photo)
            with tempfile.TemporaryDirectory(prefix="diffuhand-startup") as out:
                runs.setdefault(f"diffuhand predict photo.jpg{tag}", []).append(
                    wall([py, "-m", "diffuhand", "predict", str(PHOTO), "--out", out], env)
                )
    median = {k: statistics.median(v) for k, v in runs.items()}
    print(f"{'what':40} {'median s':>9} {'x import torch':>15}")
    for k in runs:
        print(f"{k:40} {median[k]:9.2f} {median[k] / median['import torch']:15.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"runs_s": runs, "median_s": median, "before": str(args.before)}, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
