"""The training loop: one CPU, one GPU, or several processes with DDP (``torchrun``), unchanged.

Resumable: every ``checkpoint_every`` steps ``OUT/last/`` holds the model and optimiser (safetensors), the step,
and the RNG states; a rerun continues from there with the same data order. Deterministic for a seed on one
device. Logs a CSV (``OUT/log.csv``) and shows a progress bar.
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from diffuhand.io.files import atomic_path, atomic_write_text
from diffuhand.io.weights import save_checkpoint
from diffuhand.models.diffusion import SamplerConfig
from diffuhand.models.estimator import HandPoseModel, ModelConfig
from diffuhand.models.keypoints import random_projection
from diffuhand.train import losses
from diffuhand.train.config import TrainConfig
from diffuhand.train.data import CropSet, PoseSet, build_datasets

LOG_COLUMNS = ("camera", "canonical", "reprojection", "contrastive", "diffusion", "ik", "ik_canonical", "total")


class StepSampler(Sampler):
    """Keys ``(index, epoch)`` for steps ``start ..``: epoch e is ``randperm(n)`` seeded by (seed, e); DDP ranks
    take strides. The epoch goes with each index so that the data set augments an item anew every epoch; both
    depend on the step alone, so a resumed run draws what an uninterrupted one drew."""

    def __init__(self, n: int, batch: int, seed: int, start_step: int, rank: int = 0, world: int = 1):
        self.n, self.batch, self.seed, self.start, self.rank, self.world = n, batch, seed, start_step, rank, world

    def __iter__(self):
        per_epoch = self.n // (self.batch * self.world)
        step = self.start
        while True:
            epoch, k = divmod(step, max(per_epoch, 1))
            g = torch.Generator().manual_seed(self.seed * 100003 + epoch)
            perm = torch.randperm(self.n, generator=g)
            base = (k * self.world + self.rank) * self.batch
            yield from ((i, epoch) for i in perm[base : base + self.batch].tolist())
            step += 1


def _flatten_optimizer(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = opt.state_dict()
    tensors, meta = {}, {"param_groups": sd["param_groups"], "state": {}}
    for pid, st in sd["state"].items():
        meta["state"][str(pid)] = {}
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{pid}.{k}"] = v.detach().cpu().contiguous()
            else:
                meta["state"][str(pid)][k] = v
    return tensors, meta


def _restore_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    state = {}
    for pid, extra in meta["state"].items():
        st = dict(extra)
        for key, v in tensors.items():
            p, _, name = key.partition(".")
            if p == pid:
                st[name] = v
        state[int(pid)] = st
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def model_config(model, cfg: TrainConfig) -> dict:
    """What a checkpoint's ``model`` section holds: every constructor argument of the model (its config's
    ``to_dict``), so that the checkpoint rebuilds it whatever the defaults become; the run's section otherwise."""
    own = getattr(getattr(model, "module", model), "cfg", None)  # DDP wraps the model in .module
    return own.to_dict() if hasattr(own, "to_dict") else dict(cfg.model)


def save_state(out: Path, model, opt, step: int, cfg: TrainConfig) -> None:
    from safetensors.torch import save_file

    last = out / "last"
    save_checkpoint(last, model, model_config(model, cfg), {"train_config": cfg.to_dict(), "step": step})
    tensors, meta = _flatten_optimizer(opt)
    tensors["rng.torch"] = torch.get_rng_state()
    with atomic_path(last / "optimizer.safetensors") as tmp:
        save_file(tensors, str(tmp))
    meta.update({"step": step, "numpy_rng": np.random.get_state()[1].tolist(), "python_rng": repr(random.getstate())})
    atomic_write_text(last / "state.json", json.dumps(meta) + "\n")  # written last: the checkpoint is whole


def load_state(out: Path, model, opt) -> tuple[int, torch.Tensor | None]:
    """Restore model and optimiser from ``out/last``; returns the step and the saved torch RNG state (to be set
    by the caller once the data iterator exists: creating it draws from the RNG)."""
    from safetensors.torch import load_file

    last = out / "last"
    if not (last / "state.json").exists():
        return 0, None
    meta = json.loads((last / "state.json").read_text())
    model.load_state_dict(load_file(str(last / "model.safetensors")))
    tensors = load_file(str(last / "optimizer.safetensors"))
    rng = tensors.pop("rng.torch")
    _restore_optimizer(opt, tensors, meta)
    return int(meta["step"]), rng


def warmup_cosine(opt: torch.optim.Optimizer, warmup: int, steps: int, step: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over ``warmup`` steps, then cosine decay to 0 at ``steps``; resumes at ``step``."""
    return torch.optim.lr_scheduler.LambdaLR(
        opt,
        lambda s: min(1.0, (s + 1) / max(warmup, 1)) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)),
        last_epoch=step - 1,
    )


def optimizer_step(loss: torch.Tensor, model: torch.nn.Module, opt, sched, grad_clip: float) -> None:
    """Backward, clip the gradient norm, step the optimiser and the schedule."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    opt.step()
    sched.step()


def append_log(path: Path, row: dict) -> None:
    """Append one row to a CSV log, writing the header first when the file is new."""
    new = not path.exists()
    with open(path, "a", newline="") as fh:
        wr = csv.DictWriter(fh, fieldnames=list(row))
        if new:
            wr.writeheader()
        wr.writerow(row)


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def training_losses(
    model: HandPoseModel, batch: dict, cfg: TrainConfig, generator: torch.Generator | None = None
) -> dict:
    w = cfg.loss
    mcfg = model.cfg
    out: dict[str, torch.Tensor] = {}
    if mcfg.condition == "landmarks":  # the frozen landmark network's cached output (train.landmark_data)
        cond = model.condition(landmarks=batch["landmarks"])
        target, valid = batch["joints"], batch["valid"]
    elif mcfg.condition == "keypoints":
        uv, target = random_projection(batch["pose"], generator, noise_px=cfg.train.keypoint_noise_px)
        cond = model.condition(keypoints=uv)
        valid = None
    else:
        cond = model.condition(images=batch["image"], keypoints=batch["uv"] if mcfg.condition == "both" else None)
        target, valid = batch["joints"], batch["valid"]
        if w.contrastive and "image2" in batch:
            z2 = model.backbone(batch["image2"])
            out["contrastive"] = losses.nt_xent(cond[:, : z2.shape[1]], z2)
    if model.baseline is not None:
        pred = model.baseline(cond)
        out["camera"] = losses.l1_joints(pred["joints"], target, valid)
        if "canonical" in batch:
            out["canonical"] = losses.l1_joints(pred["canonical"], batch["canonical"], valid)
        if "K" in batch and w.reprojection:
            out["reprojection"] = losses.reprojection(
                pred["joints"],
                batch["anchor_mm"],
                batch["root_mm"],
                batch["K"],
                batch["uv"],
                float(mcfg.input_size),
                valid,
            )
    else:
        out["diffusion"] = model.diffusion.loss(target, cond, generator)
        if model.ik is not None and torch.rand((), generator=generator) < cfg.train.p_ik:
            # the IK MLP learns on what the sampler really produces at inference (the mean of its samples, as
            # HandPoseModel.predict gives it; no gradient into the diffusion model)
            samples = model.diffusion.sample(cond.detach(), SamplerConfig(**cfg.train.ik_sampler), generator).mean(1)
            ik = model.ik(samples)
            out["ik"] = losses.l1_joints(ik["joints"], target, valid)
            if "canonical" in batch:
                out["ik_canonical"] = losses.l1_joints(ik["canonical"], batch["canonical"], valid)
    out["total"] = sum(getattr(w, k.replace("ik_canonical", "ik")) * v for k, v in out.items())
    return out


class LossModule(torch.nn.Module):
    """The model with its losses as ``forward``, so that DDP sees (and synchronises) the whole training step."""

    def __init__(self, model: HandPoseModel, cfg: TrainConfig):
        super().__init__()
        self.model, self.cfg = model, cfg

    def forward(self, batch: dict) -> dict:
        return training_losses(self.model, batch, self.cfg)


def train(cfg: TrainConfig, max_steps: int | None = None, progress: bool = True) -> Path:
    """Train until ``cfg.optim['steps']`` (or ``max_steps`` more, for tests); returns the output folder."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    ddp = world > 1
    if ddp:
        import torch.distributed as dist

        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}" if torch.cuda.is_available() else "cpu")
    seed = int(cfg.train.seed)
    _seed_all(seed + rank)
    out = Path(cfg.train.out)
    out.mkdir(parents=True, exist_ok=True)
    mcfg = ModelConfig(**cfg.model)
    model = HandPoseModel(mcfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    step, rng_state = load_state(out, model, opt)
    total = int(cfg.optim.steps) if max_steps is None else step + max_steps
    warm = int(cfg.optim.warmup)
    sched = warmup_cosine(opt, warm, int(cfg.optim.steps), step)
    if mcfg.condition == "landmarks":
        from diffuhand.train.landmark_data import build_landmark_set

        # the landmark passes are the same for every head trained on a data set: a shared cache folder saves them
        cache = Path(cfg.train.landmark_cache or out)
        data = build_landmark_set(cfg.data["train"], cache, seed, progress=progress and rank == 0)
    elif mcfg.condition == "keypoints":
        data = PoseSet(build_datasets(cfg.data["train"], load_images=False))
    else:
        data = CropSet(
            build_datasets(cfg.data["train"]),
            mcfg.input_size,
            cfg.train.augment,
            views=2 if cfg.loss.contrastive else 1,
            seed=seed,
        )
    batch = int(cfg.optim.batch_size)
    loader = DataLoader(
        data,
        batch_size=batch,
        sampler=StepSampler(len(data), batch, seed, step, rank, world),
        num_workers=int(cfg.train.workers),
        persistent_workers=int(cfg.train.workers) > 0,
    )
    net = LossModule(model, cfg)
    if ddp:  # some branches (the IK MLP, the second view) are not used at every step
        net = torch.nn.parallel.DistributedDataParallel(net, find_unused_parameters=True)
    if rank == 0:
        atomic_write_text(out / "config.json", json.dumps(cfg.to_dict(), indent=1) + "\n")
    log_path = out / "log.csv"
    from tqdm import tqdm

    bar = tqdm(total=total, initial=step, desc=cfg.name, unit="step", disable=not progress or rank != 0 or None)
    model.train()
    t0, seen = time.perf_counter(), 0
    it = iter(loader)
    if rng_state is not None:
        torch.set_rng_state(rng_state)  # after the iterator drew its seed, as a run that never stopped had
    while step < total:
        b = {k: v.to(device) for k, v in next(it).items()}
        ls = net(b)
        optimizer_step(ls["total"], model, opt, sched, cfg.optim.grad_clip)
        step += 1
        seen += batch * world
        bar.update(1)
        if rank == 0 and (step % int(cfg.train.log_every) == 0 or step == total):
            row = {
                "step": step,
                "lr": sched.get_last_lr()[0],
                "images_per_s": seen / (time.perf_counter() - t0),
                **{k: (float(ls[k].detach()) if k in ls else "") for k in LOG_COLUMNS},
            }
            append_log(log_path, row)
            bar.set_postfix(loss=f"{row['total']:.4f}")
        if rank == 0 and (step % int(cfg.train.checkpoint_every) == 0 or step == total):
            save_state(out, model, opt, step, cfg)
    bar.close()
    if rank == 0 and step >= int(cfg.optim.steps):
        save_checkpoint(out / "final", model, model_config(model, cfg), {"train_config": cfg.to_dict(), "step": step})
    if ddp:
        import torch.distributed as dist

        dist.destroy_process_group()
    return out
