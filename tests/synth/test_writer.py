import hashlib
import json

import numpy as np
import pytest

from diffuhand.cli import main
from diffuhand.data import open_dataset
from diffuhand.errors import DiffuhandError
from diffuhand.synth.scene import SceneConfig
from diffuhand.synth.writer import render_image, write_dataset


def digest(folder):
    h = hashlib.sha1()
    for f in sorted(folder.rglob("*")):
        if f.is_file():
            h.update(f.relative_to(folder).as_posix().encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def test_write_read_resume_and_reproduce(tmp_path, renderer):
    cfg = SceneConfig(size=64)
    out = tmp_path / "syn"
    write_dataset(out, 10, cfg, seed=3, workers=1, chunk=4, progress=False)
    ds = open_dataset("synth", out)
    assert len({s.extra["image_index"] for s in ds}) == 10
    # labels round-trip: the reader gives what the renderer made for that image
    s = ds[0]
    from diffuhand.synth.render import Renderer

    _, _mask, K, hands, _, _ = render_image(s.extra["image_index"], 3, 0, cfg, Renderer(64))
    np.testing.assert_allclose(s.joints_3d, hands[0].joints_3d, atol=1e-3)  # float32 on disk
    np.testing.assert_allclose(s.K, K)
    assert s.image.shape == (64, 64, 3) and s.handedness == hands[0].handedness
    np.testing.assert_array_equal(s.extra["visible"], hands[0].visible)
    first = digest(out)
    # an interruption: a chunk's labels and an image gone; the rerun redoes that chunk only, identically
    (out / "labels" / "00001.npz").unlink()
    (out / "images" / "00000005.jpg").unlink()
    write_dataset(out, 10, cfg, seed=3, workers=1, chunk=4, progress=False)
    assert digest(out) == first
    # the same seed elsewhere gives the same bytes
    write_dataset(tmp_path / "again", 10, cfg, seed=3, workers=1, chunk=4, progress=False)
    assert digest(tmp_path / "again") == first
    with pytest.raises(DiffuhandError, match="other settings"):
        write_dataset(out, 10, cfg, seed=4, workers=1, chunk=4, progress=False)
    # a folder begun by the renderer before the mesh's joints followed the labels' convention is not resumed
    import json

    meta = json.loads((out / "meta.json").read_text())
    (out / "meta.json").write_text(json.dumps({k: v for k, v in meta.items() if k != "renderer"}))
    with pytest.raises(DiffuhandError, match="renderer version"):
        write_dataset(out, 10, cfg, seed=3, workers=1, chunk=4, progress=False)
    assert len(open_dataset("synth", out, "test")) + len(open_dataset("synth", out, "train")) == len(ds)


def test_synth_command_sequences(tmp_path, capsys):
    out = tmp_path / "seq"
    assert (
        main(
            [
                "synth",
                str(out),
                "--count",
                "12",
                "--size",
                "64",
                "--workers",
                "1",
                "--chunk",
                "6",
                "--sequence-length",
                "6",
            ]
        )
        == 0
    )
    ds = open_dataset("synth", out, load_images=False)
    seqs = ds.sequences()
    assert len(seqs) == 2 and all(len(v) == 6 for v in seqs.values())
    j = np.stack([ds.records[i]["joints_3d"] for i in seqs["seq000000"]])
    step = np.linalg.norm(np.diff(j, axis=0), axis=-1).mean()
    assert 0.5 < step < 40.0  # mm per frame: it moves, smoothly
    assert main(["synth", str(out), "--count", "12", "--size", "16"]) == 2
    assert "--size must be >= 32" in capsys.readouterr().err


def test_parallel_workers_write_the_same_bytes(tmp_path):
    cfg = SceneConfig(size=64)
    write_dataset(tmp_path / "one", 16, cfg, seed=9, workers=1, chunk=4, progress=False)
    write_dataset(tmp_path / "two", 16, cfg, seed=9, workers=2, chunk=4, progress=False)
    assert digest(tmp_path / "one") == digest(tmp_path / "two")


def test_synth_command_takes_a_variant_without_a_lever(tmp_path, capsys):
    """--variant VARIANT-without-LEVER renders (the help offers it); a bad name is one line and exit status 2."""
    out = tmp_path / "nolight"
    args = ["synth", str(out), "--count", "2", "--size", "32", "--workers", "1"]
    assert main([*args, "--variant", "photo-without-light"]) == 0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["config"]["fill_light"] is False and meta["config"]["display_colors"] is True
    assert main([*args, "--variant", "photo-without-gloss"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown scene variant 'photo-without-gloss'" in err[0]
