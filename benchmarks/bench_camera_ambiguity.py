"""How much of the wrist-aligned error on the dev photos is the unknown camera? (issue 13)

    python benchmarks/bench_camera_ambiguity.py [--out benchmarks/results/camera_ambiguity.json]

The wrist-aligned error with a least-squares scale (no rotation) counts the hand's orientation in the camera
frame. The dev photos of ``ge2019-realworld-dev`` are 256 x 256 crops of 1280 x 720 frames: each crop's focal
length is 434-739 px and its principal point lies wherever the crop was cut. ``predict`` cannot know either, and
assumes a focal length of the image width with the principal point at the centre (:func:`diffuhand.lift.base.
photo_camera`). Three measures separate what the camera costs from what the lift costs:

1. the shipped lift through plain ``predict`` under the assumed camera, then given other focal lengths with the
   principal point kept at the centre, then the photos' true intrinsics;
2. a perfect lift that knows everything but where the crop was cut: the true hand, turned to be seen along its
   viewing ray (what the crop shows), turned back under a camera that puts the principal point at the centre;
3. MediaPipe's own 3D averaged over several passes of its landmark network on perturbed crops (turned,
   scaled, mirrored), through the shipped lift: whether the orientation error is noise that averaging removes.

Measures (mm): PA-MPJPE, the wrist-aligned error with a least-squares scale, and the hand's orientation error
(the angle of the best rotation about the wrist, split into its part about the line of sight and the rest).
Nothing is fitted: the photos are the validation set. Prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
#: focal lengths tried with the principal point at the centre, in image widths (1: the assumed camera)
FOCAL_WIDTHS = (0.5, 1.0, math.sqrt(2.0), 2.0, 3.0, 20.0)
#: test-time augmentations of the landmark network's crop: (turn in degrees, scale, mirrored)
TTA_SETS = {
    "1 pass (the landmark net called directly)": [(0.0, 1.0, False)],
    "3 passes, turned by -15, 0, +15 degrees": [(0.0, 1.0, False), (15.0, 1.0, False), (-15.0, 1.0, False)],
    "3 passes, scaled by 0.9, 1, 1.1": [(0.0, 1.0, False), (0.0, 0.9, False), (0.0, 1.1, False)],
    "2 passes, as is and mirrored": [(0.0, 1.0, False), (0.0, 1.0, True)],
    "9 passes, turned x scaled": [(d, s, False) for d in (0.0, 12.0, -12.0) for s in (0.9, 1.0, 1.1)],
}


def orientation_error(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """(about the line of sight, across it) in degrees: the best rotation about the wrist taking ``pred`` onto
    ``truth`` (Kabsch), split into its twist about the camera's z axis and the swing that remains."""
    from scipy.spatial.transform import Rotation

    p, t = pred - pred[0], truth - truth[0]
    u, _, vt = np.linalg.svd(p.T @ t)
    d = np.sign(np.linalg.det(vt.T @ u.T))
    rot = Rotation.from_matrix(vt.T @ np.diag([1.0, 1.0, d]) @ u.T)
    _, _, z, w = rot.as_quat()  # scipy: (x, y, z, w)
    twist = Rotation.from_quat([0.0, 0.0, z, w] / np.hypot(z, w))
    swing = rot * twist.inv()
    return math.degrees(twist.magnitude()), math.degrees(swing.magnitude())


def row(preds: list[np.ndarray], truths: list[np.ndarray]) -> dict:
    from diffuhand.eval.metrics import pa_mpjpe, scaled_mpjpe

    ori = np.array([orientation_error(p, t) for p, t in zip(preds, truths)])
    pred, truth = np.stack(preds), np.stack(truths)
    return {
        "found": len(preds),
        "pa_mpjpe": round(float(pa_mpjpe(pred, truth).mean_mm), 2),
        "wrist_scaled": round(float(scaled_mpjpe(pred, truth).mean_mm), 2),
        "twist_deg_median": round(float(np.median(ori[:, 0])), 1),
        "swing_deg_median": round(float(np.median(ori[:, 1])), 1),
    }


def centred(focal: float, width: int, height: int) -> np.ndarray:
    """The camera of focal length ``focal`` (px) with the principal point at the image centre."""
    return np.array([[focal, 0.0, width / 2], [0.0, focal, height / 2], [0.0, 0.0, 1.0]])


class Augmented:
    """MediaPipe Hands whose 3D is the mean of the landmark network's world landmarks over perturbed crops."""

    def __init__(self, detector, net, augment: list[tuple[float, float, bool]]):
        self.detector, self.net, self.augment = detector, net, augment

    def world(self, image: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
        from diffuhand.detect.landmarks import HandRect, hand_rect, rotated_crop

        r = hand_rect(keypoints)
        out = []
        for deg, scale, mirror in self.augment:
            rect = HandRect(r.cx, r.cy, r.side * scale, r.rotation + math.radians(deg))
            crop = rotated_crop(image, rect)
            if mirror:
                crop = crop[:, ::-1].copy()
            w = self.net.run_crops(crop[None])["world"][0] * (np.array([-1.0, 1.0, 1.0]) if mirror else 1.0)
            c, s = math.cos(rect.rotation), math.sin(rect.rotation)
            w = w @ np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]).T * 1000.0  # crop axes -> camera, mm
            out.append(w - w.mean(0))
        return np.mean(out, axis=0)

    def __call__(self, image: np.ndarray):
        return [replace(d, world_mm=self.world(image, d.keypoints_2d)) for d in self.detector(image)]


def lift_rows(estimator, samples, camera) -> dict:
    """The estimator on every sample under ``camera(K, width, height)`` (None: the camera predict assumes)."""
    preds, truths = [], []
    for image, j3, j2, K in samples:
        h, w = image.shape[:2]
        hands = estimator.predict_image(image, K=None if camera is None else camera(K, w, h))
        if not hands:
            continue
        best = min(hands, key=lambda r: np.linalg.norm(r.joints_2d.mean(0) - j2.mean(0)))
        preds.append(best.joints_3d + j3[0])
        truths.append(j3)
    return row(preds, truths)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", type=Path, default=HERE.parents[1] / "shared" / "data" / "ge2019-realworld-dev")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "camera_ambiguity.json")
    args = ap.parse_args()
    import sys

    sys.path.insert(0, str(HERE))
    from bench_lift_models import CachedDetector

    from diffuhand.data import open_dataset
    from diffuhand.detect import MediaPipeHands
    from diffuhand.detect.landmarks import LandmarkNet
    from diffuhand.lift import load_lifter
    from diffuhand.lift.base import photo_camera
    from diffuhand.lift.fusion import ray_rotation
    from diffuhand.pipeline import Estimator

    ds = open_dataset("ge-realworld", args.real)
    samples = [(s.image, s.joints_3d, s.joints_2d, s.K) for s in (ds[i] for i in range(len(ds)))]
    rows: dict[str, dict] = {}
    lifter = load_lifter("hand")
    with MediaPipeHands(max_hands=2) as mp:
        detector = CachedDetector(mp)
        est = Estimator(lifter, detector=detector)
        rows["shipped lift, the assumed camera (plain predict)"] = lift_rows(est, samples, None)
        for k in FOCAL_WIDTHS:
            rows[f"shipped lift, focal {k:.2f} x width, centred"] = lift_rows(
                est, samples, lambda K, w, h, k=k: centred(k * w, w, h)
            )
        rows["shipped lift, true focal, centred"] = lift_rows(est, samples, lambda K, w, h: centred(K[0, 0], w, h))
        rows["shipped lift, the photos' intrinsics"] = lift_rows(est, samples, lambda K, w, h: K)
        net = LandmarkNet("full")
        for name, aug in TTA_SETS.items():
            tta = Estimator(lifter, detector=CachedDetector(Augmented(detector, net, aug)))
            rows[f"shipped lift on MediaPipe's 3D from {name}"] = lift_rows(tta, samples, None)
    # a perfect lift in the crop's own view, turned back under a camera that does not know where the crop was cut
    for name, camera in (
        ("assumed camera", lambda K, w, h: photo_camera(w, h)),
        ("true focal, centred", lambda K, w, h: centred(K[0, 0], w, h)),
        ("no turn at all", None),
    ):
        preds, truths = [], []
        for image, j3, j2, K in samples:
            h, w = image.shape[:2]
            uv = j2.mean(0)
            seen = (j3 - j3[0]) @ ray_rotation(K, uv)  # the hand as seen along its own viewing ray
            back = seen if camera is None else seen @ ray_rotation(camera(K, w, h), uv).T
            preds.append(back + j3[0])
            truths.append(j3)
        rows[f"perfect lift in the crop's view, {name}"] = row(preds, truths)
    # how far off the optical axis each hand is seen: the angle between the axis and the ray through its keypoints
    rays = [math.degrees(math.acos(ray_rotation(K, j2.mean(0))[2, 2])) for _, _, j2, K in samples]
    ray_deg = {f"p{q}": round(float(np.percentile(rays, q)), 1) for q in (0, 25, 50, 75, 100)}
    print(f"viewing ray off the optical axis (degrees): {ray_deg}")
    print(f"{'lift':78} {'found':>5} {'PA':>6} {'wrist-LS':>8} {'twist':>6} {'swing':>6}")
    for name, r in rows.items():
        print(
            f"{name:78} {r['found']:5d} {r['pa_mpjpe']:6.2f} {r['wrist_scaled']:8.2f} "
            f"{r['twist_deg_median']:6.1f} {r['swing_deg_median']:6.1f}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"photos": len(samples), "ray_off_axis_deg": ray_deg, "rows": rows}, indent=1) + "\n"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
