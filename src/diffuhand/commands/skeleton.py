"""``diffuhand skeleton``: learn a skeleton convention (mean bone ratios) from a data set's real 3D joints."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from diffuhand.commands.limits import fit_inputs
from diffuhand.kinematics.limits import load_limits
from diffuhand.kinematics.skeletons import save_skeleton, skeleton_from_fits


def run_skeleton(args: argparse.Namespace) -> int:
    limits = load_limits(args.limits)
    fits, files = fit_inputs(args, limits)
    ratios = np.concatenate([f.ratios for f in fits])
    anchor = np.concatenate([f.anchor_mm for f in fits])
    resid = np.concatenate([f.residual_mm for f in fits])
    keep = resid <= args.max_residual
    command = "diffuhand skeleton " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["skeleton"] else "diffuhand skeleton"
    prov = {
        "files": len(files),
        "max_residual_mm": args.max_residual,
        "mean_residual_mm": round(float(resid[keep].mean()), 4),
        "sources": sorted({str(f) for f in args.data}),
        "command": command,
    }
    sk = skeleton_from_fits(args.name, ratios[keep], anchor[keep], prov)
    save_skeleton(sk, args.out)
    print(
        f"skeleton {args.name!r}: {int(keep.sum())} poses from {len(files)} files, anchor {sk.anchor_mm:.1f} mm -> {args.out}"
    )
    return 0
