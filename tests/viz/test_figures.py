"""The figure writers leave matplotlib's global state alone (a library must not switch the caller's backend)."""

import matplotlib
import numpy as np
import pytest

from diffuhand.kinematics import forward_kinematics, load_limits
from diffuhand.kinematics.poses import named_poses


@pytest.fixture
def pdf_backend():
    """The caller's backend, set to a non-default one for the test, restored after."""
    import matplotlib.pyplot as plt

    before = matplotlib.get_backend()
    plt.switch_backend("pdf")
    yield "pdf"
    plt.switch_backend(before)


def test_plots_keep_the_callers_backend_and_figures(tmp_path, pdf_backend):
    import matplotlib.pyplot as plt

    from diffuhand.pipeline import HandResult
    from diffuhand.viz.overlay import plot_hands_3d
    from diffuhand.viz.skeleton3d import plot_fits

    _, angles, ratios = named_poses(load_limits())
    joints = forward_kinematics(angles[:2], ratios[:2], 88.0).numpy()
    open_figures = plt.get_fignums()
    plot_fits(tmp_path / "fits.png", joints, joints + 1.0, ["a", "b"])
    hand = HandResult(
        handedness="left",
        score=0.9,
        box=np.zeros(4),
        joints_2d=np.zeros((21, 2)),
        joints_3d=joints[0],
        angles=np.zeros(41),
        bone_ratios=np.ones(20),
        uncertainty_mm=np.zeros(21),
    )
    plot_hands_3d([hand], tmp_path / "hands.png", title="t")
    assert matplotlib.get_backend() == pdf_backend and plt.get_fignums() == open_figures
    for name in ("fits.png", "hands.png"):
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG") and (tmp_path / name).stat().st_size > 10_000
