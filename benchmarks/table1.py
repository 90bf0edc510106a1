"""Table 1 on our data: the baseline ("Ours"), diffusion ("Ours_D") and diffusion + IK MLP ("Ours_D*"), the
keypoint-conditioned model, MediaPipe's own 3D and a constant mean pose, on the held-out synthetic test set and
on the real-world dev photos, with each model's training time and images per second.

    python benchmarks/table1.py --baseline runs/cpu-baseline-synth --diffusion runs/cpu-diffusion_ik-synth \\
        --keypoints runs/keypoints-diffusion_ik-poses [--synth data/synth] [--synth-limit 1000] \\
        [--out benchmarks/results/table1.json]

Protocol: each hand's annotated crop (MediaPipe's where a row says so), left hands flipped to right and back, the
prediction placed at the true wrist and anchor length (the networks predict no scale, section 2.4). Measures: the
RHD protocol of Spurr et al. (palm root, middle MCP-PIP scale), the wrist-aligned least-squares scale, PA-MPJPE;
all in mm over the valid joints. The "diffusion" rows are the sample mean before the IK MLP of the same
checkpoint as "diffusion + IK" (the IK MLP trains on detached samples, so the diffusion weights are those of a
diffusion-only model trained with the same seed).
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np
import torch

from diffuhand.data import open_dataset
from diffuhand.eval.protocols import evaluate_samples
from diffuhand.eval.run_model import detect_dataset, predict_dataset
from diffuhand.models.estimator import load_model

MEASURES = ("spurr", "wrist_scaled", "pa_mpjpe")


def training_record(run: Path) -> dict:
    """Steps, images and wall time of a finished run, from its config and CSV log (one uninterrupted process)."""
    cfg = json.loads((run / "config.json").read_text())
    with open(run / "log.csv") as fh:
        rows = list(csv.DictReader(fh))
    last = rows[-1]
    steps, batch = int(last["step"]), int(cfg["optim"]["batch_size"])
    ips = float(last["images_per_s"])
    return {
        "steps": steps,
        "batch": batch,
        "images": steps * batch,
        "images_per_s": ips,
        "train_minutes": steps * batch / ips / 60.0,
    }


def _hand_frame(joints: np.ndarray) -> np.ndarray:
    from diffuhand.kinematics.ik import hand_frame

    return hand_frame(torch.from_numpy(joints)).numpy()


def mean_pose_predictions(train, samples) -> np.ndarray:
    """A reference, not a model: the training set's mean articulation (right hand, wrist-relative, anchor-scaled,
    in the hand frame) turned by each test hand's TRUE hand-frame rotation and placed like a model's output. A
    model must beat it on PA-MPJPE (articulation) and should approach it on the camera-frame measures."""
    from diffuhand.data.crops import to_right_hand, unflip_joints

    right = [to_right_hand(train[i]).joints_3d for i in range(len(train))]
    rel = np.stack([j - j[0] for j in right])
    rel /= np.linalg.norm(rel[:, 5], axis=-1)[:, None, None]
    mean = np.einsum("nji,nkj->nki", _hand_frame(rel), rel).mean(0)  # each pose in its own hand frame (R^T x)
    out = []
    for s in samples:
        r = to_right_hand(s).joints_3d
        pose = mean @ _hand_frame(r - r[0]).T * np.linalg.norm(r[5] - r[0])
        out.append(unflip_joints(pose, s.handedness == "left") + s.joints_3d[0])
    return np.stack(out)


def ik_solver(pred_mm: np.ndarray, samples) -> np.ndarray:
    """The diffusion mean through our IK solver instead of the IK MLP (what the product uses by default): the
    closest pose of the hand model within the limits (left hands mirrored for the right-hand model and back)."""
    from diffuhand.kinematics import fit_ik

    sign = np.array([[-1.0, 1.0, 1.0] if s.handedness == "left" else [1.0, 1.0, 1.0] for s in samples])[:, None]
    fit = fit_ik(torch.as_tensor(pred_mm * sign))
    return fit.joints.numpy() * sign


def uncertainty_vs_error(pred_mm: np.ndarray, spread_mm: np.ndarray, samples) -> dict:
    """Does the diffusion samples' spread say where the estimate is wrong? Rank correlation of the per-joint
    spread with the per-joint error after similarity alignment, over all valid non-root joints."""
    from scipy.stats import spearmanr

    from diffuhand.eval.metrics import procrustes_align

    gt = np.stack([s.joints_3d for s in samples])
    valid = np.stack([s.valid for s in samples])
    err = np.linalg.norm(procrustes_align(pred_mm, gt, valid) - gt, axis=-1)
    m = valid.copy()
    m[:, 0] = False
    e, u = err[m], spread_mm[: len(err)][m]
    hi, lo = u >= np.quantile(u, 0.75), u <= np.quantile(u, 0.25)
    return {
        "spearman_rho": float(spearmanr(u, e).statistic),
        "error_top_quarter_mm": float(e[hi].mean()),
        "error_bottom_quarter_mm": float(e[lo].mean()),
    }


def score(pred: np.ndarray, truth, name: str) -> dict:
    res = evaluate_samples(pred, truth, name)
    return {k: round(res[k].mean_mm, 2) for k in MEASURES if k in res}


def main() -> None:
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", type=Path, required=True)
    ap.add_argument("--diffusion", type=Path, required=True, help="a diffusion_ik run (gives both diffusion rows)")
    ap.add_argument("--keypoints", type=Path, help="a keypoint-conditioned run")
    ap.add_argument("--synth", type=Path, default=Path("data/synth"))
    ap.add_argument("--synth-limit", type=int, default=1000, help="the first N hands of the synthetic test split")
    ap.add_argument("--realworld", type=Path, default=here.parents[1] / "shared" / "data" / "ge2019-realworld-dev")
    ap.add_argument("--out", type=Path, default=here / "results" / "table1.json")
    args = ap.parse_args()

    sets = {
        "synth-test": open_dataset("synth", args.synth, "test"),
        "realworld": open_dataset("ge-realworld", args.realworld),
    }
    limits = {"synth-test": min(args.synth_limit, len(sets["synth-test"])), "realworld": len(sets["realworld"])}
    truth = {}
    for k, ds in sets.items():
        lab = open_dataset(
            ds.name,
            args.synth if k == "synth-test" else args.realworld,
            "test" if k == "synth-test" else None,
            load_images=False,
        )
        truth[k] = [lab[i] for i in range(limits[k])]
    rows: list[dict] = []
    uncertainty: dict[str, dict] = {}

    def add(row: str, model: str, set_name: str, pred: np.ndarray, seconds: float | None, truth_rows=None, **extra):
        t = truth_rows if truth_rows is not None else truth[set_name]
        r = {
            "row": row,
            "model": model,
            "set": set_name,
            "hands": len(t),
            **score(pred, t, sets[set_name].name),
            **extra,
        }
        if seconds is not None:
            r["hands_per_s"] = round(len(t) / seconds, 1)
        rows.append(r)
        print(f"  {row:34} {set_name:11} " + " ".join(f"{m}={r.get(m, '-')}" for m in MEASURES), flush=True)

    train_ds = open_dataset("synth", args.synth, "train", load_images=False)
    for k in sets:
        add("mean pose, true rotation (ref.)", "-", k, mean_pose_predictions(train_ds, truth[k]), None)

    for run, kind in ((args.baseline, "baseline"), (args.diffusion, "diffusion_ik")):
        model = load_model(run / "final")
        for k, ds in sets.items():
            t0 = time.perf_counter()
            p = predict_dataset(model, ds, limit=limits[k])
            sec = time.perf_counter() - t0
            if kind == "baseline":
                add("Ours (baseline)", str(run), k, p["final"], sec)
            else:
                add("Ours_D (diffusion, DDPM 50)", str(run), k, p["diffusion"], sec)
                add("Ours_D* (diffusion + IK MLP)", str(run), k, p["final"], sec)
                add("diffusion + IK solver", str(run), k, ik_solver(p["diffusion"], truth[k]), None)

    det = detect_dataset(sets["realworld"])
    found = np.flatnonzero(det["found"])
    found_truth = [truth["realworld"][i] for i in found]
    add(
        "MediaPipe world landmarks",
        "mediapipe 0.10.21",
        "realworld",
        det["world_mm"][found],
        None,
        truth_rows=found_truth,
        found=f"{len(found)}/{limits['realworld']}",
    )
    if args.keypoints:
        model = load_model(args.keypoints / "final")
        for k, ds in sets.items():
            t0 = time.perf_counter()
            p = predict_dataset(model, ds, limit=limits[k])
            add("keypoints D* (annotated 2D)", str(args.keypoints), k, p["final"], time.perf_counter() - t0)
            uncertainty[k] = uncertainty_vs_error(p["diffusion"], p["uncertainty_mm"], truth[k])
            add(
                "keypoints D + solver (annotated 2D)", str(args.keypoints), k, ik_solver(p["diffusion"], truth[k]), None
            )
        sub = sets["realworld"].subset(found)
        p = predict_dataset(model, sub, keypoints_2d=det["keypoints_2d"][found])
        add(
            "keypoints D (MediaPipe 2D)", str(args.keypoints), "realworld", p["diffusion"], None, truth_rows=found_truth
        )
        add(
            "keypoints D* (MediaPipe 2D)",
            str(args.keypoints),
            "realworld",
            p["final"],
            None,
            truth_rows=found_truth,
            found=f"{len(found)}/{limits['realworld']}",
        )
        add(
            "keypoints D + solver (MediaPipe 2D)",
            str(args.keypoints),
            "realworld",
            ik_solver(p["diffusion"], found_truth),
            None,
            truth_rows=found_truth,
        )

    for k, u in uncertainty.items():
        print(
            f"keypoint model, {k}: Spearman rho between the samples' per-joint spread and the per-joint error "
            f"(PA-aligned) {u['spearman_rho']:.3f}; error where the spread is in its top / bottom quarter "
            f"{u['error_top_quarter_mm']:.2f} / {u['error_bottom_quarter_mm']:.2f} mm"
        )
    training = {str(r): training_record(r) for r in (args.baseline, args.diffusion, args.keypoints) if r}
    print(
        f"\n{'row':34} {'set':11} {'hands':>5} {'RHD-prot':>8} {'wrist-LS':>8} {'PA':>6}  train (steps x batch, min, img/s)"
    )
    for r in rows:
        tr = training.get(r["model"])
        tr_s = (
            f"{tr['steps']} x {tr['batch']}, {tr['train_minutes']:.0f} min, {tr['images_per_s']:.1f}/s" if tr else "-"
        )
        print(
            f"{r['row']:34} {r['set']:11} {r['hands']:5d} {r['spurr']:8.2f} {r['wrist_scaled']:8.2f} {r['pa_mpjpe']:6.2f}  {tr_s}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "rows": rows,
                "training": training,
                "uncertainty": uncertainty,
                "torch_threads": torch.get_num_threads(),
                "synth_limit": limits["synth-test"],
            },
            indent=1,
        )
        + "\n"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
