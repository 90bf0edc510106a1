"""``diffuhand prior``: fit the renderer's pose prior to real 3D joints."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from diffuhand.commands.limits import fit_inputs
from diffuhand.kinematics.limits import load_limits
from diffuhand.kinematics.prior import fit_prior


def run_prior(args: argparse.Namespace) -> int:
    limits = load_limits(args.limits)
    fits, files = fit_inputs(args, limits)
    angles = np.concatenate([f.angles for f in fits])
    resid = np.concatenate([f.residual_mm for f in fits])
    keep = resid <= args.max_residual
    prior = fit_prior(angles[keep], limits, components=args.components, seed=args.seed)
    prior.provenance.update(
        {
            "sources": sorted({f.source.split("/")[-2] if f.source.count("/") else f.source for f in fits}),
            "files": len(files),
            "max_residual_mm": args.max_residual,
            "command": "diffuhand prior " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["prior"] else "diffuhand prior",
        }
    )
    prior.save(args.out)
    print(f"{int(keep.sum())} poses from {len(files)} files -> {args.components}-component prior {args.out}")
    return 0
