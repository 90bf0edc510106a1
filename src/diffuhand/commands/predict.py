"""``diffuhand predict``: 3D hands in photos (one JSON each) and videos (JSON Lines + NPZ each).

Each input is handled on its own: a bad one gets a one-line error and no output file, the others go on, and
the exit status is non-zero when any failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np

from diffuhand.errors import DiffuhandError, DiffuhandWarning
from diffuhand.io.files import atomic_write_text
from diffuhand.io.images import IMAGE_SUFFIXES, VIDEO_SUFFIXES, read_image
from diffuhand.kinematics.skeleton import ANGLE_NAMES, BONE_NAMES, JOINT_NAMES


def expand_inputs(paths: list[Path]) -> list[Path]:
    """Files as given (whatever their suffix: the reader judges them), folders as their images in name order."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES))
        else:
            out.append(p)
    return out


def image_record(path: Path, image, hands, body=False) -> dict:
    extra = {} if body is False else {"body": None if body is None else body.to_json()}
    return {
        **extra,
        "image": str(path),
        "width": int(image.shape[1]),
        "height": int(image.shape[0]),
        "units": {
            "joints_2d": "pixels of the image",
            "joints_3d": "mm, camera frame, relative to the wrist",
            "angles": "rad (right-hand model)",
            "uncertainty_mm": "mm",
        },
        "joint_names": list(JOINT_NAMES),
        "angle_names": list(ANGLE_NAMES),
        "bone_names": list(BONE_NAMES),
        "hands": [h.to_json() for h in hands],
    }


def write_overlay_video(path: Path, frames: list, out_path: Path, fps: float, anchor_mm: float, bodies=None) -> None:
    """The input video with each frame's hands drawn (mesh and 2D skeleton), H.264, written whole or not at all."""
    from fractions import Fraction

    import av

    from diffuhand.io.files import atomic_path
    from diffuhand.io.video import read_video
    from diffuhand.viz.overlay import render_overlay

    with atomic_path(out_path) as tmp, av.open(str(tmp), "w", format="mp4") as c:
        s = None
        for k, (image, hands) in enumerate(zip(read_video(path), frames)):
            shown = render_overlay(image, hands, anchor_mm, body=bodies[k] if bodies else None)  # size bounded
            if s is None:
                s = c.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001), options={"crf": "23"})
                s.width, s.height, s.pix_fmt = shown.shape[1] // 2 * 2, shown.shape[0] // 2 * 2, "yuv420p"
            shown = np.ascontiguousarray(shown[: s.height, : s.width])
            c.mux(s.encode(av.VideoFrame.from_ndarray(shown, format="rgb24")))
        if s is not None:
            c.mux(s.encode())


def predict_video(
    path: Path, estimator, out: Path, name: str, render: bool = False, body: bool = False
) -> tuple[Path, int, int]:
    """One video -> ``out/<name>.jsonl`` (a record per frame) and ``out/<name>.npz``; returns (jsonl, frames,
    frames with a hand). Written only once the whole video is done."""
    from tqdm import tqdm

    from diffuhand.detect import MediaPipeBody
    from diffuhand.io.files import atomic_path
    from diffuhand.io.video import read_video, video_info

    info = video_info(path)
    estimator = estimator.replace()  # the user's options; each video from the seed, whatever ran before
    bodies: list = []

    def read(pose=None):  # the frames, with the body found in each on the way when asked
        for f in tqdm(read_video(path), total=info.frames or None, desc=path.name, unit="frame"):
            bodies.append(pose(f) if pose is not None else None)
            yield f

    if body:
        with MediaPipeBody(video=True) as pose:
            frames = estimator.predict_frames(read(pose))
    else:
        frames = estimator.predict_frames(read())
    t = len(frames)
    sides = ("left", "right")
    joints = np.full((t, 2, 21, 3), np.nan)
    status = np.full((t, 2), "", dtype="<U8")
    for i, hands in enumerate(frames):
        for h in hands:
            joints[i, sides.index(h.handedness)] = h.joints_3d
            status[i, sides.index(h.handedness)] = h.status
    jsonl = out / f"{name}.jsonl"
    out.mkdir(parents=True, exist_ok=True)  # only now: a video that fails leaves no folder behind
    with atomic_path(jsonl) as tmp, open(tmp, "w") as fh:
        for i, hands in enumerate(frames):
            rec = {"frame": i, "time_s": round(i / info.fps, 4), "hands": [h.to_json() for h in hands]}
            if body:
                rec["body"] = None if bodies[i] is None else bodies[i].to_json()
            fh.write(json.dumps(rec) + "\n")
    with atomic_path(out / f"{name}.npz") as tmp, open(tmp, "wb") as fh:
        np.savez(
            fh,
            joints_3d=joints,
            status=status,
            sides=np.array(sides),
            fps=info.fps,
            temporal=estimator.temporal is not None,
        )
    if render:
        write_overlay_video(path, frames, out / f"{name}-overlay.mp4", info.fps, estimator.anchor_mm, bodies)
        shown = [i for i, hands in enumerate(frames) if hands]
        if shown:
            from diffuhand.viz.overlay import plot_hands_3d

            i = max(shown, key=lambda k: (len(frames[k]), -abs(k - t // 2)))  # most hands, nearest the middle
            with atomic_path(out / f"{name}-3d.png") as tmp:
                plot_hands_3d(frames[i], tmp, title=f"{path.name}, frame {i}")
    return jsonl, t, int(sum(bool(h) for h in frames))


def mano_mesh(poser, hand, anchor_mm: float):
    """MANO posed by a result (mirrored for a left hand), wrist at the origin: (vertices mm, faces)."""
    if hand.root_rotation is None or not np.isfinite(hand.angles).all():
        raise DiffuhandError("this model gives no angles (a diffusion model without its IK MLP): no MANO mesh")
    from diffuhand.synth.mesh import mirror_mesh

    v, _ = poser.pose(hand.angles, hand.bone_ratios, anchor_mm, hand.root_rotation)
    return mirror_mesh(v, poser.mano.faces, hand.handedness)


def run_predict(args: argparse.Namespace, estimator=None) -> int:
    """``diffuhand predict``; ``estimator``: one already loaded for these options (the demo's two passes share
    one), else loaded from ``args``."""
    import os

    import torch

    # one thread for the lift's small batches unless told (benchmarks/bench_threads.py: equal idle, x0.45 loaded);
    # the caller's setting comes back afterwards (main() may run in a process that does other work)
    threads = getattr(args, "threads", None)
    if threads is not None and threads < 1:
        raise DiffuhandError(f"--threads: at least 1, got {threads}")
    before = torch.get_num_threads()
    if threads is not None or not os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(threads or 1)
    try:
        return _run_predict(args, estimator or load_estimator(args))
    finally:
        torch.set_num_threads(before)


def load_estimator(args: argparse.Namespace):
    """The model (the shipped one by default) and the temporal model for videos (the shipped one, unless told),
    with predict's options; one-line errors for bad ones."""
    from diffuhand import load

    sampler = {k: v for k, v in (("samples", args.samples), ("steps", args.steps)) if v is not None}
    camera = None
    if getattr(args, "intrinsics", None):
        fx, fy, cx, cy = args.intrinsics
        if fx <= 0 or fy <= 0:
            raise DiffuhandError(f"--intrinsics: focal lengths must be > 0, got {fx} {fy}")
        camera = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    try:
        estimator = load(
            args.model,
            temporal=False if args.no_temporal else args.temporal,
            backend=args.backend,
            sampler=sampler or None,
            skeleton=getattr(args, "skeleton", None),
            camera=camera,
        )
    except ValueError as exc:
        raise DiffuhandError(str(exc)) from None
    return estimator


def _run_predict(args: argparse.Namespace, estimator) -> int:
    from diffuhand.io.export import write_mesh
    from diffuhand.synth.mesh import posed_mesh

    if args.hand is not None and not args.crop:
        warnings.warn(
            f"--hand {args.hand} is used only with --crop (the detector tells each hand's side): ignored",
            DiffuhandWarning,
            stacklevel=1,
        )
    body_detector = None
    if args.body:
        from diffuhand.detect import MediaPipeBody

        body_detector = MediaPipeBody()
    poser = None
    if args.mano:
        from diffuhand.synth.mano import ManoPoser, load_mano

        poser = ManoPoser(load_mano(args.mano))  # a wrong file stops here, before any output
    failed = 0
    inputs = expand_inputs(args.inputs)
    if not inputs:
        raise DiffuhandError("no input images (folders are searched for " + ", ".join(IMAGE_SUFFIXES) + ")")
    stems: dict[str, int] = {}
    for path in inputs:
        n = stems.get(path.stem, 0)
        name = path.stem if n == 0 else f"{path.stem}-{n}"  # two inputs with one stem do not overwrite
        try:
            if path.suffix.lower() in VIDEO_SUFFIXES:
                skipped = [
                    flag
                    for flag, given in (("--crop", args.crop), ("--mesh", args.mesh), ("--mano", args.mano))
                    if given
                ]
                if skipped:  # one mesh file per hand and frame is not what anyone wants from a video
                    warnings.warn(
                        f"{path}: {', '.join(skipped)} for photos only: not applied to this video",
                        DiffuhandWarning,
                        stacklevel=1,
                    )
                jsonl, t, seen = predict_video(path, estimator, args.out, name, render=args.render, body=args.body)
                stems[path.stem] = n + 1
                print(f"{path}: {t} frames, hands in {seen} -> {jsonl}")
                continue
            image = read_image(path)
            hands = estimator.predict_image(image, crop=args.crop, hand=args.hand if args.crop else None)
            body = body_detector(image) if body_detector is not None else False
            meshes = [posed_mesh(h, estimator.anchor_mm) for h in hands] if args.mesh else []
            manos = [mano_mesh(poser, h, estimator.anchor_mm) for h in hands] if poser is not None else []
        except DiffuhandError as exc:
            print(f"diffuhand: error: {exc}", file=sys.stderr)
            failed += 1
            continue
        stems[path.stem] = n + 1
        args.out.mkdir(parents=True, exist_ok=True)  # at the first output: inputs that all fail leave no folder
        if args.render:
            from PIL import Image

            from diffuhand.io.files import atomic_path
            from diffuhand.viz.overlay import plot_hands_3d, render_overlay

            with atomic_path(args.out / f"{name}-overlay.png") as tmp:
                shown = render_overlay(image, hands, estimator.anchor_mm, body=body or None)
                Image.fromarray(shown).save(tmp, format="PNG")
            if hands:
                with atomic_path(args.out / f"{name}-3d.png") as tmp:
                    plot_hands_3d(hands, tmp, title=path.name)
        for i, (v, f) in enumerate(meshes):
            write_mesh(args.out / f"{name}-hand{i}.{args.mesh}", v, f)
        for i, (v, f) in enumerate(manos):
            write_mesh(args.out / f"{name}-hand{i}-mano.{args.mesh or 'obj'}", v, f)
        atomic_write_text(
            args.out / f"{name}.json", json.dumps(image_record(path, image, hands, body), indent=1) + "\n"
        )
        print(f"{path}: {len(hands)} hand{'s' if len(hands) != 1 else ''} -> {args.out / (name + '.json')}")
    if getattr(args, "html", False) and stems:  # the viewer pages, once every input has its prediction
        from diffuhand.viz.page import write_pages

        videos = [p for p in inputs if p.suffix.lower() in VIDEO_SUFFIXES]
        pages = write_pages(args.out, videos=videos)
        print(f"viewer: {len(pages)} page{'s' if len(pages) != 1 else ''} ({', '.join(p.name for p in pages)})")
    return 1 if failed else 0


def demo_inputs() -> list[Path]:
    """The inputs bundled with the package (made by scripts/make_demo_inputs.py with our renderer)."""
    from importlib import resources

    folder = Path(str(resources.files("diffuhand") / "demo"))
    return sorted(folder.glob("*.jpg")) + sorted(folder.glob("*.mp4"))


def run_demo(args: argparse.Namespace) -> int:
    inputs = demo_inputs()
    photos = [p for p in inputs if p.suffix.lower() not in VIDEO_SUFFIXES]
    ns = argparse.Namespace(
        inputs=photos,
        model=None,
        out=args.out,
        crop=False,
        hand=None,
        mesh="obj",
        mano=None,
        render=True,
        temporal=None,
        no_temporal=False,
        body=False,
        backend="auto",
        samples=None,
        steps=None,
        html=False,
    )
    estimator = load_estimator(ns)  # loaded once for both passes
    rc = run_predict(ns, estimator)
    # the video without --mesh (photos only), then the viewer pages of all
    video = argparse.Namespace(
        **{**vars(ns), "inputs": [p for p in inputs if p not in photos], "mesh": None, "html": True}
    )
    rc = max(rc, run_predict(video, estimator))
    print(
        f"demo: outputs in {args.out}/ (<name>.json, <name>-overlay.png, <name>-3d.png, <name>-hand<i>.obj; "
        "motion.jsonl and motion.npz for the video; <name>.html viewer pages, open in a browser)"
    )
    return rc


__all__ = ["expand_inputs", "run_demo", "run_predict"]
