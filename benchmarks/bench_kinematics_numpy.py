"""The photo path's kinematics in NumPy against the torch code it replaced (issue 15: a photo's predict without
torch), in one run on the same inputs, the two interleaved: ``fit_ik`` (one pose; its two-iteration start as the
fusion fit calls it; 64 poses; 2,048 poses as ``diffuhand ik`` fits a data set) and ``fuse_keypoints`` (one hand,
64 hands), with the largest difference between their results.

    python benchmarks/bench_kinematics_numpy.py [--before 8f66146] [--repeat 10] [--out benchmarks/results/kinematics_numpy.json]

Threads as the commands run: one for NumPy's BLAS and for torch where ``predict`` runs the fits (a photo's few
hands), the libraries' defaults for the 2,048 poses (``diffuhand ik``).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np
import torch
from bench_speed import load_ik_at, load_module_at, median_ms  # this folder's: run as a script, it is on the path

from diffuhand.commands.predict import ComputeThreads
from diffuhand.kinematics import fk_numpy, load_limits
from diffuhand.kinematics.fusion import FusionWeights, fuse_keypoints
from diffuhand.kinematics.ik import fit_ik
from diffuhand.kinematics.skeletons import load_skeleton

ROOT = Path(__file__).resolve().parents[1]


def scenes(n: int, seed: int = 0):
    """``n`` hands of the shipped skeleton in front of a camera: (joints mm, noisy 2D px, noisy 3D mm, K)."""
    lim, ge = load_limits(), load_skeleton("ge2019").bone_ratios
    g = np.random.default_rng(seed)
    a = np.clip(
        lim.angle_neutral + (lim.angle_max - lim.angle_min) * 0.3 * (g.random((n, 41)) - 0.5),
        lim.angle_min,
        lim.angle_max,
    )
    rot = fk_numpy.rotvec_to_rotmat(g.normal(size=(n, 3)) * 0.8)
    pos = np.array([0.0, 0.0, 500.0]) + g.normal(size=(n, 3)) * 40
    joints = fk_numpy.forward_kinematics(a, ge, 88.0, rot, pos)
    K = np.array([[600.0, 0.0, 320.0], [0.0, 600.0, 240.0], [0.0, 0.0, 1.0]])
    uv = joints[..., :2] / joints[..., 2:] * 600 + [320, 240] + g.normal(size=(n, 21, 2)) * 2
    world = joints - joints[:, :1] + g.normal(size=(n, 21, 3)) * 4
    return joints, uv, world, K


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default="8f66146", help="git revision of the torch code (the last before the port)")
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "kinematics_numpy.json")
    args = ap.parse_args()
    old_ik = load_ik_at(args.before)
    old_fusion = load_module_at(
        args.before,
        "src/diffuhand/kinematics/fusion.py",
        "_fusion_before",
        ("from diffuhand.kinematics.ik import", "from _ik_before import"),
    )
    ge = load_skeleton("ge2019").bone_ratios
    joints, uv, world, K = scenes(2048)
    weights = FusionWeights(0.068, 0.245, 1.0, tuple(range(1, 21)))  # the shipped lift's (weights/hand/config.json)
    old_weights = old_fusion.FusionWeights(*vars(weights).values())

    def ik_pair(n, **kw):
        x = joints[:n] + np.random.default_rng(1).normal(size=(n, 21, 3))
        return (lambda: old_ik.fit_ik(torch.as_tensor(x), **kw)), (lambda: fit_ik(x, as_numpy=True, **kw)), "joints"

    def fusion_pair(n):
        return (
            (lambda: old_fusion.fuse_keypoints(uv[:n], K, world[:n], ge, weights=old_weights)),
            (lambda: fuse_keypoints(uv[:n], K, world[:n], ge, weights=weights)),
            "joints",
        )

    start = {"retry": float("inf"), "tol": 1e-3, "max_iter": 2}
    cases = {
        "fit_ik, 1 pose": (ik_pair(1), True, args.repeat),
        "fit_ik's 2-iteration start (the fusion fit's), 1 pose": (ik_pair(1, **start), True, args.repeat),
        "fit_ik, 64 poses": (ik_pair(64), True, max(3, args.repeat // 3)),
        "fit_ik, 2,048 poses (diffuhand ik)": (ik_pair(2048), False, 3),
        "fuse_keypoints, 1 hand (a photo)": (fusion_pair(1), True, args.repeat),
        "fuse_keypoints, 64 hands (video frames)": (fusion_pair(64), True, max(3, args.repeat // 3)),
    }
    rows = {}
    for name, ((before, after, field), one_thread, repeat) in cases.items():
        threads = ComputeThreads(1 if one_thread else None)
        if one_thread:
            threads.apply(load=True)
        try:
            a, b = getattr(before(), field), getattr(after(), field)
            diff = float(np.abs(np.asarray(a) - np.asarray(b)).max())
            tb, ta = [], []
            for _ in range(3):  # interleaved rounds: the machine's noise hits both alike
                tb.append(median_ms(before, repeat))
                ta.append(median_ms(after, repeat))
        finally:
            threads.restore()
        rows[name] = {
            "torch_ms": statistics.median(tb),
            "numpy_ms": statistics.median(ta),
            "max_difference_mm": diff,
            "threads": 1 if one_thread else "default",
        }
        r = rows[name]
        print(
            f"{name:56} torch {r['torch_ms']:9.2f} ms  numpy {r['numpy_ms']:9.2f} ms  "
            f"x{r['torch_ms'] / r['numpy_ms']:5.2f} faster  max diff {diff:.1e} mm",
            flush=True,
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"before": args.before, "rows": rows}, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
