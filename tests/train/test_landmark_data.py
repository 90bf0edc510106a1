"""The landmark-network models' data: one cached landmark pass per training hand, resumable, and a training run
on it (the paper's heads conditioned on MediaPipe's landmark network)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("ai_edge_litert")


@pytest.fixture(scope="module")
def renders(tmp_path_factory):
    from diffuhand.synth.scene import SceneConfig, scene_variant
    from diffuhand.synth.writer import write_dataset

    out = tmp_path_factory.mktemp("synth")
    write_dataset(
        out,
        12,
        scene_variant("photo", SceneConfig(size=192, p_two_hands=0.0)),
        seed=0,
        workers=1,
        chunk=12,
        progress=False,
    )
    return out


def test_cache_is_made_once_and_reused(renders, tmp_path, monkeypatch):
    from diffuhand.data import open_dataset
    from diffuhand.models.landmarks import CONDITION_DIM
    from diffuhand.train import landmark_data

    ds = open_dataset("synth", renders)
    first = landmark_data.cache_landmarks(ds, tmp_path / "c", progress=False)
    n = len(first["landmarks"])
    assert n >= 6 and first["landmarks"].shape == (n, CONDITION_DIM) and np.isfinite(first["landmarks"]).all()
    # targets: right-hand, wrist-relative, anchor length 1
    assert np.allclose(np.linalg.norm(first["joints"][:, 5], axis=-1), 1.0, atol=1e-5)
    assert np.allclose(first["joints"][:, 0], 0.0)

    def boom(*a, **k):
        raise AssertionError("the cache should have been reused")

    monkeypatch.setattr(landmark_data, "cache_chunk", boom)
    again = landmark_data.cache_landmarks(ds, tmp_path / "c", progress=False)
    assert np.array_equal(again["landmarks"], first["landmarks"])


@pytest.mark.parametrize("kind", ["baseline", "diffusion_ik"])
def test_a_landmark_model_trains_and_predicts(renders, tmp_path, kind):
    from diffuhand.models.estimator import load_model
    from diffuhand.train.config import TrainConfig
    from diffuhand.train.loop import train

    cfg = TrainConfig(
        name="t",
        model={
            "kind": kind,
            "condition": "landmarks",
            "feature_dim": 32,
            "sampler": {"kind": "ddpm", "steps": 2, "samples": 2},
        },
        data={"train": [{"name": "synth", "root": str(renders)}]},
        optim={"batch_size": 4, "steps": 3, "warmup": 1},
        train={
            "out": str(tmp_path / "run"),
            "workers": 0,
            "log_every": 1,
            "checkpoint_every": 3,
            "landmark_cache": str(tmp_path / "cache"),
            "p_ik": 1.0,
            "ik_sampler": {"kind": "ddpm", "steps": 2, "samples": 2},
        },
    )
    out = train(cfg, progress=False)
    model = load_model(out / "final")
    from diffuhand.models.landmarks import CONDITION_DIM

    res = model.predict(landmarks=torch.randn(2, CONDITION_DIM))
    assert res["joints"].shape == (2, 21, 3) and torch.isfinite(res["joints"]).all()
