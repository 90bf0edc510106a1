"""Do our renders look like photos to a network that knows hands? What MediaPipe Hands makes of them.

    python benchmarks/bench_render_realism.py [--count 300] [--size 256] [--variants legacy,photo]
                                              [--meshes convention,tips,rig] [--set FIELD=JSON ...] [--true-crops]
                                              [--out benchmarks/results/render_realism.json]

The renderer's quality measure (issue 13): MediaPipe Hands 0.10.21 (static images, full model, at most two hands)
on renders of each scene variant, all variants from the same seeds (the same poses, cameras and hands), beside
the real dev photos of ``ge2019-realworld-dev``. Per variant:

- found: the share of *clearly visible* hands (>= 75% of joints visible in the depth buffer, all inside the image)
  that MediaPipe finds (a detection whose keypoints' centre lies within half a hand box of the hand's);
- hand px: the median side of the clearly visible hands' boxes (the longer side of their true 2D keypoints'
  extent), and zoom: the median scale of MediaPipe's landmark crop of them (its 224 px input over the side of the
  crop made from the true 2D): above 1 the network sees the hand enlarged from fewer pixels than it reads;
- 2D error: mean keypoint distance over the hand's box side (the longer side of its true 2D keypoints' extent);
- PA: PA-MPJPE (mm) of MediaPipe's world landmarks against the labels, and its ratio to PA on the real photos;
- matched: with several ``--meshes``, the found share on the hands every placement counts as clearly visible
  (which joints are visible depends on where they sit in the skin, so each placement keeps its own set);
- mirrored: the share of found hands MediaPipe gives the other side (it took the hand for its mirror image: the
  palm of a left hand outlines like the back of a right one), and the found share by the face the camera sees;
- palm: mirrored: the share of the found palms (palm towards the camera) that MediaPipe mirrors;
- palm: MediaPipe's first stage alone, its palm detector (``palm_detection_full.tflite`` on the whole image): the
  share of hands with a palm scored >= 0.5 (its threshold) near theirs, and the mean score. Where a hand is found
  less often than its palm, the landmark stage (or two hands merged) rejected it.
- with ``--true-crops``, MediaPipe's second stage alone, its landmark network on every clearly visible hand's crop
  made from the hand's true 2D keypoints (:func:`~diffuhand.detect.landmarks.hand_rect`, as MediaPipe crops a hand
  it tracks): PA and the mirrored share without the palm detector's box, so that what the crop costs is told from
  how the network reads the hand.

Goal: found >= 90% and PA <= 1.3x the real photos' PA. Prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from diffuhand.kinematics.skeleton import PALM

#: a hand counts as clearly visible with at least this share of its joints visible
MIN_VISIBLE = 0.75
#: the goals of issue 13
GOAL_FOUND, GOAL_PA_RATIO = 0.90, 1.3
#: MediaPipe Hands' palm threshold (its min_detection_confidence, left at its default)
PALM_THRESHOLD = 0.5


def view_cosine(joints_3d: np.ndarray, side: str) -> float:
    """The cosine of the palm's normal with the line of sight to the palm: +1 palm towards the camera, -1 back.

    joints_3d: (21, 3) camera frame (the camera at the origin). The palm's normal from the index and little finger
    MCPs about the wrist points palmar for a right hand (hand frame: x distal, y radial, z dorsal; docs/hand-model.md)
    and dorsal for a left one (its mirror image)."""
    n = np.cross(joints_3d[5] - joints_3d[0], joints_3d[17] - joints_3d[0])
    n = n / np.linalg.norm(n) * (-1.0 if side == "left" else 1.0)
    centre = joints_3d[list(PALM)].mean(0)
    return float(n @ (-centre / np.linalg.norm(centre)))


def palm_view(joints_3d: np.ndarray, side: str) -> str:
    """Which face of the hand the camera sees: "palm", "back" or "side" (within ~17.5 degrees of edge-on:
    :func:`view_cosine` under :data:`VIEW_COS`). joints_3d: (21, 3) camera frame."""
    cos = view_cosine(joints_3d, side)
    return "palm" if cos > VIEW_COS else "back" if cos < -VIEW_COS else "side"


#: |cos| of the angle between the palm's normal and the line of sight above which a view counts as palm or back
VIEW_COS = 0.3


class PalmScores:
    """MediaPipe's palm detector (the first stage of MediaPipe Hands, 0.10.21's ``palm_detection_full.tflite``) run
    alone: per hand, the best score of a palm box centred near it. Input 192x192 RGB in [0, 1] (the whole square
    image resized); 2016 SSD anchors, 24x24x2 at stride 8 then 12x12x6 at stride 16, box centres offset by the
    first two regressors in input pixels."""

    INPUT = 192
    REGRESSORS = 18

    def __init__(self):
        import mediapipe
        from ai_edge_litert.interpreter import Interpreter

        path = Path(mediapipe.__file__).parent / "modules" / "palm_detection" / "palm_detection_full.tflite"
        self._it = Interpreter(model_path=str(path), num_threads=1)
        self._it.allocate_tensors()
        self._input = self._it.get_input_details()[0]["index"]
        # two outputs: per anchor 18 regressors (box centre and size, 7 keypoints) and 1 score logit
        outs = {int(d["shape"][-1]): d["index"] for d in self._it.get_output_details()}
        self._boxes, self._scores = outs[self.REGRESSORS], outs[1]
        centres = []
        for stride, per_cell in ((8, 2), (16, 6)):
            cells = self.INPUT // stride
            ys, xs = np.mgrid[0:cells, 0:cells]
            c = np.stack([(xs + 0.5) / cells, (ys + 0.5) / cells], -1).reshape(-1, 1, 2)
            centres.append(np.repeat(c, per_cell, axis=1).reshape(-1, 2))
        self._anchors = np.concatenate(centres)

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(H, W, 3) uint8 square image -> per anchor: score (2016,) in [0, 1], box centre (2016, 2) image pixels."""
        from PIL import Image

        if image.shape[0] != image.shape[1]:
            raise ValueError(f"a square image, as the renders are (MediaPipe letterboxes others), got {image.shape}")

        x = np.asarray(Image.fromarray(image).resize((self.INPUT, self.INPUT), Image.BILINEAR), np.float32) / 255.0
        self._it.set_tensor(self._input, x[None])
        self._it.invoke()
        boxes = self._it.get_tensor(self._boxes)[0]
        logits = np.clip(self._it.get_tensor(self._scores)[0, :, 0], -80.0, 80.0)
        centres = (self._anchors + boxes[:, :2] / self.INPUT) * np.array(image.shape[1::-1])
        return 1.0 / (1.0 + np.exp(-logits)), centres

    @staticmethod
    def best_near(scores: np.ndarray, centres: np.ndarray, joints_2d: np.ndarray) -> float:
        """Of one image's palms (``scores``, ``centres`` from a call), the best score whose box centre lies within
        half a hand box of the palm (wrist and the four MCPs); with two hands close together it may be the other
        hand's palm."""
        palm = joints_2d[list(PALM)].mean(0)
        near = np.linalg.norm(centres - palm, axis=1) < 0.5 * float(np.ptp(joints_2d, axis=0).max())
        return float(scores[near].max()) if near.any() else 0.0


def nearest_detection(detections: list, joints_2d: np.ndarray):
    """The detection whose keypoints' centre lies nearest the hand's (joints_2d (21, 2) px), if within half the
    hand's box (the longer side of its keypoints' extent); None otherwise."""
    box = float(np.ptp(joints_2d, axis=0).max())
    gap = {id(d): float(np.linalg.norm(d.keypoints_2d.mean(0) - joints_2d.mean(0))) for d in detections}
    near = [d for d in detections if gap[id(d)] < 0.5 * box]
    return min(near, key=lambda d: gap[id(d)]) if near else None


def measure(detector, items, palms: PalmScores | None = None) -> dict:
    """items: (image, joints_2d (21, 2), joints_3d (21, 3) mm camera frame, K, side) per clearly visible hand -> the
    measures, also per view (palm or back towards the camera) with the share MediaPipe takes for the mirror image
    (the other side: its 3D is then the mirrored hand's); with ``palms``, its palm detector's alone too. Also
    ``hand_box_px`` (p10, median, p90 of the hands' box sides, px) and ``crop_zoom_median`` (MediaPipe's 224 px input
    over the side of its landmark crop of the hand; > 1: enlarged), and ``pa_mm_per_hand``: each item's PA-MPJPE (mm; None
    where not found), whose mean over the found hands is ``pa_mpjpe_mm``."""
    from diffuhand.detect.landmarks import INPUT_SIZE, hand_rect
    from diffuhand.eval.metrics import procrustes_align

    found, err2d, pred3d, gt3d, same_side = 0, [], [], [], []
    boxes = [float(np.ptp(uv, axis=0).max()) for _, uv, *_ in items]  # px: the resolution MediaPipe sees them at
    zooms = [INPUT_SIZE / hand_rect(uv).side for _, uv, *_ in items]  # > 1: the landmark crop enlarges the hand
    views: dict[str, dict[str, int]] = {}
    cache: dict[int, list] = {}
    flags = []  # per item: found or not (to compare renderers on the same hands)
    palm_cache: dict[int, tuple] = {}  # one palm detector pass per image, as one MediaPipe pass
    palm = []
    for image, uv, xyz, _, side in items:
        key = id(image)
        if key not in cache:
            cache[key] = detector(image)
        if palms is not None:
            if key not in palm_cache:
                palm_cache[key] = palms(image)
            palm.append(palms.best_near(*palm_cache[key], uv))
        view = views.setdefault(palm_view(xyz, side), {"hands": 0, "found": 0, "mirrored": 0})
        view["hands"] += 1
        box = float(np.ptp(uv, axis=0).max())
        d = nearest_detection(cache[key], uv)
        flags.append(d is not None)
        if d is None:
            continue
        found += 1
        view["found"] += 1
        view["mirrored"] += int(d.handedness != side)
        err2d.append(float(np.linalg.norm(d.keypoints_2d - uv, axis=-1).mean()) / box)
        pred3d.append(d.world_mm)
        gt3d.append(xyz)
        same_side.append(d.handedness == side)
    n = len(items)
    # each found hand's PA (mm), aligned once: their mean is the PA, over the right side's the PA on that side
    per = np.zeros(0)
    if pred3d:
        gt = np.stack(gt3d)
        per = np.linalg.norm(procrustes_align(np.stack(pred3d), gt) - gt, axis=-1).mean(-1)
    pa = float(per.mean()) if per.size else float("nan")
    # PA of the hands MediaPipe gives the right side: a mirrored detection's 3D is the other hand's, whatever the render
    kept = np.flatnonzero(same_side)
    pa_same = float(per[kept].mean()) if kept.size else float("nan")
    found_pa = iter(per.tolist())
    per_hand = [next(found_pa) if f else None for f in flags]  # per item: its PA (mm), None where not found
    mirrored = sum(v["mirrored"] for v in views.values())
    return {
        "hands": n,
        "found": found,
        "found_rate": found / max(n, 1),
        "mirrored_rate": mirrored / max(found, 1),
        "views": views,
        "error_2d_per_box": float(np.mean(err2d)) if err2d else float("nan"),
        "crop_zoom_median": float(np.median(zooms)) if zooms else float("nan"),
        "hand_box_px": {
            k: float(np.percentile(boxes, q)) if boxes else float("nan")
            for k, q in (("p10", 10), ("median", 50), ("p90", 90))
        },
        "pa_mpjpe_mm": pa,
        "pa_mpjpe_same_side_mm": pa_same,
        "found_flags": flags,
        "pa_mm_per_hand": per_hand,
        "palm_rate": float(np.mean(np.asarray(palm) >= PALM_THRESHOLD)) if palm else float("nan"),
        "palm_score_mean": float(np.mean(palm)) if palm else float("nan"),
    }


def measure_true_crops(net, items, found: list[bool] | None = None) -> dict:
    """items as :func:`measure`'s -> the landmark network ``net`` (:class:`~diffuhand.detect.landmarks.LandmarkNet`)
    on each hand's crop made from its true 2D keypoints: ``pa_mpjpe_mm`` of its world landmarks against the labels
    over all hands, ``pa_mpjpe_same_side_mm`` over those it gives the right side (its handedness score on the side
    of 0.5 that the hand's side is), ``mirrored_rate`` the others' share (of all hands, where MediaPipe's is of the
    hands it found), and ``presence_rate`` the share it scores present (> 0.5). With ``found`` (per item, whether
    MediaPipe found it: :func:`measure`'s ``found_flags``), ``pa_found_mm`` over the hands MediaPipe found, paired
    with its own PA."""
    from diffuhand.detect.landmarks import hand_rect
    from diffuhand.eval.metrics import pa_mpjpe

    pred, gt, same, present = [], [], [], []
    for image, uv, xyz, _, side in items:
        out = net(image, [hand_rect(uv)])
        pred.append(out.world[0] * 1000.0)
        gt.append(xyz)
        same.append(bool(out.right_score[0] > 0.5) == (side == "right"))
        present.append(bool(out.presence[0] > 0.5))
    nan = float("nan")
    keys = ("pa_mpjpe_mm", "pa_mpjpe_same_side_mm", "mirrored_rate", "presence_rate")
    out = dict.fromkeys(keys + (("pa_found_mm",) if found is not None else ()), nan)
    if not items:
        return out

    def pa_over(kept: np.ndarray) -> float:
        return pa_mpjpe(pred[kept], gt[kept]).mean_mm if kept.any() else nan

    pred, gt, same = np.stack(pred), np.stack(gt), np.asarray(same)
    out.update(
        pa_mpjpe_mm=pa_over(np.ones(len(items), bool)),
        pa_mpjpe_same_side_mm=pa_over(same),
        mirrored_rate=float(1.0 - same.mean()),
        presence_rate=float(np.mean(present)),
    )
    if found is not None:
        out["pa_found_mm"] = pa_over(np.asarray(found, dtype=bool))
    return out


def clearly_visible(joints_2d: np.ndarray, visible: np.ndarray, size: int) -> bool:
    """Whether a rendered hand counts in the measure: all its joints (joints_2d (21, 2) px) inside the size x size
    image and at least :data:`MIN_VISIBLE` of them visible (visible (21,) bool, from the depth buffer)."""
    inside = ((joints_2d >= 0) & (joints_2d < size)).all()
    return bool(inside and visible.mean() >= MIN_VISIBLE)


def scene_config(variant: str, size: int, settings: dict | None = None):
    """The :class:`~diffuhand.synth.scene.SceneConfig` of scene ``variant`` at ``size`` px, with the fields in
    ``settings`` (from ``--set``, :func:`scene_settings`) set over the variant's."""
    from dataclasses import replace

    from diffuhand.synth.scene import SceneConfig, scene_variant

    return replace(scene_variant(variant, SceneConfig(size=size)), **(settings or {}))


def render_items(
    variant: str, count: int, size: int, seed: int, placement: str = "convention", settings: dict | None = None
):
    """Renders ``count`` images of scene ``variant`` (same seeds for every variant) with the hand mesh's joints
    placed by ``placement`` (:data:`diffuhand.synth.mesh.JOINT_PLACEMENTS`) and the scene config's fields in
    ``settings`` set over the variant's -> clearly visible hands, each (image, joints_2d, joints_3d mm camera
    frame, K, side), each one's (image, hand) index, and the number of images."""
    from diffuhand.synth.mesh import default_hand_mesh
    from diffuhand.synth.render import Renderer
    from diffuhand.synth.scene import render_sample

    cfg = scene_config(variant, size, settings)
    renderer = Renderer(size)
    mesh = default_hand_mesh(placement)
    items, keys, images = [], [], 0
    for i in range(count):
        image, _, K, hands = render_sample(np.random.default_rng([seed, i]), renderer, cfg, mesh=mesh)
        images += 1
        for k, h in enumerate(hands):
            if clearly_visible(h.joints_2d, h.visible, size):
                items.append((image, h.joints_2d, h.joints_3d, K, h.handedness))
                keys.append((i, k))
    return items, keys, images


def scene_settings(ap: argparse.ArgumentParser, items: list[str]) -> dict:
    """``--set FIELD=JSON`` options -> scene config fields to set (:class:`~diffuhand.synth.scene.SceneConfig`);
    a field it lacks or a value that is not JSON ends the run with a one-line error."""
    from dataclasses import fields

    from diffuhand.synth.scene import SceneConfig

    settings = {}
    for item in items:
        field, _, value = item.partition("=")
        if field not in {f.name for f in fields(SceneConfig)}:
            ap.error(f"--set {item}: {field!r} is not a field of synth.scene.SceneConfig")
        try:
            settings[field] = json.loads(value)
        except json.JSONDecodeError:
            ap.error(f"--set {item}: the value must be JSON (a number, true, false, a quoted string)")
    return settings


def main() -> None:
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=300, help="images per variant")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--variants", default="legacy,photo", help="comma-separated scene variants (synth.scene)")
    ap.add_argument(
        "--meshes",
        default="convention",
        help="comma-separated placements of the model's joints on the hand mesh (synth.mesh.JOINT_PLACEMENTS); "
        "each variant is rendered with each, the default one named by the variant alone",
    )
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=JSON",
        help="a scene config field set over every variant's (synth.scene.SceneConfig), e.g. p_forearm=0.9",
    )
    ap.add_argument(
        "--true-crops",
        action="store_true",
        help="also run MediaPipe's landmark network alone on crops made from each hand's true 2D keypoints",
    )
    ap.add_argument("--real", type=Path, default=here.parents[1] / "shared" / "data" / "ge2019-realworld-dev")
    ap.add_argument("--out", type=Path, default=here / "results" / "render_realism.json")
    args = ap.parse_args()
    settings = scene_settings(ap, args.set)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from diffuhand.data import open_dataset
    from diffuhand.detect import MediaPipeHands

    rows = {}
    palms = PalmScores()
    net = None
    if args.true_crops:
        from diffuhand.detect.landmarks import LandmarkNet

        net = LandmarkNet("full")
    with MediaPipeHands(max_hands=2) as detector:
        if args.real.is_dir():
            ds = open_dataset("ge-realworld", args.real)
            items = [(s.image, s.joints_2d, s.joints_3d, None, s.handedness) for s in (ds[i] for i in range(len(ds)))]
            rows["real dev photos"] = measure(detector, items, palms)
            found = rows["real dev photos"].pop("found_flags")
            if net is not None:
                rows["real dev photos"]["true_crops"] = measure_true_crops(net, items, found)
        for v in args.variants.split(","):
            found_by: dict[str, dict] = {}
            for placement in args.meshes.split(","):
                t = time.perf_counter()
                items, keys, images = render_items(v, args.count, args.size, args.seed, placement, settings)
                t_render = time.perf_counter() - t
                name = v if placement == "convention" else f"{v}, {placement} joints"
                rows[name] = {
                    **measure(detector, items, palms),
                    "images": images,
                    "render_s_per_image": t_render / images,
                    "mesh_joints": placement,
                }
                if net is not None:
                    rows[name]["true_crops"] = measure_true_crops(net, items, rows[name]["found_flags"])
                found_by[name] = dict(zip(keys, rows[name].pop("found_flags")))
            # which hands count as clearly visible depends on where the joints sit: compare on the hands all keep
            common = set.intersection(*(set(f) for f in found_by.values()))
            for name, found in found_by.items():
                rows[name]["matched_hands"] = len(common)
                rows[name]["matched_found_rate"] = sum(found[k] for k in common) / max(len(common), 1)
    real_pa = rows.get("real dev photos", {}).get("pa_mpjpe_mm", float("nan"))
    print(
        f"{'data':26} {'hands':>6} {'hand px':>7} {'zoom':>5} {'found':>7} {'palm':>6} {'2D err/box':>10} {'PA mm':>7} {'PA/real':>8} {'PA same side':>12} {'mirrored':>9} {'matched':>14} "
        f"{'palm: found':>12} {'back: found':>12} {'palm: mirrored':>14}"
    )

    def found_of(r: dict, view: str) -> str:
        v = r["views"].get(view)
        return f"{100 * v['found'] / v['hands']:5.1f}% of {v['hands']:3d}" if v else "-"

    def mirrored_of(r: dict, view: str) -> str:
        v = r["views"].get(view)
        return f"{100 * v['mirrored'] / v['found']:5.1f}% of {v['found']:3d}" if v and v["found"] else "-"

    for name, r in rows.items():
        r["pa_ratio_to_real"] = r["pa_mpjpe_mm"] / real_pa
        r["meets_goal"] = bool(r["found_rate"] >= GOAL_FOUND and r["pa_ratio_to_real"] <= GOAL_PA_RATIO)
        print(
            f"{name:26} {r['hands']:6d} {r['hand_box_px']['median']:7.0f} {r['crop_zoom_median']:5.2f} {100 * r['found_rate']:6.1f}% {100 * r['palm_rate']:5.1f}% "
            f"{r['error_2d_per_box']:10.3f} "
            f"{r['pa_mpjpe_mm']:7.2f} {r['pa_ratio_to_real']:8.2f} {r['pa_mpjpe_same_side_mm']:12.2f} "
            f"{100 * r['mirrored_rate']:8.1f}% "
            + (
                f"{100 * r['matched_found_rate']:6.1f}% of {r['matched_hands']:3d} "
                if "matched_hands" in r
                else " " * 15
            )
            + f"{found_of(r, 'palm'):>12} {found_of(r, 'back'):>12} {mirrored_of(r, 'palm'):>14}"
        )
    if net is not None:
        print(
            f"\nthe landmark network alone, on crops from the true 2D (mirrored: of all hands)\n{'data':26} "
            f"{'PA mm':>7} {'PA/real':>8} {'PA same side':>12} {'mirrored':>9} {'present':>8} {'PA on found':>11}"
            "   (MediaPipe: PA, same side, mirrored of found)"
        )
        real_true = rows.get("real dev photos", {}).get("true_crops", {}).get("pa_mpjpe_mm", float("nan"))
        for name, r in rows.items():
            t = r["true_crops"]
            t["pa_ratio_to_real"] = t["pa_mpjpe_mm"] / real_true
            print(
                f"{name:26} {t['pa_mpjpe_mm']:7.2f} {t['pa_ratio_to_real']:8.2f} {t['pa_mpjpe_same_side_mm']:12.2f} "
                f"{100 * t['mirrored_rate']:8.1f}% {100 * t['presence_rate']:7.1f}% {t['pa_found_mm']:11.2f}   "
                f"({r['pa_mpjpe_mm']:.2f}, {r['pa_mpjpe_same_side_mm']:.2f}, {100 * r['mirrored_rate']:.1f}%)"
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "count": args.count,
        "size": args.size,
        "seed": args.seed,
        "settings": settings,
        "min_visible": MIN_VISIBLE,
        "goal": {"found_rate": GOAL_FOUND, "pa_ratio_to_real": GOAL_PA_RATIO},
    }
    args.out.write_text(json.dumps({**meta, "rows": rows}, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
