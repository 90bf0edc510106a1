"""The dev photos' own hands, rendered: does MediaPipe read a render like the photo it copies?

    python benchmarks/bench_render_twins.py [--variant photo] [--repeats 3] [--seed 7] [--set FIELD=JSON ...]
                                            [--poses photo|scene|dexycb] [--views photo|scene|dexycb]
                                            [--ratios photo|scene] [--true-crops]
                                            [--out benchmarks/results/render_twins.json]

``bench_render_realism.py`` compares MediaPipe on the renders' own mix of poses, views and hand sizes (grasps seen
from anywhere) with MediaPipe on the 100 real photos of ``ge2019-realworld-dev`` (one person's open gestures, palm
towards the camera). That ratio mixes how a rendered hand looks with which hands are rendered. Here each photo gets
render twins: the kinematic model fitted by IK to the photo's labelled 3D joints (a left hand, fitted as its mirror
image, the angles and bone ratios within the shipped limits), rendered with the photo's camera (its intrinsics, the
hand at its distance), so at its pose, view and pixel size, by the scene variant's renderer (skin, forearm, light,
background and camera effects drawn anew for each of ``--repeats`` twins). The measures are
``bench_render_realism``'s (:func:`~bench_render_realism.measure`): found, mirrored, 2D error per box and PA-MPJPE
against each image's own labels (the photo's, or the twin's, which lie within the fit's residual of the photo's).
What is left between the two rows is the look of a rendered hand: its mesh, skin, light and scene.

``--poses`` and ``--views`` swap in what the scenes draw instead of the photo's (``scene``: the pose prior's finger
angles, a view drawn by ``hand_rotation``), or a real DexYCB frame's (``dexycb``: a real grasp, and the hand's
orientation in that frame's real camera; ``--dexycb`` the sequences), to tell which of the scenes' hands MediaPipe
reads worse.

The twins are drawn without occluders (``p_occluder`` 0 unless ``--set``): the photos have none, and an occluder
changes which parts are seen rather than how they look. Validation only: nothing here is fitted to the photos'
images; their labels place the twins, as the realism benchmark's scenes are placed by the pose prior.
Prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from bench_render_realism import (  # this folder's: run as a script, it is on the path
    GOAL_PA_RATIO,
    PalmScores,
    measure,
    measure_true_crops,
    scene_config,
    scene_settings,
)


def twin_pose(joints_3d: np.ndarray, side: str, limits=None, ratios: np.ndarray | None = None) -> tuple[tuple, float]:
    """The kinematic model fitted to a hand's joints, as ``render_sample``'s ``poses`` take it.

    joints_3d: (21, 3) mm, camera frame, canonical order; side: "left" or "right"; limits: the box for the fit
    (the shipped limits by default); ratios: (20,) bone ratios to keep (the size, angles and root still fitted),
    or None to fit them too. A left hand is fitted as its mirror image, the right-hand model.

    Returns ((angles (41,) rad, ratios (20,), anchor mm, root_rotation (3, 3), root_position (3,) mm, side), the
    fit's mean joint residual in mm). The rotation and position are the hand's own (a left hand's the mirror image
    of the fitted right hand's), which ``render_sample`` mirrors back for the right-hand mesh."""
    from dataclasses import replace

    from diffuhand.kinematics import fit_ik
    from diffuhand.kinematics.limits import load_limits
    from diffuhand.synth.scene import side_mirror

    m = side_mirror(side)  # a ValueError for any other side
    if ratios is not None:
        r = np.asarray(ratios, dtype=np.float64)
        limits = replace(limits or load_limits(), ratio_min=r, ratio_max=r, ratio_neutral=r)
    fit = fit_ik(np.asarray(joints_3d, np.float64) @ m, limits=limits, as_numpy=True)
    rot, pos = m @ np.asarray(fit.root_rotation) @ m, m @ np.asarray(fit.root_position)
    pose = (np.asarray(fit.angles), np.asarray(fit.bone_ratios), float(fit.anchor_length), rot, pos, side)
    return pose, float(fit.residual)


def paired_ratio(
    photo_pa: list,
    twin_pa: list,
    twin_photo: list[int],
    draws: int = 2000,
    generator: np.random.Generator | None = None,
    paired: bool = False,
) -> dict:
    """The twins' mean PA over the photos' (each over its found hands) and its 95% interval, the photos resampled
    with their twins (the twins of one photo share its pose and view, so they are not independent hands).

    photo_pa: per photo, its PA (mm) or None where not found; twin_pa: per twin, likewise; twin_photo: per twin,
    its photo's index; paired: each photo weighed by its number of twins (a photo without twins not at all), so
    that both sides are over the same photos (twins MediaPipe missed still count for their photo); otherwise every
    photo once (the photos' own mean PA).
    Returns ``{"ratio", "low", "high", "draws"}``, ``draws`` the resamples with a ratio (NaN where no hand of a
    side was found)."""
    generator = generator or np.random.default_rng(0)
    n = len(photo_pa)
    p = np.array([np.nan if v is None else v for v in photo_pa], dtype=np.float64)
    t = np.array([np.nan if v is None else v for v in twin_pa], dtype=np.float64)
    of = np.asarray(twin_photo, dtype=np.int64)
    if t.shape != of.shape:
        raise ValueError(f"{len(twin_pa)} twins' PA against {len(twin_photo)} twins' photos")
    per_photo = np.bincount(of, minlength=n).astype(np.float64) if paired else np.ones(n)

    def ratio(weights: np.ndarray) -> float:
        wp, wt = weights * per_photo * np.isfinite(p), weights[of] * np.isfinite(t)
        if wp.sum() == 0 or wt.sum() == 0:
            return float("nan")
        return float((np.nansum(wt * t) / wt.sum()) / (np.nansum(wp * p) / wp.sum()))

    point = ratio(np.ones(n))
    boot = np.array(
        [ratio(np.bincount(generator.integers(0, n, n), minlength=n).astype(np.float64)) for _ in range(draws)]
    )
    boot = boot[np.isfinite(boot)]
    low, high = np.percentile(boot, [2.5, 97.5]) if boot.size else (float("nan"), float("nan"))
    return {"ratio": point, "low": float(low), "high": float(high), "draws": int(boot.size)}


#: where a twin's finger angles and its view come from: the photo's own, drawn as the scenes draw them, or a real
#: DexYCB frame's (its grasp, and the hand's orientation in that frame's real camera)
SOURCES = ("photo", "scene", "dexycb")
#: DexYCB frames drawn (at random, once) for the "dexycb" source, and the residual above which a fit is left out
REAL_FRAMES, REAL_MAX_RESIDUAL_MM = 600, 5.0


@dataclass
class RealFrames:
    """Real hands as the kinematic model fitted to them: angles (N, 41) rad and the right-hand model's root rotation
    (N, 3, 3) in the frame's camera (a left hand fitted as its mirror image, so its own rotation is the mirror's);
    provenance: where they came from and how many were kept (:func:`real_frames`), for the results' JSON."""

    angles: np.ndarray
    rotations: np.ndarray
    provenance: dict = field(default_factory=dict)

    def rotation_for(self, k: int, side: str) -> np.ndarray:
        """Frame ``k``'s orientation (3, 3) for a hand of ``side``: the fitted right hand's, or its mirror image."""
        from diffuhand.synth.scene import side_mirror

        m = side_mirror(side)
        return m @ self.rotations[k] @ m


def real_frames(root: Path, count: int = REAL_FRAMES, seed: int = 0, limits=None) -> RealFrames:
    """``count`` frames of the DexYCB sequences under ``root`` drawn at random (``seed``), fitted by IK within the
    limits (left hands as their mirror images); fits above :data:`REAL_MAX_RESIDUAL_MM` are left out."""
    from diffuhand.data import open_dataset
    from diffuhand.kinematics import fit_ik
    from diffuhand.kinematics.conventions import mirror

    ds = open_dataset("dexycb", root)
    pick = np.random.default_rng(seed).choice(len(ds), size=min(count, len(ds)), replace=False)
    samples = [ds[int(i)] for i in pick]
    joints = np.stack([mirror(s.joints_3d) if s.handedness == "left" else s.joints_3d for s in samples])
    fit = fit_ik(joints.astype(np.float64), limits=limits, as_numpy=True)
    residual = np.asarray(fit.residual)
    keep = residual <= REAL_MAX_RESIDUAL_MM
    provenance = {
        "root": Path(root).name,  # the folder's name: a full path is one machine's
        "seed": seed,
        "drawn": len(pick),
        "kept": int(keep.sum()),
        "max_residual_mm": REAL_MAX_RESIDUAL_MM,
        "residual_mm": {"mean": float(residual[keep].mean()), "max": float(residual[keep].max())}
        if keep.any()
        else None,
    }
    return RealFrames(np.asarray(fit.angles)[keep], np.asarray(fit.root_rotation)[keep], provenance)


def pose_joints(pose: tuple) -> np.ndarray:
    """The joints (21, 3) mm, camera frame, of ``pose`` (as :func:`twin_pose` gives it; a left hand the mirror
    image of the right-hand model posed at the mirrored root, as ``render_sample`` draws it)."""
    from diffuhand.synth.scene import hand_joints

    return hand_joints(*pose)


def turned_about(pose: tuple, rotation: np.ndarray, centre: np.ndarray | None = None) -> tuple:
    """``pose`` (as :func:`twin_pose` gives it) with the hand's orientation replaced by ``rotation`` (3, 3), the
    hand turned about ``centre`` (3,) mm (by default its own joints' centre, :func:`pose_joints`), so that it
    stays where it was in the image."""
    angles, ratios, anchor, rot, pos, side = pose
    if centre is None:
        centre = pose_joints(pose).mean(0)
    turn = rotation @ rot.T
    return angles, ratios, anchor, rotation, centre + turn @ (pos - centre), side


def render_twins(
    samples,
    cfg,
    renderer,
    mesh,
    repeats: int,
    seed: int,
    poses: str = "photo",
    views: str = "photo",
    ratios: str = "photo",
    frames: RealFrames | None = None,
):
    """``repeats`` renders of each sample's hand at its camera -> (items as :func:`~bench_render_realism.measure`
    takes them, each twin's photo index, each photo's fit residual mm, each twin's clear visibility).

    ``poses``: the finger angles fitted to the photo (``"photo"``) or drawn from the pose prior (``"scene"``), the
    photo's bone ratios and size kept; ``views``: the photo's orientation of the hand (``"photo"``) or one drawn as
    the scenes draw it (:func:`~diffuhand.synth.scene.hand_rotation`, ``"scene"``), turned about the centre of the
    hand's joints as posed (the prior's angles move it off the photo's); ``"dexycb"``: the angles and the view of
    one of ``frames`` (:func:`real_frames`) drawn per twin, its grasp as a real hand made it and seen as its real
    camera saw it;
    ``ratios``: the bone ratios fitted to the photo's labels (``"photo"``: their convention's proportions, which
    stretch the mesh's phalanges) or the scenes' neutral ones (``"scene"``, the size still fitted)."""
    from bench_render_realism import clearly_visible

    from diffuhand.kinematics.limits import load_limits
    from diffuhand.kinematics.prior import default_prior
    from diffuhand.synth.scene import hand_rotation, render_sample, sample_hand_pose

    if poses not in SOURCES or views not in SOURCES or ratios not in SOURCES[:2]:
        raise ValueError(
            f"poses and views must be one of {SOURCES}, ratios one of {SOURCES[:2]}, got {poses!r}, {views!r}, "
            f"{ratios!r}"
        )
    if "dexycb" in (poses, views) and frames is None:
        raise ValueError("poses or views 'dexycb' need the DexYCB frames (real_frames)")
    limits, prior = load_limits(), default_prior()
    kept = limits.ratio_neutral if ratios == "scene" else None
    items, photo_of, residuals, clear = [], [], [], []
    for i, s in enumerate(samples):
        fitted, residual = twin_pose(s.joints_3d, s.handedness, limits, kept)
        residuals.append(residual)
        for r in range(repeats):
            rng = np.random.default_rng([seed, i, r])
            pose = fitted
            if poses == "scene":
                angles = sample_hand_pose(rng, limits, prior, cfg)[0]
                pose = (angles, *pose[1:])
            turn = hand_rotation(rng, cfg) if views == "scene" else None
            if "dexycb" in (poses, views):  # one real frame per twin, for its grasp and/or its view
                k = int(rng.integers(len(frames.angles)))
                if poses == "dexycb":
                    angles = np.clip(frames.angles[k], limits.angle_min, limits.angle_max)
                    pose = (np.r_[pose[0][:3], angles[3:]], *pose[1:])  # the root's angles stay the fit's
                if views == "dexycb":
                    turn = frames.rotation_for(k, pose[5])
            if turn is not None:
                # about the hand's own centre, once its angles are set: with other angles than the photo's, that
                # is not the photo's hand's centre
                pose = turned_about(pose, turn)
            image, _, K, hands = render_sample(rng, renderer, cfg, mesh=mesh, poses=[pose], K=s.K)
            h = hands[0]
            items.append((image, h.joints_2d, h.joints_3d, K, h.handedness))
            photo_of.append(i)
            clear.append(clearly_visible(h.joints_2d, h.visible, image.shape[0]))
    return items, photo_of, residuals, clear


def main() -> None:
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", default="photo", help="scene variant (synth.scene)")
    ap.add_argument("--repeats", type=int, default=3, help="twins per photo, each with its own skin, light, scene")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--poses",
        default="photo",
        choices=SOURCES,
        help="the twins' finger angles: photo (fitted), scene (the prior's), dexycb (a real frame's grasp)",
    )
    ap.add_argument(
        "--views",
        default="photo",
        choices=SOURCES,
        help="the twins' views: photo (the photo's), scene (drawn), dexycb (a real frame's, in its camera)",
    )
    ap.add_argument(
        "--ratios",
        default="photo",
        choices=SOURCES[:2],
        help="the twins' bone ratios: photo (fitted to its labels), scene (neutral)",
    )
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=JSON", help="a scene config field set")
    ap.add_argument("--true-crops", action="store_true", help="also the landmark network alone on true-2D crops")
    ap.add_argument("--real", type=Path, default=here.parents[1] / "shared" / "data" / "ge2019-realworld-dev")
    ap.add_argument(
        "--dexycb",
        type=Path,
        default=here.parents[1] / "shared" / "data" / "dexycb-left-sequences",
        help="DexYCB sequences, for --poses/--views dexycb",
    )
    ap.add_argument("--out", type=Path, default=here / "results" / "render_twins.json")
    args = ap.parse_args()
    if not args.real.is_dir():
        ap.error(f"{args.real}: no such folder (the dev photos, ge2019-realworld-dev, are what the twins copy)")
    if args.repeats < 1:
        ap.error("--repeats must be at least 1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from diffuhand.data import open_dataset
    from diffuhand.detect import MediaPipeHands
    from diffuhand.synth.mesh import default_hand_mesh
    from diffuhand.synth.render import Renderer

    ds = open_dataset("ge-realworld", args.real)
    samples = [ds[i] for i in range(len(ds))]
    size = samples[0].image.shape[0]
    if any(s.image.shape[:2] != (size, size) for s in samples):
        ap.error(f"{args.real}: the twins are rendered at the photos' size, which must be one square size")
    settings = {"p_occluder": 0.0, **scene_settings(ap, args.set)}
    cfg = scene_config(args.variant, size, settings)
    frames = None
    if "dexycb" in (args.poses, args.views):
        if not args.dexycb.is_dir():
            ap.error(f"{args.dexycb}: no such folder (the DexYCB sequences, for --poses/--views dexycb)")
        frames = real_frames(args.dexycb)
        kept = frames.provenance
        print(f"{kept['kept']} DexYCB frames fitted (of {kept['drawn']} drawn; <= {REAL_MAX_RESIDUAL_MM} mm)")
    rendered, photo_of, residuals, clear = render_twins(
        samples,
        cfg,
        Renderer(size),
        default_hand_mesh(),
        args.repeats,
        args.seed,
        args.poses,
        args.views,
        args.ratios,
        frames,
    )
    # as the realism benchmark counts them: the clearly visible hands (a drawn view may hide the fingers)
    items = [it for it, c in zip(rendered, clear) if c]
    of_clear = [i for i, c in zip(photo_of, clear) if c]
    twins = f"twins ({args.variant}; poses {args.poses}, views {args.views}, ratios {args.ratios})"
    photos = [(s.image, s.joints_2d, s.joints_3d, None, s.handedness) for s in samples]
    palms = PalmScores()
    net = None
    if args.true_crops:
        from diffuhand.detect.landmarks import LandmarkNet

        net = LandmarkNet("full")
    rows = {}
    with MediaPipeHands(max_hands=2) as detector:
        for name, its in (("real dev photos", photos), (twins, items)):
            rows[name] = measure(detector, its, palms)
            found = rows[name].pop("found_flags")
            if net is not None:
                rows[name]["true_crops"] = measure_true_crops(net, its, found)
    real_pa = rows["real dev photos"]["pa_mpjpe_mm"]
    per_photo, per_twin = rows["real dev photos"]["pa_mm_per_hand"], rows[twins]["pa_mm_per_hand"]
    unpaired = paired_ratio(per_photo, per_twin, of_clear)
    # the same photos on both sides: where a drawn view hides a photo's twins, the photo is left out too
    paired = paired_ratio(per_photo, per_twin, of_clear, paired=True)
    print(
        f"{'data':48} {'hands':>6} {'hand px':>7} {'found':>7} {'palm':>6} {'2D err/box':>10} {'PA mm':>7} "
        f"{'PA/real':>8} {'PA same side':>12} {'mirrored':>9}"
    )
    for name, r in rows.items():
        r["pa_ratio_to_real"] = r["pa_mpjpe_mm"] / real_pa
        print(
            f"{name:48} {r['hands']:6d} {r['hand_box_px']['median']:7.0f} {100 * r['found_rate']:6.1f}% "
            f"{100 * r['palm_rate']:5.1f}% {r['error_2d_per_box']:10.3f} {r['pa_mpjpe_mm']:7.2f} "
            f"{r['pa_ratio_to_real']:8.2f} {r['pa_mpjpe_same_side_mm']:12.2f} {100 * r['mirrored_rate']:8.1f}%"
        )
    if net is not None:
        real_true = rows["real dev photos"]["true_crops"]["pa_mpjpe_mm"]
        print(f"\nthe landmark network alone, on crops from the true 2D\n{'data':48} {'PA mm':>7} {'PA/real':>8}")
        for name, r in rows.items():
            t = r["true_crops"]
            t["pa_ratio_to_real"] = t["pa_mpjpe_mm"] / real_true
            print(f"{name:48} {t['pa_mpjpe_mm']:7.2f} {t['pa_ratio_to_real']:8.2f}")
    for name, r in (("every photo", unpaired), ("each photo by its twins", paired)):
        print(
            f"PA twins / photos ({name}) {r['ratio']:.2f} (95% interval {r['low']:.2f}-{r['high']:.2f}, "
            f"the photos resampled with their twins; goal <= {GOAL_PA_RATIO})"
        )
    print(f"{len(items)} of {len(rendered)} twins clearly visible (>= 75% of joints visible, all in the image)")
    print(
        f"IK fit of the model to the photos' labels: mean residual {np.mean(residuals):.2f} mm "
        f"(max {np.max(residuals):.2f}) over {len(residuals)} photos"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "variant": args.variant,
        "settings": settings,
        "repeats": args.repeats,
        "poses": args.poses,
        "views": args.views,
        "ratios": args.ratios,
        "twins_rendered": len(rendered),
        "seed": args.seed,
        "size": size,
        "goal": {"pa_ratio_to_real": GOAL_PA_RATIO},
        "pa_ratio": unpaired,
        "pa_ratio_paired": paired,
        "fit_residual_mm": {"mean": float(np.mean(residuals)), "max": float(np.max(residuals))},
        "real_frames": None if frames is None else frames.provenance,
    }
    args.out.write_text(json.dumps({**meta, "rows": rows, "twin_photo": of_clear}, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
