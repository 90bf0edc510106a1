"""Why does MediaPipe take rendered palms for the other hand's back? Its landmark network's side, step by step.

    python benchmarks/bench_render_handedness.py [--hands 60] [--out benchmarks/results/render_handedness.json]

In the photo scenes MediaPipe gives about half of the rendered palms it finds the other side (a left palm
outlines like a right hand's back: only the surface tells them apart), and never a real one
(``bench_render_realism.py``). Here the landmark network alone (:class:`~diffuhand.detect.landmarks.LandmarkNet`,
on MediaPipe's crop from the true keypoints) judges one right hand, palm and then back towards the camera, on a
plain grey background under one key light, dielectric skin with a lighter palm and nails, its tone on the skin-tone
scale, colours as display values, shaded with ambient occlusion (the photo variant's hand, nothing else of its
scene), as the pose and the view move towards the scenes':

- rest: the mesh's own open, flat pose, seen head-on, turned in the image plane only;
- rest, tilted: and tilted off the line of sight by ~30 degrees (the scenes' ``tilt_deg``);
- prior: poses sampled from the pose prior (as the scenes draw them), head-on;
- prior, tilted: and tilted as the scenes tilt them.

Measure: the share of hands given the right side (``right_score`` > 0.5). Prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

#: the steps from the mesh's rest pose towards the scenes' poses and views
STEPS = ("rest", "rest, tilted", "prior", "prior, tilted")
#: the scenes' tilt off the line of sight (synth.scene.SceneConfig.tilt_deg), degrees
TILT_DEG = 30.0
#: the hand's distance from the camera (mm) and the focal length (px) of the 256 px image
DISTANCE_MM, FOCAL_PX, SIZE = 450.0, 600.0, 256


def side_scores(step: str, hands: int, seed: int) -> dict[str, list[float]]:
    """The landmark network's right-hand score for ``hands`` right hands per face ("palm", "back") at ``step``."""
    from scipy.spatial.transform import Rotation

    from diffuhand.detect.landmarks import default_landmark_net, hand_rect
    from diffuhand.kinematics.limits import load_limits
    from diffuhand.kinematics.prior import default_prior
    from diffuhand.synth import realism
    from diffuhand.synth.mesh import default_hand_mesh, pose_mesh
    from diffuhand.synth.render import DIELECTRIC, Lighting, MeshItem, Renderer
    from diffuhand.synth.scene import SceneConfig, _skin_colors, sample_hand_pose

    mesh, renderer, net = default_hand_mesh(), Renderer(SIZE), default_landmark_net()
    limits, prior = load_limits(), default_prior()
    K = np.array([[FOCAL_PX, 0.0, SIZE / 2], [0.0, FOCAL_PX, SIZE / 2], [0.0, 0.0, 1.0]])
    grey = np.full((SIZE, SIZE, 3), 120.0)
    rng = np.random.default_rng(seed)
    out: dict[str, list[float]] = {"palm": [], "back": []}
    for i in range(hands):
        angles, ratios, _ = sample_hand_pose(rng, limits, prior, SceneConfig())
        if step.startswith("rest"):
            angles, ratios = mesh.rest_angles, mesh.rest_ratios
        colours, _, _ = _skin_colors(np.random.default_rng([seed, i]), mesh, detail=True, natural=True)
        # hand frame z dorsal: along the camera's +z the back faces away (palm seen), flipped the back is seen
        for face, name in ((np.eye(3), "palm"), (np.diag([1.0, -1.0, -1.0]), "back")):
            tilt_deg = TILT_DEG if step.endswith("tilted") else 0.0
            tilt = Rotation.from_rotvec(np.r_[rng.normal(size=2), 0.0] * np.radians(tilt_deg)).as_matrix()
            spin = Rotation.from_euler("z", -90.0 + rng.uniform(-40.0, 40.0), degrees=True).as_matrix()
            v, j = pose_mesh(mesh, angles, ratios, 85.0, tilt @ spin @ face, np.zeros(3))
            shift = j.mean(0) - [0.0, 0.0, DISTANCE_MM]
            v, j = v - shift, j - shift
            item = MeshItem(v, mesh.faces, colours, 1, metallic=DIELECTRIC[0], roughness=DIELECTRIC[1])
            colour, depth, _, alpha = renderer.render(
                [realism.linear_albedo(item)], K, Lighting(ambient=0.4, directional=(0.3, 0.4, 1.0), intensity=2.5)
            )
            colour = realism.occlude(colour, realism.ambient_occlusion(depth, K))
            a = alpha[..., None] / 255.0
            image = (colour * a + grey * (1 - a)).astype(np.uint8)
            uv = j @ K.T
            out[name].append(float(net(image, [hand_rect(uv[:, :2] / uv[:, 2:])]).right_score[0]))
    return out


def main() -> None:
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hands", type=int, default=60, help="hands per step and face")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=here / "results" / "render_handedness.json")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    rows = {}
    print(f"{'step':16} {'palm: right side':>17} {'back: right side':>17}")
    for step in STEPS:
        scores = side_scores(step, args.hands, args.seed)
        rows[step] = {face: float(np.mean(np.asarray(s) > 0.5)) for face, s in scores.items()}
        print(f"{step:16} {100 * rows[step]['palm']:16.1f}% {100 * rows[step]['back']:16.1f}%")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"hands": args.hands, "seed": args.seed, "rows": rows}, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
