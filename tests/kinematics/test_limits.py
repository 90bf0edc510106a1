import json

import numpy as np
import pytest

from diffuhand.errors import DiffuhandError
from diffuhand.kinematics import derive_limits, load_limits
from diffuhand.kinematics.limits import LIMITS_VERSION, Limits, anatomical_limits
from diffuhand.kinematics.skeleton import ANCHOR_BONE, ANGLE_NAMES, PINNED_ANGLES


def test_shipped_limits_are_derived_from_real_hands():
    lim = load_limits()
    prov = lim.provenance
    assert prov["method"] == "robust percentiles of IK fits"
    files = [s["file"] for s in prov["sources"]]
    assert sum(f.startswith("20200") for f in files) == 100 and "gesture_poses.npz" in files  # DexYCB + gestures
    assert prov["poses"] > 7000 and "diffuhand limits" in prov["command"]
    assert all(s["side"] == "left" for s in prov["sources"])  # both sets hold left hands, mirrored for the fit
    for name in PINNED_ANGLES:
        i = ANGLE_NAMES.index(name)
        assert lim.angle_min[i] == lim.angle_max[i] == 0.0
    assert lim.ratio_min[ANCHOR_BONE] == lim.ratio_max[ANCHOR_BONE] == 1.0
    assert lim.contains(lim.angle_neutral, lim.ratio_neutral)
    assert 60 < lim.anchor_mm < 110
    # narrower than the anatomical box they were searched in, except the free root
    box = anatomical_limits()
    assert np.all(lim.angle_min >= box.angle_min) and np.all(lim.angle_max <= box.angle_max)
    assert (lim.angle_max - lim.angle_min)[3:].sum() < 0.6 * (box.angle_max - box.angle_min)[3:].sum()


def test_round_trip(tmp_path):
    lim = load_limits()
    lim.save(tmp_path / "l.json")
    back = load_limits(tmp_path / "l.json")
    np.testing.assert_allclose(back.angle_min, lim.angle_min, atol=1e-6)
    np.testing.assert_allclose(back.ratio_max, lim.ratio_max, atol=1e-5)
    assert back.provenance == lim.provenance
    assert json.loads((tmp_path / "l.json").read_text())["version"] == LIMITS_VERSION


@pytest.mark.parametrize(
    "content, message",
    [
        ("{", "cannot read limits"),
        ("[1, 2]", "not a diffuhand-limits file"),
        ('{"format": "other"}', "not a diffuhand-limits file"),
        ('{"format": "diffuhand-limits", "version": 99}', "version 99"),
        ('{"format": "diffuhand-limits", "version": 1, "angles": {}, "bone_ratios": {}}', "missing entries"),
    ],
)
def test_bad_files(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(DiffuhandError, match=message):
        load_limits(path)
    with pytest.raises(DiffuhandError, match="no such file"):
        load_limits(tmp_path / "missing.json")


def test_derive_limits_takes_robust_percentiles():
    rng = np.random.default_rng(0)
    n = 20000
    box = anatomical_limits()
    centre = (box.angle_min + box.angle_max) / 2
    angles = np.clip(centre + rng.uniform(-0.2, 0.2, size=(n, 41)), box.angle_min, box.angle_max)
    angles[:5, 10] = 1.9  # outliers beyond the percentiles
    ratios = np.clip(rng.uniform(0.3, 0.5, size=(n, 20)), box.ratio_min, box.ratio_max)
    lim = derive_limits(angles, ratios, np.full(n, 80.0), percentiles=(1, 99), margin=0.0)
    free = box.angle_max > box.angle_min
    free[:3] = False
    np.testing.assert_allclose(lim.angle_min[free], (centre - 0.196)[free], atol=0.01)
    np.testing.assert_allclose(lim.angle_max[free], (centre + 0.196)[free], atol=0.01)
    assert lim.angle_max[10] < 1.0  # the outliers did not widen it
    np.testing.assert_allclose(lim.ratio_min[np.arange(20) != ANCHOR_BONE], 0.302, atol=0.005)
    assert lim.anchor_mm == 80.0
    wider = derive_limits(angles, ratios, np.full(n, 80.0), percentiles=(1, 99), margin=0.5)
    assert np.all(wider.angle_max[free] > lim.angle_max[free])


def test_limits_validate():
    lim = load_limits()
    with pytest.raises(DiffuhandError):
        Limits(lim.angle_max, lim.angle_min - 1, lim.angle_neutral, lim.ratio_min, lim.ratio_max, lim.ratio_neutral)
    with pytest.raises(DiffuhandError):
        Limits(lim.angle_min[:40], lim.angle_max, lim.angle_neutral, lim.ratio_min, lim.ratio_max, lim.ratio_neutral)
