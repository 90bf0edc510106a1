"""Accuracy against sampling cost: the shipped keypoint model's product path (diffusion sample mean -> IK
solver) at 50 DDPM steps (the paper), at 1, 2, 5, 10 DDIM steps and at 1, 2, 5, 10 strided DDPM steps (ancestral
sampling on a subset of the T steps), with 1, 5 and 10 samples per hand, on the held-out
synthetic test set (annotated 2D) and the real-world dev photos (MediaPipe's 2D). Picks the cheapest sampler
for each number of samples, whose MPJPE on both sets is within ``--tolerance`` of 50 DDPM steps (issue 8: 2%).

    python benchmarks/bench_sampler_accuracy.py [--model src/diffuhand/weights/keypoints] [--synth data/synth] \\
        [--synth-limit 100000] [--seeds 0] [--out benchmarks/results/sampler_accuracy.json]

MPJPE is each set's primary protocol (the RHD protocol of Spurr et al.: palm root, middle MCP-PIP scale), mm;
PA-MPJPE beside it. Cost is network evaluations per hand (steps x samples; the samples of a hand run as one
batch, so latency grows less than that: benchmarks/bench_speed.py measures it). Writes a JSON and a plot.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from diffuhand.data import open_dataset
from diffuhand.eval.protocols import evaluate_samples
from diffuhand.eval.run_model import detect_dataset, predict_dataset
from diffuhand.models.diffusion import SamplerConfig
from diffuhand.models.estimator import load_model

SAMPLERS = [("ddpm", 50)] + [(k, s) for k in ("ddpm", "ddim") for s in (10, 5, 2, 1)]
SAMPLES = (1, 5, 10)


def choose(rows: list[dict], sets: list[str], tolerance: float) -> dict:
    """Per sample count: the sampler with the fewest steps whose MPJPE on every set is within ``tolerance`` (a
    fraction) of 50 DDPM steps with the same number of samples (DDPM before DDIM on a tie)."""
    out = {}
    for n in sorted({r["samples"] for r in rows}):
        same = [r for r in rows if r["samples"] == n]
        ref = next(r for r in same if r["kind"] == "ddpm" and r["steps"] == 50)
        ok = [r for r in same if all(r[k]["mpjpe"] <= (1 + tolerance) * ref[k]["mpjpe"] for k in sets)]
        best = min(ok, key=lambda r: (r["steps"], r["kind"] != "ddpm"))
        out[str(n)] = {
            "kind": best["kind"],
            "steps": best["steps"],
            "samples": n,
            "ratio_to_ddpm50": {k: best[k]["mpjpe"] / ref[k]["mpjpe"] for k in sets},
        }
    return out


def plot(rows: list[dict], sets: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(sets), figsize=(5 * len(sets), 3.8))
    for ax, k in zip(np.atleast_1d(axes), sets):
        for s, colour in zip(SAMPLES, ("C0", "C1", "C2")):
            plural = "s" * (s > 1)
            for kind, style in (("ddpm", "o-"), ("ddim", "s--")):
                few = sorted(
                    (r["steps"], r[k]["mpjpe"])
                    for r in rows
                    if r["kind"] == kind and r["samples"] == s and r["steps"] <= 10
                )
                ax.plot(*zip(*few), style, color=colour, label=f"{kind.upper()}, {s} sample{plural}")
            full = [r[k]["mpjpe"] for r in rows if r["kind"] == "ddpm" and r["steps"] == 50 and r["samples"] == s]
            ax.axhline(full[0], color=colour, ls=":", lw=1, label=f"DDPM 50 steps, {s} sample{plural}")
        ax.set_xscale("log")
        ax.set_xticks([1, 2, 5, 10], ["1", "2", "5", "10"])
        ax.set_xlabel("denoising steps")
        ax.set_ylabel("MPJPE, RHD protocol (mm)")
        ax.set_ylim(top=min(ax.get_ylim()[1], 3 * min(r[k]["mpjpe"] for r in rows)))
        ax.set_title(k)
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--model", type=Path, default=None, help="a keypoint-conditioned checkpoint (the shipped one by default)"
    )
    ap.add_argument("--synth", type=Path, default=Path("data/synth"))
    ap.add_argument("--synth-limit", type=int, default=100000)
    ap.add_argument("--realworld", type=Path, default=here.parents[1] / "shared" / "data" / "ge2019-realworld-dev")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0], help="sampling seeds, averaged")
    ap.add_argument("--tolerance", type=float, default=0.02)
    ap.add_argument("--out", type=Path, default=here / "results" / "sampler_accuracy.json")
    ap.add_argument("--replot", action="store_true", help="only redo the choice and the plot from --out's rows")
    args = ap.parse_args()
    if args.replot:
        saved = json.loads(args.out.read_text())
        report(saved["rows"], list(saved["hands"]), saved["hands"], saved["seeds"], args.tolerance, args.out)
        return
    import diffuhand

    model = load_model(args.model or diffuhand.shipped_weights("keypoints"))
    if model.keypoints is None or model.backbone is not None:
        raise SystemExit("this benchmark takes a keypoint-conditioned model (condition: keypoints)")

    synth = open_dataset("synth", args.synth, "test", load_images=False)
    real = open_dataset("ge-realworld", args.realworld)
    det = detect_dataset(real)
    found = np.flatnonzero(det["found"])
    real = real.subset(found)
    sets = {
        "synth-test": (synth, min(args.synth_limit, len(synth)), None),
        "realworld": (real, len(real), det["keypoints_2d"][found]),
    }
    truth = {k: [ds[i] for i in range(n)] for k, (ds, n, _) in sets.items()}
    print(
        f"synth-test: {sets['synth-test'][1]} hands (annotated 2D); realworld: {len(found)} photos with a "
        f"MediaPipe detection; seeds {args.seeds}"
    )

    rows = []
    for kind, steps in SAMPLERS:
        for samples in SAMPLES:
            cfg = SamplerConfig(kind=kind, steps=steps, samples=samples)
            row = {"kind": kind, "steps": steps, "samples": samples}
            t0 = time.perf_counter()
            for k, (ds, n, kp) in sets.items():
                runs = [
                    evaluate_samples(
                        predict_dataset(
                            model,
                            ds,
                            batch_size=256,
                            sampler=cfg,
                            limit=n,
                            seed=seed,
                            keypoints_2d=kp,
                            progress=False,
                            ik="solver",
                        )["final"],
                        truth[k],
                        ds.name,
                    )
                    for seed in args.seeds
                ]
                row[k] = {
                    "mpjpe": float(np.mean([r["spurr"].mean_mm for r in runs])),
                    "pa_mpjpe": float(np.mean([r["pa_mpjpe"].mean_mm for r in runs])),
                }
            rows.append(row)
            print(
                f"{kind.upper():4} {steps:2d} steps x {samples:2d} samples: "
                + "  ".join(f"{k} MPJPE {row[k]['mpjpe']:6.2f} PA {row[k]['pa_mpjpe']:5.2f}" for k in sets)
                + f"  ({time.perf_counter() - t0:.0f} s)",
                flush=True,
            )

    report(rows, list(sets), {k: v[1] for k, v in sets.items()}, args.seeds, args.tolerance, args.out)


def report(rows: list[dict], sets: list[str], hands: dict, seeds: list[int], tolerance: float, out: Path) -> None:
    pick = choose(rows, sets, tolerance)
    print(f"\nfewest steps within {100 * tolerance:.0f}% of 50 DDPM steps' MPJPE on both sets:")
    for c in pick.values():
        print(
            f"  {c['samples']:2d} samples: {c['kind'].upper()} {c['steps']} steps ("
            + ", ".join(f"{k} x{v:.3f}" for k, v in c["ratio_to_ddpm50"].items())
            + " of DDPM 50)"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"rows": rows, "choice": pick, "tolerance": tolerance, "seeds": seeds, "hands": hands}, indent=1)
        + "\n"
    )
    png = out.with_suffix(".png")
    plot(rows, sets, png)
    print(f"wrote {out} and {png}")


if __name__ == "__main__":
    main()
