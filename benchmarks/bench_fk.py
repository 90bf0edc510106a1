"""FK forward + backward: the level-parallel layer against a joint-by-joint traversal, in the same run.

    python benchmarks/bench_fk.py [--repeats 5] [--out benchmarks/results/fk.json]

Both compute equation (7) with the same Euler conversion; the reference walks the 20 bones one after another
(as a plain recursive FK would), the library does the 4 tree levels, each level's joints at once.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import roma
import torch

from diffuhand.kinematics import forward_kinematics, load_limits
from diffuhand.kinematics.fk import euler_zyx_to_rotmat, local_rotations
from diffuhand.kinematics.skeleton import NUM_JOINTS, PARENTS


def sequential_fk(angles: torch.Tensor, ratios: torch.Tensor, anchor: float) -> torch.Tensor:
    """Joint by joint, batched over poses only."""
    local = local_rotations(angles)
    rots = [local[..., 0, :, :]]
    pos = [angles.new_zeros(*angles.shape[:-1], 3)]
    for j in range(1, NUM_JOINTS):
        r = rots[PARENTS[j]] @ local[..., j, :, :]
        rots.append(r)
        pos.append(pos[PARENTS[j]] + r[..., :, 0] * (ratios[..., j - 1 : j] * anchor))
    return torch.stack(pos, dim=-2)


def time_fwd_bwd(fn, angles, ratios, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        a = angles.clone().requires_grad_(True)
        r = ratios.clone().requires_grad_(True)
        t = time.perf_counter()
        fn(a, r, 85.0).square().sum().backward()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "fk.json")
    args = ap.parse_args()
    lim = load_limits()
    rows = []
    for dtype in (torch.float32, torch.float64):
        for batch in (1, 1024, 65536):
            gen = torch.Generator().manual_seed(0)
            lo, hi = lim.angle_bounds(dtype)
            angles = lo + (hi - lo) * torch.rand(batch, 41, generator=gen, dtype=dtype)
            ratios = torch.as_tensor(lim.ratio_neutral, dtype=dtype).expand(batch, 20).clone()
            assert torch.allclose(
                forward_kinematics(angles, ratios, 85.0), sequential_fk(angles, ratios, 85.0), atol=1e-3
            )
            repeats = args.repeats if batch < 65536 else max(2, args.repeats // 2)
            level = time_fwd_bwd(forward_kinematics, angles, ratios, repeats)
            seq = time_fwd_bwd(sequential_fk, angles, ratios, repeats)
            rows.append(
                {
                    "dtype": str(dtype).split(".")[1],
                    "batch": batch,
                    "level_parallel_ms": level * 1e3,
                    "sequential_ms": seq * 1e3,
                    "speedup": seq / level,
                    "poses_per_s_level_parallel": batch / level,
                }
            )
    euler_rows = []
    for batch in (1024, 65536):
        e = torch.randn(batch, 21, 3)
        ours = time_fwd_bwd(lambda a, r, _: euler_zyx_to_rotmat(a), e, e, args.repeats)
        theirs = time_fwd_bwd(lambda a, r, _: roma.euler_to_rotmat("ZYX", a), e, e, args.repeats)
        euler_rows.append(
            {
                "batch": batch,
                "joints": 21,
                "closed_form_ms": ours * 1e3,
                "roma_ms": theirs * 1e3,
                "roma_over_closed_form": theirs / ours,
            }
        )
    print("Euler ZYX -> matrix, float32, forward + backward, (batch, 21, 3) angles")
    for r in euler_rows:
        print(
            f"  batch {r['batch']:6d}: closed form {r['closed_form_ms']:8.3f} ms, roma {r['roma_ms']:8.3f} ms, "
            f"ratio {r['roma_over_closed_form']:.2f}"
        )
    print(f"{'dtype':8} {'batch':>7} {'level-par ms':>13} {'sequential ms':>14} {'ratio':>6} {'poses/s':>11}")
    for r in rows:
        print(
            f"{r['dtype']:8} {r['batch']:7d} {r['level_parallel_ms']:13.3f} {r['sequential_ms']:14.3f} "
            f"{r['speedup']:6.2f} {r['poses_per_s_level_parallel']:11.0f}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "what": "forward + backward, best of repeats",
    }
    args.out.write_text(json.dumps({"meta": meta, "rows": rows, "euler": euler_rows}, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
