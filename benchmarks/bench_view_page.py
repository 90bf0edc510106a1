"""Size and load time of a ``diffuhand view`` page for a long video (issue 16: a 2-minute video's page stays usable).

A real clip (default: the MIT-licensed sign-language clip of shared/data) is looped to ``--seconds`` of video, run
through plain ``diffuhand predict``, its page written by :func:`diffuhand.viz.page.write_pages`, and loaded in
Debian's headless Chromium (selenium): page size, time until the page is ready (``document.body.dataset.ready``),
and the median time of one scrubber step (frame image + 3D + angles redrawn).

    python benchmarks/bench_view_page.py --seconds 120
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
CLIP = (
    Path(os.environ.get("DIFFUHAND_SHARED_DATA", ROOT.parent / "shared" / "data"))
    / "sign-language-pose/src/python/tests/data/test_video.mp4"
)


def loop_clip(src: Path, dst: Path, seconds: float) -> int:
    """Write ``src`` looped (forwards, backwards) to ``seconds`` of video at its frame rate; returns the frame count."""
    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    h, w = frames[0].shape[:2]
    out = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    n = round(seconds * fps)
    cycle = frames + frames[-2:0:-1]
    for i in range(n):
        out.write(cycle[i % len(cycle)])
    out.release()
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", type=Path, default=CLIP)
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--json", type=Path, default=None, help="write the figures here too")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "tests"))
    from diffuhand.viz.page import write_pages
    from test_view import _driver  # the tests' Chromium setup (skips where chromium is absent)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        video = tmp / "long.mp4"
        n = loop_clip(args.clip, video, args.seconds)
        t = time.perf_counter()
        subprocess.run(
            [str(Path(sys.executable).with_name("diffuhand")), "predict", str(video), "--out", str(tmp / "out")],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        t_predict = time.perf_counter() - t
        t = time.perf_counter()
        (page,) = write_pages(tmp / "out", tmp / "pages", [video])
        t_write = time.perf_counter() - t
        size = page.stat().st_size
        d = _driver()
        try:
            t = time.perf_counter()
            d.get(page.as_uri())
            d.execute_script("return new Promise(r=>requestAnimationFrame(()=>requestAnimationFrame(r)))")
            t_load = time.perf_counter() - t
            assert d.execute_script("return document.body.dataset.ready") == "1"
            errors = [e for e in d.get_log("browser") if e["level"] == "SEVERE"]
            steps = []
            for i in range(0, n, max(1, n // 30)):
                t = time.perf_counter()
                d.execute_script(
                    "window.diffuhandShow(arguments[0]);"
                    "return new Promise(r=>requestAnimationFrame(()=>requestAnimationFrame(r)))",
                    i,
                )
                steps.append(time.perf_counter() - t)
            heap = d.execute_script("return performance.memory ? performance.memory.usedJSHeapSize : null")
        finally:
            d.quit()
    res = {
        "frames": n,
        "seconds": args.seconds,
        "page_mb": round(size / 1e6, 1),
        "load_s": round(t_load, 2),
        "scrub_step_ms_median": round(1000 * statistics.median(steps), 1),
        "js_heap_mb": heap and round(heap / 1e6),
        "write_pages_s": round(t_write, 1),
        "predict_s": round(t_predict, 1),
        "console_errors": len(errors),
    }
    print(json.dumps(res))
    if args.json:
        args.json.write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
