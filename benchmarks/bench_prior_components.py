"""How many mixture components the pose prior should have: held-out log-likelihood of real poses.

    python benchmarks/bench_prior_components.py [--components 4,8,12,24,48] [--folds 5]
                                                [--out benchmarks/results/prior_components.json]

The renderer's pose prior (``kinematics.prior``, shipped with 12 components) is a Gaussian mixture over the free
articulation angles of IK fits of real poses: DexYCB's grasps and Ge et al.'s gesture poses, as ``diffuhand prior``
fits it. Its DexYCB frames come in sequences of 25-74 nearly alike frames, so a mixture can fit a sequence's
frames and score well on them. Here the poses are split into folds by sequence (each gesture pose, independent of
the others, a group of its own); each fold is scored by a mixture fitted to the others, as the mean
log density per pose (:meth:`~diffuhand.kinematics.prior.PosePrior.log_prob`). The count with the highest held-out
score generalises best to grasps the prior has not seen. Both data sets are left hands, fitted as their mirror
images (the median fit residual is printed). Prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "data"
#: fits above this residual are left out of the prior, as ``diffuhand prior`` leaves them (its --max-residual)
MAX_RESIDUAL_MM = 5.0


def pose_groups(sequences: np.ndarray, gestures: int) -> np.ndarray:
    """(N + gestures,) the fold groups of the DexYCB frames (their ``sequences`` (N,) ids) and then the gesture
    poses: each designed pose a group of its own, so that the folds share them out as they share the sequences
    (groups named by fold number were themselves shuffled into the folds: two could fall in one, a fold get none)."""
    return np.concatenate([np.asarray(sequences).astype(str), [f"gesture-{i}" for i in range(gestures)]])


def held_out_masks(groups: np.ndarray, folds: int, seed: int = 0) -> list[np.ndarray]:
    """(folds,) boolean masks (N,) of the poses each fold holds out: whole ``groups`` (N,) labels, shuffled
    (``seed``) and dealt into ``folds`` near-equal runs of labels."""
    labels = np.unique(groups)
    np.random.default_rng(seed).shuffle(labels)
    return [np.isin(groups, part) for part in np.array_split(labels, folds)]


def held_out_scores(
    angles: np.ndarray, groups: np.ndarray, components: list[int], folds: int, limits, seed: int = 0
) -> dict[int, list[float]]:
    """Per component count, the mean held-out log density per pose of each fold (``folds`` folds of whole
    ``groups``: angles (N, 41) rad, groups (N,) labels)."""
    from diffuhand.kinematics.prior import fit_prior

    tests = held_out_masks(groups, folds, seed)
    scores = {}
    for k in components:
        scores[k] = []
        for test in tests:
            prior = fit_prior(angles[~test], limits, components=k, seed=seed)
            scores[k].append(float(prior.log_prob(angles[test]).mean()))
        print(f"{k:>10d} {np.mean(scores[k]):10.2f}   " + " ".join(f"{v:7.2f}" for v in scores[k]), flush=True)
    return scores


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dexycb", type=Path, default=DATA / "dexycb-left-sequences")
    ap.add_argument("--gestures", type=Path, default=DATA / "ge2019-gesture-poses" / "gesture_poses.npz")
    ap.add_argument("--components", default="4,8,12,24,48", help="comma-separated component counts")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "prior_components.json")
    args = ap.parse_args()
    try:
        components = [int(c) for c in args.components.split(",")]
    except ValueError:
        ap.error(f"--components: comma-separated integers, got {args.components!r}")
    if not args.dexycb.is_dir() or not args.gestures.is_file():
        ap.error(f"{args.dexycb} or {args.gestures} absent: the real poses the prior is fitted to")
    if args.folds < 2:
        ap.error("--folds must be at least 2")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from diffuhand.data import open_dataset
    from diffuhand.io.files import atomic_write_text
    from diffuhand.kinematics import fit_ik
    from diffuhand.kinematics.conventions import mirror
    from diffuhand.kinematics.limits import load_limits

    limits = load_limits()
    ds = open_dataset("dexycb", args.dexycb)
    frames = [ds[i] for i in range(len(ds))]  # each frame read once
    dex = np.stack([mirror(f.joints_3d) for f in frames])
    sequences = np.array([f.sequence_id for f in frames])
    gestures = mirror(np.load(args.gestures)["joints_cm"].astype(np.float64) * 10.0)  # cm -> mm; left hands
    fits = [fit_ik(j.astype(np.float64), limits=limits, as_numpy=True) for j in (dex, gestures)]
    angles = np.concatenate([np.asarray(f.angles) for f in fits])
    residual = np.concatenate([np.asarray(f.residual) for f in fits])
    groups = pose_groups(sequences, len(gestures))
    keep = residual <= MAX_RESIDUAL_MM
    print(
        f"{int(keep.sum())} poses kept of {len(keep)} (fit residual <= {MAX_RESIDUAL_MM} mm; median "
        f"{np.median(residual):.2f} mm), {len(np.unique(groups[keep]))} groups, {args.folds} folds"
    )
    print(f"{'components':>10} {'held-out':>10}   per fold (mean log density per pose)")
    scores = held_out_scores(angles[keep], groups[keep], components, args.folds, limits)
    best = max(scores, key=lambda k: np.mean(scores[k]))
    print(f"best: {best} components")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "poses": int(keep.sum()),
        "folds": args.folds,
        "max_residual_mm": MAX_RESIDUAL_MM,
        "held_out_log_density": {str(k): {"mean": float(np.mean(v)), "folds": v} for k, v in scores.items()},
        "best": best,
    }
    atomic_write_text(args.out, json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
