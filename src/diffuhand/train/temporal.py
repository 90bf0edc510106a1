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

from diffuhand.data.crops import square_box
from diffuhand.data.schema import HandDataset
from diffuhand.eval.metrics import pa_mpjpe
from diffuhand.io.files import atomic_path, atomic_write_text
from diffuhand.io.weights import save_checkpoint
from diffuhand.kinematics import fit_ik, forward_kinematics
from diffuhand.kinematics.skeleton import NUM_ANGLES, NUM_BONES, NUM_JOINTS
from diffuhand.lift import HandInput, NetworkLifter, load_lifter
from diffuhand.models import rng
from diffuhand.models.keypoints import random_projection
from diffuhand.models.rng import random_rotation
from diffuhand.models.temporal import TemporalConfig, TemporalTransformer, load_temporal, random_frame_mask  # noqa: F401 (load_temporal: re-exported)
from diffuhand.train.config import LossWeights, TrainConfig
from diffuhand.train.data import build_datasets
from diffuhand.train.loop import _seed_all, append_log, load_state, optimizer_step, save_state, warmup_cosine


def _right_rel(j: np.ndarray, handedness: str) -> tuple[np.ndarray, float]:
    j = j * np.array([-1.0, 1.0, 1.0]) if handedness == "left" else j
    anchor = float(np.linalg.norm(j[5] - j[0]))
    return (j - j[0]) / anchor, anchor


#: the per-frame arrays :func:`per_frame_predictions` gives (see there)
FRAME_KEYS = (
    "pred",
    "final",
    "angles",
    "root_rotation",
    "ratios",
    "spread",
    "found",
    "truth",
    "truth_skeleton",
    "anchor_mm",
    "sequence",
    "frame",
)


def lifter_skeleton(lifter) -> np.ndarray | None:
    """(20,) the fixed bone ratios a lift draws every hand with (its skeleton convention), or None."""
    sk = getattr(lifter, "skeleton", None)
    if hasattr(sk, "bone_ratios"):
        return np.asarray(sk.bone_ratios, dtype=np.float64)
    if isinstance(sk, str):
        from diffuhand.kinematics.skeletons import load_skeleton

        return load_skeleton(sk).bone_ratios
    return None


def in_skeleton(truth: np.ndarray, ratios: np.ndarray | None) -> np.ndarray:
    """Right-hand joints (N, 21, 3) (anchor lengths, wrist at 0) redrawn with the bone ratios ``ratios``: the
    same angles and orientation (fitted by our IK), the skeleton convention of the lift (unchanged if None)."""
    if ratios is None:
        return truth

    fit = fit_ik(torch.as_tensor(truth, dtype=torch.float64))
    j = forward_kinematics(fit.angles, torch.as_tensor(ratios).expand(len(truth), -1), 1.0, fit.root_rotation)
    return j.numpy().astype(np.float32)


def _projected_sequence(
    lifter, dataset: HandDataset, idx: list[int], gen: torch.Generator
) -> tuple[list, np.ndarray, np.ndarray]:
    """A 3D-only sequence seen through one random camera, 2D projected with detector-like noise (2 px), lifted
    -> (lifted hands, truth (T, 21, 3), anchor (T,))."""

    rel, anchors = zip(*(_right_rel(dataset.records[k]["joints_3d"], dataset.records[k]["handedness"]) for k in idx))
    rel_t = torch.tensor(np.stack(rel), dtype=torch.float32)
    n = len(idx)
    rot = _random_rotation(gen).expand(n, 3, 3)
    dist = (3 + 7 * rng.rand(1, gen)).expand(n)
    uv, truth = random_projection(rel_t, gen, noise_px=2.0, rotation=rot, distance=dist)
    # the virtual camera of random_projection: 256 px, principal point at its centre
    f = float(128.0 * dist[0] / 2.5)
    K = np.array([[f, 0.0, 128.0], [0.0, f, 128.0], [0.0, 0.0, 1.0]])

    items = [(None, HandInput("right", 1.0, square_box(u), u, None), K) for u in uv.double().numpy()]
    return lifter.lift_many(items, gen), truth.numpy(), np.array(anchors)


def _detected_sequence(lifter, dataset: HandDataset, idx: list[int], gen: torch.Generator, detector_factory) -> tuple:
    """A rendered sequence through MediaPipe's video tracker and the lift, frame by frame as ``predict`` runs a
    video (each frame's camera: the render's) -> (lifted hand or None per frame, truth (T, 21, 3), anchor (T,))."""

    lifted, truths, anchors = [], [], []
    with detector_factory() as tracker:
        for k in idx:
            s = dataset[k]
            t, a = _right_rel(s.joints_3d, s.handedness)
            truths.append(t)
            anchors.append(a)
            box = float(np.ptp(s.joints_2d, axis=0).max())
            dets = [
                d for d in tracker(s.image) if np.linalg.norm(d.keypoints_2d.mean(0) - s.joints_2d.mean(0)) < 0.5 * box
            ]
            if not dets:
                lifted.append(None)
                continue
            d = min(dets, key=lambda d: np.linalg.norm(d.keypoints_2d.mean(0) - s.joints_2d.mean(0)))
            hand = HandInput(s.handedness, d.score, d.box, d.keypoints_2d, d.world_mm)  # the true side: tracking's job
            # the render's own camera; MediaPipe's 3D as it comes (no ray turn: a video's camera is seldom known)
            (x,) = lifter.lift_many(
                [(s.image if getattr(lifter, "needs_image", True) else s.image.shape[1], hand, s.K)], gen
            )
            lifted.append(x)
    return lifted, np.stack(truths), np.array(anchors)


@torch.no_grad()
def per_frame_predictions(
    source, dataset: HandDataset, passes: int = 1, seed: int = 0, progress: bool = True, detector_factory=None
) -> dict[str, np.ndarray]:
    """Run the single-frame lift ``source`` (a lifter, or a network made one) over every sequence of ``dataset``,
    through the product's lift path (:mod:`diffuhand.lift`).

    A data set with images (rendered sequences) goes through MediaPipe's video tracker (``detector_factory``:
    default ``MediaPipeHands(max_hands=2, video=True)``) as ``predict`` runs a video; a 3D-only one (DexYCB's) is
    seen by a 2D-only lift through one random camera per sequence and pass (``passes`` times).

    Returns flat arrays over all frames (:data:`FRAME_KEYS`): ``pred`` (N, 21, 3) the lift's per-frame 3D the
    temporal model takes (its ``model_joints``), ``final`` (N, 21, 3) the single frame as ``predict`` ships it,
    ``angles`` (N, 41), ``root_rotation`` (N, 3, 3), ``ratios`` (N, 20), ``spread`` (N, 21) of that pose,
    ``found`` (N,) bool (False: no hand found in the frame; its rows are NaN), ``truth`` (N, 21, 3),
    ``truth_skeleton`` (N, 21, 3) the truth drawn with the lift's skeleton convention, ``anchor_mm`` (N,),
    ``sequence`` (N,) int (one id per sequence and pass), ``frame`` (N,) int. Right hands, wrist at the origin,
    anchor lengths, camera frame."""

    lifter = source if hasattr(source, "lift_many") else NetworkLifter(source, backend="torch")
    images = bool(dataset.records) and dataset.records[0].get("image_path") is not None and dataset.load_images
    if images and detector_factory is None:
        from diffuhand.detect import MediaPipeHands

        def detector_factory():
            return MediaPipeHands(max_hands=2, video=True)

    if not images and lifter.needs_world:
        raise ValueError("this lift needs a detector's 3D: give it rendered sequences (images), not 3D only")
    skeleton = lifter_skeleton(lifter)
    gen = torch.Generator().manual_seed(seed)
    seqs = list(dataset.sequences().values())
    out: dict[str, list] = {k: [] for k in FRAME_KEYS}
    todo = [(p, i) for p in range(passes if not images else 1) for i in range(len(seqs))]
    for sid, (p, i) in enumerate(tqdm(todo, desc="per-frame predictions", unit="seq", disable=not progress)):
        idx = seqs[i]
        if images:
            lifted, truth, anchor = _detected_sequence(lifter, dataset, idx, gen, detector_factory)
        else:
            lifted, truth, anchor = _projected_sequence(lifter, dataset, idx, gen)
        n = len(idx)
        nan = np.full((NUM_JOINTS, 3), np.nan)
        out["pred"].append(np.stack([x.model_joints if x else nan for x in lifted]))
        out["final"].append(np.stack([x.joints if x else nan for x in lifted]))
        out["angles"].append(np.stack([x.angles if x else np.full(NUM_ANGLES, np.nan) for x in lifted]))
        out["root_rotation"].append(
            np.stack([x.root_rotation if x and x.root_rotation is not None else np.eye(3) for x in lifted])
        )
        out["ratios"].append(np.stack([x.bone_ratios if x else np.full(NUM_BONES, np.nan) for x in lifted]))
        out["spread"].append(np.stack([x.uncertainty if x else np.full(NUM_JOINTS, np.nan) for x in lifted]))
        out["found"].append(np.array([x is not None for x in lifted]))
        out["truth"].append(np.asarray(truth))
        out["truth_skeleton"].append(in_skeleton(np.asarray(truth), skeleton))
        out["anchor_mm"].append(anchor)
        out["sequence"].append(np.full(n, sid))
        out["frame"].append(np.arange(n))
    arrays = {k: np.concatenate(v) for k, v in out.items()}
    return {k: (v.astype(np.float32) if v.dtype.kind == "f" else v) for k, v in arrays.items()}


def _random_rotation(gen: torch.Generator | None, device=None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(1, 3, 3) uniform random rotation on ``device``."""

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


def temporal_losses(
    model: TemporalTransformer, batch: dict[str, torch.Tensor], mask: torch.Tensor, weights: LossWeights
) -> dict:
    """L1 on every frame's joints (hidden frames too: that teaches bridging), on frame-to-frame velocity and (where
    weighted) on acceleration, against ``batch["target"]``. ``batch``: windows (B, W, ...) of :data:`FRAME_KEYS` arrays."""
    if model.cfg.mode == "residual":
        out = model(batch["pred"], mask, batch["angles"], batch["root_rotation"], batch["ratios"], batch["spread"])
    else:
        out = model(batch["pred"], mask)
    j, truth = out["joints"], batch["target"]
    losses = {"joints": (j - truth).abs().mean()}
    if weights.velocity:
        losses["velocity"] = ((j[:, 1:] - j[:, :-1]) - (truth[:, 1:] - truth[:, :-1])).abs().mean()
    if weights.acceleration:  # jitter: second differences against the truth's
        losses["acceleration"] = (torch.diff(j, 2, dim=1) - torch.diff(truth, 2, dim=1)).abs().mean()
    losses["total"] = sum(getattr(weights, k) * v for k, v in losses.items())
    return losses


def training_windows(data: dict[str, np.ndarray], size: int, min_found: float = 0.5) -> np.ndarray:
    """:func:`windows` in which at least ``min_found`` of the frames had a hand found."""
    win = windows(data, size)
    if len(win) == 0:
        return win
    return win[data["found"][win].mean(1) >= min_found]


def build_inputs(cfg: TrainConfig, split_key: str, progress: bool = True) -> dict[str, np.ndarray]:
    """The cached per-frame predictions of ``cfg.data[split_key]`` (a list of data-set specs)."""

    out = Path(cfg.train.out)
    # the lift's identity names the cache too: a recalibrated or retrained lift must not reuse another's predictions
    source = load_lifter(cfg.train.source, backend="torch")
    parts = []
    for k, spec in enumerate(cfg.data[split_key]):
        # named by the whole spec: two data sets of one reader (two synth folders) must not share a cache
        name = f"{spec['name']}-{Path(spec['root']).name}-{spec.get('split') or 'all'}"
        path = out / f"inputs-{split_key}-{k}-{name}-{source.identity}.npz"

        def make(spec=spec, k=k):
            # a lift that needs MediaPipe's 3D or the image sees rendered frames; a 2D-only one, projected 3D
            needs_images = getattr(source, "needs_world", False) or getattr(source, "needs_image", False)
            (ds,) = build_datasets([spec], load_images=needs_images)
            passes = int(cfg.train.passes) if split_key == "train" else 1
            return per_frame_predictions(
                source, ds, passes, int(cfg.train.seed) + 1000 * k + (split_key != "train"), progress
            )

        d = cached_predictions(path, make)
        d["sequence"] = d["sequence"] + 1_000_000 * k
        parts.append(d)
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def train_temporal(cfg: TrainConfig, max_steps: int | None = None, progress: bool = True) -> Path:
    """Train the temporal model of ``cfg`` (model.kind == "temporal"); resumable, seeded, CSV-logged."""

    out = Path(cfg.train.out)
    out.mkdir(parents=True, exist_ok=True)
    seed = int(cfg.train.seed)
    data = build_inputs(cfg, "train", progress)
    tcfg = TemporalConfig(**{k: v for k, v in cfg.model.items() if k != "kind"})
    _seed_all(seed)
    model = TemporalTransformer(tcfg)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    step, rng_state = load_state(out, model, opt)
    steps = int(cfg.optim.steps)
    total = steps if max_steps is None else min(steps, step + max_steps)
    warm = int(cfg.optim.warmup)
    sched = warmup_cosine(opt, warm, steps, step)
    if rng_state is not None:
        torch.set_rng_state(rng_state)
    atomic_write_text(out / "config.json", json.dumps(cfg.to_dict(), indent=1) + "\n")
    win = training_windows(data, tcfg.window)
    target_key = "truth_skeleton" if cfg.train.target == "skeleton" else "truth"
    arrays = {
        k: torch.from_numpy(np.nan_to_num(data[k]) if data[k].dtype.kind == "f" and k != "spread" else data[k])
        for k in ("pred", "angles", "root_rotation", "ratios", "spread", "found")
    }
    arrays["target"] = torch.from_numpy(data[target_key])
    batch = int(cfg.optim.batch_size)
    log_path = out / "log.csv"
    bar = tqdm(total=total, initial=step, desc=cfg.name, unit="step", disable=not progress or None)
    model.train()
    t0, seen = time.perf_counter(), 0
    while step < total:
        g = torch.Generator().manual_seed(seed * 100003 + step)  # the batch of a step depends on the step only
        rows = torch.from_numpy(win[torch.randint(0, len(win), (batch,), generator=g).numpy()])
        found = arrays["found"][rows]
        mask = random_frame_mask(batch, tcfg.window, tcfg.max_mask, g) | ~found
        mask = torch.where(mask.all(1, keepdim=True), ~found, mask)  # never a window with nothing visible
        ls = temporal_losses(model, {k: v[rows] for k, v in arrays.items()}, mask, cfg.loss)
        optimizer_step(ls["total"], model, opt, sched, cfg.optim.grad_clip)
        step += 1
        seen += batch
        bar.update(1)
        if step % int(cfg.train.log_every) == 0 or step == total:
            row = {
                "step": step,
                "lr": sched.get_last_lr()[0],
                "windows_per_s": seen / (time.perf_counter() - t0),
                **{k: float(v.detach()) for k, v in ls.items()},
            }
            append_log(log_path, row)
            bar.set_postfix(loss=f"{row['total']:.4f}")
        if step % int(cfg.train.checkpoint_every) == 0 or step == total:
            save_state(out, model, opt, step, cfg)
    bar.close()
    if step >= steps:
        from diffuhand.lift import load_lifter

        identity = load_lifter(cfg.train.source, backend="torch").identity
        save_checkpoint(
            out / "final",
            model,
            tcfg.to_dict(),
            {"train_config": cfg.to_dict(), "step": step, "source": str(cfg.train.source), "source_identity": identity},
        )
    return out


def sequence_measures(
    pred: np.ndarray,
    truth: np.ndarray,
    anchor_mm: np.ndarray,
    sequence: np.ndarray,
    valid: np.ndarray | None = None,
    per_sequence_scale: bool = False,
) -> dict:
    """MPJPE (mm, wrist-relative), PA-MPJPE (mm), acceleration error (mm/frame^2) and velocity error (mm/frame),
    each the mean over joints and frames; differences only inside a sequence, over consecutive valid frames.

    ``valid`` (N,) bool: frames to measure (default all). ``per_sequence_scale``: the prediction is first scaled
    by the one least-squares factor of its sequence (a video does not tell a hand's size, but it is one size)."""

    valid = np.ones(len(pred), bool) if valid is None else np.asarray(valid, dtype=bool)
    p = pred * anchor_mm[:, None, None]  # both wrist-relative already (the contract of the module)
    g = truth * anchor_mm[:, None, None]
    if per_sequence_scale:
        p = p.copy()
        for s in np.unique(sequence):
            r = np.flatnonzero((sequence == s) & valid)
            if len(r):
                p[sequence == s] *= (p[r] * g[r]).sum() / max((p[r] ** 2).sum(), 1e-12)
    res = {
        "mpjpe_mm": float(np.linalg.norm(p[valid] - g[valid], axis=-1).mean()),
        "pa_mpjpe_mm": pa_mpjpe(p[valid], g[valid]).mean_mm,
    }
    acc, vel = [], []
    for s in np.unique(sequence):
        r = np.flatnonzero(sequence == s)
        ok = valid[r]
        pr, gr = p[r], g[r]
        a = ok[2:] & ok[1:-1] & ok[:-2]  # a triple of consecutive valid frames
        if a.any():
            acc.append(np.linalg.norm(np.diff(pr, 2, axis=0) - np.diff(gr, 2, axis=0), axis=-1)[a].ravel())
        v = ok[1:] & ok[:-1]
        if v.any():
            vel.append(np.linalg.norm(np.diff(pr, axis=0) - np.diff(gr, axis=0), axis=-1)[v].ravel())
    res["accel_error_mm"] = float(np.concatenate(acc).mean()) if acc else float("nan")
    res["velocity_error_mm"] = float(np.concatenate(vel).mean()) if vel else float("nan")
    return res
