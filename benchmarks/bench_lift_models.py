"""Which lift ships: every candidate through plain ``diffuhand predict``, in one run, on the real dev photos and
on the synthetic test renders (issue 13, item 3).

    python benchmarks/bench_lift_models.py [--synth data/synth-photo --synth-images 500]
                                           [--landmark-runs runs/landmarks-baseline-synth ...]
                                           [--fusion-configs FOLDER ...] [--rows shipped,calibrated]
                                           [--out benchmarks/results/lift_models.json]

Each photo goes through the product path (:meth:`~diffuhand.pipeline.Estimator.predict_image`: MediaPipe Hands on
the whole photo, the lift under the camera ``predict`` assumes, the result in the photo's camera frame), one
estimator per candidate, MediaPipe run once per photo for all of them. Each hand found is matched to the true hand
by its 2D keypoints and placed at the true wrist; measures (mm): PA-MPJPE, the wrist-aligned error after a
least-squares scale (no rotation), the RHD protocol (palm root, scaled to the true middle MCP-PIP bone), hands
found, and the lift's time per hand. The real photos decide the default; nothing is fitted to them.

Rows: MediaPipe's world landmarks; the same through our IK (angles within the limits); the shipped keypoint
model (2D only; its own skeleton, and drawn with the ge2019 skeleton); the keypoint model guided towards
MediaPipe's 3D (diffusion posterior sampling); the fusion lift (the shipped one; with the other choice of bones;
with the previous calibration; with MANO's skeleton); and the landmark-network models given by ``--landmark-runs`` (the paper's three heads on
MediaPipe's frozen landmark network, trained on renders).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
#: a synthetic hand counts when at least this share of its joints is visible and all lie in the image
MIN_VISIBLE = 0.75


class CachedDetector:
    """MediaPipe Hands run once per image for every estimator (keyed by the array's identity)."""

    def __init__(self, detector):
        self.detector, self.cache = detector, {}

    def __call__(self, image):
        key = id(image)
        if key not in self.cache:
            self.cache[key] = self.detector(image)
        return self.cache[key]


class WorldLandmarks:
    """MediaPipe's own 3D as a "lift" (for the table): its world landmarks, optionally through our IK."""

    needs_keypoints, needs_world, needs_image = True, True, False

    def __init__(self, ik: bool, skeleton: str | None = None, ray_turn: bool = False):
        self.ik, self.skeleton, self.ray_turn = ik, skeleton, ray_turn
        self.identity = f"mediapipe-world-ik{ik}-{skeleton}-{ray_turn}"

    def lift(self, image, hands, K, generator=None, camera_known=False):
        import torch

        from diffuhand.kinematics import fit_ik, forward_kinematics
        from diffuhand.kinematics.skeletons import load_skeleton
        from diffuhand.lift import LiftedHand, as_right, mirror_camera
        from diffuhand.lift.base import MIRROR
        from diffuhand.lift.fusion import ray_rotation

        out = []
        # the pipeline passes the image, or its width alone (a video's frames), or nothing
        width = image if isinstance(image, int | float) else image.shape[1] if image is not None else 2.0 * K[0, 2]
        for h in hands:
            w = h.world_mm * (MIRROR if h.side == "left" else 1.0)
            if self.ray_turn:
                Kr = mirror_camera(K, width) if h.side == "left" else K
                w = w @ ray_rotation(Kr, as_right(h, width).keypoints_2d.mean(0)).T
            w = (w - w[0]) / np.linalg.norm(w[5] - w[0])
            angles, ratios, rot = np.full(41, np.nan), np.full(20, np.nan), None
            if self.ik:
                fit = fit_ik(torch.as_tensor(w))
                angles, ratios, rot = fit.angles.numpy(), fit.bone_ratios.numpy(), fit.root_rotation.numpy()
                if self.skeleton:
                    ratios = load_skeleton(self.skeleton).bone_ratios
                j = forward_kinematics(
                    torch.as_tensor(angles), torch.as_tensor(ratios), 1.0, torch.as_tensor(rot)
                ).numpy()
                w = j - j[0]
            out.append(LiftedHand(w, angles, ratios, rot, np.full(21, np.nan), w))
        return out

    def lift_many(self, items, generator=None, camera_known=False):
        """(image, hand, K) items of any photos, as the pipeline batches them -> one lifted hand each."""
        return [self.lift(image, [h], K, generator, camera_known)[0] for image, h, K in items]


def candidates(args) -> dict:
    from diffuhand.lift import FusionLifter, NetworkLifter, load_lifter

    shipped = load_lifter("hand")
    other = "all" if shipped.config.bones == "phalanges" else "phalanges"
    out = {
        "MediaPipe world landmarks": WorldLandmarks(ik=False),
        "MediaPipe world -> our IK": WorldLandmarks(ik=True),
        "MediaPipe world -> our IK, ge2019 skeleton": WorldLandmarks(ik=True, skeleton="ge2019"),
        "keypoint model (2D only; previous default)": load_lifter("keypoints"),
        "keypoint model, ge2019 skeleton": load_lifter("keypoints", skeleton="ge2019"),
        f"keypoint model guided to MediaPipe 3D (DPS {args.guide}), ge2019": load_lifter(
            "keypoints", skeleton="ge2019", guide_world=args.guide, backend="torch"
        ),
        f"fusion, {shipped.config.bones} (shipped)": shipped,
        f"fusion, {other} instead": FusionLifter(
            replace(
                shipped.config,
                bones=other,
                sigma_dir=shipped.config.notes.get("sigma_dir_by_bones", {}).get(other, shipped.config.sigma_dir),
            )
        ),
        "fusion, the previous calibration (first renders)": FusionLifter(
            replace(shipped.config, **PREVIOUS_CALIBRATION)
        ),
        "fusion, MANO skeleton": FusionLifter(replace(shipped.config, skeleton="mano")),
        "fusion, ray turn on": FusionLifter(replace(shipped.config, ray_turn="on")),
        f"fusion, {shipped.config.bones} (shipped)" + KNOWN_CAMERA: shipped,
        "fusion, ray turn off" + KNOWN_CAMERA: FusionLifter(replace(shipped.config, ray_turn="off")),
        "MediaPipe world landmarks, ray-turned" + KNOWN_CAMERA: WorldLandmarks(ik=False, ray_turn=True),
    }
    # other calibrations of the fusion (scripts/calibrate_fusion.py --out FOLDER), e.g. on changed renders
    for folder in args.fusion_configs:
        out[f"fusion, calibrated in {folder}"] = load_lifter(folder)
    # table 1 of the paper with MediaPipe's landmark network as the backbone: the baseline; the diffusion model's
    # sample mean as it is (Ours_D) and through our IK solver; the IK MLP (Ours_D*)
    from diffuhand.models.estimator import load_model

    for run in args.landmark_runs:
        model = load_model(Path(run) / "final")
        name = f"{model.cfg.kind} on the landmark net"
        kinds = {
            "baseline": [("", "solver")],
            "diffusion": [(" (mean, no IK)", "none"), (" + IK solver", "solver")],
            "diffusion_ik": [(" + IK MLP", "mlp"), (" + IK solver", "solver")],
        }[model.cfg.kind]
        for label, ik in kinds:
            out[name + label] = NetworkLifter(model, ik=ik, backend="torch")
        out[name + kinds[-1][0] + ", ge2019 skeleton"] = NetworkLifter(
            model, ik="solver", backend="torch", skeleton="ge2019"
        )
    if args.rows:
        out = {k: v for k, v in out.items() if any(r in k for r in args.rows.split(","))}
    return out


#: the shipped fusion lift's calibration before the renderer placed the mesh's joints by the labels' convention
#: (stop 24: ``scripts/calibrate_fusion.py --bones all`` on the renders of that time), kept as a row to compare
PREVIOUS_CALIBRATION = {"sigma_2d": 0.0674, "sigma_dir": 0.2218, "bones": "all"}

#: rows that give the lift each photo's true intrinsics (``predict`` with ``K``) instead of the assumed camera
KNOWN_CAMERA = " (photo's intrinsics given)"


def evaluate(estimators: dict, samples: list, progress: str) -> dict:
    """samples: (image, truth joints_3d (21, 3) mm, truth joints_2d (21, 2), dataset name, K) per hand; several
    hands of one image share the image object."""
    from tqdm import tqdm

    from diffuhand.eval.protocols import evaluate_samples

    rows = {}
    for name, est in estimators.items():
        pred, truth, seconds, lifted = [], [], 0.0, 0
        for image, j3, j2, ds_name, K in tqdm(samples, desc=f"{progress}: {name[:40]}", unit="hand", disable=None):
            t = time.perf_counter()
            hands = est.predict_image(image, K=K if name.endswith(KNOWN_CAMERA) else None)
            seconds += time.perf_counter() - t
            lifted += len(hands)
            box = float(np.ptp(j2, axis=0).max())
            near = [h for h in hands if np.linalg.norm(h.joints_2d.mean(0) - j2.mean(0)) < 0.5 * box]
            if not near:
                continue
            h = min(near, key=lambda h: np.linalg.norm(h.joints_2d.mean(0) - j2.mean(0)))
            pred.append(h.joints_3d + j3[0])
            truth.append(j3)
        from diffuhand.data.schema import HandSample

        gt = [
            HandSample(joints_3d=t, valid=np.ones(21, bool), handedness="left", dataset=samples[0][3], index=i)
            for i, t in enumerate(truth)
        ]
        res = evaluate_samples(np.stack(pred), gt, samples[0][3]) if pred else {}
        rows[name] = {
            "hands": len(samples),
            "found": len(pred),
            **{k: round(v.mean_mm, 2) for k, v in res.items()},
            "lift_ms_per_hand": round(1000 * seconds / max(lifted, 1), 1),
        }
    return rows


def detect_all(detector: CachedDetector, samples: list) -> float:
    """MediaPipe on every image once (cached for the estimators): its mean time per image (ms)."""
    images = {id(s[0]): s[0] for s in samples}
    t = time.perf_counter()
    for image in images.values():
        detector(image)
    return 1000 * (time.perf_counter() - t) / max(len(images), 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", type=Path, default=HERE.parents[1] / "shared" / "data" / "ge2019-realworld-dev")
    ap.add_argument("--synth", type=Path, default=HERE.parent / "data" / "synth-photo")
    ap.add_argument("--synth-images", type=int, default=500, help="test-split images of --synth (0: none)")
    ap.add_argument("--landmark-runs", nargs="*", default=[], type=Path)
    ap.add_argument("--guide", type=float, default=1.0, help="step size of the guided keypoint model")
    ap.add_argument("--fusion-configs", nargs="*", default=[], type=Path, help="folders of other fusion calibrations")
    ap.add_argument("--rows", default="", help="comma-separated parts of row names: only those rows (default: all)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "lift_models.json")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    from diffuhand.data import open_dataset
    from diffuhand.detect import MediaPipeHands
    from diffuhand.pipeline import Estimator

    results = {}
    with MediaPipeHands(max_hands=2) as mp:
        detector = CachedDetector(mp)
        estimators = {name: Estimator(lifter, detector=detector) for name, lifter in candidates(args).items()}
        ds = open_dataset("ge-realworld", args.real)
        real = [(s.image, s.joints_3d, s.joints_2d, ds.name, s.K) for s in (ds[i] for i in range(len(ds)))]
        detect_ms = {"real dev photos": detect_all(detector, real)}
        results["real dev photos"] = evaluate(estimators, real, "real")
        if args.synth_images and args.synth.exists():
            syn = open_dataset("synth", args.synth, "test")
            images: dict[int, np.ndarray] = {}
            synth = []
            for i in range(len(syn)):
                rec = syn.records[i]
                idx = rec["extra"]["image_index"]
                if idx not in images and len(images) >= args.synth_images:
                    break
                vis = rec["extra"]["visible"]
                j2 = rec["joints_2d"]
                if vis.mean() < MIN_VISIBLE or not ((j2 >= 0) & (j2 < 256)).all():
                    continue
                if idx not in images:
                    images[idx] = syn[i].image
                synth.append((images[idx], rec["joints_3d"], j2, "synth", rec["K"]))
            detect_ms["synthetic test renders"] = detect_all(detector, synth)
            results["synthetic test renders"] = evaluate(estimators, synth, "synth")
    names = list(next(iter(results.values())))
    head = "".join(f" | {d}: found, PA, wrist-LS, RHD" for d in results)
    print("MediaPipe Hands per image (ms): " + ", ".join(f"{k} {v:.1f}" for k, v in detect_ms.items()))
    print(f"{'lift':58}{head} | lift ms/hand")
    for n in names:
        cells = "".join(
            f" | {r[n]['found']}/{r[n]['hands']}, {r[n].get('pa_mpjpe', float('nan')):.2f}, "
            f"{r[n].get('wrist_scaled', float('nan')):.2f}, {r[n].get('spurr', float('nan')):.2f}"
            for r in results.values()
        )
        print(f"{n:58}{cells} | {results['real dev photos'][n]['lift_ms_per_hand']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "results": results,
                "mediapipe_ms_per_image": detect_ms,
                "guide": args.guide,
                "landmark_runs": [str(r) for r in args.landmark_runs],
            },
            indent=1,
        )
        + "\n"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
