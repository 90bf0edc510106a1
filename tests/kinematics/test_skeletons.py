"""Skeleton conventions: the shipped ones are the mean bone ratios of their data sets' IK fits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diffuhand.errors import DiffuhandError
from diffuhand.kinematics import fit_ik
from diffuhand.kinematics.skeletons import load_skeleton, save_skeleton, skeleton_from_fits, skeleton_names

from ..conftest import shared


def test_shipped_skeletons_differ_where_the_conventions_do():
    assert {"ge2019", "mano"} <= set(skeleton_names())
    ge, mano = load_skeleton("ge2019"), load_skeleton("mano")
    assert ge.bone_ratios[4] == pytest.approx(1.0) and mano.bone_ratios[4] == pytest.approx(1.0)  # the anchor
    # MANO's index proximal phalanx (index MCP -> PIP, bone 5) is much shorter than Ge et al.'s rig's
    assert mano.bone_ratios[5] < 0.8 * ge.bone_ratios[5]


def test_the_ge2019_skeleton_is_the_mean_of_its_gesture_poses_fits():
    g = np.load(shared("ge2019-gesture-poses/gesture_poses.npz"))["joints_cm"].astype(np.float64) * 10.0
    fit = fit_ik(torch.as_tensor(g[::5] * np.array([-1.0, 1.0, 1.0])))  # left hands, mirrored
    assert np.abs(fit.bone_ratios.numpy().mean(0) - load_skeleton("ge2019").bone_ratios).max() < 0.02


def test_round_trip_and_errors(tmp_path):
    ratios = np.tile(load_skeleton("mano").bone_ratios, (3, 1)) * np.array([[1.0], [1.1], [0.9]])
    sk = skeleton_from_fits("mine", ratios, np.array([80.0, 90.0, 100.0]), {"note": "test"})
    save_skeleton(sk, tmp_path / "s.json")
    back = load_skeleton("mine", str(tmp_path / "s.json"))
    assert np.allclose(back.bone_ratios, load_skeleton("mano").bone_ratios, atol=1e-6)
    assert back.anchor_mm == pytest.approx(90.0) and back.provenance["poses"] == 3
    with pytest.raises(DiffuhandError, match="no skeleton 'other'"):
        load_skeleton("other", str(tmp_path / "s.json"))
    with pytest.raises(DiffuhandError):
        skeleton_from_fits("bad", np.zeros((0, 20)), np.zeros(0))
