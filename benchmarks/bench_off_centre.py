"""Hands away from the image centre (issue 17, item 3): does the output orientation depend on where the hand is?

    python benchmarks/bench_off_centre.py [--poses 12] [--out benchmarks/results/off_centre.json]

The same 3D hand (a pose of the prior, a hand-facing-the-camera orientation, 450 mm away) is rendered at the centre
of a frame and near its corner (75% of the way), in 640 x 480 and 1920 x 1080 frames with an ordinary lens (focal
length 0.8 x the width: a 64 degree horizontal field of view), and found and lifted by ``diffuhand predict`` with
the frame's true intrinsics given. Measure: the angle between the lifted hand's orientation (its root rotation)
and the true one, at the centre and at the corner, for the shipped lift ("known-camera": MediaPipe's 3D turned to
the hand's viewing ray) and without the turn. A hand near the corner is seen from the side (the ray is 30-35 degrees
off the optical axis here): a lift that ignores it is off by about that much.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
FRAMES = ((640, 480), (1920, 1080))
FOCAL_PER_WIDTH = 0.8
DEPTH_MM = 450.0
CORNER = 0.75  # of the way from the centre to the corner


def rotation_angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    c = (np.trace(a.T @ b) - 1) / 2
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


def render(width: int, height: int, K: np.ndarray, angles, ratios, anchor, rot, pos, renderer) -> np.ndarray:
    """The MIT hand (a right hand) posed and rendered over a plain, softly lit background."""
    from diffuhand.synth.mesh import default_hand_mesh, pose_mesh
    from diffuhand.synth.realism import forearm_items
    from diffuhand.synth.render import Lighting, MeshItem
    from diffuhand.synth.scene import SKIN_TONES

    mesh = default_hand_mesh()
    verts, _ = pose_mesh(mesh, angles, ratios, anchor, rot, pos)
    tone = SKIN_TONES[2]
    items = [MeshItem(verts, mesh.faces, np.tile(tone, (len(verts), 1)), 1)]
    items += forearm_items(np.random.default_rng(0), anchor, rot, pos, tone, False, p_sleeve=1.0)[0]
    color, _, _, alpha = renderer.render(
        items,
        K,
        Lighting(ambient=0.5, directional=(0.2, 0.3, 1.0), intensity=2.5, fill=0.4, fill_direction=(-0.3, -0.2, 1.0)),
    )
    a = (alpha.astype(np.float64) / 255.0)[..., None]
    img = color.astype(np.float64) * a + np.array([150.0, 145.0, 140.0]) * (1 - a)
    return np.clip(img, 0, 255).astype(np.uint8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--poses", type=int, default=12)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "off_centre.json")
    args = ap.parse_args()
    from diffuhand import load
    from diffuhand.kinematics import load_limits
    from diffuhand.kinematics.prior import default_prior
    from diffuhand.lift import FusionLifter
    from diffuhand.pipeline import Estimator
    from diffuhand.synth.render import Renderer
    from diffuhand.synth.scene import SceneConfig, hand_rotation

    rng = np.random.default_rng(args.seed)
    limits = load_limits()
    shipped = load(temporal=False)
    lifts = {
        "shipped (ray turn with a known camera)": shipped.lifter,
        "without the ray turn": FusionLifter(replace(shipped.lifter.config, ray_turn="off")),
    }
    poses = []
    for _ in range(args.poses):
        angles = default_prior().sample(1, rng, limits)[0]
        rot = hand_rotation(rng, SceneConfig(p_uniform_rotation=0.0, tilt_deg=20.0))
        poses.append((angles, limits.ratio_neutral, 88.0, rot))
    rows: dict = {}
    for width, height in FRAMES:
        K = np.array([[FOCAL_PER_WIDTH * width, 0, width / 2], [0, FOCAL_PER_WIDTH * width, height / 2], [0, 0, 1.0]])
        renderer = Renderer(width, height)
        corner = np.array([width, height]) / 2 * (1 + CORNER)
        for where, uv in (("centre", np.array([width, height]) / 2), ("corner", corner)):
            ray = np.linalg.solve(K, [uv[0], uv[1], 1.0])
            for name, lifter in lifts.items():
                est = Estimator(lifter, detector=shipped._detector())
                errs, found = [], 0
                for angles, ratios, anchor, rot in poses:
                    # the hand's centre on the ray through uv, 450 mm deep; its orientation the same everywhere
                    centre = ray / ray[2] * DEPTH_MM
                    pos = centre - rot @ np.array([0.45 * anchor, 0.0, 0.0])  # the wrist, half a hand behind
                    image = render(width, height, K, angles, ratios, anchor, rot, pos, renderer)
                    hands = [h for h in est.predict_image(image, K=K) if h.handedness == "right"]
                    if not hands:
                        continue
                    found += 1
                    errs.append(rotation_angle_deg(hands[0].root_rotation, rot))
                rows[f"{width}x{height} {where}: {name}"] = {
                    "found": found,
                    "of": len(poses),
                    "orientation_error_deg": float(np.mean(errs)) if errs else None,
                    "ray_off_axis_deg": float(np.degrees(np.arccos(1 / np.linalg.norm(ray / ray[2])))),
                }
    print(f"{'frame, position, lift':70} {'found':>7} {'orientation error deg':>22} {'ray off axis deg':>17}")
    for k, r in rows.items():
        e = f"{r['orientation_error_deg']:.1f}" if r["orientation_error_deg"] is not None else "-"
        print(f"{k:70} {r['found']:>3}/{r['of']:<3} {e:>22} {r['ray_off_axis_deg']:17.1f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {"poses": args.poses, "focal_per_width": FOCAL_PER_WIDTH, "depth_mm": DEPTH_MM, "rows": rows}, indent=1
        )
        + "\n"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
