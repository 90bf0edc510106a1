import csv

import pytest
import torch
from safetensors.torch import load_file

from diffuhand.cli import main
from diffuhand.models.estimator import load_model
from diffuhand.synth.scene import SceneConfig
from diffuhand.synth.writer import write_dataset
from diffuhand.train import losses
from diffuhand.train.config import TrainConfig, load_config
from diffuhand.train.loop import train

from ..conftest import ROOT, shared


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    from diffuhand.errors import DiffuhandError

    out = tmp_path_factory.mktemp("synth")
    try:
        write_dataset(out, 24, SceneConfig(size=64), seed=0, workers=1, chunk=12, progress=False)
    except DiffuhandError as exc:
        pytest.skip(f"offscreen renderer unavailable: {exc}")
    return out


def tiny(kind, out, data, condition="image", steps=6, **train):
    return TrainConfig(
        name=f"t-{kind}",
        model={
            "kind": kind,
            "condition": condition,
            "feature_dim": 32,
            "input_size": 64,
            "sampler": {"kind": "ddim", "steps": 2, "samples": 2, "eta": 0.0},
        },
        data={"train": data},
        optim={"batch_size": 4, "steps": steps, "warmup": 1},
        train={"workers": 0, "log_every": 2, "checkpoint_every": 3, "out": str(out), "p_ik": 1.0, **train},
    )


@pytest.mark.parametrize("kind", ["baseline", "diffusion_ik"])
def test_training_runs_logs_and_checkpoints(tmp_path, synth_dir, kind):
    cfg = tiny(kind, tmp_path / "run", [{"name": "synth", "root": str(synth_dir), "split": "all"}])
    out = train(cfg, progress=False)
    with open(out / "log.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["step"]) for r in rows] == [2, 4, 6] and all(float(r["total"]) > 0 for r in rows)
    if kind == "baseline":
        assert all(r["camera"] and r["canonical"] and r["reprojection"] and r["contrastive"] for r in rows)
    else:
        assert all(r["diffusion"] and r["ik"] for r in rows)
    model = load_model(out / "final")
    res = model.predict(torch.rand(2, 3, 64, 64))
    assert res["joints"].shape == (2, 21, 3)


def test_resume_after_a_stop_is_exact(tmp_path, synth_dir):
    data = [{"name": "synth", "root": str(synth_dir), "split": "all"}]
    train(tiny("diffusion_ik", tmp_path / "a", data), progress=False)
    train(tiny("diffusion_ik", tmp_path / "b", data), max_steps=3, progress=False)  # "killed" after step 3
    train(tiny("diffusion_ik", tmp_path / "b", data), progress=False)  # resumes from b/last
    a, b = (
        load_file(str(tmp_path / "a" / "final" / "model.safetensors")),
        load_file(str(tmp_path / "b" / "final" / "model.safetensors")),
    )
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_keypoint_model_trains_from_3d_poses_alone(tmp_path):
    data = [{"name": "dexycb", "root": str(shared("dexycb-left-sequences"))}]
    cfg = tiny("diffusion_ik", tmp_path / "kp", data, condition="keypoints", steps=4)
    out = train(cfg, progress=False)
    model = load_model(out / "final")
    assert model.predict(keypoints=torch.rand(3, 21, 2) * 100)["joints"].shape == (3, 21, 3)


def test_every_shipped_config_loads():
    configs = sorted((ROOT / "configs").glob("*.yaml"))
    assert len(configs) >= 16
    kinds = {(load_config(p).model["kind"], load_config(p).data["train"][0]["name"]) for p in configs}
    for kind in ("baseline", "diffusion", "diffusion_ik"):
        for ds in ("synth", "rhd", "stb", "interhand26m", "freihand"):
            assert (kind, ds) in kinds


def test_nt_xent_matches_its_definition():
    torch.manual_seed(0)
    z1, z2 = torch.randn(6, 8), torch.randn(6, 8)
    t = 0.1
    z = torch.nn.functional.normalize(torch.cat([z1, z2]), dim=1)
    sim = z @ z.T / t
    sim.fill_diagonal_(float("-inf"))
    n = 6
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    ref = torch.nn.functional.cross_entropy(sim, target)
    assert torch.allclose(losses.nt_xent(z1, z2, t), ref, atol=1e-5)


def test_train_command_errors(tmp_path, capsys):
    assert main(["train", str(tmp_path / "none.yaml")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_evaluate_a_checkpoint_on_real_photos(tmp_path, synth_dir, capsys):
    import json

    cfg = tiny("diffusion_ik", tmp_path / "run", [{"name": "synth", "root": str(synth_dir), "split": "all"}], steps=2)
    out = train(cfg, progress=False)
    assert (
        main(
            [
                "evaluate",
                str(out / "final"),
                "--dataset",
                "ge-realworld",
                "--root",
                str(shared("ge2019-realworld-dev")),
                "--limit",
                "6",
                "--sampler",
                "ddim",
                "--steps",
                "2",
                "--samples",
                "3",
                "--out",
                str(tmp_path / "r.json"),
            ]
        )
        == 0
    )
    res = json.loads((tmp_path / "r.json").read_text())
    assert res["hands"] == 6 and {"final", "diffusion"} <= set(res["results"])
    assert res["results"]["final"]["pa_mpjpe"]["mean_mm"] > 0


@pytest.mark.slow
def test_two_processes_with_ddp_on_cpu(tmp_path, synth_dir):
    """torchrun with 2 CPU processes (gloo): the same training code, gradients synchronised."""
    import subprocess
    import sys

    import yaml

    cfg = tiny("diffusion_ik", tmp_path / "ddp", [{"name": "synth", "root": str(synth_dir), "split": "all"}], steps=4)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg.to_dict()))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_port",
            "29517",
            "-m",
            "diffuhand",
            "train",
            str(tmp_path / "c.yaml"),
        ],
        capture_output=True,
        check=False,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    model = load_model(tmp_path / "ddp" / "final")
    assert model.predict(torch.rand(1, 3, 64, 64))["joints"].shape == (1, 21, 3)
