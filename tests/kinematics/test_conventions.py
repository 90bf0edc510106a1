"""Joint-order conversions, each checked on real samples: reprojection onto published 2D keypoints, and an IK
fit that only a correctly ordered hand passes (a mis-ordered one cannot be bent into shape)."""

import json

import numpy as np
import pytest

from diffuhand.errors import DiffuhandError
from diffuhand.kinematics.conventions import ORDERS, convert, from_canonical, mirror, stb_palm_to_wrist, to_canonical
from diffuhand.kinematics.ik import fit_ik
from diffuhand.kinematics.skeleton import JOINT_NAMES

from ..conftest import shared


def project(xyz, f, c):
    return xyz[..., :2] / xyz[..., 2:] * np.asarray(f) + np.asarray(c)


@pytest.mark.parametrize("name", sorted(ORDERS))
def test_orders_are_permutations_and_round_trip(name):
    assert sorted(ORDERS[name]) == list(range(21))
    x = np.random.default_rng(0).normal(size=(4, 21, 3))
    np.testing.assert_array_equal(from_canonical(to_canonical(x, name), name), x)
    np.testing.assert_array_equal(convert(convert(x, "canonical", name), name, "canonical"), x)


def test_unknown_order():
    with pytest.raises(DiffuhandError, match="unknown joint order"):
        to_canonical(np.zeros((21, 3)), "coco")


def test_rhd_samples():
    data = json.loads((shared("mmpose-samples/tests/data/rhd") / "test_rhd.json").read_text())
    cams = {im["id"]: im["cam_param"] for im in data["images"]}
    for ann in data["annotations"]:
        xyz = to_canonical(np.asarray(ann["joint_cam"], dtype=np.float64), "rhd")
        uv = to_canonical(np.asarray(ann["keypoints"], dtype=np.float64), "rhd")[:, :2]
        cam = cams[ann["image_id"]]
        assert np.abs(project(xyz, cam["focal"], cam["princpt"]) - uv).max() < 1.0  # px
        right = mirror(xyz) if ann["hand_type"] == "left" else xyz
        assert float(fit_ik(right).residual) < 5.0
        # read in the wrong order, the same hand does not fit
        wrong = (
            mirror(np.asarray(ann["joint_cam"], dtype=np.float64))
            if ann["hand_type"] == "left"
            else np.asarray(ann["joint_cam"])
        )
        assert float(fit_ik(wrong).residual) > 10.0


def test_interhand_samples():
    folder = shared("mmpose-samples/tests/data/interhand2.6m")
    joints = json.loads((folder / "test_interhand2.6m_joint_3d.json").read_text())
    cams = json.loads((folder / "test_interhand2.6m_camera.json").read_text())
    data = json.loads((folder / "test_interhand2.6m_data.json").read_text())
    fitted = 0
    for im, ann in zip(data["images"], data["annotations"]):
        cap, cam, frame = str(im["capture"]), im["camera"], str(im["frame_idx"])
        rec = joints[cap][frame]
        world = np.asarray(rec["world_coord"], dtype=np.float64)
        valid = np.asarray(rec["joint_valid"], dtype=bool).reshape(42)
        rot, campos = np.asarray(cams[cap]["camrot"][cam]), np.asarray(cams[cap]["campos"][cam])
        xyz = (world - campos) @ rot.T
        uv = project(xyz, cams[cap]["focal"][cam], cams[cap]["princpt"][cam])
        x, y, w, h = ann["bbox"]
        inside = (
            (uv[:, 0] > x - 0.1 * w) & (uv[:, 0] < x + 1.1 * w) & (uv[:, 1] > y - 0.1 * h) & (uv[:, 1] < y + 1.1 * h)
        )
        assert inside[valid].mean() > 0.9
        for hand, sl in (("right", slice(0, 21)), ("left", slice(21, 42))):
            v = to_canonical(valid[sl][:, None], "interhand")[:, 0]
            if v.sum() < 15:
                continue
            hxyz = to_canonical(xyz[sl], "interhand")
            res = fit_ik(mirror(hxyz) if hand == "left" else hxyz, valid=v)
            assert float(res.residual) < 5.0, (im["file_name"], hand)
            fitted += 1
    assert fitted >= 4


def test_mano_order_on_dexycb(dexycb_right_mm):
    seq = dexycb_right_mm[0][::6]
    assert float(fit_ik(seq).residual.mean()) < 3.0
    wrong = mirror(from_canonical(mirror(seq), "mano"))  # the raw MANO order read as if canonical
    assert float(fit_ik(wrong).residual.mean()) > 10.0


def test_mediapipe_names_match_the_canonical_order():
    pose_format = pytest.importorskip("pose_format", reason="pose-format reads the MediaPipe .pose samples")
    path = shared("sign-language-pose/src/python/tests/data/mediapipe.pose")
    pose = pose_format.Pose.read(path.read_bytes())
    comp = next(c for c in pose.header.components if c.name == "RIGHT_HAND_LANDMARKS")
    mp_names = [n.lower().replace("_finger", "") for n in comp.points]
    assert [mp_names[i] for i in ORDERS["mediapipe"]] == list(JOINT_NAMES)
    # and the tracked hands are anatomically ordered: the four MCPs lie side by side, index..pinky
    start = sum(len(c.points) for c in pose.header.components[: pose.header.components.index(comp)])
    xy = np.asarray(pose.body.data[:, 0, start : start + 21, :2].filled(np.nan))
    conf = np.asarray(pose.body.confidence[:, 0, start : start + 21])
    xy = to_canonical(xy[conf.min(-1) > 0], "mediapipe")
    assert len(xy) > 100
    d = lambda a, b: np.linalg.norm(xy[:, a] - xy[:, b], axis=-1)
    assert np.mean((d(5, 9) < d(5, 17)) & (d(13, 17) < d(5, 17))) > 0.95


def test_freihand_2d_keypoints_are_canonical():
    data = json.loads((shared("mmpose-samples/tests/data/freihand") / "test_freihand.json").read_text())
    for ann in data["annotations"]:
        uv = to_canonical(np.asarray(ann["keypoints"], dtype=np.float64).reshape(21, 3)[:, :2], "freihand")
        d = lambda a, b, uv=uv: np.linalg.norm(uv[a] - uv[b])
        assert d(5, 9) < d(5, 17) and d(13, 17) < d(5, 17)  # MCPs side by side
        assert d(0, 9) > d(5, 9)  # the wrist is not among the knuckles


def test_ge2019_realworld_projects_onto_its_crops(realworld):
    gt, params = realworld
    folder = shared("ge2019-realworld-dev")
    from PIL import Image

    for i in (0, 50, 99):
        fx, fy, u0, v0 = params["cam_param"][i]
        x, y, w, h = params["bbox"][i]
        uv = (project(gt[i], (fx, fy), (u0, v0)) - [x, y]) * 256.0 / np.array([w, h])
        assert ((uv > 0) & (uv < 256)).all()
        assert Image.open(folder / "images" / f"{i:05d}.jpg").size == (256, 256)
    assert float(fit_ik(mirror(to_canonical(gt, "ge2019"))).residual.mean()) < 3.0


def test_stb_order_and_palm():
    # no STB sample is shipped in shared/data: the order follows the STB readers of Ge et al. 2019 and
    # Spurr et al. (palm, then pinky, ring, middle, index, thumb, each base -> tip)
    stb = np.arange(21)
    canon = to_canonical(stb[:, None], "stb")[:, 0]
    assert canon[0] == 0 and list(canon[1:5]) == [17, 18, 19, 20] and list(canon[17:21]) == [1, 2, 3, 4]
    palm = np.zeros((21, 3))
    palm[9] = [0, 40, 0]
    palm[0] = [0, 20, 0]
    np.testing.assert_allclose(stb_palm_to_wrist(palm)[0], [0, 0, 0])
