"""``diffuhand limits``: derive limits from real 3D joints."""

from __future__ import annotations

import argparse
import sys

import numpy as np
from tqdm import tqdm

from diffuhand.commands.fitting import fit_file, limits_from_fits
from diffuhand.data.joints import find_joint_files, read_joints
from diffuhand.errors import DiffuhandError
from diffuhand.kinematics.limits import anatomical_limits, load_limits


def _per_input(values: list[str] | None, n: int, flag: str, default: str | None) -> list[str | None]:
    if not values:
        return [default] * n
    if len(values) == 1:
        return values * n
    if len(values) != n:
        raise DiffuhandError(f"{flag} given {len(values)} times for {n} inputs: give it once, or once per input")
    return values


def fit_inputs(args: argparse.Namespace, bounds) -> tuple[list, list]:
    """IK fits of every file in ``args.data`` (per-input ``--unit``/``--order``), cached beside ``args.out``."""
    units = _per_input(args.unit, len(args.data), "--unit", None)
    orders = _per_input(args.order, len(args.data), "--order", "canonical")
    jobs = [(f, u, o) for d, u, o in zip(args.data, units, orders) for f in find_joint_files([d])]
    cache = args.cache or args.out.with_name(args.out.name + ".cache")
    fits = []
    for path, unit, order in tqdm(jobs, desc="fitting", unit="file", disable=None):
        js = read_joints(path, unit=unit, order=order, key=args.key)
        fits.append(fit_file(js, bounds, hand=args.hand, cache_dir=cache))
    return fits, [j[0] for j in jobs]


def run_limits(args: argparse.Namespace) -> int:
    bounds = load_limits(args.limits) if args.limits else anatomical_limits()
    lo, hi = args.percentiles
    if not 0 <= lo < hi <= 100:
        raise DiffuhandError(f"--percentiles must satisfy 0 <= LOW < HIGH <= 100, got {lo} {hi}")
    fits, files = fit_inputs(args, bounds)
    limits = limits_from_fits(
        fits,
        max_residual_mm=args.max_residual,
        percentiles=(lo, hi),
        margin=args.margin,
        bounds=bounds,
        note={
            "command": "diffuhand limits " + " ".join(sys.argv[2:])
            if sys.argv[1:2] == ["limits"]
            else "diffuhand limits"
        },
    )
    limits.save(args.out)
    resid = np.concatenate([f.residual_mm for f in fits])
    print(
        f"{len(resid)} poses from {len(files)} files; first-pass residual mean {resid.mean():.3f} mm, "
        f"p95 {np.percentile(resid, 95):.3f} mm; wrote {args.out}"
    )
    return 0
