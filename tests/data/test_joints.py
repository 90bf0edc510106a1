import json

import numpy as np
import pytest
import scipy.io

from diffuhand.data.joints import find_joint_files, read_joints
from diffuhand.errors import DiffuhandError
from diffuhand.kinematics.conventions import from_canonical


@pytest.fixture
def pose():
    return np.random.default_rng(0).normal(size=(3, 21, 3))


def test_formats_and_units(tmp_path, pose):
    np.save(tmp_path / "a.npy", pose)
    (tmp_path / "b.json").write_text(json.dumps(pose.tolist()))
    (tmp_path / "c.json").write_text(json.dumps({"joints_cm": pose.tolist(), "side": "left"}))
    np.savez(tmp_path / "d.npz", joints_m=pose, side=np.array("left"), frame=np.arange(3))
    scipy.io.savemat(tmp_path / "e.mat", {"pose_gt": pose})
    np.testing.assert_allclose(read_joints(tmp_path / "a.npy", unit="mm").joints_mm, pose)
    np.testing.assert_allclose(read_joints(tmp_path / "b.json", unit="m").joints_mm, pose * 1000)
    c = read_joints(tmp_path / "c.json")
    np.testing.assert_allclose(c.joints_mm, pose * 10)
    assert c.side == "left" and c.key == "joints_cm"
    np.testing.assert_allclose(c.as_right()[..., 0], -c.joints_mm[..., 0])
    d = read_joints(tmp_path / "d.npz")
    np.testing.assert_allclose(d.joints_mm, pose * 1000)
    assert d.side == "left"
    np.testing.assert_allclose(read_joints(tmp_path / "e.mat", unit="cm").joints_mm, pose * 10)
    single = tmp_path / "s.npy"
    np.save(single, pose[0])
    assert read_joints(single, unit="mm").joints_mm.shape == (1, 21, 3)
    assert find_joint_files([tmp_path]) == sorted(tmp_path.glob("*.*"))


def test_joint_order(tmp_path, pose):
    np.save(tmp_path / "rhd.npy", from_canonical(pose, "rhd"))
    np.testing.assert_allclose(read_joints(tmp_path / "rhd.npy", unit="mm", order="rhd").joints_mm, pose)


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("empty.npy", b"", "empty file"),
        ("text.npy", b"hello", "cannot read joints"),
        ("bad.json", b"{not json", "cannot read joints"),
        ("shape.json", json.dumps([[1, 2, 3]] * 20).encode(), r"shape \(21, 3\) or \(N, 21, 3\)"),
        ("nan.json", json.dumps([[float("nan")] * 3] * 21).encode(), "NaN"),
        ("x.txt", b"1 2 3", "unsupported file type"),
    ],
)
def test_bad_files(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DiffuhandError, match=message) as info:
        read_joints(path, unit="mm")
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_missing_and_ambiguous(tmp_path, pose):
    with pytest.raises(DiffuhandError, match="no such file"):
        read_joints(tmp_path / "nope.npy", unit="mm")
    np.savez(tmp_path / "two.npz", a=pose, b=pose)
    with pytest.raises(DiffuhandError, match="several arrays"):
        read_joints(tmp_path / "two.npz", unit="mm")
    assert read_joints(tmp_path / "two.npz", unit="mm", key="b").key == "b"
    np.save(tmp_path / "nounit.npy", pose)
    with pytest.raises(DiffuhandError, match="unknown unit"):
        read_joints(tmp_path / "nounit.npy")
    with pytest.raises(DiffuhandError, match="no joint files"):
        (tmp_path / "empty_dir").mkdir()
        find_joint_files([tmp_path / "empty_dir"])
