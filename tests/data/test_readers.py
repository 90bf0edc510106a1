import pickle

import numpy as np
import pytest

from diffuhand.data import DATASETS, open_dataset
from diffuhand.data.schema import project
from diffuhand.data.sequences import frame_windows, window_joints
from diffuhand.data.stb import BB_BASELINE_MM, BB_K
from diffuhand.errors import DiffuhandError
from diffuhand.kinematics import fit_ik
from diffuhand.kinematics.conventions import mirror

from ..conftest import shared
from .layouts import freihand_layout, interhand_layout, rhd_layout, stb_layout


@pytest.fixture(scope="module")
def mmpose():
    return shared("mmpose-samples/tests/data")


def check_schema(s):
    assert s.joints_3d.shape == (21, 3) and s.valid.shape == (21,) and s.valid.dtype == bool
    assert s.handedness in ("left", "right")
    if s.K is not None:
        assert s.K.shape == (3, 3) and s.joints_2d.shape == (21, 2)


def right_hand(s):
    return mirror(s.joints_3d) if s.handedness == "left" else s.joints_3d


def test_rhd_reproduces_the_published_2d_keypoints(mmpose, tmp_path):
    root = rhd_layout(mmpose, tmp_path)
    ds = open_dataset("rhd", root, "evaluation")
    assert len(ds) == 3
    import json

    types = {
        a["image_id"]: a["hand_type"] for a in json.loads((mmpose / "rhd" / "test_rhd.json").read_text())["annotations"]
    }
    for s in ds:
        check_schema(s)
        assert s.image.shape == (320, 320, 3)
        assert s.handedness == types[s.extra["rhd_id"]]  # the dominant hand by mask pixels
        err = np.abs(project(s.joints_3d, s.K) - s.joints_2d)[s.valid]
        assert err.max() < 1.0  # px
        assert float(fit_ik(right_hand(s), valid=s.valid).residual) < 5.0  # mm: the order is anatomical
    both = open_dataset("rhd", root, "evaluation", hands="all", load_images=False)
    assert len(both) == 3  # the padded second hands have no visible keypoint


def test_rhd_pickle_is_restricted(tmp_path):
    root = tmp_path / "RHD_published_v2" / "evaluation"
    root.mkdir(parents=True)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with open(root / "anno_evaluation.pickle", "wb") as fh:
        pickle.dump({0: Evil()}, fh)
    with pytest.raises(DiffuhandError, match="refusing to load builtins.print"):
        open_dataset("rhd", root.parent, "evaluation")
    (root / "anno_evaluation.pickle").unlink()
    with pytest.raises(DiffuhandError, match="anno_evaluation.pickle: no such file"):
        open_dataset("rhd", root.parent, "evaluation")


def test_interhand_one_sample_per_valid_hand(mmpose, tmp_path):
    root = interhand_layout(mmpose, tmp_path)
    ds = open_dataset("interhand26m", root, "test")
    assert len(ds) >= 4
    kinds = {s.extra["hand_type"] for s in ds}
    assert kinds <= {"single", "interacting"}
    per_image = {}
    for s in ds:
        check_schema(s)
        per_image.setdefault(s.image_path, []).append(s.handedness)
        x, y, w, h = s.extra["bbox"]
        uv = s.joints_2d[s.valid]
        inside = (
            (uv[:, 0] > x - 0.1 * w) & (uv[:, 0] < x + 1.1 * w) & (uv[:, 1] > y - 0.1 * h) & (uv[:, 1] < y + 1.1 * h)
        )
        assert inside.mean() > 0.9
        assert float(fit_ik(right_hand(s), valid=s.valid).residual) < 5.0
        assert s.image.ndim == 3
    assert any(sorted(v) == ["left", "right"] for v in per_image.values())  # a two-hand image gives two samples


def test_freihand_layout(mmpose, tmp_path):
    root, xyz, K = freihand_layout(mmpose, tmp_path)
    ds = open_dataset("freihand", root, "training")
    assert len(ds) == 8
    for i, s in enumerate(ds):
        check_schema(s)
        assert s.extra["pose_index"] == i % 4 and s.image.shape == (224, 224, 3)
        np.testing.assert_allclose(s.joints_3d, xyz[i % 4], atol=1e-9)
        np.testing.assert_allclose(s.joints_2d, project(xyz[i % 4], K[i % 4]))


def test_stb_layout(tmp_path):
    root, canon_left = stb_layout(tmp_path)
    ds = open_dataset("stb", root, "test")
    assert len(ds) == 2 * 2 * 3  # 2 sequences x stereo pair x 3 frames
    left, right = ds[0], ds[1 * 3]
    assert left.handedness == "left" and left.sequence_id == "B1Counting/BB_left"
    np.testing.assert_allclose(left.joints_3d, canon_left[0], atol=1e-6)  # the wrist comes back exactly
    np.testing.assert_allclose(left.extra["palm_mm"], 0.5 * (canon_left[0, 0] + canon_left[0, 9]), atol=1e-6)
    np.testing.assert_allclose(left.K, BB_K)
    # the right camera sees the same hand shifted by the baseline: u_right = u_left - fx * B / z
    z = left.joints_3d[:, 2]
    np.testing.assert_allclose(right.joints_2d[:, 0], left.joints_2d[:, 0] - BB_K[0, 0] * BB_BASELINE_MM / z, atol=1e-6)
    assert left.image.shape == (480, 640, 3)


def test_ge_realworld_reads_the_real_photos():
    ds = open_dataset("ge-realworld", shared("ge2019-realworld-dev"))
    assert len(ds) == 100
    s = ds[7]
    check_schema(s)
    assert s.image.shape == (256, 256, 3) and s.handedness == "left"
    assert ((s.joints_2d > 0) & (s.joints_2d < 256)).all()
    assert 300 < s.joints_3d[0, 2] < 1500  # mm in front of the camera


def test_dexycb_sequences_and_windows():
    ds = open_dataset("dexycb", shared("dexycb-left-sequences"))
    # 7,057 frames since the sample dropped DexYCB's 203 frames without an annotated hand (its SOURCES.md)
    assert len(ds) == 7057 and len(ds.sequences()) == 100
    wrist_z = np.array([r["joints_3d"][0, 2] for r in ds.records])
    assert wrist_z.min() > 100.0  # no flat hand at the camera origin left (mm in front of the camera)
    s = ds[0]
    check_schema(s)
    assert s.image is None and s.handedness == "left" and s.frame_index is not None
    wins = frame_windows(ds, size=5)
    assert len(wins) == sum(len(v) - 4 for v in ds.sequences().values())
    joints, valid = window_joints(ds, wins[10])
    frames = [ds.records[i]["frame_index"] for i in wins[10]]
    assert joints.shape == (5, 21, 3) and valid.all() and np.all(np.diff(frames) == 1)
    assert len({ds.records[i]["sequence_id"] for i in wins[10]}) == 1


def test_errors_name_the_file(tmp_path):
    with pytest.raises(DiffuhandError, match="unknown data set"):
        open_dataset("coco", tmp_path)
    with pytest.raises(DiffuhandError, match="no such folder"):
        open_dataset("rhd", tmp_path / "nope")
    (tmp_path / "annotations" / "test").mkdir(parents=True)
    (tmp_path / "annotations" / "test" / "InterHand2.6M_test_data.json").write_text("{broken")
    with pytest.raises(DiffuhandError, match="InterHand2.6M_test_data.json: corrupt JSON"):
        open_dataset("interhand26m", tmp_path, "test")
    with pytest.raises(DiffuhandError, match="pose_gt.mat: no such file"):
        open_dataset("ge-realworld", tmp_path)
    assert set(DATASETS) == {"rhd", "stb", "freihand", "interhand26m", "ge-realworld", "dexycb", "synth"}
