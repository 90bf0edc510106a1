"""Frames per second of ``diffuhand predict clip.mp4`` against MediaPipe Hands' own video mode on the same clip.

    python benchmarks/bench_video_speed.py [--rounds 3] [--repeat 5] [--out benchmarks/results/video_speed.json]

The clip: the real signing video of ``shared/data`` (two hands, 540x720), played forward and back ``--repeat``
times into one longer clip (written to a temporary folder), and the bundled demo clip. In rounds that alternate
the methods (a busy machine slows them alike), each timed in this process with its models already loaded:

- MediaPipe Hands alone, as its users run it on a video: decode every frame, the tracker in video mode
  (``static_image_mode=False``, 2 hands), its 2D and 3D landmarks;
- ``diffuhand predict clip.mp4``, as shipped (decode, tracker, the lift in batches of frames overlapped with the
  tracker, the temporal model, JSON Lines + NPZ written);
- the same with the lift frame by frame (the path before batching: ``chunk=1``, no overlap).

Also checks that the batched and frame-by-frame outputs are the same. NumPy's BLAS and torch on 1 thread, as
predict runs.
Prints a table (median fps, ratio to MediaPipe) and writes JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SIGN = ROOT.parent / "shared" / "data" / "sign-language-pose" / "src" / "python" / "tests" / "data" / "test_video.mp4"
DEMO = ROOT / "src" / "diffuhand" / "demo" / "motion.mp4"


def ping_pong(src: Path, dst: Path, repeat: int) -> int:
    """``src`` forward, backward, forward ... ``repeat`` times into ``dst`` (H.264, same rate); returns frames."""
    import av

    from diffuhand.io.video import read_video, video_info

    frames = list(read_video(src))
    seq = []
    for k in range(repeat):
        seq.extend(frames if k % 2 == 0 else frames[::-1][1:-1])
    fps = video_info(src).fps
    with av.open(str(dst), "w", format="mp4") as c:
        s = c.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001), options={"crf": "18"})
        s.width, s.height, s.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        for f in seq:
            c.mux(s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        c.mux(s.encode())
    return len(seq)


def mediapipe_video(path: Path) -> int:
    """MediaPipe Hands' own video mode on every frame of ``path``; returns frames."""
    from diffuhand.detect import MediaPipeHands
    from diffuhand.io.video import read_video

    n = 0
    with MediaPipeHands(max_hands=2, video=True) as mp:
        for frame in read_video(path):
            mp(frame)
            n += 1
    return n


def diffuhand_predict(path: Path, estimator, out: Path, per_frame: bool) -> dict:
    """``diffuhand predict path --out out`` with ``estimator`` loaded; returns the NPZ it wrote."""
    from diffuhand.cli import build_parser
    from diffuhand.commands.predict import run_predict
    from diffuhand.pipeline import Estimator

    args = build_parser().parse_args(["predict", str(path), "--out", str(out), "--overwrite"])
    patch = contextlib.nullcontext()
    if per_frame:
        original = Estimator.predict_frames
        patch = _patched(Estimator, "predict_frames", functools.partialmethod(original, chunk=1, overlap=False))
    with patch, open(os.devnull, "w") as null, contextlib.redirect_stdout(null), contextlib.redirect_stderr(null):
        assert run_predict(args, estimator) == 0
    with np.load(out / f"{path.stem}.npz") as z:
        return {k: z[k] for k in z.files}


@contextlib.contextmanager
def _patched(cls, name, value):
    old = getattr(cls, name)
    setattr(cls, name, value)
    try:
        yield
    finally:
        setattr(cls, name, old)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=5, help="forward/backward passes of the signing clip")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "video_speed.json")
    args = ap.parse_args()
    from diffuhand.cli import build_parser
    from diffuhand.commands.predict import ComputeThreads, load_estimator

    ComputeThreads(1).apply(load=True)  # as predict runs a video: one BLAS thread, one torch thread

    estimator = load_estimator(build_parser().parse_args(["predict", "x"]))
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clips = {}
        if SIGN.exists():
            clips["signing (real), 540x720"] = (tmp / "signing.mp4", ping_pong(SIGN, tmp / "signing.mp4", args.repeat))
        else:
            print(f"skipping the signing clip: {SIGN} not found")
        clips["demo (rendered), 320x320"] = (DEMO, None)
        for name, (clip, _) in clips.items():
            frames = mediapipe_video(clip)  # also warms up
            times: dict[str, list[float]] = {"MediaPipe Hands video mode": [], "diffuhand predict": [], "per frame": []}
            outs = {}
            for _ in range(args.rounds):
                for method in list(times):
                    t = time.perf_counter()
                    if method == "MediaPipe Hands video mode":
                        mediapipe_video(clip)
                    else:
                        outs[method] = diffuhand_predict(
                            clip, estimator, tmp / method.replace(" ", "-"), method == "per frame"
                        )
                    times[method].append(time.perf_counter() - t)
            a, b = outs["diffuhand predict"], outs["per frame"]
            same = bool(
                (a["status"] == b["status"]).all() and np.array_equal(a["joints_3d"], b["joints_3d"], equal_nan=True)
            )
            fps = {m: frames / float(np.median(v)) for m, v in times.items()}
            results[name] = {
                "frames": frames,
                "fps": fps,
                "ratio_to_mediapipe": {m: v / fps["MediaPipe Hands video mode"] for m, v in fps.items()},
                "batched_output_equals_per_frame": same,
                "frames_with_a_hand": int((a["status"] != "").any(1).sum()),
            }
    print(f"{'clip':28} {'method':28} {'fps':>7} {'x MediaPipe':>12}")
    for name, r in results.items():
        for m, v in r["fps"].items():
            print(f"{name:28} {m:28} {v:7.1f} {r['ratio_to_mediapipe'][m]:12.2f}")
        print(
            f"{name:28} frames {r['frames']}, with a hand {r['frames_with_a_hand']}, batched == per frame: {r['batched_output_equals_per_frame']}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rounds": args.rounds, "clips": results}, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
