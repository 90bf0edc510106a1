"""Jitter on a real video with and without the temporal model (no ground truth: how much the output shakes).

    python benchmarks/bench_video_jitter.py [--video PATH] [--out benchmarks/results/video_jitter.json]

The sign-language clip of ``shared/data`` goes through ``diffuhand.load().predict_frames(frames, fps)`` twice, in one run:
every frame on its own, then with the temporal model (and the pose smoothing, at the clip's frame rate). Jitter is the mean acceleration of the wrist-relative 3D
joints, |x[t+1] - 2 x[t] + x[t-1]| (mm/frame^2), over runs of three consecutive frames in which the same hand is
reported; a real hand moves smoothly, so less is better as long as the pose still follows the hand.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import diffuhand
from diffuhand.io.video import read_video, video_info


def tracks(frames: list) -> dict[str, np.ndarray]:
    """Per side, (T, 21, 3) joints with NaN where that hand is absent."""
    out = {}
    for side in ("left", "right"):
        a = np.full((len(frames), 21, 3), np.nan)
        for i, hands in enumerate(frames):
            for h in hands:
                if h.handedness == side:
                    a[i] = h.joints_3d
        out[side] = a
    return out


def triples(frames: list) -> dict[str, np.ndarray]:
    """Per side, (T - 2,) bool: frames t-1, t, t+1 all report that hand."""
    return {
        k: np.isfinite(a).all((1, 2))[2:] & np.isfinite(a).all((1, 2))[1:-1] & np.isfinite(a).all((1, 2))[:-2]
        for k, a in tracks(frames).items()
    }


def jitter(frames: list, where: dict[str, np.ndarray] | None = None) -> tuple[float, int]:
    acc = []
    own = triples(frames)
    for side, a in tracks(frames).items():
        d2 = a[2:] - 2 * a[1:-1] + a[:-2]
        ok = own[side] if where is None else own[side] & where[side]
        acc.extend(np.linalg.norm(d2[ok], axis=-1).mean(1))
    return (float(np.mean(acc)) if acc else float("nan")), len(acc)


def main() -> None:
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--video",
        type=Path,
        default=here.parents[1] / "shared/data/sign-language-pose/src/python/tests/data/test_video.mp4",
    )
    ap.add_argument("--temporal", type=Path, help="a temporal model checkpoint (default: the shipped one)")
    ap.add_argument("--out", type=Path, default=here / "results" / "video_jitter.json")
    args = ap.parse_args()
    frames = list(read_video(args.video))
    fps = video_info(args.video).fps  # the pose smoothing is in seconds: as predict does, at the clip's rate
    rows, single = {}, None
    for name, temporal in (("single frame", False), ("temporal", args.temporal)):
        est = diffuhand.load(temporal=temporal)
        t0 = time.perf_counter()
        out = est.predict_frames(frames, fps=fps)
        sec = time.perf_counter() - t0
        j, n = jitter(out)
        single = triples(out) if single is None else single
        j_same, n_same = jitter(out, single)  # only where the single-frame output has all three frames
        hands = [h for f in out for h in f]
        rows[name] = {
            "jitter_mm_per_frame2": j,
            "triples": n,
            "jitter_on_single_frame_triples": j_same,
            "single_frame_triples": n_same,
            "hands": len(hands),
            "bridged": sum(h.status == "bridged" for h in hands),
            "seconds": sec,
        }
    print(f"{args.video.name}: {len(frames)} frames")
    print(
        f"{'output':14} {'jitter mm/f^2':>14} {'triples':>8} {'same triples':>13} {'hands':>6} {'bridged':>8} {'s':>6}"
    )
    for name, r in rows.items():
        print(
            f"{name:14} {r['jitter_mm_per_frame2']:14.2f} {r['triples']:8d} {r['jitter_on_single_frame_triples']:13.2f} "
            f"{r['hands']:6d} {r['bridged']:8d} {r['seconds']:6.1f}"
        )
    ratio = rows["temporal"]["jitter_on_single_frame_triples"] / rows["single frame"]["jitter_on_single_frame_triples"]
    print(f"temporal / single frame jitter on the same frames: x{ratio:.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"video": str(args.video), "frames": len(frames), "rows": rows, "ratio": ratio}, indent=1) + "\n"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
