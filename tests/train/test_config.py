"""Training configurations: typed sections that reject unknown keys (issue 14, item 12)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from diffuhand.errors import DiffuhandError
from diffuhand.train.config import LossWeights, OptimConfig, RunConfig, TrainConfig, load_config

ROOT = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, **sections) -> Path:
    data = {"name": "t", "model": {"kind": "diffusion"}, "data": {"train": [], "val": []}, **sections}
    path = tmp_path / "c.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("section,key", [("train", "checkpont_every"), ("optim", "learning_rate"), ("loss", "accel")])
def test_a_misspelt_key_is_an_error_naming_it(tmp_path, section, key):
    with pytest.raises(DiffuhandError, match=f"{section}.*{key}"):
        load_config(_write(tmp_path, **{section: {key: 1}}))


def test_given_keys_replace_defaults_and_the_rest_keep_theirs(tmp_path):
    cfg = load_config(_write(tmp_path, optim={"steps": 7}, loss={"acceleration": 4.0}, train={"workers": 0}))
    assert isinstance(cfg.optim, OptimConfig) and isinstance(cfg.loss, LossWeights) and isinstance(cfg.train, RunConfig)
    assert cfg.optim.steps == 7 and cfg.optim.lr == OptimConfig().lr
    assert cfg.loss.acceleration == 4.0 and cfg.loss.velocity == 0.0
    assert cfg.train.workers == 0 and cfg.train.out == "runs/t"


def test_a_saved_run_configuration_reads_back_the_same(tmp_path):
    cfg = TrainConfig(
        name="t", model={"kind": "temporal"}, data={"train": [], "val": []}, train={"source": "keypoints"}
    )
    path = tmp_path / "run.json"
    path.write_text(json.dumps(cfg.to_dict()))
    assert load_config(path) == cfg


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_configuration_loads(path):
    load_config(path)
