"""Make the demo's bundled inputs with the project's own renderer (no third-party photos ship with the package).

    python scripts/make_demo_inputs.py [--out src/diffuhand/demo]

Renders candidate scenes at 320 px (the MIT hand, procedural backgrounds, fixed seeds), keeps the first images
in which MediaPipe finds every rendered hand (one with two hands), and a 48-frame motion sequence encoded as an
MP4. Deterministic for the seeds; rerun only to change the inputs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from diffuhand.data import open_dataset
from diffuhand.detect import MediaPipeHands
from diffuhand.synth.scene import SceneConfig
from diffuhand.synth.writer import write_dataset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "src" / "diffuhand" / "demo")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp())
    try:
        cfg = SceneConfig(
            size=320,
            fill=(0.35, 0.55),
            p_occluder=0.0,
            p_motion_blur=0.0,
            p_noise=0.0,
            p_two_hands=0.5,
            p_uniform_rotation=0.0,
        )
        write_dataset(tmp / "img", 40, cfg, seed=7, workers=1, chunk=40)
        ds = open_dataset("synth", tmp / "img", load_images=False)
        hands_of: dict[str, int] = {}
        for r in ds.records:
            hands_of[r["image_path"]] = hands_of.get(r["image_path"], 0) + 1
        kept = {1: [], 2: []}
        with MediaPipeHands() as detect:
            for path, n in sorted(hands_of.items()):
                if (
                    len(kept[n]) < (2 if n == 1 else 1)
                    and len(detect(np.asarray(Image.open(path).convert("RGB")))) == n
                ):
                    kept[n].append(path)
        names = []
        for k, path in enumerate(kept[1] + kept[2]):
            name = f"hand{k + 1}.jpg"
            shutil.copy(path, args.out / name)
            names.append(name)
        seq = SceneConfig(
            size=320,
            fill=(0.4, 0.5),
            p_occluder=0.0,
            p_motion_blur=0.0,
            p_noise=0.0,
            p_two_hands=0.0,
            p_uniform_rotation=0.0,
        )
        write_dataset(tmp / "seq", 48, seq, seed=3, workers=1, chunk=48, sequence_length=48)
        frames = sorted((tmp / "seq" / "images").glob("*.jpg"))
        import av

        with av.open(str(args.out / "motion.mp4"), "w") as c:
            s = c.add_stream("libx264", rate=24, options={"crf": "28"})
            s.width, s.height, s.pix_fmt = 320, 320, "yuv420p"
            for f in frames:
                c.mux(s.encode(av.VideoFrame.from_ndarray(np.asarray(Image.open(f).convert("RGB")), format="rgb24")))
            c.mux(s.encode())
        (args.out / "README.md").write_text(
            "# Demo inputs\n\nRendered by this project (`python scripts/make_demo_inputs.py`): the MIT-licensed hand "
            "mesh (see `synth/assets/LICENSE`), procedural backgrounds, no photos of people. "
            + json.dumps(names)
            + " and `motion.mp4` (48 frames, 24 fps).\n"
        )
        print(f"wrote {names} and motion.mp4 to {args.out}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
