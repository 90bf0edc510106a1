"""benchmarks/bench_render_twins.py: a twin is rendered where the hand it copies is (left hands too), turned views
keep the hand in place, and the ratio's interval resamples photos with their twins."""

from types import SimpleNamespace

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from diffuhand.errors import DiffuhandError

from ..conftest import load_benchmark, shared

SIZE = 128
#: a camera like the dev photos' (focal length 480 px at 256 px), at this test's image size
K = np.array([[240.0, 0.0, 64.0], [0.0, 240.0, 64.0], [0.0, 0.0, 1.0]])


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("bench_render_twins")


@pytest.fixture(scope="module")
def renderer():
    from diffuhand.synth.render import Renderer

    try:
        r = Renderer(SIZE)
    except DiffuhandError as exc:
        pytest.skip(f"offscreen renderer unavailable: {exc}")
    yield r
    r.close()


def _hand(side: str, seed: int = 0) -> np.ndarray:
    """A hand of the model in a pose drawn inside the limits, palm about towards the camera, its joints' centre on
    the optical axis 600 mm away: (21, 3) mm in the camera frame; a left hand is the mirror image (x flipped) of
    the right hand drawn."""
    from diffuhand.kinematics.fk_numpy import forward_kinematics
    from diffuhand.kinematics.limits import load_limits

    lim, rng = load_limits(), np.random.default_rng(seed)
    angles = lim.angle_neutral + rng.uniform(-0.3, 0.3, 41) * (lim.angle_max - lim.angle_min)
    angles = np.clip(angles, lim.angle_min, lim.angle_max)
    rot = Rotation.from_euler("xyz", [180.0, 0.0, 80.0], degrees=True).as_matrix()  # fingers up, palm seen
    joints = forward_kinematics(angles, lim.ratio_neutral, 85.0, rot, np.zeros(3))
    joints = joints - joints.mean(0) + np.array([0.0, 0.0, 600.0])
    return joints * np.array([-1.0, 1.0, 1.0]) if side == "left" else joints


def _sample(side: str, seed: int = 0) -> SimpleNamespace:
    return SimpleNamespace(joints_3d=_hand(side, seed), handedness=side, K=K)


def _cfg(bench):
    return bench.scene_config("legacy", SIZE, {"p_occluder": 0.0})


@pytest.mark.parametrize("side", ["right", "left"])
def test_a_twin_is_rendered_where_its_hand_is(bench, renderer, side):
    """The twin's labels are the hand's joints (within the fit) and its 2D their projection by the photo's camera,
    its side the hand's: a left hand's mirror image placed as the right hand would be fails this."""
    from diffuhand.synth.mesh import default_hand_mesh

    sample = _sample(side)
    _, residual = bench.twin_pose(sample.joints_3d, side)
    assert residual < 0.5
    items, photo_of, residuals, clear = bench.render_twins([sample], _cfg(bench), renderer, default_hand_mesh(), 2, 7)
    assert photo_of == [0, 0] and residuals == [pytest.approx(residual)] and all(clear)
    uvw = sample.joints_3d @ K.T
    for image, uv, xyz, k, hand_side in items:
        assert hand_side == side and np.array_equal(k, K)
        assert np.linalg.norm(xyz - sample.joints_3d, axis=1).max() < 2.0
        assert np.abs(uv - uvw[:, :2] / uvw[:, 2:]).max() < 0.5
    assert not np.array_equal(items[0][0], items[1][0])  # each twin its own skin, light and background


def test_a_turned_view_keeps_the_hand_in_place(bench, renderer):
    """views="scene": the hand turned about its joints' centre, so the twin is where the photo's hand was, in
    another orientation; poses="scene" keeps its size."""
    from diffuhand.synth.mesh import default_hand_mesh

    sample = _sample("left", seed=3)
    centre = sample.joints_3d.mean(0)
    from diffuhand.kinematics.limits import load_limits

    fist = load_limits().angle_max.copy()  # every joint bent as far as it goes: far from the photo's hand
    frames = bench.RealFrames(fist[None], np.eye(3)[None])
    for poses in ("photo", "scene", "dexycb"):
        items, *_ = bench.render_twins(
            [sample], _cfg(bench), renderer, default_hand_mesh(), 1, 5, poses=poses, views="scene", frames=frames
        )
        xyz = items[0][2]
        if poses == "photo":  # the same hand turned: its centre stays, its shape is the photo's
            assert np.linalg.norm(xyz.mean(0) - centre) < 1.0
            assert np.allclose(
                np.linalg.norm(xyz - xyz.mean(0), axis=1), np.linalg.norm(sample.joints_3d - centre, axis=1), atol=2.0
            )
            assert np.linalg.norm(xyz - sample.joints_3d, axis=1).mean() > 5.0  # it was turned
        else:  # the prior's hand, turned about its own centre: where it is with the photo's view, same seed
            same, *_ = bench.render_twins(
                [sample], _cfg(bench), renderer, default_hand_mesh(), 1, 5, poses=poses, frames=frames
            )
            assert np.linalg.norm(xyz.mean(0) - same[0][2].mean(0)) < 1e-6
            assert np.linalg.norm(xyz - same[0][2], axis=1).mean() > 5.0
        palm = np.linalg.norm(sample.joints_3d[9] - sample.joints_3d[0])  # wrist -> middle MCP: ratios, size kept
        assert np.linalg.norm(xyz[9] - xyz[0]) == pytest.approx(palm, rel=0.02)
    with pytest.raises(ValueError, match="poses and views must be one of"):
        bench.render_twins([sample], _cfg(bench), renderer, default_hand_mesh(), 1, 5, views="anywhere")


def test_turned_about_is_a_rotation_about_the_centre(bench):
    from diffuhand.kinematics.fk_numpy import forward_kinematics

    joints = _hand("right", seed=1)
    pose, _ = bench.twin_pose(joints, "right")
    new = Rotation.from_euler("xyz", [20.0, -50.0, 110.0], degrees=True).as_matrix()
    centre = joints.mean(0)
    angles, ratios, anchor, rot, pos, _ = bench.turned_about(pose, new, centre)
    assert np.array_equal(rot, new)
    before = forward_kinematics(pose[0], pose[1], pose[2], pose[3], pose[4])
    after = forward_kinematics(angles, ratios, anchor, rot, pos)
    turn = new @ pose[3].T
    assert np.allclose(after - centre, (before - centre) @ turn.T, atol=1e-9)


@pytest.mark.parametrize("side", ["right", "left"])
def test_pose_joints_are_the_fitted_hand(bench, side):
    """A fitted pose's joints (a left hand's through the mirror) are the hand it was fitted to, and turning it about
    its default centre keeps its joints' centre."""
    joints = _hand(side, seed=2)
    pose, residual = bench.twin_pose(joints, side)
    assert np.linalg.norm(bench.pose_joints(pose) - joints, axis=1).mean() == pytest.approx(residual, abs=1e-6)
    turned = bench.turned_about(pose, Rotation.from_euler("xyz", [40.0, 10.0, -70.0], degrees=True).as_matrix())
    assert np.allclose(bench.pose_joints(turned).mean(0), bench.pose_joints(pose).mean(0), atol=1e-9)


def test_paired_ratio_weighs_each_photo_by_its_twins(bench):
    """paired: a photo counts once per twin (one without twins not at all); the draws reported are those with a
    ratio, fewer where a resample misses every found photo."""
    photos = [8.0, 20.0, 10.0]
    of = [0, 0, 0, 2]  # photo 1 has no twin given; photo 0 three
    twins = [9.0, 9.0, 9.0, 11.0]
    out = bench.paired_ratio(photos, twins, of, draws=100, paired=True)
    assert out["ratio"] == pytest.approx(9.5 / ((3 * 8.0 + 10.0) / 4))  # the twins: 38 / 4
    assert bench.paired_ratio(photos, twins, of, draws=100)["ratio"] == pytest.approx(9.5 / (38.0 / 3))
    # one photo found of three: a third of the resamples miss it, and have no ratio
    out = bench.paired_ratio(
        [8.0, None, None], [9.0, 9.0, 9.0], [0, 1, 2], draws=300, generator=np.random.default_rng(2)
    )
    assert 150 < out["draws"] < 250


def test_paired_ratio(bench):
    photos = [8.0, 9.0, 10.0, None, 12.0]
    of = [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    same = [photos[i] for i in of]
    out = bench.paired_ratio(photos, same, of, draws=200)
    assert out["ratio"] == pytest.approx(1.0) and out["low"] == pytest.approx(1.0) and out["high"] == pytest.approx(1.0)
    # every twin 1.2x its photo: every resample says 1.2 (a photo MediaPipe missed weighs nothing on either side)
    scaled = [None if p is None else 1.2 * p for p in same]
    out = bench.paired_ratio(photos, scaled, of, draws=200)
    assert out["low"] == pytest.approx(1.2) and out["high"] == pytest.approx(1.2)
    # twins missed count for nothing; one photo's twins far off widen the interval about the point
    noisy = [*scaled[:2], None, 30.0, *scaled[4:]]
    out = bench.paired_ratio(photos, noisy, of, draws=500, generator=np.random.default_rng(1))
    expected = np.mean([v for v in noisy if v is not None]) / np.mean([8.0, 9.0, 10.0, 12.0])
    assert out["ratio"] == pytest.approx(expected)
    assert out["low"] < out["ratio"] < out["high"]
    with pytest.raises(ValueError, match="twins"):
        bench.paired_ratio(photos, same[:-1], of)


def test_twins_can_keep_the_scenes_proportions(bench):
    """ratios given: the fit keeps them (only size, angles and root fitted), so a hand of other proportions is
    fitted with a residual; fitted freely, its own proportions come back."""
    from diffuhand.kinematics.limits import load_limits

    lim = load_limits()
    joints = _hand("left", seed=2)
    own, residual = bench.twin_pose(joints, "left")
    assert np.allclose(own[1], lim.ratio_neutral, atol=1e-3) and residual < 0.5
    other = np.clip(lim.ratio_neutral * 1.15, lim.ratio_min, lim.ratio_max)
    kept, residual = bench.twin_pose(joints, "left", ratios=other)
    assert np.array_equal(kept[1], other) and residual > 1.0


def test_a_real_frames_twin_is_that_frames_grasp_seen_as_its_camera_saw_it(bench, renderer):
    """poses and views "dexycb": the twin's hand is the frame's (its angles, and its orientation in the frame's
    camera, mirrored for a left hand), at the photo's size and place; without the frames, a clear error."""
    from diffuhand.kinematics.fk_numpy import forward_kinematics
    from diffuhand.kinematics.limits import load_limits
    from diffuhand.synth.mesh import default_hand_mesh

    lim, rng = load_limits(), np.random.default_rng(4)
    angles = np.clip(
        lim.angle_neutral + rng.uniform(-0.25, 0.25, 41) * (lim.angle_max - lim.angle_min), lim.angle_min, lim.angle_max
    )
    rotation = Rotation.from_euler("xyz", [150.0, 20.0, -30.0], degrees=True).as_matrix()
    frames = bench.RealFrames(angles[None], rotation[None])
    sample = _sample("left", seed=5)
    fitted, _ = bench.twin_pose(sample.joints_3d, "left")
    items, *_ = bench.render_twins(
        [sample], _cfg(bench), renderer, default_hand_mesh(), 1, 3, poses="dexycb", views="dexycb", frames=frames
    )
    xyz = items[0][2]
    # the right-hand model in the frame's pose and orientation, at the photo's size, mirrored to a left hand
    right = forward_kinematics(angles, fitted[1], fitted[2], rotation, np.zeros(3))
    expected = right * np.array([-1.0, 1.0, 1.0])
    assert np.allclose(xyz - xyz.mean(0), expected - expected.mean(0), atol=1e-3)
    assert np.linalg.norm(xyz.mean(0) - bench.pose_joints((angles, *fitted[1:])).mean(0)) < 1e-6
    with pytest.raises(ValueError, match="DexYCB frames"):
        bench.render_twins([sample], _cfg(bench), renderer, default_hand_mesh(), 1, 3, poses="dexycb")


def test_real_frames_are_fitted_dexycb_hands(bench):
    """The frames' fits reproduce the real hands: FK of each fit (mirrored back, the hands are left) lies on the
    frame's joints within the residual the fit reports."""
    from diffuhand.data import open_dataset
    from diffuhand.kinematics import fit_ik
    from diffuhand.kinematics.conventions import mirror
    from diffuhand.kinematics.fk_numpy import forward_kinematics

    dexycb = shared("dexycb-left-sequences")
    frames = bench.real_frames(dexycb, count=8, seed=1)
    assert frames.angles.shape == (8, 41) and frames.rotations.shape == (8, 3, 3)
    prov = frames.provenance  # what the results' JSON records of them
    assert prov["root"] == dexycb.name and prov["seed"] == 1 and prov["drawn"] == prov["kept"] == 8
    assert prov["residual_mm"]["max"] <= prov["max_residual_mm"] == bench.REAL_MAX_RESIDUAL_MM
    ds = open_dataset("dexycb", dexycb)
    pick = np.random.default_rng(1).choice(len(ds), size=8, replace=False)
    joints = np.stack([mirror(ds[int(i)].joints_3d) for i in pick])
    fit = fit_ik(joints, as_numpy=True)
    posed = forward_kinematics(
        frames.angles,
        np.asarray(fit.bone_ratios),
        np.asarray(fit.anchor_length),
        frames.rotations,
        np.asarray(fit.root_position),
    )
    assert np.linalg.norm(posed - joints, axis=-1).mean() < 2.0
    assert np.allclose(
        frames.rotation_for(0, "left"), np.diag([-1.0, 1, 1]) @ frames.rotations[0] @ np.diag([-1.0, 1, 1])
    )
