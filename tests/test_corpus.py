"""``diffuhand predict`` over corpora (issue 15, items 4-5): folder trees and manifests mirrored under --out,
resumed runs, bad files skipped in one line each, the summary JSON, and the same outputs on Ray."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from diffuhand.cli import main
from diffuhand.commands.corpus import collect_jobs, read_manifest
from diffuhand.detect import mediapipe_available

from .conftest import shared

pytestmark = pytest.mark.skipif(not mediapipe_available(), reason="MediaPipe <= 0.10.21 not installed")


def _tree(root):
    """A small corpus: photos in nested folders, a video, a hidden file, a text file, and bad inputs."""
    from diffuhand.commands.predict import demo_inputs

    src = shared("ge2019-realworld-dev") / "images"
    (root / "a" / "b").mkdir(parents=True)
    (root / "c").mkdir()
    shutil.copy(src / "00000.jpg", root / "a" / "one.jpg")
    shutil.copy(src / "00001.jpg", root / "a" / "b" / "two.jpg")
    shutil.copy(src / "00002.jpg", root / "c" / "one.jpg")  # the same stem elsewhere: its own output
    (clip,) = [p for p in demo_inputs() if p.suffix == ".mp4"]
    shutil.copy(clip, root / "c" / "clip.mp4")
    (root / "a" / "notes.txt").write_text("not an input")
    (root / ".hidden.jpg").write_text("skipped")
    (root / "c" / "broken.jpg").write_text("not a photo")
    (root / "a" / "empty.png").write_bytes(b"")
    (root / "c" / "novideo.mp4").write_text("no")
    return root


GOOD = {"a/one.json", "a/b/two.json", "c/one.json", "c/clip.jsonl", "c/clip.npz"}
BAD = {"c/broken.jpg": "not an image", "a/empty.png": "empty file", "c/novideo.mp4": "not a video"}


def _outputs(out):
    return {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}


def test_jobs_of_a_tree_and_a_manifest(tmp_path):
    root = _tree(tmp_path / "in")
    listed = collect_jobs([root])
    jobs = listed.jobs
    assert (
        listed.corpus
        and not listed.problems
        and [j.name for j in jobs]
        == [
            "a/empty",
            "a/one",
            "a/b/two",
            "c/broken",
            "c/clip",
            "c/novideo",
            "c/one",
        ]
    )
    clip = next(j for j in jobs if j.name == "c/clip")
    assert clip.video and clip.frames == 48  # the header's count: the progress bar's total
    manifest = tmp_path / "list.txt"
    manifest.write_text(f"# a comment\n\nin/a/one.jpg\n{root / 'c' / 'one.jpg'}\nin/a/one.jpg\n")
    assert read_manifest(manifest) == [tmp_path / "in/a/one.jpg", root / "c" / "one.jpg", tmp_path / "in/a/one.jpg"]
    listed = collect_jobs([], manifest)
    assert listed.corpus and [j.name for j in listed.jobs] == [
        "a/one",
        "c/one",
        "a/one-1",
    ]  # below their shared folder, unique
    files = collect_jobs([root / "a" / "one.jpg", root / "c" / "one.jpg"])
    assert not files.corpus and [j.name for j in files.jobs] == ["one", "one-1"]


def test_a_corpus_run_mirrors_the_tree_skips_bad_files_and_resumes(tmp_path, capsys):
    root = _tree(tmp_path / "in")
    out = tmp_path / "out"
    rc = main(["predict", str(root), "--out", str(out)])
    cap = capsys.readouterr()
    assert rc == 1  # some inputs failed; every good one is done
    errors = [line for line in cap.err.splitlines() if line.startswith("diffuhand: error:")]
    assert len(errors) == len(BAD)
    for name, why in BAD.items():
        assert any(name.split("/")[-1] in e and why in e for e in errors), (name, errors)
    assert _outputs(out) == GOOD | {"diffuhand-summary.json"}  # nothing for the bad ones, nothing half-written
    summary = json.loads((out / "diffuhand-summary.json").read_text())
    assert (summary["inputs"], summary["done"], summary["skipped"], summary["failed"]) == (7, 4, 0, 3)
    assert (summary["photos"], summary["videos"], summary["frames"]) == (3, 1, 3 + 48)
    assert summary["frames_per_second"] > 0 and summary["hands_found"] >= 3
    assert {f["input"] for f in summary["failures"]} == {str(root / n) for n in BAD}
    assert all(any(why in f["error"] for why in BAD.values()) for f in summary["failures"])
    rec = json.loads((out / "a" / "one.json").read_text())
    assert rec["image"] == str(root / "a" / "one.jpg") and len(rec["hands"]) == 1 and rec["run"] == summary["run"]

    # started again: every good input is up to date and skipped, its outputs untouched
    made = {n: (out / n).stat().st_mtime_ns for n in GOOD}
    assert main(["predict", str(root), "--out", str(out)]) == 1
    summary = json.loads((out / "diffuhand-summary.json").read_text())
    assert (summary["done"], summary["skipped"], summary["failed"]) == (0, 4, 3)
    assert {n: (out / n).stat().st_mtime_ns for n in GOOD} == made
    assert "up to date, skipped" in capsys.readouterr().out

    # an input newer than its output, an output lost, and another option: made again
    later = time.time() + 5
    os.utime(root / "a" / "one.jpg", (later, later))
    (out / "c" / "clip.jsonl").unlink()  # the video's outputs are incomplete
    assert main(["predict", str(root), "--out", str(out)]) == 1
    summary = json.loads((out / "diffuhand-summary.json").read_text())
    assert (summary["done"], summary["skipped"]) == (2, 2) and (out / "c" / "clip.jsonl").is_file()
    assert main(["predict", str(root / "c"), "--out", str(out / "c"), "--skeleton", "mano"]) == 1
    summary = json.loads((out / "c" / "diffuhand-summary.json").read_text())
    assert (summary["done"], summary["skipped"]) == (2, 0)  # the mano skeleton's outputs are other outputs
    assert main(["predict", str(root / "a" / "b"), "--out", str(out / "a" / "b"), "--overwrite"]) == 0


def test_a_manifest_run_writes_its_summary_where_asked(tmp_path, capsys):
    _tree(tmp_path / "in")
    manifest = tmp_path / "inputs.txt"
    manifest.write_text("in/a/one.jpg\nin/a/b/two.jpg\nin/missing.jpg\n")
    out = tmp_path / "out"
    rc = main(["predict", "--manifest", str(manifest), "--out", str(out), "--summary", str(tmp_path / "s.json")])
    assert rc == 1 and "missing.jpg: no such file" in capsys.readouterr().err
    assert _outputs(out) == {"a/one.json", "a/b/two.json"}
    summary = json.loads((tmp_path / "s.json").read_text())
    assert (summary["done"], summary["failed"]) == (2, 1)
    assert main(["predict", "--out", str(out)]) == 2  # neither inputs nor a manifest: one line
    assert "no inputs" in capsys.readouterr().err
    assert main(["predict", "--manifest", str(tmp_path / "none.txt"), "--out", str(out)]) == 2
    assert "no such manifest" in capsys.readouterr().err


def test_html_pages_for_a_tree(tmp_path, capsys):
    root = tmp_path / "in"
    (root / "x").mkdir(parents=True)
    shutil.copy(shared("ge2019-realworld-dev") / "images" / "00003.jpg", root / "x" / "p.jpg")
    out = tmp_path / "out"
    assert main(["predict", str(root), "--out", str(out), "--html"]) == 0
    assert (out / "x" / "p.html").is_file() and not (out / "diffuhand-summary.html").exists()


def _contents(out):
    """Every output's content, the NPZ arrays compared as arrays (a zip's bytes hold times)."""
    got = {}
    for n in sorted(_outputs(out) - {"diffuhand-summary.json"}):
        p = out / n
        if p.suffix == ".npz":
            with np.load(p) as z:
                got[n] = {k: (z[k].dtype.str, z[k].shape, z[k].tobytes()) for k in z.files}  # NaN == NaN
        else:
            got[n] = p.read_bytes()
    return got


def _numbers_close(a, b, atol: float) -> bool:
    """JSON values equal, numbers to ``atol`` (NaN equal to NaN)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_numbers_close(a[k], b[k], atol) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_numbers_close(x, y, atol) for x, y in zip(a, b))
    if isinstance(a, float | int) and not isinstance(a, bool) and isinstance(b, float | int):
        return bool(np.isclose(a, b, atol=atol, rtol=0.0, equal_nan=True))
    return a == b


def _assert_same_contents(got: dict, want: dict) -> None:
    """The same files with the same content, numbers to far below anything that matters: a fresh process (a Ray
    worker) need not round the networks' float32 sums as a long-running one does (2.5e-5 mm was seen after the
    whole test suite had run in this process): NPZ arrays to a micrometre, JSON numbers to one unit of their last
    printed digit; names, sides, counts, missing hands and everything else exactly."""
    assert got.keys() == want.keys()
    for name, b in want.items():
        a = got[name]
        if name.endswith(".npz"):
            assert a.keys() == b.keys(), name
            for k in b:
                (da, sa, ba), (db, sb, bb) = a[k], b[k]
                assert (da, sa) == (db, sb), (name, k)
                x, y = np.frombuffer(ba, np.dtype(da)), np.frombuffer(bb, np.dtype(db))
                if x.dtype.kind == "f":
                    assert (np.isnan(x) == np.isnan(y)).all(), (name, k)
                    assert np.allclose(x, y, atol=1e-3, rtol=0.0, equal_nan=True), (name, k, np.nanmax(abs(x - y)))
                else:
                    assert ba == bb, (name, k)
        else:
            lines_a, lines_b = a.decode().splitlines(), b.decode().splitlines()
            if name.endswith(".json"):
                lines_a, lines_b = ["\n".join(lines_a)], ["\n".join(lines_b)]
            assert len(lines_a) == len(lines_b), name
            for la, lb in zip(lines_a, lines_b):
                assert _numbers_close(json.loads(la), json.loads(lb), atol=0.011), name


def test_ray_gives_the_single_process_outputs(tmp_path, capsys):
    """Issue 15, item 5: the same corpus job on a local 2-worker Ray instance started here, one model load per
    worker: the same files with the same content as in one process, the same failures reported."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'diffuhand[ray]')")
    root = _tree(tmp_path / "in")
    local, remote = tmp_path / "local", tmp_path / "ray"
    assert main(["predict", str(root), "--out", str(local)]) == 1
    capsys.readouterr()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        rc = main(["predict", str(root), "--out", str(remote), "--engine", "ray", "--workers", "2"])
    finally:
        ray.shutdown()
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("diffuhand: error:")]
    assert rc == 1 and len(err) == len(BAD)
    _assert_same_contents(_contents(remote), _contents(local))
    a = json.loads((local / "diffuhand-summary.json").read_text())
    b = json.loads((remote / "diffuhand-summary.json").read_text())
    assert (b["engine"], b["workers"]) == ("ray", 2)
    for k in ("inputs", "done", "failed", "frames", "hands_found", "photos", "videos"):
        assert a[k] == b[k], k
    assert sorted(map(str, a["failures"])) == sorted(map(str, b["failures"]))


def test_one_bar_over_every_frame(tmp_path, monkeypatch):
    from diffuhand.commands import corpus

    seen = []
    real = corpus.Progress

    class Spy(real):
        def __init__(self, total, disable=None):
            super().__init__(total, disable=True)
            seen.append(self)

    monkeypatch.setattr("diffuhand.commands.predict.Progress", Spy)
    root = _tree(tmp_path / "in")
    main(["predict", str(root), "--out", str(tmp_path / "out")])
    (bar,) = seen
    assert bar.bar.total == 3 + 48 + 2  # the photos, the clip's frames, the bad photos (one each; the bad video: 0)


def test_a_photo_in_a_corpus_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    """A run killed while writing leaves no output for that input (and so it is done again next time)."""
    from diffuhand.commands import predict

    root = tmp_path / "in"
    root.mkdir()
    Image.open(shared("ge2019-realworld-dev") / "images" / "00000.jpg").save(root / "p.jpg")
    out = tmp_path / "out"

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(predict, "image_record", killed)
    assert main(["predict", str(root), "--out", str(out)]) == 130
    assert not out.exists() or not [p for p in out.rglob("*") if p.is_file()]
    monkeypatch.undo()
    assert main(["predict", str(root), "--out", str(out)]) == 0 and (out / "p.json").is_file()


def test_photos_lifted_in_batches_give_what_each_alone_gives(tmp_path, monkeypatch):
    """Issue 15, item 1: a corpus's photos are lifted PHOTO_CHUNK at a time beside MediaPipe; with the shipped
    (deterministic) lift every output is the one a photo-by-photo run writes."""
    from diffuhand.commands import predict

    root = tmp_path / "in"
    root.mkdir()
    for p in sorted((shared("ge2019-realworld-dev") / "images").glob("*.jpg"))[:20]:
        shutil.copy(p, root / p.name)
    assert main(["predict", str(root), "--out", str(tmp_path / "batched")]) == 0
    monkeypatch.setattr(predict, "PHOTO_CHUNK", 1)
    assert main(["predict", str(root), "--out", str(tmp_path / "alone")]) == 0
    batched, alone = _contents(tmp_path / "batched"), _contents(tmp_path / "alone")
    assert len(batched) == 20 and batched == alone


def test_a_batch_that_breaks_is_lifted_photo_by_photo_in_the_lifts_thread(tmp_path, monkeypatch, capsys):
    """A photo that breaks its batch's lift is lifted alone, so that only it fails; that lift runs in the lift's
    own thread, never beside the next batch's lift on the same estimator (its random generator, its buffers)."""
    import threading

    from diffuhand.commands import predict

    root = tmp_path / "in"
    root.mkdir()
    for p in sorted((shared("ge2019-realworld-dev") / "images").glob("*.jpg"))[:6]:
        shutil.copy(p, root / p.name)
    real, where = predict._lift_batch, []

    def lift(batch, estimator):
        if len(batch) > 1:
            raise RuntimeError("a batch that breaks")
        where.append(threading.current_thread() is threading.main_thread())
        if batch[0].job.path.name == "00002.jpg":
            raise RuntimeError("this photo breaks the lift")
        return real(batch, estimator)

    monkeypatch.setattr(predict, "_lift_batch", lift)
    monkeypatch.setattr(predict, "PHOTO_CHUNK", 3)
    assert main(["predict", str(root), "--out", str(tmp_path / "out")]) == 1
    summary = json.loads((tmp_path / "out" / "diffuhand-summary.json").read_text())
    assert (summary["done"], summary["failed"]) == (5, 1) and "this photo breaks" in summary["failures"][0]["error"]
    assert len(where) == 6 and not any(where)
    capsys.readouterr()


def test_names_never_collide(tmp_path):
    """A name's first free suffix: "a", "a-1" and another "a" write a, a-1 and a-2 (not a second a-1)."""
    for folder in ("x", "y"):
        (tmp_path / folder).mkdir()
    paths = [tmp_path / "x" / "a.jpg", tmp_path / "x" / "a-1.jpg", tmp_path / "y" / "a.jpg", tmp_path / "y" / "a-1.jpg"]
    names = [j.name for j in collect_jobs(paths).jobs]
    assert names == ["a", "a-1", "a-2", "a-1-1"] and len(set(names)) == len(paths)
    assert [j.name for j in collect_jobs([tmp_path / "diffuhand-summary.png"]).jobs] == ["diffuhand-summary-1"]
    # names that differ only in case are one file on macOS and Windows: they collide too
    (tmp_path / "z").mkdir()
    upper = [tmp_path / "x" / "a.jpg", tmp_path / "z" / "A.jpg", tmp_path / "Diffuhand-Summary.jpg"]
    assert [j.name for j in collect_jobs(upper).jobs] == ["a", "A-1", "Diffuhand-Summary-1"]


def test_a_folder_walk_follows_links_once_and_leaves_out_the_runs_outputs(tmp_path):
    root = tmp_path / "in"
    (root / "a").mkdir(parents=True)
    (root / "a" / "p.jpg").write_bytes(b"x")
    (root / "a" / "up").symlink_to(root, target_is_directory=True)  # a loop back up the tree
    (root / "out").mkdir()
    (root / "out" / "p-overlay.png").write_bytes(b"x")
    (root / "q-overlay.png").write_bytes(b"x")  # a user's photo of that name, outside --out: an input
    listed = collect_jobs([root], out=root / "out")
    assert [j.name for j in listed.jobs] == ["q-overlay", "a/p"] and listed.corpus and not listed.problems


def test_an_overlay_is_left_out_only_where_the_run_writes_it(tmp_path):
    """``<stem>-overlay.png`` beside an input ``<stem>.*`` under --out is the run's own output; a photo so named
    anywhere else (no such input, or --out elsewhere) is an input."""
    tree = tmp_path / "t"
    (tree / "a").mkdir(parents=True)
    for name in ("a/p.jpg", "a/p-overlay.png", "a/p-3d.png", "a/q-overlay.png", "r-overlay.mp4"):
        (tree / name).write_bytes(b"x")
    # --out the folder itself: p's overlay is the run's; q-overlay and r-overlay (no q, no r) are inputs
    assert [j.name for j in collect_jobs([tree], out=tree).jobs] == ["r-overlay", "a/p", "a/q-overlay"]
    # --out above it: its outputs land at out/a/..., not beside the inputs: every file is an input
    names = [j.name for j in collect_jobs([tree / "a"], out=tree).jobs]
    assert names == ["p-3d", "p-overlay", "p", "q-overlay"]
    # no --out inside: all inputs
    assert len(collect_jobs([tree]).jobs) == 5


def test_a_rerun_with_out_inside_the_tree_reads_no_output_as_input(tmp_path, capsys):
    root = tmp_path / "in"
    root.mkdir()
    shutil.copy(shared("ge2019-realworld-dev") / "images" / "00004.jpg", root / "p.jpg")
    for out in (root / "out", root):
        for _ in range(2):
            assert main(["predict", str(root), "--out", str(out), "--render"]) == 0
        summary = json.loads((out / "diffuhand-summary.json").read_text())
        assert (summary["inputs"], summary["skipped"]) == (1, 1), summary
    capsys.readouterr()


def test_a_resumed_run_whose_names_moved_predicts_again(tmp_path, capsys, monkeypatch):
    """Names follow the inputs' order: when another input takes an output's name, that output is made again
    (its record names the input it came from), never kept as the new input's."""
    src = shared("ge2019-realworld-dev") / "images"
    for folder, photo in (("x", "00005.jpg"), ("y", "00006.jpg")):
        (tmp_path / folder).mkdir()
        shutil.copy(src / photo, tmp_path / folder / "a.jpg")
    out, s = tmp_path / "out", tmp_path / "s.json"
    x, y = tmp_path / "x" / "a.jpg", tmp_path / "y" / "a.jpg"
    assert main(["predict", str(x), "--out", str(out)]) == 0
    assert main(["predict", str(y), str(x), "--out", str(out), "--summary", str(s)]) == 0
    summary = json.loads(s.read_text())
    assert (summary["done"], summary["skipped"]) == (2, 0)
    assert json.loads((out / "a.json").read_text())["image"] == str(y)
    assert json.loads((out / "a-1.json").read_text())["image"] == str(x)
    assert main(["predict", str(y), str(x), "--out", str(out), "--summary", str(s)]) == 0
    assert json.loads(s.read_text())["skipped"] == 2
    # the same inputs named another way (relative, from their folder): the same files, still up to date
    monkeypatch.chdir(tmp_path)
    assert main(["predict", "y/a.jpg", "x/a.jpg", "--out", str(out), "--summary", str(s)]) == 0
    assert json.loads(s.read_text())["skipped"] == 2
    capsys.readouterr()


def test_pages_of_a_tree_with_a_damaged_prediction(tmp_path, capsys):
    from diffuhand.errors import DiffuhandWarning
    from diffuhand.viz.page import write_pages

    root = tmp_path / "in"
    root.mkdir()
    shutil.copy(shared("ge2019-realworld-dev") / "images" / "00003.jpg", root / "p.jpg")
    out = tmp_path / "out"
    assert main(["predict", str(root), "--out", str(out)]) == 0
    (out / "cut.json").write_text('{"hands": [')  # a file cut short by a full disk
    (out / "list.json").write_text("[1, 2]")  # another program's JSON
    with pytest.warns(DiffuhandWarning, match="cut.json: not a diffuhand prediction"):
        pages = write_pages(out)
    assert [p.name for p in pages] == ["p.html"]
    capsys.readouterr()


def test_the_stamp_is_what_the_estimator_holds(tmp_path):
    """An estimator given to run_predict may hold settings its options do not say (its smoothing, its camera): the
    run's stamp is made from the estimator, so outputs of another setting are never taken as up to date."""
    import argparse

    from diffuhand import load
    from diffuhand.commands.corpus import RunStamp

    args = argparse.Namespace(model=None, temporal=None, no_temporal=False)
    est = load()
    digest = RunStamp.of(est, args).digest
    assert RunStamp.of(est.replace(), args).digest == digest
    assert RunStamp.of(est.replace(smoothing_s=0.2), args).digest != digest
    assert RunStamp.of(est.replace(camera=np.diag([900.0, 900.0, 1.0])), args).digest != digest


def test_ray_address_from_the_environment(tmp_path, monkeypatch, capsys):
    """Without --ray-address, Ray's own RAY_ADDRESS (as `ray job submit` sets it) names the cluster; a cluster that
    cannot be reached is one line."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'diffuhand[ray]')")
    asked = []

    def init(address=None, **kwargs):
        asked.append(address)
        raise ConnectionError("refused")

    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setenv("RAY_ADDRESS", "head.example:6379")
    root = tmp_path / "in"
    root.mkdir()
    shutil.copy(shared("ge2019-realworld-dev") / "images" / "00007.jpg", root / "p.jpg")
    assert main(["predict", str(root), "--out", str(tmp_path / "out"), "--engine", "ray"]) == 2
    assert asked == ["head.example:6379"]
    assert "cannot start or reach the Ray cluster at head.example:6379 (refused)" in capsys.readouterr().err


def test_ray_workers_that_die_or_raise_fail_only_their_tasks(tmp_path, capsys, monkeypatch):
    """Ray workers that fail, each task lost with its own reason, every other input done: one whose process dies
    (as in a crash) is restarted by Ray and takes more tasks, one whose task raises goes on, one that exits for good
    is retired. In a lost task, an input up to date from an earlier run is skipped, not failed; a task whose
    worker died once is done by its second try, the input its first try wrote counted as done."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'diffuhand[ray]')")
    from diffuhand.commands import corpus

    crashed = str(tmp_path / "crashed-once")

    class Failing(corpus.PredictWorker):  # defined here: Ray sends it to the workers by value
        def run(self, index, jobs):
            names = {j.path.name for j in jobs}
            if "two.jpg" in names:  # the task's first photo seen to, then the process dies, each try
                list(super().run(index, [j for j in jobs if j.path.name == "one.jpg"]))
                os._exit(1)
            if "clip.mp4" in names:
                raise RuntimeError("a bug in the worker")
            if "novideo.mp4" in names:
                ray.actor.exit_actor()
            if not os.path.exists(crashed):  # c/one.jpg: written, then the process dies, the first try only
                list(super().run(index, jobs))
                open(crashed, "w").close()
                os._exit(1)
            return super().run(index, jobs)

    root = _tree(tmp_path / "in")
    out = tmp_path / "out"
    assert main(["predict", str(root / "a" / "one.jpg"), "--out", str(out / "a")]) == 0  # an earlier run
    monkeypatch.setattr(corpus, "PredictWorker", Failing)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        rc = main(["predict", str(root), "--out", str(out), "--engine", "ray", "--workers", "2"])
    finally:
        ray.shutdown()
    capsys.readouterr()
    summary = json.loads((out / "diffuhand-summary.json").read_text())
    assert rc == 1 and [summary[k] for k in ("inputs", "done", "skipped", "failed")] == [7, 1, 1, 5], summary
    reasons = {f["input"]: f["error"] for f in summary["failures"]}
    for name in ("a/empty.png", "a/b/two.jpg", "c/broken.jpg", "c/novideo.mp4"):
        assert "Ray worker died with it" in reasons[str(root / name)], name
    assert "Ray task failed: RuntimeError: a bug in the worker" in reasons[str(root / "c" / "clip.mp4")]
    assert _outputs(out) == {"a/one.json", "c/one.json", "diffuhand-summary.json"}
    assert summary["photos"] == 1 and summary["hands_found"] == 1  # c/one, done by the second try


def test_ray_workers_that_never_start_fail_the_run_in_time(tmp_path, capsys, monkeypatch):
    """Workers whose process dies while loading the model are restarted by Ray without end: when none answers in
    RAY_START_TIMEOUT_S (here DIFFUHAND_RAY_START_TIMEOUT) and no task runs, the inputs fail with that reason and
    the run ends."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'diffuhand[ray]')")
    from diffuhand.commands import corpus

    class NeverStarts(corpus.PredictWorker):
        def __init__(self, *args, **kwargs):
            os._exit(1)

    monkeypatch.setattr(corpus, "PredictWorker", NeverStarts)
    monkeypatch.setenv("DIFFUHAND_RAY_START_TIMEOUT", "4")
    monkeypatch.setattr(corpus, "RAY_POLL_S", 0.5)
    root = tmp_path / "in"
    root.mkdir()
    shutil.copy(shared("ge2019-realworld-dev") / "images" / "00008.jpg", root / "p.jpg")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        rc = main(["predict", str(root), "--out", str(tmp_path / "out"), "--engine", "ray", "--workers", "2"])
    finally:
        ray.shutdown()
    capsys.readouterr()
    summary = json.loads((tmp_path / "out" / "diffuhand-summary.json").read_text())
    assert rc == 1 and summary["failed"] == 1 and "no Ray worker ready after 4 s" in summary["failures"][0]["error"]


@pytest.mark.parametrize("value", ["ten", "0", "-5", "nan", "inf"])
def test_a_bad_ray_start_timeout_is_one_line_before_ray_starts(tmp_path, capsys, monkeypatch, value):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'diffuhand[ray]')")
    monkeypatch.setenv("DIFFUHAND_RAY_START_TIMEOUT", value)
    root = tmp_path / "in"
    root.mkdir()
    (root / "p.jpg").write_bytes(b"not a photo")
    rc = main(["predict", str(root), "--out", str(tmp_path / "out"), "--engine", "ray"])
    err = capsys.readouterr().err
    assert rc != 0 and "DIFFUHAND_RAY_START_TIMEOUT must be a positive number" in err and "Traceback" not in err


def test_an_outputs_recorded_input_is_compared_as_a_file(tmp_path, monkeypatch):
    """The input an output records is the same input written another way (absolute or relative, through a link);
    a relative path recorded by an older output matches only the same string: the folder it was relative to is
    not known (it may be another folder's file of that name)."""
    from diffuhand.commands.corpus import _same_file

    for folder in ("A", "B"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "x.jpg").write_bytes(folder.encode())
    (tmp_path / "link").symlink_to(tmp_path / "A", target_is_directory=True)
    monkeypatch.chdir(tmp_path / "B")
    assert _same_file(str(tmp_path / "A" / "x.jpg"), tmp_path / "link" / "x.jpg")
    assert _same_file(str(tmp_path / "B" / "x.jpg"), Path("x.jpg"))
    assert not _same_file("x.jpg", tmp_path / "B" / "x.jpg")  # recorded in A, or in B? not known
    assert _same_file("x.jpg", Path("x.jpg")) and not _same_file(None, Path("x.jpg"))


def test_an_output_of_this_run_counts_as_done_when_the_file_systems_clock_runs_apart(tmp_path, monkeypatch):
    """A network file system stamps files by its server's clock: the run's start is read from the same clock
    (file_system_now), so an output written after it counts as done by this run (a Ray task tried again) even
    where this node's clock runs an hour ahead. Read from time.time(), as before, it counted as skipped."""
    from diffuhand.commands import corpus

    real = time.time
    monkeypatch.setattr(corpus.time, "time", lambda: real() + 3600.0)  # this node's clock an hour ahead
    out = tmp_path / "out" / "not-yet-made"
    job = corpus.Job(tmp_path / "photo.jpg", "photo", False, 1)
    since = corpus.file_system_now(out)
    assert not out.exists() and not list((tmp_path).glob(".diffuhand-clock-*"))  # nothing created, nothing left
    out.mkdir(parents=True)
    (out / "photo.json").write_text(json.dumps({"hands": [{}, {}]}))
    done = corpus.made_since(job, out, since)
    assert done is not None and done.status == "done" and done.hands == 2
    assert corpus.made_since(job, out, corpus.time.time()) is None  # the node's clock: wrongly not this run's
    # where no file can be made, this node's clock
    monkeypatch.setattr("tempfile.mkstemp", lambda **kw: (_ for _ in ()).throw(PermissionError("read-only")))
    assert corpus.file_system_now(out) >= real() + 3599.0


def test_a_task_lost_with_an_unavailable_worker_says_it_may_only_be_unreachable():
    """Ray raises ActorUnavailableError for a worker that died and restarts (the crash test above) and for one
    only unreachable: the reason names both."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'diffuhand[ray]')")
    from diffuhand.commands.corpus import lost_with_worker

    unavailable = ray.exceptions.ActorUnavailableError("network partition", None)
    said = lost_with_worker(unavailable, "network partition")
    assert said.startswith("Ray worker died with it or became unreachable (Ray restarts it)")
    assert lost_with_worker(ray.exceptions.ActorDiedError(), "gone") == "Ray worker died with it: gone"
