import numpy as np
import pytest
import torch

from diffuhand.cli import main
from diffuhand.data import open_dataset
from diffuhand.train.config import TrainConfig
from diffuhand.train.temporal import (
    load_temporal,
    per_frame_predictions,
    sequence_measures,
    train_temporal,
    windows,
)

from ..conftest import shared


def test_measures_against_hand_computed_values():
    t = np.linspace(0, 1, 10)
    truth = np.zeros((10, 21, 3))
    truth[..., 0] = t[:, None] ** 2  # accelerating
    anchor = np.full(10, 2.0)
    seq = np.zeros(10, int)
    shifted = truth + np.array([0.0, 3.0, 4.0])  # a constant 5-unit offset: no velocity or acceleration error
    m = sequence_measures(shifted, truth, anchor, seq)
    assert m["mpjpe_mm"] == pytest.approx(10.0) and m["accel_error_mm"] < 1e-12 and m["velocity_error_mm"] < 1e-12
    jitter = truth.copy()
    jitter[5, :, 2] += 1.0  # one frame off by 1 anchor (2 mm): velocity errors 2 mm twice, acceleration 2, 4, 2
    m = sequence_measures(jitter, truth, anchor, seq)
    assert m["velocity_error_mm"] == pytest.approx(2 * 2 / 9) and m["accel_error_mm"] == pytest.approx(8 / 8)
    # differences never cross sequences
    two = np.r_[np.zeros(5, int), np.ones(5, int)]
    assert (
        sequence_measures(truth + two[:, None, None] * 7, truth + two[:, None, None] * 7, anchor, two)["accel_error_mm"]
        == 0
    )


def test_windows_stay_inside_sequences():
    data = {"sequence": np.r_[np.zeros(6, int), np.ones(3, int), np.full(7, 2)]}
    w = windows(data, 5)
    assert w.shape == (2 + 0 + 3, 5)
    assert all(len(set(data["sequence"][r])) == 1 for r in w) and (np.diff(w, axis=1) == 1).all()


def test_dexycb_split_holds_out_whole_sequences():
    root = shared("dexycb-left-sequences")
    tr, te, al = (open_dataset("dexycb", root, s, load_images=False) for s in ("train", "test", "all"))
    assert len(tr) + len(te) == len(al)
    assert len(te.sequences()) == 20 and not set(te.sequences()) & set(tr.sequences())


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    from diffuhand.io.weights import save_checkpoint
    from diffuhand.models.estimator import HandPoseModel, ModelConfig

    torch.manual_seed(0)
    m = HandPoseModel(
        ModelConfig(
            kind="diffusion_ik",
            condition="keypoints",
            feature_dim=16,
            sampler={"kind": "ddim", "steps": 2, "samples": 2, "eta": 0.0},
        )
    )
    return save_checkpoint(tmp_path_factory.mktemp("src") / "kp", m, dict(m.cfg.__dict__))


def test_per_frame_inputs_see_each_sequence_through_one_camera(source):
    from diffuhand.models.estimator import load_model

    ds = open_dataset("dexycb", shared("dexycb-left-sequences"), "test", load_images=False)
    ds = ds.subset([i for v in list(ds.sequences().values())[:2] for i in v])
    d = per_frame_predictions(load_model(source), ds, passes=2, seed=0, progress=False)
    n = len(ds)
    assert d["pred"].shape == d["truth"].shape == (2 * n, 21, 3) and len(np.unique(d["sequence"])) == 4
    # truth = the right-hand, anchor-scaled ground truth turned by one rotation per sequence and pass
    rec = ds.records
    for s in np.unique(d["sequence"]):
        rows = np.flatnonzero(d["sequence"] == s)
        src = [rec[i]["joints_3d"] * [-1, 1, 1] for i in list(ds.sequences().values())[s % 2]]
        src = np.stack([(j - j[0]) / np.linalg.norm(j[5] - j[0]) for j in src])
        rots = [np.linalg.lstsq(src[k], d["truth"][rows[k]], rcond=None)[0] for k in (0, len(rows) - 1)]
        assert np.allclose(rots[0], rots[1], atol=1e-4) and np.allclose(rots[0] @ rots[0].T, np.eye(3), atol=1e-4)
    assert not np.allclose(d["truth"][d["sequence"] == 0], d["truth"][d["sequence"] == 2])  # another camera


def tiny_cfg(out, source, steps=6):
    spec = {"name": "dexycb", "root": str(shared("dexycb-left-sequences")), "split": "test"}
    return TrainConfig(
        name="tt",
        model={"kind": "temporal", "window": 3, "d_model": 16, "layers": 1, "heads": 2},
        data={"train": [spec], "val": [spec]},
        loss={"joints": 1.0, "velocity": 1.0},
        optim={"batch_size": 8, "steps": steps, "warmup": 1},
        train={"out": str(out), "source": str(source), "passes": 1, "log_every": 2, "checkpoint_every": 3},
    )


def test_train_resume_and_load(tmp_path, source):
    from safetensors.torch import load_file

    a = train_temporal(tiny_cfg(tmp_path / "a", source), progress=False)
    # a second run reuses the cached per-frame inputs, stops after 3 steps, then resumes
    (tmp_path / "b").mkdir()
    for f in a.glob("inputs-*.npz"):
        (tmp_path / "b" / f.name).write_bytes(f.read_bytes())
    train_temporal(tiny_cfg(tmp_path / "b", source), max_steps=3, progress=False)
    assert not (tmp_path / "b" / "final").exists()
    b = train_temporal(tiny_cfg(tmp_path / "b", source), progress=False)
    sa, sb = load_file(str(a / "final" / "model.safetensors")), load_file(str(b / "final" / "model.safetensors"))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    model = load_temporal(a / "final")
    assert model.cfg.window == 3
    assert (a / "log.csv").read_text().startswith("step,lr,windows_per_s,joints,velocity,total")


def test_train_command_dispatches_temporal_configs(tmp_path, source):
    import yaml

    cfg = tiny_cfg(tmp_path / "run", source, steps=2).to_dict()
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["train", str(tmp_path / "t.yaml")]) == 0
    assert (tmp_path / "run" / "final" / "model.safetensors").exists()


def test_cached_inputs_are_the_lifts_own(tmp_path, monkeypatch):
    """The per-frame predictions are cached per lift: after the lift is recalibrated (a new identity), a rerun in the
    same folder computes them again instead of training on the old lift's outputs (it reused them before)."""
    import diffuhand.train.temporal as T

    calls = []

    class Lift:
        needs_world = needs_image = False

        def __init__(self, identity):
            self.identity = identity

    def fake_predictions(source, ds, passes, seed, progress):
        calls.append(source.identity)
        return {"sequence": np.zeros(2, np.int64), "pred": np.full((2, 21, 3), float(len(calls)))}

    monkeypatch.setattr(T, "build_datasets", lambda specs, load_images: [None])
    monkeypatch.setattr(T, "per_frame_predictions", fake_predictions)
    cfg = tiny_cfg(tmp_path / "run", "unused")
    for identity in ("fusion-aaaa", "fusion-aaaa", "fusion-bbbb"):
        monkeypatch.setattr(T, "load_lifter", lambda source, backend=None, identity=identity: Lift(identity))
        d = T.build_inputs(cfg, "train", progress=False)
        assert d["pred"][0, 0, 0] == len(calls)  # this lift's own predictions
    assert calls == ["fusion-aaaa", "fusion-bbbb"]  # the second run read the first's cache; the new lift did not
    assert len(list((tmp_path / "run").glob("inputs-train-*.npz"))) == 2
