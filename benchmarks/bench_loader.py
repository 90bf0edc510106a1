"""Data loader throughput: hand crops per second on this machine's cores, with the JPEG decode timed apart.

    python benchmarks/bench_loader.py [--shared ../shared/data] [--size 128] [--out benchmarks/results/loader.json]

Reads the real 256 x 256 JPEG photos of ge-realworld (100, cycled). Stages, each measured alone, in one run:
decode (Pillow), crop (square box, new K, bilinear resize), crop + augmentation (one and two views), and the
whole path through a torch DataLoader with 0 and 2 workers.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from diffuhand.data import open_dataset
from diffuhand.data.augment import Augmenter
from diffuhand.data.crops import crop_sample, to_right_hand
from diffuhand.data.schema import load_rgb


class CropSet(Dataset):
    def __init__(self, ds, n, size, views):
        self.ds, self.n, self.size, self.views = ds, n, size, views
        self.aug = Augmenter(size=size, seed=0)

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        s = to_right_hand(self.ds[i % len(self.ds)])
        crop, views = self.aug(s, views=self.views)
        return torch.stack(views), torch.from_numpy(crop.joints_3d).float()


def rate(fn, n: int) -> float:
    t = time.perf_counter()
    fn()
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "loader.json")
    args = ap.parse_args()
    torch.set_num_threads(1)  # the augmentations are per-sample; parallelism comes from the loader workers
    labels = open_dataset("ge-realworld", args.shared / "ge2019-realworld-dev", load_images=False)
    full = open_dataset("ge-realworld", args.shared / "ge2019-realworld-dev")
    n = args.n
    paths = [r["image_path"] for r in labels.records]
    decoded = [full[i] for i in range(len(full))]
    aug = Augmenter(size=args.size, seed=0)
    rows = {
        "decode JPEG (Pillow)": rate(lambda: [load_rgb(paths[i % len(paths)]) for i in range(n)], n),
        "crop + resize + K (decoded)": rate(lambda: [crop_sample(decoded[i % 100], args.size) for i in range(n)], n),
        "crop + augment, 1 view": rate(lambda: [aug(decoded[i % 100], views=1) for i in range(n)], n),
        "crop + augment, 2 views": rate(lambda: [aug(decoded[i % 100], views=2) for i in range(n)], n),
    }
    for workers in (0, 2):
        loader = DataLoader(CropSet(full, n, args.size, 2), batch_size=32, num_workers=workers)
        rows[f"DataLoader, decode + crop + 2 views, {workers} workers"] = rate(lambda loader=loader: list(loader), n)
    print(f"{'stage':52} {'crops/s':>9} {'ms/crop':>8}")
    for k, v in rows.items():
        print(f"{k:52} {v:9.1f} {1000 / v:8.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "cores": os.cpu_count(),
        "size": args.size,
        "n": n,
        "torch": torch.__version__,
        "images": "ge-realworld 256x256 JPEG",
    }
    args.out.write_text(json.dumps({"meta": meta, "crops_per_s": rows}, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
