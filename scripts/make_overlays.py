"""Make the README's picture, docs/overlays.png, from what ships: ``diffuhand demo`` on its bundled renders (left)
and ``diffuhand predict --render --body`` on frames of the MIT-licensed sign-language clip of shared/data (right).

    python scripts/make_overlays.py [--video PATH] [--frames 20 38] [--height 300] [--out docs/overlays.png]

Runs both commands as a user would (the shipped models, no options beyond those), into a temporary folder, and lays
their overlays side by side at one height. Rerun after a change to the models, the mesh or the overlays.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT.parent / "shared" / "data" / "sign-language-pose" / "src" / "python" / "tests" / "data" / "test_video.mp4"


def _run(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "diffuhand", *args], check=False, stdout=subprocess.DEVNULL)
    if done.returncode:
        sys.exit(f"make_overlays: diffuhand {args[0]} failed (exit {done.returncode})")


def _at_height(image: np.ndarray, height: int) -> Image.Image:
    h, w = image.shape[:2]
    return Image.fromarray(image).resize((round(w * height / h), height), Image.LANCZOS)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, default=CLIP, help="the clip of the right-hand panels")
    ap.add_argument("--frames", type=int, nargs="+", default=[20, 38], help="its frames shown (0-based)")
    ap.add_argument("--height", type=int, default=300, help="each panel's height in pixels")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "overlays.png")
    args = ap.parse_args()
    if args.height <= 0:
        sys.exit(f"make_overlays: --height must be positive, got {args.height}")
    if not args.video.is_file():
        sys.exit(f"make_overlays: no clip at {args.video} (the sign-language sample of shared/data; --video)")
    import av

    with tempfile.TemporaryDirectory() as tmp:
        demo, clip = Path(tmp) / "demo", Path(tmp) / "clip"
        _run("demo", "--out", str(demo))
        _run("predict", str(args.video), "--render", "--body", "--out", str(clip))
        panels = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(demo.glob("hand*-overlay.png"))]
        overlay = clip / f"{args.video.stem}-overlay.mp4"
        if not panels or not overlay.is_file():
            sys.exit("make_overlays: diffuhand wrote no overlays (no hand found in the demo or the clip?)")
        with av.open(str(overlay)) as c:
            frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        missing = [i for i in args.frames if not 0 <= i < len(frames)]
        if missing:
            sys.exit(f"make_overlays: frames {missing} out of range (the clip has {len(frames)})")
        panels += [frames[i] for i in args.frames]
    images = [_at_height(p, args.height) for p in panels]
    sheet = Image.new("RGB", (sum(im.width for im in images), args.height))
    x = 0
    for im in images:
        sheet.paste(im, (x, 0))
        x += im.width
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, optimize=True)
    print(f"wrote {args.out} ({sheet.width} x {sheet.height}, {len(images)} panels)")


if __name__ == "__main__":
    main()
