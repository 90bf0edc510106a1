import json
import subprocess
import sys

import numpy as np
import pytest

from diffuhand.cli import main
from diffuhand.data import open_dataset
from diffuhand.detect import MediaPipeHands, mediapipe_available
from diffuhand.errors import DiffuhandError
from diffuhand.eval.metrics import pa_mpjpe

from ..conftest import shared

pytestmark = pytest.mark.skipif(
    not mediapipe_available(), reason="MediaPipe <= 0.10.21 (bundled hand models) not installed"
)


@pytest.fixture(scope="module")
def realworld_ds():
    return open_dataset("ge-realworld", shared("ge2019-realworld-dev"))


def test_finds_real_hands_where_the_annotation_puts_them(realworld_ds):
    # an independent reference: the set's own 2D joints (its 3D projected through its intrinsics)
    with MediaPipeHands(max_hands=1) as detect:
        found = [(s, detect(s.image)) for s in realworld_ds[:12]]
    assert all(len(d) == 1 for _, d in found)
    for s, (d,) in found:
        assert d.handedness == s.handedness == "left"  # MediaPipe's selfie-view label is swapped for a photo
        assert d.keypoints_2d.shape == (21, 2) and d.world_mm.shape == (21, 3)
        # within 6% of the crop side on average (skeleton conventions differ by a few pixels)
        assert np.linalg.norm(d.keypoints_2d - s.joints_2d, axis=1).mean() < 0.06 * 256
        x, _, side = d.box
        assert x <= d.keypoints_2d[:, 0].min() and d.keypoints_2d[:, 0].max() <= x + side
    world = np.stack([d.world_mm for _, (d,) in found])
    gt = np.stack([s.joints_3d for s, _ in found])
    assert pa_mpjpe(world, gt).mean_mm < 15.0


def test_mirrored_images_keep_mediapipes_label(realworld_ds):
    s = realworld_ds[0]
    with MediaPipeHands(max_hands=1, mirrored=True) as detect:
        assert detect(s.image)[0].handedness == "right"


def test_no_hand_and_bad_arrays():
    with MediaPipeHands() as detect:
        assert detect(np.full((128, 128, 3), 127, np.uint8)) == []
        with pytest.raises(DiffuhandError, match="uint8 RGB"):
            detect(np.zeros((64, 64), np.uint8))


def test_evaluate_mediapipe_and_a_keypoint_model_on_its_2d(tmp_path, capsys):
    import torch

    from diffuhand.io.weights import save_checkpoint
    from diffuhand.models.estimator import HandPoseModel, ModelConfig

    root = shared("ge2019-realworld-dev")
    assert (
        main(
            [
                "evaluate",
                "mediapipe",
                "--dataset",
                "ge-realworld",
                "--root",
                str(root),
                "--limit",
                "5",
                "--out",
                str(tmp_path / "mp.json"),
            ]
        )
        == 0
    )
    res = json.loads((tmp_path / "mp.json").read_text())
    assert res["found"] == res["hands"] == 5 and res["results"]["mediapipe"]["pa_mpjpe"]["mean_mm"] < 15.0
    assert "found 5/5" in capsys.readouterr().out

    torch.manual_seed(0)
    model = HandPoseModel(
        ModelConfig(
            kind="diffusion_ik",
            condition="keypoints",
            feature_dim=16,
            sampler={"kind": "ddim", "steps": 2, "samples": 1, "eta": 0.0},
        )
    )
    save_checkpoint(tmp_path / "kp", model, dict(model.cfg.__dict__))
    assert (
        main(
            [
                "evaluate",
                str(tmp_path / "kp"),
                "--dataset",
                "ge-realworld",
                "--root",
                str(root),
                "--limit",
                "4",
                "--keypoints",
                "mediapipe",
                "--out",
                str(tmp_path / "kp.json"),
            ]
        )
        == 0
    )
    res = json.loads((tmp_path / "kp.json").read_text())
    assert res["keypoints"] == "mediapipe" and res["found"] == {"found": 4, "of": 4}


def test_predict_dataset_uses_the_given_keypoints(realworld_ds):
    import torch

    from diffuhand.eval.run_model import predict_dataset
    from diffuhand.models.estimator import HandPoseModel, ModelConfig

    torch.manual_seed(0)
    model = HandPoseModel(
        ModelConfig(
            kind="diffusion_ik",
            condition="keypoints",
            feature_dim=16,
            sampler={"kind": "ddim", "steps": 2, "samples": 1, "eta": 0.0},
        )
    ).eval()
    seen = []
    encode = model.keypoints.forward
    model.keypoints.forward = lambda uv: seen.append(uv.clone()) or encode(uv)
    ds = realworld_ds.subset(range(3))
    gt2d = np.stack([s.joints_2d for s in ds])
    moved = gt2d + np.linspace(-9, 9, 42).reshape(21, 2)
    a = predict_dataset(model, ds, progress=False)["final"]
    b = predict_dataset(model, ds, progress=False, keypoints_2d=gt2d)["final"]
    predict_dataset(model, ds, progress=False, keypoints_2d=moved)
    assert np.allclose(a, b) and torch.allclose(seen[0], seen[1])
    # left hands: the crop is mirrored, so the model sees u' = W - u of the crop; compare shapes, not pixels
    from diffuhand.models.keypoints import normalise_keypoints

    flip = torch.tensor([-1.0, 1.0])
    want = normalise_keypoints(torch.tensor(moved, dtype=torch.float32) * flip)
    assert torch.allclose(normalise_keypoints(seen[2]), want, atol=1e-4)
    with pytest.raises(ValueError, match="finite"):
        predict_dataset(model, ds, progress=False, keypoints_2d=np.full((3, 21, 2), np.nan))


def _in_a_new_interpreter(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, text=True).stdout.strip()


def test_mediapipe_is_imported_without_matplotlib():
    """Start-up (issue 15): MediaPipe's drawing utilities import matplotlib.pyplot for a plotting function not used
    here; import_mediapipe binds a stand-in that loads the real pyplot on first use, and leaves sys.modules without
    it, so that any other import of matplotlib gets the real module."""
    code = (
        "import sys\n"
        "from diffuhand.detect.mediapipe import import_mediapipe\n"
        "mp = import_mediapipe()\n"
        "assert mp.solutions.hands is not None\n"
        "print('matplotlib' in sys.modules)\n"
        "from mediapipe.python.solutions import drawing_utils\n"
        "import matplotlib.pyplot as plt\n"
        "print(drawing_utils.plt.figure is plt.figure, type(plt).__name__)\n"
    )
    assert _in_a_new_interpreter(code).splitlines() == ["False", "True module"]
    # used while it still stands in (another thread plotting then): the real pyplot loads and takes its place
    code = (
        "import sys\n"
        "from diffuhand.detect.mediapipe import _matplotlib_deferred\n"
        "with _matplotlib_deferred():\n"
        "    import matplotlib.pyplot as plt\n"
        "    print(plt.figure.__module__, type(sys.modules['matplotlib.pyplot']).__name__)\n"
    )
    assert _in_a_new_interpreter(code) == "matplotlib.pyplot module"
    # two threads at once: each gets the whole package (the second waits for the first's import); the stand-in
    # pickles as pyplot's import, and importlib.util.find_spec works meanwhile
    code = (
        "import pickle, threading, importlib.util\n"
        "from diffuhand.detect.mediapipe import import_mediapipe, mediapipe_available\n"
        "seen = []\n"
        "threads = [threading.Thread(target=lambda: seen.append(mediapipe_available())) for _ in range(2)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "from mediapipe.python.solutions import drawing_utils\n"
        "back = pickle.loads(pickle.dumps(drawing_utils.plt))\n"
        "print(seen, back.__name__, type(back).__name__, importlib.util.find_spec('matplotlib') is not None)\n"
    )
    assert _in_a_new_interpreter(code) == "[True, True] matplotlib.pyplot module True"


def test_a_photos_predict_imports_neither_sympy_nor_matplotlib(tmp_path):
    """Start-up (issue 15): `diffuhand predict photo.jpg` loads neither matplotlib (MediaPipe's, above) nor sympy
    and torch.fx's symbolic shapes (torch.broadcast_shapes imports them on first use: about a second)."""
    from diffuhand.commands.predict import demo_inputs

    photo = next(p for p in demo_inputs() if p.suffix == ".jpg")
    code = (
        "import sys\n"
        "from diffuhand.cli import main\n"
        f"rc = main(['predict', {str(photo)!r}, '--out', {str(tmp_path)!r}])\n"
        "heavy = ('sympy', 'matplotlib', 'torch.fx.experimental.symbolic_shapes', 'roma', 'diffusers')\n"
        "print(rc, sorted(m for m in heavy if m in sys.modules))\n"
    )
    assert _in_a_new_interpreter(code).splitlines()[-1] == "0 []"
