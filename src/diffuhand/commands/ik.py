"""``diffuhand ik``: fit the hand model to 3D joints from files (or the bundled named poses)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from diffuhand.commands.fitting import decide_side
from diffuhand.data.joints import JointSet, read_joints
from diffuhand.errors import DiffuhandError
from diffuhand.io.files import atomic_path, atomic_write_text
from diffuhand.kinematics.conventions import mirror
from diffuhand.kinematics.fk import forward_kinematics
from diffuhand.kinematics.ik import IKResult, fit_ik
from diffuhand.kinematics.limits import Limits, load_limits
from diffuhand.kinematics.poses import named_poses
from diffuhand.kinematics.skeleton import ANGLE_NAMES, BONE_NAMES, JOINT_NAMES


def bundled_poses(limits: Limits) -> tuple[list[str], np.ndarray]:
    """The named poses as a camera would see them: back of the hand to the camera, 40 cm away, in mm."""
    names, angles, ratios = named_poses(limits)
    # hand x (distal) -> camera -y (up in the image), hand y (radial) -> camera -x, hand z (dorsal) -> camera -z
    rot = torch.tensor([[0.0, -1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, -1.0]], dtype=torch.float64)
    pos = torch.tensor([0.0, 60.0, 400.0], dtype=torch.float64)
    joints = forward_kinematics(angles, ratios, limits.anchor_mm, rot, pos)
    return names, joints.numpy()


def result_record(res: IKResult, side: str, source: str, names: list[str] | None = None) -> dict:
    """The JSON written for one input: per pose its angles (rad), ratios, scale, root, residuals (mm)."""
    poses = []
    for i in range(res.angles.shape[0]):
        rec = {
            "residual_mm": round(float(res.residual[i]), 4),
            "per_joint_mm": [None if np.isnan(v) else round(float(v), 4) for v in res.per_joint[i].tolist()],
            "angles": [round(float(v), 6) for v in res.angles[i]],
            "bone_ratios": [round(float(v), 6) for v in res.bone_ratios[i]],
            "anchor_length_mm": round(float(res.anchor_length[i]), 4),
            "root_rotation": [[round(float(v), 7) for v in row] for row in res.root_rotation[i]],
            "root_position_mm": [round(float(v), 4) for v in res.root_position[i]],
        }
        if names is not None:
            rec = {"name": names[i], **rec}
        poses.append(rec)
    return {
        "source": source,
        "hand": side,
        "note": "angles, ratios and root describe the right-hand model; for a left hand they fit its mirror (x negated)",
        "unit": "mm",
        "angle_unit": "rad",
        "angle_names": list(ANGLE_NAMES),
        "bone_names": list(BONE_NAMES),
        "joint_names": list(JOINT_NAMES),
        "residual_mm": {"mean": round(float(res.residual.mean()), 4), "max": round(float(res.residual.max()), 4)},
        "poses": poses,
    }


def _write_outputs(
    out: Path,
    stem: str,
    given: np.ndarray,
    res: IKResult,
    side: str,
    source: str,
    names: list[str] | None,
    plot_max: int,
) -> list[Path]:
    fitted = res.joints.numpy()
    if side == "left":
        fitted = mirror(fitted)
    paths = [out / f"{stem}.json", out / f"{stem}.npz"]
    atomic_write_text(paths[0], json.dumps(result_record(res, side, source, names)) + "\n")
    with atomic_path(paths[1]) as tmp, open(tmp, "wb") as fh:
        np.savez(
            fh,
            angles=res.angles.numpy(),
            bone_ratios=res.bone_ratios.numpy(),
            anchor_length_mm=res.anchor_length.numpy(),
            root_rotation=res.root_rotation.numpy(),
            root_position_mm=res.root_position.numpy(),
            joints_mm=fitted,
            input_joints_mm=given,
            residual_mm=res.residual.numpy(),
            per_joint_mm=res.per_joint.numpy(),
        )
    if plot_max > 0:
        from diffuhand.viz.skeleton3d import plot_fits

        k = min(plot_max, len(fitted))
        pick = np.linspace(0, len(fitted) - 1, k).round().astype(int)
        titles = [f"{names[i] if names else f'pose {i}'}: {float(res.residual[i]):.2f} mm" for i in pick]
        paths.append(out / f"{stem}.png")
        plot_fits(paths[-1], fitted[pick], given[pick], titles)
    return paths


def run_ik(args: argparse.Namespace) -> int:
    limits = load_limits(args.limits)
    if args.plot_max < 0:
        raise DiffuhandError("--plot-max must be >= 0")
    jobs: list[tuple[str, object]] = [(str(p), p) for p in args.files] or [("named-poses", None)]
    stems = [Path(s).stem for s, _ in jobs]
    failed = 0
    for (label, path), stem in zip(jobs, stems):
        if stems.count(stem) > 1:
            stem = f"{stem}-{Path(label).suffix.lstrip('.')}"
        try:
            if path is None:
                names, given = bundled_poses(limits)
                js = JointSet(given, Path("named-poses"), side="right")
            else:
                names = None
                js = read_joints(path, unit=args.unit, order=args.order or "canonical", key=args.key)
            side = decide_side(js, limits, args.hand)
            res = fit_ik(js.as_right(side), limits=limits, progress=len(js.joints_mm) > 4096)
            written = _write_outputs(args.out, stem, js.joints_mm, res, side, label, names, args.plot_max)
        except DiffuhandError as exc:
            print(f"diffuhand: error: {exc}", file=sys.stderr)
            failed += 1
            continue
        print(
            f"{label}: {len(js.joints_mm)} poses ({side} hand), residual mean {float(res.residual.mean()):.3f} mm, "
            f"max {float(res.residual.max()):.3f} mm -> {', '.join(str(p) for p in written)}"
        )
    return 1 if failed else 0
