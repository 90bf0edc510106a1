"""Which rendered hands does MediaPipe miss? Its found share broken down by what a scene varies.

    python benchmarks/bench_render_factors.py [--variant photo] [--count 600] [--seed 7] [--set FIELD=JSON ...]
                                              [--out benchmarks/results/render_factors.json]

``bench_render_realism.py`` says how many clearly visible hands MediaPipe finds in a scene variant; this says
where the misses are, to find the next lever: per clearly visible hand (>= 75% of joints visible, all in the
image) of ``--count`` renders, whether MediaPipe Hands finds it, whether its palm detector alone scores a palm
>= 0.5 near it, whether it gives it the other side (mirrored), and its 3D error on it (PA-MPJPE of its world
landmarks, mm; over all the found hands of a bin, and over those it gives the right side), binned by

- view: the cosine of the palm's normal with the line of sight (+1 palm towards the camera, -1 back);
- in-plane: the direction from the wrist to the middle finger's MCP in the image, degrees from "fingers up";
- openness: the fingertips' mean distance from the wrist over the anchor bone (curled < 1.4 < open);
- size: the hand's box (the longer side of its keypoints' extent) over the image side;
- hands: one or two hands in the image;
- visible: the share of its joints visible, and thumb_visible: of the thumb's four;
- skin hue: the hue of the hand's median pixel in the Cb-Cr plane of YCbCr (BT.601; degrees from +Cb towards +Cr:
  about 130 for the skin swatches, higher is yellower, lower redder) and its luma Y (0-255);
- hyperextension_deg: the pose's largest finger hyperextension, the most negative flexion of the four fingers' MCP,
  PIP and DIP joints (0 where every one is flexed).

Per joint, on the hands MediaPipe gives the right side (renders, and the photos where present): its error after PA
alignment, and the part of it every hand shares: the mean offset of its aligned landmarks from the labels in the
hand's own frame (x wrist to middle MCP, z dorsal), which is where two skeleton conventions place that joint
differently. ``pa_without_offsets_mm`` is the PA once each joint's mean offset is taken off, cross-fitted (the
offsets of each half of the hands taken off the other half), so that a convention's share of the error is told from
the spread that no mapping between conventions removes.

With the real dev photos of ``ge2019-realworld-dev`` present (``--real``), MediaPipe on them too, binned by view,
and the renders' figures weighted to the photos' mix of views (each view bin's share of the photos): what the renders
give on the views the photos show.

Prints a table, writes JSON (the bins, every hand's record, the photos' view mix, and the per-joint split under
``joints``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from bench_render_realism import (  # this folder's: run as a script, it is on the path
    PALM_THRESHOLD,
    PalmScores,
    clearly_visible,
    nearest_detection,
    palm_view,
    scene_config,
    scene_settings,
    view_cosine,
)

from diffuhand.kinematics.skeleton import ANGLE_NAMES, FINGERS, JOINT_NAMES

#: the thumb's joints beyond the wrist (CMC, MCP, IP, tip)
THUMB = (1, 2, 3, 4)
#: the flexion angles whose negative values are hyperextension: the four fingers' MCP, PIP and DIP
FINGER_FLEXIONS = tuple(f"{f}_{j}.flex" for f in FINGERS[1:] for j in ("mcp", "pip", "dip"))
_FINGER_FLEXION_INDEX = [ANGLE_NAMES.index(n) for n in FINGER_FLEXIONS]


if TYPE_CHECKING:
    from diffuhand.synth.scene import HandLabel

#: per factor: its bins' edges (the last bin is closed)
BINS = {
    "view": (-1.0, -0.9, -0.6, -0.3, 0.3, 0.6, 0.9, 1.0),
    "in_plane_deg": (-180.0, -135.0, -90.0, -45.0, 45.0, 90.0, 135.0, 180.0),
    "openness": (0.0, 1.2, 1.4, 1.6, 1.8, 3.0),
    "size": (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 1.5),
    "hands": (1, 2, 3),
    "visible": (0.75, 0.9, 0.99, 1.0),
    "thumb_visible": (0.0, 0.5, 0.99, 1.0),
    "skin_hue_deg": (-180.0, 90.0, 120.0, 130.0, 140.0, 150.0, 180.0),
    "skin_luma": (0.0, 60.0, 100.0, 140.0, 180.0, 255.0),
    "hyperextension_deg": (0.0, 5.0, 15.0, 30.0, 90.0),
}


def skin_hue_luma(pixels: np.ndarray) -> tuple[float, float]:
    """(N, 3) uint8 RGB pixels -> the hue (degrees, in the Cb-Cr plane of YCbCr, BT.601) and luma Y (0-255) of
    their per-channel median."""
    r, g, b = np.median(pixels.astype(np.float64), axis=0)
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = -0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 0.5 * r - 0.418688 * g - 0.081312 * b
    return float(np.degrees(np.arctan2(cr, cb))), float(y)


def hand_record(hand: HandLabel, hands: list[HandLabel], pixels: np.ndarray, size: int) -> dict:
    """The factors of one rendered hand (a :class:`~diffuhand.synth.scene.HandLabel`) among the image's
    ``hands``, its visible skin ``pixels`` (N, 3) uint8 and the image's side ``size``."""
    j, uv = hand.joints_3d, hand.joints_2d
    up = uv[9] - uv[0]
    hue, luma = skin_hue_luma(pixels) if len(pixels) else (float("nan"), float("nan"))
    return {
        "view": view_cosine(j, hand.handedness),
        "face": palm_view(j, hand.handedness),
        "in_plane_deg": float(np.degrees(np.arctan2(up[0], -up[1]))),
        "openness": float(np.linalg.norm(j[[4, 8, 12, 16, 20]] - j[0], axis=1).mean() / hand.anchor_mm),
        "size": float(np.ptp(uv, axis=0).max()) / size,
        "hands": len(hands),
        "visible": float(hand.visible.mean()),
        "thumb_visible": float(hand.visible[list(THUMB)].mean()),
        "skin_hue_deg": hue,
        "skin_luma": luma,
        "hyperextension_deg": hyperextension_deg(hand.angles),
    }


def hyperextension_deg(angles: np.ndarray) -> float:
    """The largest hyperextension (degrees, >= 0) among :data:`FINGER_FLEXIONS` of a pose's angles (41,) rad."""
    flex = np.asarray(angles)[_FINGER_FLEXION_INDEX]
    return float(np.degrees(max(0.0, -flex.min())))


def joint_offsets(pairs: list[tuple]) -> dict:
    """Per joint, over hands given as (MediaPipe's world landmarks (21, 3), the labels (21, 3) mm, side), or with
    (its 2D keypoints (21, 2) px, the labels' (21, 2) px) after those:

    - ``error_mm`` (21,): the error after PA alignment, mm;
    - ``mean_offset_mm`` (21, 3): the mean offset of the aligned landmarks in the hand's frame (:func:`~diffuhand.
      kinematics.ik.hand_frame` of the labels, a left hand mirrored to a right one first; mm, x distal, y radial,
      z dorsal): a convention's placement of the joint, plus any bias MediaPipe has on every hand;
    - ``pa_mm``: the PA; ``pa_without_offsets_mm``: the mean error with each joint's mean offset taken off, not
      aligned again (an upper bound), cross-fitted over two halves (alternate hands: each half corrected by the
      other's offsets, so that the offsets are not fitted to the errors they remove; with few hands the other
      half's noise inflates it);
    - with the 2D, ``error_2d_per_box`` (21,): the mean 2D distance over the hand's box (the longer side of the
      labels' 2D extent), as the benchmark's 2D error, per joint: where in the image itself MediaPipe reads the hand
      differently; split as the 3D is: ``offset_2d_per_box`` (21, 2) the mean offset in the hand's image frame
      (:func:`image_frame`: along the wrist-to-middle-MCP line, and across it towards the index finger), and
      ``error_2d_without_offsets_per_box`` (21,) the mean distance with the other half's mean offsets taken off;
      ``hands_2d`` the hands split so (those :func:`image_frame` gives a frame; the 2D error is over them too,
      so that its split adds up), given whenever the 2D is, the 2D keys only where it is two or more.

    Empty with fewer than two hands."""
    from diffuhand.eval.metrics import procrustes_align
    from diffuhand.kinematics.conventions import mirror
    from diffuhand.kinematics.ik import hand_frame

    if len(pairs) < 2:
        return {}
    pred = np.stack([mirror(p[0]) if p[2] == "left" else p[0] for p in pairs])
    gt = np.stack([mirror(p[1]) if p[2] == "left" else p[1] for p in pairs])
    aligned = procrustes_align(pred, gt)
    frames = hand_frame(gt)  # (N, 3, 3), columns the hand's axes in the camera frame
    local = np.einsum("nja,nab->njb", aligned - gt, frames)  # (N, 21, 3) offsets in the hand frame
    rest = cross_fitted(local)
    error = np.linalg.norm(local, axis=-1)
    offset = local.mean(0)
    out = {
        "hands": len(pairs),
        "pa_mm": float(error.mean()),
        "pa_without_offsets_mm": float(np.linalg.norm(rest, axis=-1).mean()),
        "error_mm": error.mean(0).tolist(),
        "mean_offset_mm": offset.tolist(),
    }
    if len({len(p) for p in pairs}) > 1:
        raise ValueError("joint_offsets: give every hand its 2D, or none")
    if len(pairs[0]) < 5:
        return out
    framed = [(p, f) for p in pairs if (f := image_frame_or_none(p[4])) is not None]
    out["hands_2d"] = len(framed)  # also where too few for the split: a reader sees why the 2D keys are missing
    if len(framed) >= 2:
        local_2d = np.stack(
            [(p[3] - p[4]) @ f / np.ptp(p[4], axis=0).max() for p, f in framed]
        )  # (N, 21, 2) offsets over the box, in each hand's image frame
        out["error_2d_per_box"] = np.linalg.norm(local_2d, axis=-1).mean(0).tolist()
        out["offset_2d_per_box"] = local_2d.mean(0).tolist()
        out["error_2d_without_offsets_per_box"] = np.linalg.norm(cross_fitted(local_2d), axis=-1).mean(0).tolist()
    return out


def image_frame_or_none(joints_2d: np.ndarray) -> np.ndarray | None:
    """:func:`image_frame` of the hand (21, 2) px, or None where it has none (the palm seen end-on)."""
    try:
        return image_frame(joints_2d)
    except ValueError:
        return None


def cross_fitted(local: np.ndarray) -> np.ndarray:
    """local (N, J, D) offsets per hand -> the same with each joint's mean offset over the other half of the hands
    (alternate hands) taken off, so that the offsets are not fitted to the errors they remove."""
    halves = np.arange(len(local)) % 2
    rest = np.empty_like(local)
    for h in (0, 1):
        rest[halves == h] = local[halves == h] - local[halves != h].mean(0)
    return rest


#: the shortest wrist-to-middle-MCP line (over the hand's box) that gives a hand an image frame: shorter, the palm is
#: seen end-on and the line's direction is noise (such hands are left out of the 2D split)
MIN_AXIS_PER_BOX = 0.02


def image_frame(joints_2d: np.ndarray) -> np.ndarray:
    """(2, 2) columns: the unit vector from the wrist to the middle finger's MCP in the image (joints_2d (21, 2) px),
    and the one across it on the index finger's side (its MCP's side of the pinky's MCP: the two lie either side of
    that line on a palm or a back, so the side is clear far more often than from the index MCP alone); the same
    axes on a palm and on a back, either hand. ValueError where the line is shorter than
    :data:`MIN_AXIS_PER_BOX` of the hand's box (the palm seen end-on: no direction to speak of)."""
    along = joints_2d[9] - joints_2d[0]
    length = np.linalg.norm(along)
    if not length >= MIN_AXIS_PER_BOX * np.ptp(joints_2d, axis=0).max():
        raise ValueError("image_frame: the wrist and the middle finger's MCP coincide in the image")
    along = along / length
    across = np.array([-along[1], along[0]])
    if (joints_2d[5] - joints_2d[17]) @ across < 0:
        across = -across
    return np.stack([along, across], axis=1)


def detection_record(detection, joints_3d: np.ndarray, side: str) -> dict:
    """What MediaPipe made of one hand: its detection (a :class:`~diffuhand.detect.HandDetection`, or None where it
    found none) against the hand's joints_3d (21, 3) mm and ``side``: found, mirrored (given the other side), and
    pa_mm, the detection's PA-MPJPE (None where not found)."""
    from diffuhand.eval.metrics import procrustes_align

    pa = None
    if detection is not None:
        aligned = procrustes_align(detection.world_mm[None], joints_3d[None])[0]
        pa = float(np.linalg.norm(aligned - joints_3d, axis=1).mean())
    mirrored = detection is not None and detection.handedness != side
    return {"found": detection is not None, "mirrored": mirrored, "pa_mm": pa}


def in_bin(records: list[dict], factor: str, edges: tuple, b: int) -> list[dict]:
    """The records whose ``factor`` lies in bin ``b`` of ``edges`` (the last bin closed)."""
    lo, hi, last = edges[b], edges[b + 1], b == len(edges) - 2
    return [r for r in records if lo <= r[factor] < hi or (last and r[factor] == hi)]


def summary(records: list[dict]) -> dict:
    """Over some hands' records: the share found, the share of those mirrored, and their mean PA-MPJPE (mm), also
    over those given the right side; NaN where there is nothing to average."""

    def mean(values: list) -> float:
        return float(np.mean(values)) if values else float("nan")

    found = [r for r in records if r["found"]]
    return {
        "found_rate": mean([r["found"] for r in records]),
        "mirrored_rate": mean([r["mirrored"] for r in found]),
        "pa_mm": mean([r["pa_mm"] for r in found]),
        "pa_same_side_mm": mean([r["pa_mm"] for r in found if not r["mirrored"]]),
    }


def at_views(records: list[dict], shares: np.ndarray) -> dict:
    """The renders' found share and PA (all found hands; those given the right side) weighted to a mix of views:
    ``shares`` per bin of ``BINS["view"]`` (summing to 1). A bin the mix has and the renders lack counts as nothing
    found, and one where nothing was found (or nothing on the right side) makes the PA NaN."""
    out = {"found_rate": 0.0, "pa_mm": 0.0, "pa_same_side_mm": 0.0}
    for b, share in enumerate(shares):
        if share == 0:
            continue
        sel = in_bin(records, "view", BINS["view"], b)
        binned = summary(sel)
        out["found_rate"] += share * (binned["found_rate"] if sel else 0.0)
        out["pa_mm"] += share * binned["pa_mm"]
        out["pa_same_side_mm"] += share * binned["pa_same_side_mm"]
    return out


def print_joints(joints: dict) -> None:
    """The per-joint table of :func:`joint_offsets` for the renders and (where present) the photos."""
    sets = {k: v for k, v in joints.items() if v}
    print(
        "per joint, hands given the right side: error after PA (mm), its mean offset (x distal, y radial, z dorsal) "
        "and the 2D error over the box, also without each joint's mean 2D offset (cross-fitted)"
    )
    print(
        f"{'joint':12}"
        + "".join(f" {k + ' error':>15} {k + ' offset':>24} {k + ' 2D':>12} {'w/o offset':>10}" for k in sets)
    )
    for j, name in enumerate(JOINT_NAMES):
        cells = "".join(
            f" {v['error_mm'][j]:15.1f} {'{:+.1f} {:+.1f} {:+.1f}'.format(*v['mean_offset_mm'][j]):>24}"
            f" {v.get('error_2d_per_box', [float('nan')] * len(JOINT_NAMES))[j]:12.3f}"
            f" {v.get('error_2d_without_offsets_per_box', [float('nan')] * len(JOINT_NAMES))[j]:10.3f}"
            for v in sets.values()
        )
        print(f"{name:12}{cells}")
    for k, v in sets.items():
        print(
            f"{k}: {v['hands']} hands, PA {v['pa_mm']:.2f}, without each joint's mean offset (cross-fitted) "
            f"{v['pa_without_offsets_mm']:.2f}"
        )


def main() -> None:
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", default="photo", help="scene variant (synth.scene)")
    ap.add_argument("--count", type=int, default=600, help="images")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=JSON", help="a scene config field set")
    ap.add_argument("--real", type=Path, default=here.parents[1] / "shared" / "data" / "ge2019-realworld-dev")
    ap.add_argument("--out", type=Path, default=here / "results" / "render_factors.json")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from diffuhand.detect import MediaPipeHands
    from diffuhand.synth.mesh import default_hand_mesh
    from diffuhand.synth.render import Renderer
    from diffuhand.synth.scene import render_sample

    settings = scene_settings(ap, args.set)
    cfg = scene_config(args.variant, args.size, settings)
    renderer, mesh, palms = Renderer(args.size), default_hand_mesh(), PalmScores()
    records, real = [], []
    pairs, real_pairs = [], []  # (MediaPipe's world landmarks, labels, side) of the hands given the right side
    with MediaPipeHands(max_hands=2) as detector:
        if args.real.is_dir():
            from diffuhand.data import open_dataset

            ds = open_dataset("ge-realworld", args.real)
            for s in (ds[i] for i in range(len(ds))):
                d = nearest_detection(detector(s.image), s.joints_2d)
                seen = detection_record(d, s.joints_3d, s.handedness)
                real.append({**seen, "view": view_cosine(s.joints_3d, s.handedness)})
                if seen["found"] and not seen["mirrored"]:
                    real_pairs.append((d.world_mm, s.joints_3d, s.handedness, d.keypoints_2d, s.joints_2d))
        for i in range(args.count):
            image, mask, _, hands = render_sample(np.random.default_rng([args.seed, i]), renderer, cfg, mesh=mesh)
            found = scores = None
            for k, hand in enumerate(hands):
                if not clearly_visible(hand.joints_2d, hand.visible, args.size):
                    continue
                if found is None:  # one MediaPipe pass and one palm detector pass per image
                    found, scores = detector(image), palms(image)
                d = nearest_detection(found, hand.joints_2d)
                seen = detection_record(d, hand.joints_3d, hand.handedness)
                if seen["found"] and not seen["mirrored"]:
                    pairs.append((d.world_mm, hand.joints_3d, hand.handedness, d.keypoints_2d, hand.joints_2d))
                records.append(
                    {
                        "image": i,
                        "hand": k,
                        **seen,
                        "palm": PalmScores.best_near(*scores, hand.joints_2d) >= PALM_THRESHOLD,
                        **hand_record(hand, hands, image[mask == k + 1], args.size),
                    }
                )
    table = {}
    print(f"{args.variant}{' ' + str(settings) if settings else ''}: {len(records)} clearly visible hands")
    print(
        f"{'factor':14} {'bin':>18} {'hands':>6} {'found':>7} {'palm':>7} {'mirrored':>9} {'PA mm':>6} "
        f"{'PA same side':>12}"
    )
    for factor, edges in BINS.items():
        rows = []
        for b, (lo, hi) in enumerate(itertools.pairwise(edges)):
            last = b == len(edges) - 2
            sel = in_bin(records, factor, edges, b)
            if not sel:
                continue
            row = {
                "bin": [lo, hi],
                "hands": len(sel),
                "palm_rate": float(np.mean([r["palm"] for r in sel])),
                **summary(sel),
            }
            rows.append(row)
            print(
                f"{factor:14} {f'[{lo:g}, {hi:g}' + (']' if last else ')'):>18} {row['hands']:6d} "
                f"{100 * row['found_rate']:6.1f}% {100 * row['palm_rate']:6.1f}% {100 * row['mirrored_rate']:8.1f}% "
                f"{row['pa_mm']:6.2f} {row['pa_same_side_mm']:12.2f}"
            )
        table[factor] = rows
        if sum(r["hands"] for r in rows) != len(records):
            print(f"{factor:14} {len(records) - sum(r['hands'] for r in rows)} hands outside the bins (or no value)")
    overall = summary(records)
    found_rate, pa = overall["found_rate"], overall["pa_mm"]
    print(f"{'all':14} {'':>18} {len(records):6d} {100 * found_rate:6.1f}% {'':>7} {'':>9} {pa:6.2f}")
    photos = {}
    if real:
        counts = np.histogram([r["view"] for r in real], bins=BINS["view"])[0]
        shares = counts / counts.sum()
        photos = {
            "hands": len(real),
            "view_counts": counts.tolist(),
            "found_rate": summary(real)["found_rate"],
            "pa_mm": summary(real)["pa_mm"],
            "renders_at_these_views": at_views(records, shares),
        }
        w = photos["renders_at_these_views"]
        print(
            f"real dev photos: {len(real)} hands, per view bin {counts.tolist()}, found {100 * photos['found_rate']:.1f}%, "
            f"PA {photos['pa_mm']:.2f}; the renders at these views: found {100 * w['found_rate']:.1f}%, "
            f"PA {w['pa_mm']:.2f} ({w['pa_mm'] / photos['pa_mm']:.2f}x), on the right side "
            f"{w['pa_same_side_mm']:.2f} ({w['pa_same_side_mm'] / photos['pa_mm']:.2f}x)"
        )
    joints = {"renders": joint_offsets(pairs), "photos": joint_offsets(real_pairs)}
    print_joints(joints)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"variant": args.variant, "settings": settings, "count": args.count, "size": args.size, "seed": args.seed}
    args.out.write_text(
        json.dumps(
            {
                **meta,
                "hands": len(records),
                "found_rate": found_rate,
                "pa_mm": pa,
                "factors": table,
                "real_photos": photos,
                "joints": joints,
                "records": records,
            }
        )
        + "\n"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
