"""Single frame against temporal on held-out sequences (section 2.7): MPJPE, acceleration and velocity errors.

    python benchmarks/bench_temporal.py --run src/diffuhand/weights/temporal [--out benchmarks/results/temporal.json]
        [--plot docs/temporal-trajectory.png]

Reads the run's configuration: its ``val`` sequences go through the same single-frame lift (the product's lift
path; cached in the run folder), then through the trained temporal model with a window centred on every frame and
the pose smoothing over time that ``predict`` applies after it (``--smoothing-s``; the model alone beside it).
The baseline is the single frame as ``predict --no-temporal`` ships it (after its IK), on the same frames (those
where a hand was found). Measures, against the truth drawn in the lift's skeleton convention (what the temporal
model is trained towards) and against the truth as recorded: MPJPE wrist-relative at the true scale and with one
least-squares scale per sequence (a video does not tell a hand's size), PA-MPJPE, acceleration error
(mm/frame^2) and velocity error (mm/frame). Also the same sequences with a fraction of the found frames dropped,
bridged by the temporal model.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from diffuhand.models.temporal import smooth_sequence
from diffuhand.pipeline import DEFAULT_FPS, POSE_SMOOTHING_S
from diffuhand.train.config import TrainConfig, load_config
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
    return {
        "mean_mm": float(mag.mean()),
        "wrist_mm": float(mag[:, 0].mean()),
        "fingertips_mm": float(mag[:, [4, 8, 12, 16, 20]].mean()),
        "per_sequence_constant_mm": float(np.mean(bias)),
        "lag1_autocorrelation": float(np.corrcoef(np.concatenate(now), np.concatenate(before))[0, 1]),
        "excess_kurtosis": float(kurtosis(np.concatenate(rest))),
    }


def run_and_model(path: Path):
    """(training configuration, temporal model) of a training run folder (``config.json`` and ``final/``) or of a
    checkpoint that records its training configuration (the shipped ``src/diffuhand/weights/temporal``: its
    single-frame predictions are cached in the run folder its configuration names)."""
    if (path / "final").is_dir():
        return load_config(path / "config.json"), load_temporal(path / "final")
    recorded = json.loads((path / "config.json").read_text())["train_config"]
    return TrainConfig(**recorded), load_temporal(path)


def main() -> None:
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=here / "results" / "temporal.json")
    ap.add_argument("--plot", type=Path, default=here.parent / "docs" / "temporal-trajectory.png")
    ap.add_argument("--drop", type=float, default=0.1, help="fraction of frames dropped in the bridging check")
    ap.add_argument(
        "--smoothing-s",
        type=float,
        default=POSE_SMOOTHING_S,
        help="the pose smoothing after the model, seconds (default: what predict ships)",
    )
    ap.add_argument("--fps", type=float, default=DEFAULT_FPS, help="frame rate of the sequences (DexYCB's: 30)")
    args = ap.parse_args()
    sigma_frames = args.smoothing_s * args.fps

    cfg, model = run_and_model(args.run)
    results, plot_data = {}, None
    residual = model.cfg.mode == "residual"
    for k, spec in enumerate(cfg.data["val"]):
        sub = cfg.to_dict()
        sub["data"] = {**cfg.data, "val": [spec]}
        data = build_inputs(type(cfg)(**sub), "val")
        seqs = np.unique(data["sequence"])
        found = data["found"] if "found" in data else np.ones(len(data["pred"]), bool)
        smoothed = np.full_like(data["pred"], np.nan)
        model_only = np.full_like(data["pred"], np.nan)
        bridged = np.full_like(data["pred"], np.nan)
        rng = np.random.default_rng(0)
        drop_rows = []

        def own(r, keep, data=data):
            if not residual:
                return {}
            return {
                "angles": data["angles"][r],
                "root_rotation": data["root_rotation"][r],
                "ratios": data["ratios"][r],
                "spread": data["spread"][r],
            }

        for s in seqs:
            r = np.flatnonzero(data["sequence"] == s)
            smoothed[r] = smooth_sequence(
                model, data["pred"][r], found[r], **own(r, found[r]), sigma_frames=sigma_frames
            )["joints"]
            model_only[r] = smooth_sequence(model, data["pred"][r], found[r], **own(r, found[r]))["joints"]
            keep = found[r] & (rng.random(len(r)) >= args.drop)
            res = smooth_sequence(model, data["pred"][r], keep, **own(r, keep), sigma_frames=sigma_frames)
            bridged[r] = res["joints"]
            drop_rows.extend(r[(res["status"] == "bridged") & found[r]])
        name = f"{spec['name']}:{Path(spec['root']).name}:{spec.get('split') or 'all'}"
        results[name] = {"sequences": len(seqs), "frames": len(data["pred"]), "frames_found": int(found.sum())}
        # the same frames for every output: those where the single frame found a hand
        for truth_key, label in (
            ("truth_skeleton", "truth drawn in the lift's skeleton"),
            ("truth", "truth as recorded"),
        ):
            if truth_key not in data:
                continue
            m = {}
            for scale in (False, True):
                tag = "one LS scale per sequence" if scale else "true scale"
                args_m = (data[truth_key], data["anchor_mm"], data["sequence"], found, scale)
                m[tag] = {
                    "single frame (as --no-temporal ships it)": sequence_measures(data["final"], *args_m),
                    "temporal": sequence_measures(smoothed, *args_m),
                    "temporal model alone (no pose smoothing)": sequence_measures(model_only, *args_m),
                }
            results[name][label] = m
        sel = {
            "pred": data["final"][found],
            "truth": data.get("truth_skeleton", data["truth"])[found],
            "anchor_mm": data["anchor_mm"][found],
            "sequence": data["sequence"][found],
        }
        results[name]["single-frame error structure"] = error_structure(sel)
        d = np.asarray(drop_rows, dtype=int)
        if len(d):
            t = data.get("truth_skeleton", data["truth"])
            err = np.linalg.norm((bridged[d] - t[d]) * data["anchor_mm"][d, None, None], axis=-1).mean()
            single = np.linalg.norm((data["final"][d] - t[d]) * data["anchor_mm"][d, None, None], axis=-1).mean()
            results[name]["bridged frames"] = {
                "frames": len(d),
                "mpjpe_mm": float(err),
                "single_frame_mpjpe_mm_had_it_been_found": float(single),
            }
        if plot_data is None:
            r = np.flatnonzero(data["sequence"] == seqs[0])
            t = data.get("truth_skeleton", data["truth"])
            plot_data = (
                name,
                t[r] * data["anchor_mm"][r, None, None],
                np.where(found[r, None, None], data["final"][r], np.nan) * data["anchor_mm"][r, None, None],
                smoothed[r] * data["anchor_mm"][r, None, None],
            )

    print(f"{'set':34} {'truth':36} {'scale':26} {'output':42} {'MPJPE':>7} {'PA':>6} {'accel':>7} {'vel':>6}")
    for name, res in results.items():
        for label, by_scale in res.items():
            if not isinstance(by_scale, dict) or "true scale" not in by_scale:
                continue
            for tag, outs in by_scale.items():
                for out, m in outs.items():
                    print(
                        f"{name:34} {label:36} {tag:26} {out:42} {m['mpjpe_mm']:7.2f} {m['pa_mpjpe_mm']:6.2f} "
                        f"{m['accel_error_mm']:7.2f} {m['velocity_error_mm']:6.2f}"
                    )
                s_ = outs["single frame (as --no-temporal ships it)"]
                for key, what in (
                    ("temporal", "temporal"),
                    ("temporal model alone (no pose smoothing)", "model alone"),
                ):
                    t = outs[key]
                    print(
                        f"{'':34} {'':36} {tag:26} {'ratio ' + what + ' / single frame':42} "
                        f"x{t['mpjpe_mm'] / s_['mpjpe_mm']:.3f}  x{t['pa_mpjpe_mm'] / s_['pa_mpjpe_mm']:.3f}  "
                        f"x{t['accel_error_mm'] / s_['accel_error_mm']:.3f}"
                    )
        if "bridged frames" in res:
            b = res["bridged frames"]
            print(
                f"{name}: bridged ({b['frames']} dropped frames) {b['mpjpe_mm']:.2f} mm; single frame had it been "
                f"found {b['single_frame_mpjpe_mm_had_it_been_found']:.2f} mm"
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "run": str(args.run),
                "source": cfg.train.source,
                "mode": model.cfg.mode,
                "window": model.cfg.window,
                "smoothing_s": args.smoothing_s,
                "fps": args.fps,
                "results": results,
            },
            indent=1,
        )
        + "\n"
    )
    print(f"wrote {args.out}")
    if plot_data is not None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        name, gt, single, temporal = plot_data
        fig = Figure(figsize=(7, 6))
        FigureCanvasAgg(fig)
        axes = fig.subplots(3, 1, sharex=True)
        for ax, c in zip(axes, "xyz"):
            i = "xyz".index(c)
            ax.plot(gt[:, 8, i], "k-", lw=2, label="ground truth")
            ax.plot(single[:, 8, i], "-", color="tab:red", alpha=0.8, label="single frame (as --no-temporal ships it)")
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
