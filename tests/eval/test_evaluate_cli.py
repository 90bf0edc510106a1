import json

import numpy as np

from diffuhand.cli import main
from diffuhand.data import open_dataset

from ..conftest import shared
from ..data.layouts import interhand_layout, rhd_layout


def gt_of(ds):
    return np.stack([ds[i].joints_3d for i in range(len(ds))])


def test_rhd_perfect_and_noisy(tmp_path, capsys):
    root = rhd_layout(shared("mmpose-samples/tests/data"), tmp_path)
    ds = open_dataset("rhd", root, load_images=False)
    gt = gt_of(ds)
    assert {ds[i].handedness for i in range(len(ds))} == {"left", "right"}  # the dominant hand, chosen per image
    np.save(tmp_path / "perfect.npy", gt)
    assert (
        main(
            [
                "evaluate",
                str(tmp_path / "perfect.npy"),
                "--dataset",
                "rhd",
                "--root",
                str(root),
                "--out",
                str(tmp_path / "r.json"),
            ]
        )
        == 0
    )
    res = json.loads((tmp_path / "r.json").read_text())["results"]
    assert res["spurr"]["mean_mm"] < 1e-6 and res["spurr"]["auc_20_50"] == 1.0 and res["pa_mpjpe"]["mean_mm"] < 1e-6
    out = capsys.readouterr().out
    assert "spurr" in out and "pa_mpjpe" in out


def test_interhand_reports_single_and_interacting(tmp_path):
    root = interhand_layout(shared("mmpose-samples/tests/data"), tmp_path)
    ds = open_dataset("interhand26m", root, "test", load_images=False)
    pred = gt_of(ds) + 3.0  # a pure translation: no error once relative to the wrist
    pred[:, 8] += [0.0, 0.0, 21.0]
    np.save(tmp_path / "p.npy", pred)
    assert (
        main(
            [
                "evaluate",
                str(tmp_path / "p.npy"),
                "--dataset",
                "interhand26m",
                "--root",
                str(root),
                "--out",
                str(tmp_path / "r.json"),
            ]
        )
        == 0
    )
    res = json.loads((tmp_path / "r.json").read_text())["results"]
    assert abs(res["interhand_all"]["mean_mm"] - 1.0) < 1e-6  # 21 mm on one of 21 keypoints
    assert {"interhand_single", "interhand_interacting"} & set(res)


def test_count_mismatch_is_one_line(tmp_path, capsys):
    np.save(tmp_path / "p.npy", np.zeros((3, 21, 3)))
    rc = main(
        [
            "evaluate",
            str(tmp_path / "p.npy"),
            "--dataset",
            "ge-realworld",
            "--root",
            str(shared("ge2019-realworld-dev")),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "3 predictions for 100 samples" in err and "\n" not in err


def test_bad_sampler_options_are_one_line(tmp_path, capsys):
    import torch

    from diffuhand.io.weights import save_checkpoint
    from diffuhand.models.estimator import HandPoseModel, ModelConfig

    cfg = ModelConfig(kind="diffusion", condition="keypoints", feature_dim=16)
    save_checkpoint(
        tmp_path / "ckpt", HandPoseModel(cfg), {"kind": cfg.kind, "condition": cfg.condition, "feature_dim": 16}
    )
    torch.manual_seed(0)
    root = str(shared("ge2019-realworld-dev"))
    for bad in (["--steps", "51"], ["--samples", "0"]):
        rc = main(
            ["evaluate", str(tmp_path / "ckpt"), "--dataset", "ge-realworld", "--root", root, "--sampler", "ddpm", *bad]
        )
        err = capsys.readouterr().err.strip()
        assert rc == 2 and "bad sampler" in err and "\n" not in err


def test_a_checkpoint_is_scored_as_predict_ships_it(tmp_path, capsys):
    """By default the IK solver turns the diffusion mean into the final joints, as predict does (--ik mlp: the IK
    MLP); --steps and --samples override the checkpoint's sampler without --sampler, as in predict."""
    import torch

    from diffuhand.io.weights import save_checkpoint
    from diffuhand.models.estimator import HandPoseModel, ModelConfig

    torch.manual_seed(0)
    cfg = {
        "kind": "diffusion_ik",
        "condition": "keypoints",
        "feature_dim": 16,
        "sampler": {"kind": "ddim", "steps": 3, "samples": 4, "eta": 0.0},
    }
    model = HandPoseModel(ModelConfig(**cfg))
    with torch.no_grad():  # untrained zero-initialised layers ignore the input: make the output depend on it
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    save_checkpoint(tmp_path / "ckpt", model, cfg)
    root = str(shared("ge2019-realworld-dev"))
    runs = {}
    for name, extra in (
        ("default", []),
        ("solver", ["--ik", "solver"]),
        ("mlp", ["--ik", "mlp"]),
        ("override", ["--steps", "2", "--samples", "1"]),
    ):
        out = tmp_path / f"{name}.json"
        assert (
            main(
                [
                    "evaluate",
                    str(tmp_path / "ckpt"),
                    "--dataset",
                    "ge-realworld",
                    "--root",
                    root,
                    "--limit",
                    "3",
                    "--out",
                    str(out),
                    *extra,
                ]
            )
            == 0
        )
        runs[name] = json.loads(out.read_text())
    assert runs["default"]["ik"] == "solver" and runs["mlp"]["ik"] == "mlp"
    final = {k: r["results"]["final"]["pa_mpjpe"]["mean_mm"] for k, r in runs.items()}
    assert final["default"] == final["solver"] != final["mlp"]
    assert runs["default"]["sampler"] == {"kind": "ddim", "steps": 3, "samples": 4, "eta": 0.0}  # the checkpoint's
    assert runs["override"]["sampler"] == {"kind": "ddim", "steps": 2, "samples": 1, "eta": 0.0}
    assert final["override"] != final["default"]
    # the IK MLP of a model that has none: one line
    plain = {**cfg, "kind": "diffusion"}
    save_checkpoint(tmp_path / "plain", HandPoseModel(ModelConfig(**plain)), plain)
    capsys.readouterr()
    assert (
        main(
            [
                "evaluate",
                str(tmp_path / "plain"),
                "--dataset",
                "ge-realworld",
                "--root",
                root,
                "--limit",
                "3",
                "--ik",
                "mlp",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert "--ik mlp" in err and "no IK MLP" in err and "\n" not in err
