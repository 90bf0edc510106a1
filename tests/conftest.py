"""Shared fixtures: the real samples in ../shared/data (tests that need them skip, with the reason, when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config) -> None:
    """Files made on first use (the shipped U-Net's ONNX export) go to a cache of this run, not the user's."""
    import tempfile

    os.environ.setdefault("DIFFUHAND_CACHE", tempfile.mkdtemp(prefix="diffuhand-cache-"))


def shared_data_dir() -> Path:
    return Path(os.environ.get("DIFFUHAND_SHARED_DATA", ROOT.parent / "shared" / "data"))


def shared(sub: str) -> Path:
    """Path to ``sub`` inside the shared data folder, or skip the test saying which folder is missing."""
    path = shared_data_dir() / sub
    if not path.exists():
        pytest.skip(f"real sample data not found at {path} (set DIFFUHAND_SHARED_DATA to the shared/data folder)")
    return path


@pytest.fixture(scope="session")
def dexycb_right_mm():
    """All DexYCB sequences as right hands, canonical order, mm: list of (T, 21, 3) float64."""
    import numpy as np

    from diffuhand.kinematics.conventions import mirror, to_canonical

    folder = shared("dexycb-left-sequences/sequences")
    return [
        mirror(to_canonical(np.load(f)["joints_m"].astype(np.float64), "mano")) * 1000.0
        for f in sorted(folder.glob("*.npz"))
    ]


@pytest.fixture(scope="session")
def realworld():
    """The real-world dev set: (joints_mm (100, 21, 3) as given (LEFT hands), params dict)."""
    import numpy as np
    import scipy.io

    folder = shared("ge2019-realworld-dev")
    gt = scipy.io.loadmat(folder / "pose_gt.mat")["pose_gt"].astype(np.float64) * 10.0
    return gt, scipy.io.loadmat(folder / "params.mat")


def load_benchmark(name: str):
    """The module of ``benchmarks/<name>.py``, imported as its script runs: with its folder on the path while it
    loads, for the neighbours it imports (bench_render_realism)."""
    import importlib.util
    import sys

    folder = ROOT / "benchmarks"
    spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    # registered as an import would be: dataclasses (and pickling) look a class's module up by its name
    sys.modules[name] = module
    sys.path.insert(0, str(folder))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(folder))
    return module
