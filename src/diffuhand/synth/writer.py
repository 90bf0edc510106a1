"""``diffuhand synth``: write a synthetic data set in chunks, in parallel, resumable, deterministic for a seed.

On-disk format (version 1)::

    OUT/meta.json                 {"format": "diffuhand-synth", "version": 1, "count", "size", "seed", "chunk",
                                   "sequence_length", "config", "renderer", ...}
    OUT/images/NNNNNNNN.jpg       RGB, size x size
    OUT/masks/NNNNNNNN.png        uint8 hand labels: 0 background (and occluders), 1 first hand, 2 second hand
    OUT/labels/CCCCC.npz          one file per chunk of ``chunk`` images; per image i (rows) and hand h (0, 1):
        index (C,) int64, K (C, 3, 3) f64, n_hands (C,) int8, sequence (C,) int32 (-1: none), frame (C,) int32,
        handedness (C, 2) int8 (0 right, 1 left, -1 absent), joints_3d (C, 2, 21, 3) f32 mm camera frame
        (canonical order, left hands as left hands), joints_2d (C, 2, 21, 2) f32 px, visible (C, 2, 21) bool
        (depth buffer), angles (C, 2, 41) f32 rad and ratios (C, 2, 20) f32 of the right-hand model (a left hand
        is its mirror), anchor_mm (C, 2) f32, root_rotation (C, 2, 3, 3) f32, root_position (C, 2, 3) f32
        (right-hand model; mirror x for a left hand).

A chunk is done when its labels file exists (written last, atomically): a rerun skips done chunks, so an
interrupted run resumes. Image ``i`` depends only on (seed, i) (and its sequence's plan), never on the worker.
"""

from __future__ import annotations

import json
import multiprocessing as mp
from dataclasses import asdict
from pathlib import Path

import numpy as np

from diffuhand.errors import DiffuhandError
from diffuhand.io.files import atomic_path, atomic_write_text
from diffuhand.kinematics.limits import load_limits
from diffuhand.kinematics.prior import default_prior
from diffuhand.synth.motion import plan_sequence
from diffuhand.synth.render import Renderer
from diffuhand.synth.scene import SceneConfig, render_sample

FORMAT = "diffuhand-synth"
VERSION = 1
#: what the renderer draws with the same settings: 2 since the hand mesh's joints follow the labels' convention
#: (synth.mesh.place_by_convention); a folder begun by another renderer is not resumed into a mix of both
RENDERER = 2
_STATE: dict = {}
_PLAN: dict = {}  # the sequence plan last used in this process


def _init_worker(cfg_dict: dict, single_thread: bool = False) -> None:
    if single_thread:
        # one core per worker: Mesa's llvmpipe and torch would otherwise each spread over all cores and the
        # workers would contend for them
        import os

        import torch

        os.environ["LP_NUM_THREADS"] = "1"
        torch.set_num_threads(1)

    cfg = SceneConfig(**{**cfg_dict, "backgrounds": Path(cfg_dict["backgrounds"]) if cfg_dict["backgrounds"] else None})
    _STATE.update(cfg=cfg, renderer=Renderer(cfg.size))


def render_image(i: int, seed: int, sequence_length: int, cfg, renderer):
    """Image ``i`` of a data set: (image, mask, K, hands, sequence, frame)."""

    if sequence_length > 1:
        seq, frame = divmod(i, sequence_length)
        key = (repr(cfg), seed, seq, sequence_length)  # by value: a new config may reuse an old one's id
        if _PLAN.get("key") != key:  # frames of a sequence come in order: plan each sequence once, not per frame
            plan_rng = np.random.default_rng([seed, 1, seq])
            if cfg.motion_source:
                from diffuhand.synth.motion import plan_replay

                plan = plan_replay(plan_rng, sequence_length, seq, cfg)
            else:
                plan = plan_sequence(plan_rng, sequence_length, load_limits(), default_prior(), cfg)
            _PLAN.update(key=key, plan=plan)
        plan = _PLAN["plan"]
        pose = (
            plan["angles"][frame],
            plan["ratios"],
            plan["anchor"],
            plan["rotations"][frame],
            plan["positions"][frame],
            plan["side"],
        )
        rng = np.random.default_rng([seed, 2, i])
        image, mask, K, hands = render_sample(
            rng,
            renderer,
            cfg,
            poses=[pose],
            K=plan["K"],
            background_image=plan["background"],
            style_seed=seed * 1000003 + seq,
        )
        return image, mask, K, hands, seq, frame
    image, mask, K, hands = render_sample(np.random.default_rng([seed, 0, i]), renderer, cfg)
    return image, mask, K, hands, -1, -1


def _render_chunk(job: tuple) -> int:
    out, c, start, stop, seed, sequence_length = job
    from PIL import Image

    cfg, renderer = _STATE["cfg"], _STATE["renderer"]
    n = stop - start
    lab = {
        "index": np.arange(start, stop),
        "K": np.zeros((n, 3, 3)),
        "n_hands": np.zeros(n, np.int8),
        "sequence": np.full(n, -1, np.int32),
        "frame": np.full(n, -1, np.int32),
        "handedness": np.full((n, 2), -1, np.int8),
        "joints_3d": np.zeros((n, 2, 21, 3), np.float32),
        "joints_2d": np.zeros((n, 2, 21, 2), np.float32),
        "visible": np.zeros((n, 2, 21), bool),
        "angles": np.zeros((n, 2, 41), np.float32),
        "ratios": np.zeros((n, 2, 20), np.float32),
        "anchor_mm": np.zeros((n, 2), np.float32),
        "root_rotation": np.zeros((n, 2, 3, 3), np.float32),
        "root_position": np.zeros((n, 2, 3), np.float32),
    }
    for r, i in enumerate(range(start, stop)):
        image, mask, K, hands, seq, frame = render_image(i, seed, sequence_length, cfg, renderer)
        with atomic_path(out / "images" / f"{i:08d}.jpg") as tmp:
            Image.fromarray(image).save(tmp, format="JPEG", quality=92)
        with atomic_path(out / "masks" / f"{i:08d}.png") as tmp:
            Image.fromarray(mask).save(tmp, format="PNG")
        lab["K"][r], lab["n_hands"][r], lab["sequence"][r], lab["frame"][r] = K, len(hands), seq, frame
        for h, hand in enumerate(hands):
            lab["handedness"][r, h] = 0 if hand.handedness == "right" else 1
            lab["joints_3d"][r, h], lab["joints_2d"][r, h], lab["visible"][r, h] = (
                hand.joints_3d,
                hand.joints_2d,
                hand.visible,
            )
            lab["angles"][r, h], lab["ratios"][r, h], lab["anchor_mm"][r, h] = hand.angles, hand.ratios, hand.anchor_mm
            lab["root_rotation"][r, h], lab["root_position"][r, h] = hand.root_rotation, hand.root_position
    with atomic_path(out / "labels" / f"{c:05d}.npz") as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **lab)
    return n


def write_dataset(
    out: Path,
    count: int,
    cfg,
    seed: int = 0,
    workers: int = 1,
    chunk: int = 256,
    sequence_length: int = 0,
    progress: bool = True,
) -> dict:
    """Render ``count`` images into ``out`` (see the module docstring); returns the meta record."""
    if count < 1 or chunk < 1 or workers < 1:
        raise DiffuhandError("--count, --chunk and --workers must be >= 1")
    out = Path(out)
    cfg_dict = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()}
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "count": count,
        "size": cfg.size,
        "seed": seed,
        "chunk": chunk,
        "sequence_length": sequence_length,
        "config": cfg_dict,
        "renderer": RENDERER,
    }
    meta = json.loads(json.dumps(meta))  # tuples as lists, as they come back from the file
    meta_path = out / "meta.json"
    if meta_path.exists():
        try:
            old = json.loads(meta_path.read_text())
        except (OSError, json.JSONDecodeError):
            raise DiffuhandError(f"{meta_path}: unreadable; remove {out} or choose another folder") from None
        if {k: v for k, v in old.items() if k != "count"} != {k: v for k, v in meta.items() if k != "count"}:
            raise DiffuhandError(
                f"{out}: holds a data set made with other settings (seed, size, chunk, config or renderer version)"
            )
    for sub in ("images", "masks", "labels"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    atomic_write_text(meta_path, json.dumps(meta, indent=1) + "\n")
    n_chunks = (count + chunk - 1) // chunk
    jobs = [
        (out, c, c * chunk, min(count, (c + 1) * chunk), seed, sequence_length)
        for c in range(n_chunks)
        if not (out / "labels" / f"{c:05d}.npz").exists()
    ]
    from tqdm import tqdm

    bar = tqdm(total=sum(j[3] - j[2] for j in jobs), desc="rendering", unit="img", disable=not progress or None)
    if workers == 1:
        _init_worker(cfg_dict)
        for job in jobs:
            bar.update(_render_chunk(job))
    else:
        ctx = mp.get_context("spawn")  # each worker its own GL context
        with ctx.Pool(workers, initializer=_init_worker, initargs=(cfg_dict, True)) as pool:
            for n in pool.imap_unordered(_render_chunk, jobs):
                bar.update(n)
    bar.close()
    return meta
