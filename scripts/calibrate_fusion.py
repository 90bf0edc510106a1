"""Calibrate the fusion lift on renders (training data; never on the real dev photos) and write its checkpoint.

    python scripts/calibrate_fusion.py [--count 600] [--seed 11] [--out src/diffuhand/weights/hand]

The fusion lift (:mod:`diffuhand.lift.fusion`) is a maximum a posteriori fit whose only numbers are the noise
levels of what MediaPipe Hands reports. They are measured here on photo-like renders (``synth.scene`` variant
"photo", seeds apart from every rendered data set) where the truth is known: MediaPipe on each image, and on each
clearly visible hand it finds, the error of its 2D keypoints (over the hand's box) and of its 3D bone directions.
The noise levels are robust scales of those errors (1.4826 x the median absolute deviation: MediaPipe sometimes
takes a rendered hand for its mirror image, and those gross errors would inflate a standard deviation). Which of
MediaPipe's bones to use (all, or only the fingers' phalanges, whose directions no skeleton convention changes) is
chosen here too, by the fusion's PA-MPJPE on the second half of the renders (drawn with the renders' own
skeleton, the limits' neutral ratios). The prior weight is 1 (the posterior of these noise levels).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def mad_scale(x: np.ndarray) -> float:
    """1.4826 x the median absolute deviation: the standard deviation of a Gaussian, robust to outliers."""
    return float(1.4826 * np.median(np.abs(x - np.median(x))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=600, help="renders (half to measure the noise, half to choose bones)")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument(
        "--bones",
        choices=("auto", "all", "phalanges"),
        default="auto",
        help="which of MediaPipe's bone directions to use (auto: the better on the renders)",
    )
    ap.add_argument(
        "--ray-turn",
        choices=("auto", "on", "off", "known-camera"),
        default="known-camera",
        help="turn MediaPipe's 3D to the viewing ray: auto (if it lowers the wrist-aligned error on the "
        "renders), on, off, or known-camera (the shipped choice: on when a photo's intrinsics are given; "
        "chosen on the real dev photos among these, see weights/hand/MODEL_CARD.md)",
    )
    ap.add_argument("--out", type=Path, default=ROOT / "src" / "diffuhand" / "weights" / "hand")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_render_realism import nearest_detection, render_items

    from diffuhand.detect import MediaPipeHands
    from diffuhand.eval.metrics import pa_mpjpe, scaled_mpjpe
    from diffuhand.kinematics.fusion import ALL_BONES, PHALANGES, FusionWeights, fuse_keypoints
    from diffuhand.kinematics.limits import load_limits
    from diffuhand.kinematics.skeleton import PARENTS
    from diffuhand.lift import FusionConfig, mirror_camera, save_fusion
    from diffuhand.lift.fusion import ray_rotation

    items, _, images = render_items("photo", args.count, args.size, args.seed)
    found = []  # (uv_true, xyz_true, K, mp uv, mp world mm, side)
    with MediaPipeHands(max_hands=2) as detector:
        cache: dict[int, list] = {}
        for image, uv, xyz, K, side in items:
            if id(image) not in cache:  # one MediaPipe pass per image, however many hands it shows
                cache[id(image)] = detector(image)
            d = nearest_detection(cache[id(image)], uv)
            if d is not None:
                found.append((uv, xyz, K, d.keypoints_2d, d.world_mm, side))
    half = len(found) // 2
    measure, choose = found[:half], found[half:]
    r2d = np.concatenate([((f[3] - f[0]) / np.ptp(f[0], axis=0).max()).ravel() for f in measure])
    sigma_2d = mad_scale(r2d)
    sigmas_dir = {}
    for name, bones in (("all", ALL_BONES), ("phalanges", PHALANGES)):
        par = [PARENTS[b] for b in bones]

        def unit(p, bones=bones, par=par):
            v = p[list(bones)] - p[par]
            return v / np.linalg.norm(v, axis=-1, keepdims=True)

        sigmas_dir[name] = mad_scale(np.concatenate([(unit(f[4]) - unit(f[1])).ravel() for f in measure]))
    # choose the bones by the fusion's PA-MPJPE on the other half, drawn with the renders' own skeleton
    ratios = load_limits().ratio_neutral
    mirror = np.array([-1.0, 1.0, 1.0])
    pa, wrist = {}, {}
    for name, bones in (("all", ALL_BONES), ("phalanges", PHALANGES)):
        for turn in (False, True):
            w = FusionWeights(sigma_2d, sigmas_dir[name], 1.0, bones)
            preds, truth = [], []
            for uv, xyz, K, kp, world, side in choose:
                if side == "left":
                    width = args.size  # the render's width: mirror the photo
                    kp, world, K = kp * [-1.0, 1.0] + [width, 0.0], world * mirror, mirror_camera(K, width)
                if turn:
                    world = world @ ray_rotation(K, kp.mean(0)).T
                res = fuse_keypoints(kp[None], K, world[None], ratios, weights=w)
                j = res.joints[0]
                preds.append(j * mirror if side == "left" else j)
                truth.append(xyz)
            key = f"{name}{', ray-turned' if turn else ''}"
            pa[key] = pa_mpjpe(np.stack(preds), np.stack(truth)).mean_mm
            wrist[key] = scaled_mpjpe(np.stack(preds), np.stack(truth)).mean_mm
    bones = min(("all", "phalanges"), key=lambda b: pa[b]) if args.bones == "auto" else args.bones
    # the ray turn is physics, not a fit: kept when it lowers the camera-frame (wrist-aligned) error on the renders
    if args.ray_turn == "auto":
        ray_turn = "on" if wrist[f"{bones}, ray-turned"] < wrist[bones] else "off"
    else:
        ray_turn = args.ray_turn
    config = FusionConfig(
        sigma_2d=round(sigma_2d, 4),
        sigma_dir=round(sigmas_dir[bones], 4),
        prior_weight=1.0,
        bones=bones,
        ray_turn=ray_turn,
        notes={
            "how": "scripts/calibrate_fusion.py: MediaPipe Hands 0.10.21 on photo-like renders "
            "(never the real photos); noise levels = 1.4826 x median absolute deviation of its "
            "errors; bones: "
            + (
                "chosen by the fusion's PA-MPJPE on the other half of the renders"
                if args.bones == "auto"
                else f"{args.bones} (--bones)"
            )
            + "; ray turn: "
            + (
                "by the wrist-aligned error on the renders"
                if args.ray_turn == "auto"
                else f"{args.ray_turn} (--ray-turn)"
            ),
            "command": shlex.join(["python", "scripts/calibrate_fusion.py", *sys.argv[1:]]),
            "renders": images,
            "hands_found": len(found),
            "sigma_dir_by_bones": {k: round(v, 4) for k, v in sigmas_dir.items()},
            "renders_pa_mpjpe_mm": {k: round(v, 3) for k, v in pa.items()},
            "renders_wrist_aligned_mm": {k: round(v, 3) for k, v in wrist.items()},
        },
    )
    save_fusion(args.out, config)
    print(json.dumps(asdict(config), indent=1))
    print(f"wrote {args.out / 'config.json'}")


if __name__ == "__main__":
    main()
