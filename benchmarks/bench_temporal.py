"""Single frame against temporal on held-out sequences (section 2.7): MPJPE, acceleration and velocity errors.

    python benchmarks/bench_temporal.py --run runs/temporal-keypoints [--out benchmarks/results/temporal.json]
        [--plot docs/temporal-trajectory.png]

Reads the run's configuration: its ``val`` sequences go through the same single-frame source model (cached in the
run folder), then through the trained temporal model with a window centred on every frame. Also measures the
same sequences with a fraction of frames dropped (no hand found), bridged by the temporal model. MPJPE is
wrist-relative at the true scale (mm); acceleration error is mm/frame^2 and velocity error mm/frame.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from diffuhand.models.temporal import smooth_sequence
from diffuhand.train.config import load_config
from diffuhand.train.temporal import build_inputs, load_temporal, sequence_measures


def error_structure(data: dict[str, np.ndarray]) -> dict:
    """What the single-frame model's errors look like (why the temporal model is trained on them, not on
    Gaussian noise): per-joint size, the per-sequence constant part, frame-to-frame correlation, tails."""
    from scipy.stats import kurtosis

    e = (data["pred"] - data["truth"]) * data["anchor_mm"][:, None, None]
    seq = data["sequence"]
    mag = np.linalg.norm(e, axis=-1)
    bias, now, before, rest = [], [], [], []
    for s in np.unique(seq):
        x = e[seq == s]
        bias.append(np.linalg.norm(x.mean(0), axis=-1).mean())
        x = x - x.mean(0)
        now.append(x[1:].ravel())
        before.append(x[:-1].ravel())
        rest.append(x.ravel())
    return {"mean_mm": float(mag.mean()), "wrist_mm": float(mag[:, 0].mean()),
            "fingertips_mm": float(mag[:, [4, 8, 12, 16, 20]].mean()),
            "per_sequence_constant_mm": float(np.mean(bias)),
            "lag1_autocorrelation": float(np.corrcoef(np.concatenate(now), np.concatenate(before))[0, 1]),
            "excess_kurtosis": float(kurtosis(np.concatenate(rest)))}  # fmt: skip


def main() -> None:
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=here / "results" / "temporal.json")
    ap.add_argument("--plot", type=Path, default=here.parent / "docs" / "temporal-trajectory.png")
    ap.add_argument("--drop", type=float, default=0.1, help="fraction of frames dropped in the bridging check")
    args = ap.parse_args()

    cfg = load_config(args.run / "config.json")
    model = load_temporal(args.run / "final")
    results, plot_data = {}, None
    for k, spec in enumerate(cfg.data["val"]):
        sub = cfg.to_dict()
        sub["data"] = {**cfg.data, "val": [spec]}
        data = build_inputs(type(cfg)(**sub), "val")
        seqs = np.unique(data["sequence"])
        smoothed = np.empty_like(data["pred"])
        bridged = np.full_like(data["pred"], np.nan)
        rng = np.random.default_rng(0)
        drop_rows = []
        for s in seqs:
            r = np.flatnonzero(data["sequence"] == s)
            smoothed[r] = smooth_sequence(model, data["pred"][r])["joints"]
            found = rng.random(len(r)) >= args.drop
            res = smooth_sequence(model, data["pred"][r], found)
            bridged[r] = res["joints"]
            drop_rows.extend(r[res["status"] == "bridged"])
        args_m = (data["truth"], data["anchor_mm"], data["sequence"])
        name = f"{spec['name']}:{spec.get('split', 'all')}"
        results[name] = {
            "sequences": len(seqs), "frames": len(data["pred"]),
            "single frame, diffusion (D)": sequence_measures(data["pred"], *args_m),
            "single frame, diffusion + IK (D*)": sequence_measures(data["final"], *args_m),
            "temporal": sequence_measures(smoothed, *args_m),
            "single-frame error structure": error_structure(data),
        }  # fmt: skip
        d = np.asarray(drop_rows, dtype=int)
        if len(d):
            err = np.linalg.norm((bridged[d] - data["truth"][d]) * data["anchor_mm"][d, None, None], axis=-1).mean()
            single = np.linalg.norm((data["pred"][d] - data["truth"][d]) * data["anchor_mm"][d, None, None], axis=-1).mean()
            results[name]["bridged frames"] = {"frames": len(d), "mpjpe_mm": float(err),
                                               "single_frame_mpjpe_mm_had_it_been_found": float(single)}  # fmt: skip
        if plot_data is None:
            r = np.flatnonzero(data["sequence"] == seqs[0])
            plot_data = (name, data["truth"][r] * data["anchor_mm"][r, None, None],
                         data["pred"][r] * data["anchor_mm"][r, None, None], smoothed[r] * data["anchor_mm"][r, None, None])

    print(f"{'set':16} {'output':34} {'MPJPE mm':>9} {'accel mm/f^2':>13} {'velocity mm/f':>14}")
    for name, res in results.items():
        for out, m in res.items():
            if isinstance(m, dict) and "accel_error_mm" in m:
                print(f"{name:16} {out:34} {m['mpjpe_mm']:9.2f} {m['accel_error_mm']:13.2f} {m['velocity_error_mm']:14.2f}")
        if "bridged frames" in res:
            b = res["bridged frames"]
            print(f"{name:16} {'bridged (' + str(b['frames']) + ' dropped frames)':34} {b['mpjpe_mm']:9.2f}")
    for name, res in results.items():
        e = res["single-frame error structure"]
        print(f"{name}: single-frame error {e['mean_mm']:.2f} mm (wrist {e['wrist_mm']:.2f}, fingertips "
              f"{e['fingertips_mm']:.2f}); constant per sequence {e['per_sequence_constant_mm']:.2f} mm; the rest "
              f"has lag-1 autocorrelation {e['lag1_autocorrelation']:.2f} and excess kurtosis {e['excess_kurtosis']:.2f}")
    for name, res in results.items():
        t, s = res["temporal"], res["single frame, diffusion (D)"]
        print(f"{name}: temporal / single frame: MPJPE x{t['mpjpe_mm'] / s['mpjpe_mm']:.3f}, "
              f"acceleration error x{t['accel_error_mm'] / s['accel_error_mm']:.3f}, "
              f"velocity error x{t['velocity_error_mm'] / s['velocity_error_mm']:.3f}")  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"run": str(args.run), "source": cfg.train["source"], "results": results}, indent=1) + "\n")
    print(f"wrote {args.out}")
    if plot_data is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        name, gt, single, temporal = plot_data
        fig, axes = plt.subplots(3, 1, figsize=(7, 6), sharex=True)
        for ax, c in zip(axes, "xyz"):
            i = "xyz".index(c)
            ax.plot(gt[:, 8, i], "k-", lw=2, label="ground truth")
            ax.plot(single[:, 8, i], "-", color="tab:red", alpha=0.8, label="single frame (diffusion)")
            ax.plot(temporal[:, 8, i], "-", color="tab:blue", label="temporal")
            ax.set_ylabel(f"{c} (mm)")
        axes[0].set_title(f"index fingertip relative to the wrist, held-out sequence ({name})")
        axes[0].legend(fontsize=8, loc="best")
        axes[-1].set_xlabel("frame")
        fig.tight_layout()
        args.plot.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.plot, dpi=110)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
