"""Synthetic data: images per second at the model's input size, and where the time goes.

    python benchmarks/bench_synth.py [--size 128] [--count 200] [--out benchmarks/results/synth.json]

One process: per-stage time of one image (pose sampling + skinning, the colour render, the mask passes, the
compositing and noise, JPEG/PNG writing). Then the whole writer (`diffuhand synth`) with 1 and 2 workers.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "synth.json")
    args = ap.parse_args()
    from diffuhand.kinematics import load_limits
    from diffuhand.kinematics.prior import default_prior
    from diffuhand.synth.mesh import default_hand_mesh, pose_mesh
    from diffuhand.synth.render import Lighting, MeshItem, Renderer
    from diffuhand.synth.scene import SceneConfig, render_sample, sample_hand_pose
    from diffuhand.synth.writer import write_dataset

    cfg = SceneConfig(size=args.size)
    mesh, lim, prior, renderer = default_hand_mesh(), load_limits(), default_prior(), Renderer(args.size)
    rng = np.random.default_rng(0)
    n = 50
    stages = {}
    t = time.perf_counter()
    posed = []
    for _ in range(n):
        a, r, anchor = sample_hand_pose(rng, lim, prior, cfg)
        posed.append(pose_mesh(mesh, a, r, anchor, np.eye(3), np.array([0.0, 0.0, 500.0]))[0])
    stages["pose sample + skinning"] = (time.perf_counter() - t) / n
    K = np.array([[300.0, 0, args.size / 2], [0, 300.0, args.size / 2], [0, 0, 1]])
    colours = np.full((len(mesh.vertices), 3), 0.7)
    t = time.perf_counter()
    for v in posed:
        renderer.render([MeshItem(v, mesh.faces, colours, 0)], K, Lighting())
    stages["render colour + depth (1 hand)"] = (time.perf_counter() - t) / n
    t = time.perf_counter()
    for v in posed:
        renderer.render([MeshItem(v, mesh.faces, colours, 1)], K, Lighting())
    stages["render + mask pass (1 hand)"] = (time.perf_counter() - t) / n
    t = time.perf_counter()
    for i in range(n):
        render_sample(np.random.default_rng([1, i]), renderer, cfg)
    stages["whole sample (scene, render, composite)"] = (time.perf_counter() - t) / n
    rows = {}
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            write_dataset(Path(tmp) / "s", args.count, cfg, seed=0, workers=workers, chunk=25, progress=False)
            rows[f"diffuhand synth, {workers} worker(s)"] = args.count / (time.perf_counter() - t)
    print(f"per image at {args.size} px, one process:")
    for k, v in stages.items():
        print(f"  {k:42} {v * 1000:7.2f} ms")
    for k, v in rows.items():
        print(f"{k:44} {v:7.1f} images/s (start-up included)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "size": args.size,
                "count": args.count,
                "stage_ms": {k: v * 1000 for k, v in stages.items()},
                "images_per_s": rows,
            },
            indent=1,
        )
        + "\n"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
