"""Training and evaluating the temporal model (section 2.7) on sequences.

Its inputs are what a single-frame model really outputs on each frame, not the ground truth plus assumed noise:
:func:`per_frame_predictions` runs a trained single-frame model (``train.source``) over every frame of every
sequence. A keypoint-conditioned source sees each sequence through one random camera (2D projected with
detector-like noise), ``train.passes`` times with different cameras; an image source sees the rendered frames.
The predictions are cached in ``OUT/inputs-<split>.npz`` (the long part), so a rerun resumes after them.

Units: everything is right hand, wrist-relative, in anchor lengths, camera frame; the measures multiply by each
frame's true anchor length to report millimetres.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from diffuhand.data.schema import HandDataset
from diffuhand.io.files import atomic_path
from diffuhand.io.weights import save_checkpoint
from diffuhand.models.temporal import TemporalConfig, TemporalTransformer, load_temporal, random_frame_mask  # noqa: F401 (load_temporal: re-exported)
from diffuhand.train.config import TrainConfig


def _right_rel(j: np.ndarray, handedness: str) -> tuple[np.ndarray, float]:
    j = j * np.array([-1.0, 1.0, 1.0]) if handedness == "left" else j
    anchor = float(np.linalg.norm(j[5] - j[0]))
    return (j - j[0]) / anchor, anchor


@torch.no_grad()
def per_frame_predictions(source, dataset: HandDataset, passes: int = 1, seed: int = 0,
                          progress: bool = True) -> dict[str, np.ndarray]:  # fmt: skip
    """Run the single-frame ``source`` model over every sequence of ``dataset``.

    Returns flat arrays over all frames of all passes: ``pred`` (N, 21, 3) diffusion joints (pre-IK; the
    model's output for a baseline), ``final`` (N, 21, 3) the model's final output, ``truth`` (N, 21, 3),
    ``anchor_mm`` (N,), ``sequence`` (N,) int (one id per sequence and pass), ``frame`` (N,) int."""
    from diffuhand.models import rng
    from diffuhand.models.keypoints import random_projection

    gen = torch.Generator().manual_seed(seed)
    seqs = list(dataset.sequences().values())
    keys = ("pred", "final", "truth", "anchor_mm", "sequence", "frame")
    out: dict[str, list] = {k: [] for k in keys}
    todo = [(p, i) for p in range(passes) for i in range(len(seqs))]
    for sid, (p, i) in enumerate(tqdm(todo, desc="per-frame predictions", unit="seq", disable=not progress or None)):
        idx = seqs[i]
        if source.backbone is None:  # keypoint-conditioned: one camera per sequence and pass
            rel, anchors = zip(*(_right_rel(dataset.records[k]["joints_3d"], dataset.records[k]["handedness"]) for k in idx))
            rel_t = torch.tensor(np.stack(rel), dtype=torch.float32)
            n = len(idx)
            rot = _random_rotation(gen).expand(n, 3, 3)
            dist = (3 + 7 * rng.rand(1, gen)).expand(n)
            uv, truth = random_projection(rel_t, gen, noise_px=2.0, rotation=rot, distance=dist)
            res = source.predict(keypoints=uv, generator=gen)
            truth, anchor = truth.numpy(), np.array(anchors)
        else:
            from diffuhand.eval.run_model import predict_dataset

            sub = dataset.subset(idx)
            res_mm = predict_dataset(source, sub, seed=seed + sid, progress=False)
            rel_anchor = [_right_rel(r["joints_3d"], r["handedness"]) for r in sub.records]
            truth = np.stack([r[0] for r in rel_anchor])
            anchor = np.array([r[1] for r in rel_anchor])
            sign = np.array([[-1.0, 1.0, 1.0] if r["handedness"] == "left" else [1.0, 1.0, 1.0] for r in sub.records])

            def back(mm: np.ndarray, sign=sign, anchor=anchor) -> torch.Tensor:  # placed mm -> right hand, anchor lengths
                return torch.from_numpy((mm - mm[:, :1]) * sign[:, None] / anchor[:, None, None])

            res = {"diffusion_joints": back(res_mm.get("diffusion", res_mm["final"])), "joints": back(res_mm["final"])}
        pred = res.get("diffusion_joints", res["joints"])
        out["pred"].append(np.asarray(pred, dtype=np.float32))
        out["final"].append(np.asarray(res["joints"], dtype=np.float32))
        out["truth"].append(np.asarray(truth, dtype=np.float32))
        out["anchor_mm"].append(anchor.astype(np.float32))
        out["sequence"].append(np.full(len(idx), sid))
        out["frame"].append(np.arange(len(idx)))
    return {k: np.concatenate(v) for k, v in out.items()}


def _random_rotation(gen: torch.Generator | None, device=None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(1, 3, 3) uniform random rotation on ``device``."""
    from diffuhand.models.rng import random_rotation

    return random_rotation(1, gen, device, dtype)


def cached_predictions(path: Path, make) -> dict[str, np.ndarray]:
    """``make()`` once; later calls read ``path`` (written atomically, so an interrupted run recomputes)."""
    if path.exists():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    data = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **data)
    return data


def windows(data: dict[str, np.ndarray], size: int) -> np.ndarray:
    """(M, size) row indices of every window of consecutive frames inside one sequence."""
    seq = data["sequence"]
    starts = []
    for s in np.unique(seq):
        rows = np.flatnonzero(seq == s)
        starts.extend(rows[: max(0, len(rows) - size + 1)])  # a sequence shorter than a window gives none
    starts = np.asarray(starts, dtype=np.int64)
    return starts[:, None] + np.arange(size)[None]


def temporal_losses(model: TemporalTransformer, pred: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor,
                    weights: dict) -> dict:  # fmt: skip
    """L1 on every frame's joints (hidden frames too: that teaches bridging) and on frame-to-frame velocity."""
    out = model(pred, mask)
    j = out["joints"]
    losses = {"joints": (j - truth).abs().mean()}
    if weights.get("velocity"):
        losses["velocity"] = ((j[:, 1:] - j[:, :-1]) - (truth[:, 1:] - truth[:, :-1])).abs().mean()
    losses["total"] = sum(weights.get(k, 1.0) * v for k, v in losses.items())
    return losses


def build_inputs(cfg: TrainConfig, split_key: str, progress: bool = True) -> dict[str, np.ndarray]:
    """The cached per-frame predictions of ``cfg.data[split_key]`` (a list of data-set specs)."""
    from diffuhand.models.estimator import load_model
    from diffuhand.train.data import build_datasets

    out = Path(cfg.train["out"])
    source = None
    parts = []
    for k, spec in enumerate(cfg.data[split_key]):
        path = out / f"inputs-{split_key}-{k}-{spec['name']}.npz"

        def make(spec=spec, k=k):
            nonlocal source
            source = source or load_model(cfg.train["source"])
            (ds,) = build_datasets([spec], load_images=source.backbone is not None)
            passes = int(cfg.train.get("passes", 1)) if split_key == "train" else 1
            return per_frame_predictions(source, ds, passes, int(cfg.train["seed"]) + 1000 * k + (split_key != "train"), progress)

        d = cached_predictions(path, make)
        d["sequence"] = d["sequence"] + 1_000_000 * k
        parts.append(d)
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def train_temporal(cfg: TrainConfig, max_steps: int | None = None, progress: bool = True) -> Path:
    """Train the temporal model of ``cfg`` (model.kind == "temporal"); resumable, seeded, CSV-logged."""
    from diffuhand.io.files import atomic_write_text
    from diffuhand.train.loop import _seed_all, append_log, load_state, optimizer_step, save_state, warmup_cosine

    out = Path(cfg.train["out"])
    out.mkdir(parents=True, exist_ok=True)
    seed = int(cfg.train["seed"])
    data = build_inputs(cfg, "train", progress)
    tcfg = TemporalConfig(**{k: v for k, v in cfg.model.items() if k != "kind"})
    _seed_all(seed)
    model = TemporalTransformer(tcfg)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.optim["lr"], weight_decay=cfg.optim["weight_decay"])
    step, rng_state = load_state(out, model, opt)
    steps = int(cfg.optim["steps"])
    total = steps if max_steps is None else min(steps, step + max_steps)
    warm = int(cfg.optim["warmup"])
    sched = warmup_cosine(opt, warm, steps, step)
    if rng_state is not None:
        torch.set_rng_state(rng_state)
    atomic_write_text(out / "config.json", json.dumps(cfg.to_dict(), indent=1) + "\n")
    win = windows(data, tcfg.window)
    pred = torch.from_numpy(data["pred"])
    truth = torch.from_numpy(data["truth"])
    batch = int(cfg.optim["batch_size"])
    log_path = out / "log.csv"
    bar = tqdm(total=total, initial=step, desc=cfg.name, unit="step", disable=not progress or None)
    model.train()
    t0, seen = time.perf_counter(), 0
    while step < total:
        g = torch.Generator().manual_seed(seed * 100003 + step)  # the batch of a step depends on the step only
        rows = torch.from_numpy(win[torch.randint(0, len(win), (batch,), generator=g).numpy()])
        mask = random_frame_mask(batch, tcfg.window, tcfg.max_mask, g)
        ls = temporal_losses(model, pred[rows], truth[rows], mask, cfg.loss)
        optimizer_step(ls["total"], model, opt, sched, cfg.optim["grad_clip"])
        step += 1
        seen += batch
        bar.update(1)
        if step % int(cfg.train["log_every"]) == 0 or step == total:
            row = {"step": step, "lr": sched.get_last_lr()[0], "windows_per_s": seen / (time.perf_counter() - t0),
                   **{k: float(v.detach()) for k, v in ls.items()}}  # fmt: skip
            append_log(log_path, row)
            bar.set_postfix(loss=f"{row['total']:.4f}")
        if step % int(cfg.train["checkpoint_every"]) == 0 or step == total:
            save_state(out, model, opt, step, cfg)
    bar.close()
    if step >= steps:
        save_checkpoint(out / "final", model, tcfg.to_dict(), {"train_config": cfg.to_dict(), "step": step,
                                                               "source": str(cfg.train["source"])})  # fmt: skip
    return out


def sequence_measures(pred: np.ndarray, truth: np.ndarray, anchor_mm: np.ndarray, sequence: np.ndarray) -> dict:
    """MPJPE (mm, wrist-relative), acceleration error (mm/frame^2) and velocity error (mm/frame), each the mean
    over joints and frames; differences are taken inside a sequence only."""
    p = pred * anchor_mm[:, None, None]
    g = truth * anchor_mm[:, None, None]
    res = {"mpjpe_mm": float(np.linalg.norm(p - g, axis=-1).mean())}
    acc, vel = [], []
    for s in np.unique(sequence):
        r = np.flatnonzero(sequence == s)
        if len(r) >= 3:
            acc.append(np.linalg.norm(np.diff(p[r], 2, axis=0) - np.diff(g[r], 2, axis=0), axis=-1).ravel())
        if len(r) >= 2:
            vel.append(np.linalg.norm(np.diff(p[r], axis=0) - np.diff(g[r], axis=0), axis=-1).ravel())
    res["accel_error_mm"] = float(np.concatenate(acc).mean())
    res["velocity_error_mm"] = float(np.concatenate(vel).mean())
    return res
