"""A corpus run in one process against Ray with 2 workers on this machine, in one run.

    python benchmarks/bench_corpus.py [--photos 100] [--copies 4] [--rounds 2] [--out benchmarks/results/corpus.json]

The corpus: the real dev photos (``--photos`` of them, in two sub-folders) and the real signing clip, the whole
``--copies`` times in sibling folders of a temporary tree; a one-photo tree measures each engine's fixed start-up.
Each round runs ``diffuhand predict TREE --out DIR`` as a user would, in a fresh process (model
loads, Ray's start and its workers' model loads included), first with the default engine, then ``--engine ray
--workers 2``, each into a new output folder; the wall time of the whole command and the summary's frames per
second are reported (median over rounds), with the ratio Ray / one process. Also checks that both wrote the same
outputs. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
CLIP = DATA / "sign-language-pose" / "src" / "python" / "tests" / "data" / "test_video.mp4"


def corpus(dst: Path, photos: int, copies: int) -> int:
    """The tree: per copy, photos split over two folders and the clip in a third; returns its frames."""
    from diffuhand.io.video import video_info

    src = sorted((DATA / "ge2019-realworld-dev" / "images").glob("*.jpg"))[:photos]
    for c in range(copies):
        for i, p in enumerate(src):
            (dst / f"copy{c}" / f"set{i % 2}").mkdir(parents=True, exist_ok=True)
            shutil.copy(p, dst / f"copy{c}" / f"set{i % 2}" / p.name)
        (dst / f"copy{c}" / "video").mkdir(parents=True, exist_ok=True)
        shutil.copy(CLIP, dst / f"copy{c}" / "video" / CLIP.name)
    return copies * (len(src) + video_info(CLIP).frames)


def run(tree: Path, out: Path, engine: str) -> tuple[float, dict]:
    cmd = [sys.executable, "-m", "diffuhand", "predict", str(tree), "--out", str(out)]
    if engine == "ray":
        cmd += ["--engine", "ray", "--workers", "2"]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t, json.loads((out / "diffuhand-summary.json").read_text())


def same_outputs(a: Path, b: Path) -> bool:
    names = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file() and p.name != "diffuhand-summary.json")
    if names != sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file() and p.name != "diffuhand-summary.json"):
        return False
    for n in names:
        if n.suffix == ".npz":
            with np.load(a / n) as x, np.load(b / n) as y:
                if any(x[k].tobytes() != y[k].tobytes() for k in x.files):
                    return False
        elif (a / n).read_bytes() != (b / n).read_bytes():
            return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=100)
    ap.add_argument("--copies", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "corpus.json")
    args = ap.parse_args()
    rows: dict[str, dict[str, list[float]]] = {
        "one process": {"wall": [], "fps": [], "start-up": []},
        "ray, 2 workers": {"wall": [], "fps": [], "start-up": []},
    }
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        frames = corpus(tmp / "in", args.photos, args.copies)
        corpus(tmp / "one", 1, 1)
        (tmp / "one" / "copy0" / "video" / CLIP.name).unlink()
        same = True
        for r in range(args.rounds):
            outs = {}
            for name, engine in (("one process", "local"), ("ray, 2 workers", "ray")):
                outs[name] = tmp / f"out-{engine}-{r}"
                wall, summary = run(tmp / "in", outs[name], engine)
                assert summary["failed"] == 0 and summary["done"] == summary["inputs"]
                rows[name]["wall"].append(wall)
                rows[name]["fps"].append(summary["frames_per_second"])
                rows[name]["start-up"].append(run(tmp / "one", tmp / f"one-{engine}-{r}", engine)[0])
            same &= same_outputs(*outs.values())
    med = {k: {m: float(np.median(v)) for m, v in r.items()} for k, r in rows.items()}
    ratio = med["one process"]["wall"] / med["ray, 2 workers"]["wall"]
    steady = (med["one process"]["wall"] - med["one process"]["start-up"]) / (
        med["ray, 2 workers"]["wall"] - med["ray, 2 workers"]["start-up"]
    )
    print(f"corpus: {args.copies} x ({args.photos} photos + a video), {frames} frames; {args.rounds} rounds")
    print(f"{'engine':16} {'wall s':>8} {'frames/s':>9} {'1 photo, s':>11}")
    for k, v in med.items():
        print(f"{k:16} {v['wall']:8.1f} {v['fps']:9.1f} {v['start-up']:11.1f}")
    print(
        f"Ray with 2 workers / one process: x{ratio:.2f} faster, whole command; x{steady:.2f} less the start-up "
        f"(the one-photo run's wall); same outputs: {same}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "copies": args.copies,
                "photos": args.photos,
                "frames": frames,
                "rounds": args.rounds,
                "median": med,
                "raw": rows,
                "speedup_whole_command": ratio,
                "speedup_less_startup": steady,
                "same_outputs": same,
            },
            indent=1,
        )
        + "\n"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
