"""Start-up (issue 15): a photo's ``diffuhand predict`` imports no torch (2.2-3.3 s of a ~3.9 s start-up,
benchmarks/bench_startup.py), nor what comes with the networks (roma, diffusers); a video still loads the shipped
temporal model (torch) when it pairs with the lift. Each run in a fresh interpreter: what it imports is the point."""

import json
import subprocess
import sys

import numpy as np
import pytest

from diffuhand.detect import mediapipe_available

HEAVY = ("torch", "roma", "diffusers", "safetensors.torch")

# what the child runs: each heavy module's first import is recorded with the diffuhand lines that led to it, so that
# a failure names the importer (file, line, code) instead of a bare module name
_PREAMBLE = """
import json, sys, traceback
HEAVY = {heavy!r}
chains = {{}}

class Tracer:
    def find_spec(self, name, path=None, target=None):
        top = next((h for h in HEAVY if name == h or name.startswith(h + ".")), None)
        if top is not None and top not in chains:
            chains[top] = [
                f"{{f.filename.split('/src/')[-1]}}:{{f.lineno}} {{f.line}}"
                for f in traceback.extract_stack()[:-1]
                if "diffuhand" in f.filename and "test_startup_imports" not in f.filename
            ]
        return None

sys.meta_path.insert(0, Tracer())
from diffuhand.cli import main
"""


def _run(code: str) -> dict:
    """``code`` after the tracer in a new interpreter; it prints one JSON line last."""
    done = subprocess.run(
        [sys.executable, "-c", _PREAMBLE.format(heavy=HEAVY) + code], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _demo(suffix: str):
    from diffuhand.commands.predict import demo_inputs

    return next(p for p in demo_inputs() if p.suffix == suffix)


def _imported(seen: dict) -> str:
    return "\n".join(f"{name} imported by:\n  " + "\n  ".join(chain or ["?"]) for name, chain in seen.items())


@pytest.mark.skipif(not mediapipe_available(), reason="MediaPipe <= 0.10.21 (bundled hand models) not installed")
def test_a_photos_predict_imports_no_torch(tmp_path):
    """The default (fusion) lift of a photo: MediaPipe's 2D and 3D fitted by the hand model in NumPy; the shipped
    temporal model (torch) is not loaded for a photo, only its configuration read."""
    photo = _demo(".jpg")
    code = (
        f"rc = main(['predict', {str(photo)!r}, '--out', {str(tmp_path)!r}])\n"
        "loaded = sorted(m for m in HEAVY if m in sys.modules)\n"
        "print(json.dumps({'rc': rc, 'loaded': loaded, 'chains': {m: chains.get(m) for m in loaded}}))\n"
    )
    out = _run(code)
    assert out["rc"] == 0
    assert not out["loaded"], _imported(out["chains"])
    assert len(json.loads((tmp_path / f"{photo.stem}.json").read_text())["hands"]) >= 1


@pytest.mark.skipif(not mediapipe_available(), reason="MediaPipe <= 0.10.21 (bundled hand models) not installed")
def test_a_videos_predict_loads_the_temporal_model(tmp_path):
    """A video with the shipped models: the temporal model is loaded when its frames need it (torch then), where it
    was trained on the shipped lift (as it is: tests/test_shipped.py); its outputs say it smoothed them."""
    import diffuhand

    est = diffuhand.load()
    pairs = est.temporal_ref is not None
    assert not pairs or not est.temporal_ref.loaded  # load() reads its configuration only
    video = _demo(".mp4")
    code = (
        f"rc = main(['predict', {str(video)!r}, '--out', {str(tmp_path)!r}])\n"
        "print(json.dumps({'rc': rc, 'temporal': 'diffuhand.models.temporal' in sys.modules, "
        "'torch': 'torch' in sys.modules}))\n"
    )
    out = _run(code)
    assert out["rc"] == 0
    assert out["temporal"] == out["torch"] == pairs
    with np.load(tmp_path / f"{video.stem}.npz") as z:
        assert bool(z["temporal"]) == pairs
        assert np.isfinite(z["joints_3d"]).any()


def test_a_checkpoints_run_stamp_is_the_loaded_models():
    """The run's stamp hashes the temporal model's weights: from its files while it is not loaded (a photo's
    run), the same hash as from the loaded model (outputs of earlier runs stay up to date)."""
    import diffuhand
    from diffuhand.commands.corpus import weights_identity
    from diffuhand.models.temporal import load_temporal
    from diffuhand.pipeline import TemporalCheckpoint

    folder = diffuhand.shipped_weights("temporal")
    if folder is None:
        pytest.skip("this install has no shipped temporal model")
    lazy = TemporalCheckpoint(folder)
    assert weights_identity(lazy) == weights_identity(load_temporal(folder))
    assert not lazy.loaded
    assert lazy.load() is lazy.load() and lazy.loaded  # loaded once
