import json
import subprocess
import sys

import numpy as np
import pytest

from diffuhand.cli import main
from diffuhand.kinematics import load_limits

from .conftest import shared


def test_ik_default_runs_on_named_poses(tmp_path, capsys):
    assert main(["ik", "--out", str(tmp_path)]) == 0
    rec = json.loads((tmp_path / "named-poses.json").read_text())
    assert rec["poses"][0]["name"] == "relaxed" and len(rec["poses"]) >= 8
    assert rec["residual_mm"]["max"] < 0.1  # the model fits its own poses
    assert (
        len(rec["angle_names"]) == 41
        and len(rec["poses"][0]["angles"]) == 41
        and len(rec["poses"][0]["bone_ratios"]) == 20
    )
    with np.load(tmp_path / "named-poses.npz") as z:
        assert z["angles"].shape[1:] == (41,) and z["joints_mm"].shape[1:] == (21, 3)
    png = (tmp_path / "named-poses.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 20_000
    assert "residual mean" in capsys.readouterr().out


def test_ik_on_a_file_with_units_and_handedness(tmp_path, realworld):
    gt_left, _ = realworld
    np.save(tmp_path / "hands_cm.npy", gt_left[:10] / 10.0)
    assert (
        main(["ik", str(tmp_path / "hands_cm.npy"), "--unit", "cm", "--hand", "auto", "--out", str(tmp_path / "o")])
        == 0
    )
    rec = json.loads((tmp_path / "o" / "hands_cm.json").read_text())
    assert rec["hand"] == "left" and rec["unit"] == "mm" and rec["residual_mm"]["mean"] < 3.0
    with np.load(tmp_path / "o" / "hands_cm.npz") as z:  # fitted joints come back in the input's frame
        assert np.abs(z["joints_mm"] - gt_left[:10]).max() < 10.0


def test_bad_inputs_give_one_line_and_no_partial_output(tmp_path, capsys):
    good = tmp_path / "good.npy"
    np.save(good, _fk_pose())
    (tmp_path / "bad.npy").write_text("not an array")
    out = tmp_path / "out"
    rc = main(
        ["ik", str(tmp_path / "missing.json"), str(tmp_path / "bad.npy"), str(good), "--unit", "mm", "--out", str(out)]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0
    assert len(err) == 2 and "missing.json: no such file" in err[0] and "bad.npy" in err[1]
    assert sorted(p.name for p in out.iterdir()) == ["good.json", "good.npz", "good.png"]


def _fk_pose():
    from diffuhand.commands.ik import bundled_poses

    return bundled_poses(load_limits())[1][:2]


def test_command_line_entry_point(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "diffuhand", "ik", str(tmp_path / "none.npy"), "--unit", "mm"],
        capture_output=True,
        check=False,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 1  # some input failed
    assert proc.stderr.strip() == f"diffuhand: error: {tmp_path / 'none.npy'}: no such file"
    assert "Traceback" not in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "diffuhand", "--help"], capture_output=True, check=False, text=True)
    assert proc.returncode == 0 and "ik" in proc.stdout and "limits" in proc.stdout


def test_limits_command_derives_and_resumes(tmp_path, capsys):
    folder = shared("dexycb-left-sequences/sequences")
    files = sorted(folder.glob("*.npz"))[:3]
    out = tmp_path / "limits.json"
    assert main(["limits", *map(str, files), "--order", "mano", "--out", str(out)]) == 0
    lim = load_limits(out)
    assert lim.provenance["poses"] > 200 and all(s["side"] == "left" for s in lim.provenance["sources"])
    assert lim.contains(lim.angle_neutral)
    cache = tmp_path / "limits.json.cache"
    assert len(list(cache.glob("*.npz"))) == 3  # per-file fits kept: a rerun resumes from them
    first = out.read_text()
    assert main(["limits", *map(str, files), "--order", "mano", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["angles"] == json.loads(first)["angles"]
    capsys.readouterr()
    assert main(["limits", str(files[0]), "--order", "mano", "--order", "rhd", "--out", str(out)]) == 2
    assert "--order given 2 times for 1 inputs" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv", [["ik", "--plot-max", "-1"], ["limits", "x", "--out", "y", "--percentiles", "60", "40"]]
)
def test_bad_options(argv, tmp_path, capsys):
    assert main(argv + (["--out", str(tmp_path)] if argv[0] == "ik" else [])) == 2
    assert capsys.readouterr().err.startswith("diffuhand: error:")


def test_warnings_are_one_line_on_stderr(tmp_path, capsys, monkeypatch):
    """A command's warnings read like its errors: one line each, no source file or code line."""
    import warnings

    import diffuhand.commands.ik
    from diffuhand.errors import DiffuhandWarning

    def warn(args):
        warnings.warn("clip.mp4: something to know\nacross lines", DiffuhandWarning, stacklevel=2)
        warnings.warn("a library's note", RuntimeWarning, stacklevel=2)
        return 0

    monkeypatch.setattr(diffuhand.commands.ik, "run_ik", warn)
    assert main(["ik", "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().err.splitlines() == [
        "diffuhand: warning: clip.mp4: something to know across lines",
        "diffuhand: warning (RuntimeWarning): a library's note",
    ]


def test_ik_tells_a_left_hand_by_default(tmp_path, realworld):
    """Left hands fitted as right ones still give a plausible residual (4 mm here): the side is found unless
    --hand says it."""
    gt_left, _ = realworld
    np.save(tmp_path / "hands.npy", gt_left[:10])
    assert main(["ik", str(tmp_path / "hands.npy"), "--unit", "mm", "--out", str(tmp_path / "o")]) == 0
    rec = json.loads((tmp_path / "o" / "hands.json").read_text())
    assert rec["hand"] == "left" and rec["residual_mm"]["mean"] < 1.0
    assert (
        main(["ik", str(tmp_path / "hands.npy"), "--unit", "mm", "--hand", "right", "--out", str(tmp_path / "r")]) == 0
    )
    assert json.loads((tmp_path / "r" / "hands.json").read_text())["hand"] == "right"
