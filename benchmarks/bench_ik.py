"""IK solver: poses per second and residual, on poses made by the FK and on real hands.

python benchmarks/bench_ik.py [--shared ../shared/data] [--out benchmarks/results/ik.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import roma
import torch

from diffuhand.kinematics import forward_kinematics, load_limits
from diffuhand.kinematics.conventions import mirror, to_canonical
from diffuhand.kinematics.ik import fit_ik


def fk_set(n: int) -> np.ndarray:
    lim = load_limits()
    gen = torch.Generator().manual_seed(0)
    lo, hi = lim.angle_bounds(torch.float64)
    rlo, rhi = lim.ratio_bounds(torch.float64)
    angles = lo + (hi - lo) * torch.rand(n, 41, generator=gen, dtype=torch.float64)
    ratios = rlo + (rhi - rlo) * torch.rand(n, 20, generator=gen, dtype=torch.float64)
    return forward_kinematics(angles, ratios, 85.0, roma.random_rotmat(n, dtype=torch.float64)).numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "ik.json")
    args = ap.parse_args()
    sets = {"fk-random-in-limits": fk_set(2048)}
    dex = args.shared / "dexycb-left-sequences" / "sequences"
    if dex.exists():
        sets["dexycb-all-frames"] = np.concatenate(
            [
                mirror(to_canonical(np.load(f)["joints_m"].astype(np.float64), "mano")) * 1000
                for f in sorted(dex.glob("*.npz"))
            ]
        )
    rw = args.shared / "ge2019-realworld-dev" / "pose_gt.mat"
    if rw.exists():
        import scipy.io

        sets["ge2019-realworld-dev"] = mirror(scipy.io.loadmat(rw)["pose_gt"].astype(np.float64) * 10)
    rows = []
    for name, joints in sets.items():
        fit_ik(joints[:64])  # warm-up
        # the default solver, and the same without its second start (retry=inf), in the same run
        for variant, kw in (("default", {}), ("no restart", {"retry": float("inf")})):
            t = time.perf_counter()
            res = fit_ik(joints, **kw)
            dt = time.perf_counter() - t
            r = res.residual.numpy()
            rows.append(
                {
                    "set": name,
                    "solver": variant,
                    "poses": len(joints),
                    "seconds": dt,
                    "poses_per_s": len(joints) / dt,
                    "iterations": res.iterations,
                    "residual_mm_mean": float(r.mean()),
                    "residual_mm_p95": float(np.percentile(r, 95)),
                    "residual_mm_max": float(r.max()),
                    "frac_under_0.1mm": float((r < 0.1).mean()),
                }
            )
    print(
        f"{'set':22} {'solver':10} {'poses':>6} {'poses/s':>8} {'iters':>5} {'mean mm':>8} {'p95 mm':>7} {'max mm':>7} {'<0.1mm':>7}"
    )
    for r in rows:
        print(
            f"{r['set']:22} {r['solver']:10} {r['poses']:6d} {r['poses_per_s']:8.0f} {r['iterations']:5d} "
            f"{r['residual_mm_mean']:8.3f} {r['residual_mm_p95']:7.3f} {r['residual_mm_max']:7.3f} "
            f"{r['frac_under_0.1mm']:7.3f}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"meta": {"torch": torch.__version__, "threads": torch.get_num_threads()}, "rows": rows}, indent=1)
        + "\n"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
