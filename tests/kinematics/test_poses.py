import pytest
import torch

from diffuhand.kinematics import forward_kinematics, load_limits
from diffuhand.kinematics.poses import NAMED_POSES, named_pose, named_poses


@pytest.fixture(scope="module")
def joints():
    names, angles, ratios = named_poses()
    return dict(zip(names, forward_kinematics(angles, ratios, 85.0)))


def tip_to_wrist(j, finger):
    return float((j[4 + 4 * finger] - j[0]).norm())


def test_poses_lie_within_the_limits():
    names, angles, ratios = named_poses()
    assert len(names) >= 8 and set(names) >= {"open", "fist", "point", "pinch", "ok", "thumbs_up"}
    assert load_limits().contains(angles, ratios)


def test_poses_look_like_their_names(joints):
    fist, open_ = joints["fist"], joints["open"]
    for f in range(1, 5):
        assert tip_to_wrist(fist, f) < 0.6 * tip_to_wrist(open_, f)  # curled fingers come back to the palm
    point = joints["point"]
    assert tip_to_wrist(point, 1) > 1.5 * max(tip_to_wrist(point, f) for f in (2, 3, 4))
    peace = joints["peace"]
    assert min(tip_to_wrist(peace, 1), tip_to_wrist(peace, 2)) > 1.5 * max(
        tip_to_wrist(peace, 3), tip_to_wrist(peace, 4)
    )
    for name in ("pinch", "ok"):
        assert float((joints[name][4] - joints[name][8]).norm()) < 15.0  # thumb tip meets index tip
    assert tip_to_wrist(joints["thumbs_up"], 0) > 1.5 * tip_to_wrist(joints["fist"], 0)


def test_unknown_pose():
    with pytest.raises(KeyError, match="known"):
        named_pose("wave")
    assert "relaxed" in NAMED_POSES and torch.equal(
        named_pose("relaxed")[0], torch.as_tensor(load_limits().angle_neutral)
    )


def test_a_pose_naming_an_unknown_angle_is_refused_even_under_python_O():
    from diffuhand.kinematics.poses import check_named_poses

    check_named_poses(NAMED_POSES)  # the shipped table passes
    with pytest.raises(ValueError, match="'typo'.*'index_pip.flx'"):
        check_named_poses({"typo": {"index_pip.flx": 10.0}})
