"""``diffuhand predict``: 3D hands in photos (one JSON each) and videos (JSON Lines + NPZ each).

Each input is handled on its own: a bad one gets a one-line error and no output file, the others go on, and
the exit status is non-zero when any failed. Folders are searched through their whole tree and mirrored under
``--out``; an input whose outputs are up to date is skipped (a run started again goes on where it stopped); one
progress bar covers every frame; a corpus run (a folder or ``--manifest``) ends with a summary JSON; ``--engine
ray`` runs the same jobs on Ray workers (:mod:`diffuhand.commands.corpus`).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import sys
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from diffuhand.commands.corpus import (
    SUMMARY_NAME,
    Job,
    Outcome,
    Progress,
    RunStamp,
    Summary,
    account,
    collect_jobs,
    made_since,
    run_ray,
    temporal_held,
    up_to_date,
    write_summary,
)
from diffuhand.errors import DiffuhandError, DiffuhandWarning, one_line
from diffuhand.io.files import atomic_path, atomic_write_text
from diffuhand.io.images import IMAGE_SUFFIXES, VIDEO_SUFFIXES, read_image
from diffuhand.kinematics.skeleton import ANGLE_NAMES, BONE_NAMES, JOINT_NAMES
from diffuhand.pipeline import FoundHands


def expand_inputs(paths: list[Path]) -> list[Path]:
    """Files as given (whatever their suffix: the reader judges them), folders as their images in name order."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES))
        else:
            out.append(p)
    return out


def image_record(path: Path, image, hands, body=False, run: str | None = None) -> dict:
    extra = {} if body is False else {"body": None if body is None else body.to_json()}
    if run is not None:
        extra["run"] = run  # the model and options that made it (commands.corpus.RunStamp)
    return {
        **extra,
        "image": os.path.abspath(path),  # absolute: a resumed run from another folder knows its input
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
    path: Path,
    estimator,
    out: Path,
    name: str,
    render: bool = False,
    body: bool = False,
    progress: Callable[[int], None] | None = None,
    run: str | None = None,
) -> tuple[Path, int, int]:
    """One video -> ``out/<name>.jsonl`` (a record per frame) and ``out/<name>.npz`` (written last, stamped with
    ``run``); returns (jsonl, frames, frames with a hand). Written only once the whole video is done.
    ``progress(n)``: called as frames are read (else a bar of its own)."""
    from diffuhand.detect import MediaPipeBody
    from diffuhand.io.video import read_video, video_info

    info = video_info(path)
    estimator = estimator.replace()  # the user's options; each video from the seed, whatever ran before
    bodies: list = []

    def read(pose=None):  # the frames, with the body found in each on the way when asked
        if progress is None:
            from tqdm import tqdm

            frames = tqdm(read_video(path), total=info.frames or None, desc=path.name, unit="frame")
        else:
            frames = read_video(path)
        for f in frames:
            bodies.append(pose(f) if pose is not None else None)
            if progress is not None:
                progress(1)
            yield f

    if body:
        with MediaPipeBody(video=True) as pose:
            frames = estimator.predict_frames(read(pose), fps=info.fps)
    else:
        frames = estimator.predict_frames(read(), fps=info.fps)
    t = len(frames)
    sides = ("left", "right")
    joints = np.full((t, 2, 21, 3), np.nan)
    status = np.full((t, 2), "", dtype="<U8")
    for i, hands in enumerate(frames):
        for h in hands:
            joints[i, sides.index(h.handedness)] = h.joints_3d
            status[i, sides.index(h.handedness)] = h.status
    jsonl = out / f"{name}.jsonl"
    with atomic_path(jsonl) as tmp, open(tmp, "w") as fh:  # the folder appears only now: a failed video leaves none
        for i, hands in enumerate(frames):
            rec = {"frame": i, "time_s": round(i / info.fps, 4), "hands": [h.to_json() for h in hands]}
            if body:
                rec["body"] = None if bodies[i] is None else bodies[i].to_json()
            fh.write(json.dumps(rec) + "\n")
    if render:
        write_overlay_video(path, frames, out / f"{name}-overlay.mp4", info.fps, estimator.anchor_mm, bodies)
        shown = [i for i, hands in enumerate(frames) if hands]
        if shown:
            from diffuhand.viz.overlay import plot_hands_3d

            i = max(shown, key=lambda k: (len(frames[k]), -abs(k - t // 2)))  # most hands, nearest the middle
            with atomic_path(out / f"{name}-3d.png") as tmp:
                plot_hands_3d(frames[i], tmp, title=f"{path.name}, frame {i}")
    extra = {} if run is None else {"run": run}
    with atomic_path(out / f"{name}.npz") as tmp, open(tmp, "wb") as fh:  # last: its presence means all are done
        np.savez(
            fh,
            joints_3d=joints,
            status=status,
            sides=np.array(sides),
            fps=info.fps,
            temporal=estimator.temporal is not None,
            input=os.path.abspath(path),
            **extra,
        )
    return jsonl, t, int(sum(bool(h) for h in frames))


def mano_mesh(poser, hand, anchor_mm: float):
    """MANO posed by a result (mirrored for a left hand), wrist at the origin: (vertices mm, faces)."""
    if hand.root_rotation is None or not np.isfinite(hand.angles).all():
        raise DiffuhandError("this model gives no angles (a diffusion model without its IK MLP): no MANO mesh")
    from diffuhand.synth.mesh import mirror_mesh

    v, _ = poser.pose(hand.angles, hand.bone_ratios, anchor_mm, hand.root_rotation)
    return mirror_mesh(v, poser.mano.faces, hand.handedness)


#: environment variables that set the BLAS libraries' thread counts: where one is set, the user's count stands
_BLAS_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class ComputeThreads:
    """The thread counts of a run's small batches: NumPy's BLAS (the fusion fit) and torch's intra-op threads (a
    network lift, a video's temporal model): ``threads``, else 1 unless the environment sets them
    (OMP_NUM_THREADS; for BLAS also OPENBLAS_NUM_THREADS or MKL_NUM_THREADS). A second thread gains nothing on
    batches of a few hands, and on a busy machine its waiting threads spin on the cores others need
    (benchmarks/bench_threads.py). The caller's counts come back with :meth:`restore` (main() may run in a process
    that does other work).

    BLAS is limited (threadpoolctl) by every :meth:`apply` that finds a library not limited yet; torch once it is
    in use: a network lift imports it, a video's temporal model loads it, a photo's fusion lift never imports it
    (start-up: 2.2-3.3 s, benchmarks/bench_startup.py)."""

    def __init__(self, threads: int | None = None):
        self.threads = threads
        self.before: int | None = None  # torch's count before apply set it; None: not set (yet)
        self.blas: list = []  # threadpoolctl's limiters, in the order they were set
        self.blas_limited: set[str] = set()  # the BLAS libraries they cover
        self.limit_blas = threads is not None or not any(os.environ.get(v) for v in _BLAS_THREAD_VARIABLES)

    def apply(self, load: bool = False) -> None:
        """Limit the BLAS libraries loaded so far, and set torch's count where torch is imported already, or
        (``load``) about to be used: imported now (once)."""
        if self.limit_blas:
            from threadpoolctl import threadpool_info, threadpool_limits

            # each apply limits the BLAS libraries loaded since the last (a model's loading brings its own)
            loaded = {p["filepath"] for p in threadpool_info() if p["user_api"] == "blas"}
            if loaded - self.blas_limited:
                self.blas.append(threadpool_limits(limits=self.threads or 1, user_api="blas"))
                self.blas_limited |= loaded
        if self.before is not None:
            return
        torch = sys.modules.get("torch")
        if torch is None and load:
            import torch
        if torch is None:
            return
        self.before = torch.get_num_threads()
        if self.threads is not None or not os.environ.get("OMP_NUM_THREADS"):
            torch.set_num_threads(self.threads or 1)

    def restore(self) -> None:
        while self.blas:  # the last set first: each restores what it found
            self.blas.pop().restore_original_limits()
        self.blas_limited = set()
        if self.before is not None:
            sys.modules["torch"].set_num_threads(self.before)
            self.before = None


def needs_torch(args: argparse.Namespace, estimator, jobs: list[Job]) -> bool:
    """Whether a run's jobs compute with torch besides the lift: a video with a temporal model held (loaded when
    its frames need it), or meshes (``--mesh``, ``--render``, ``--mano``)."""
    meshes = any(getattr(args, k, None) for k in ("mesh", "render", "mano"))
    return meshes or (temporal_held(estimator) is not None and any(j.video for j in jobs))


def run_predict(args: argparse.Namespace, estimator=None) -> int:
    """``diffuhand predict``; ``estimator``: one already loaded for these options (the demo's two passes share
    one), else loaded from ``args``."""
    threads = getattr(args, "threads", None)
    if threads is not None and threads < 1:
        raise DiffuhandError(f"--threads: at least 1, got {threads}")
    if getattr(args, "workers", None) is not None and args.workers < 1:
        raise DiffuhandError(f"--workers: at least 1, got {args.workers}")
    if not args.inputs and getattr(args, "manifest", None) is None:
        raise DiffuhandError("no inputs: give photos, videos or folders, or --manifest FILE")
    compute_threads = ComputeThreads(threads)
    compute_threads.apply()  # torch imported already (by the caller): set before the model loads, as for a network
    try:
        # loaded here under --engine ray too: a bad model or option is one line before any worker starts
        estimator = estimator or load_estimator(args)
        compute_threads.apply()  # a network lift imported it
        return _run_predict(args, estimator, compute_threads)
    finally:
        compute_threads.restore()


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
    smoothing = getattr(args, "smoothing", None)
    if smoothing is not None and not (math.isfinite(smoothing) and smoothing >= 0):
        raise DiffuhandError(f"--smoothing: a finite number of seconds >= 0, got {smoothing}")
    try:
        estimator = load(
            args.model,
            temporal=False if args.no_temporal else args.temporal,
            backend=args.backend,
            sampler=sampler or None,
            skeleton=getattr(args, "skeleton", None),
            camera=camera,
            **({} if smoothing is None else {"smoothing_s": smoothing}),
        )
    except ValueError as exc:
        raise DiffuhandError(str(exc)) from None
    return estimator


@dataclass
class PredictContext:
    """What every input of a run shares, made once per process (or Ray worker): the body detector, the MANO
    poser, the run's stamp and, on Ray, when the run started (``since``, seconds since the epoch: an input whose
    outputs were written after it was done by this run, by a task tried again: :func:`~.corpus.made_since`)."""

    stamp: RunStamp
    body_detector: object | None = None
    poser: object | None = None
    since: float | None = None


def prepare(args: argparse.Namespace, estimator, since: float | None = None) -> PredictContext:
    """The shared part of a run; a bad ``--mano`` file stops here, before any output."""
    body_detector = poser = None
    if args.body:
        from diffuhand.detect import MediaPipeBody

        body_detector = MediaPipeBody()
    if args.mano:
        from diffuhand.synth.mano import ManoPoser, load_mano

        poser = ManoPoser(load_mano(args.mano))
    return PredictContext(RunStamp.of(estimator, args), body_detector, poser, since)


#: photos of a corpus whose hands are lifted in one batch, in a second thread while the next ones are read and
#: searched (a deterministic lift only; benchmarks/bench_corpus.py)
PHOTO_CHUNK = 16


def _failed(job: Job, exc: BaseException, t0: float) -> Outcome:
    """A failed outcome whose one-line reason names the input."""
    if isinstance(exc, DiffuhandError):
        error = str(exc)
    else:  # one input's unforeseen failure must not end a corpus run: reported, with what it was
        error = f"{type(exc).__name__}: {one_line(exc)}"
    if str(job.path) not in error and job.path.name not in error:
        error = f"{job.path}: {error}"
    return Outcome(job, "failed", error=error, seconds=time.perf_counter() - t0)


def _skipped(job: Job, args: argparse.Namespace, ctx: PredictContext) -> Outcome:
    """An up-to-date job: skipped, or done when this run made its outputs (a Ray task's second try)."""
    return made_since(job, args.out, ctx.since) or Outcome(job, "skipped", message=f"{job.path}: up to date, skipped")


def predict_job(
    job: Job, estimator, args: argparse.Namespace, ctx: PredictContext, progress: Callable[[int], None] | None = None
) -> Outcome:
    """One input -> its outputs under ``args.out`` (skipped when up to date, unless ``--overwrite``). Never
    raises for a bad input: a failed :class:`Outcome` says why in one line."""
    t0 = time.perf_counter()
    try:
        if not getattr(args, "overwrite", False) and up_to_date(job, args.out, args, ctx.stamp):
            return _skipped(job, args, ctx)
        if not job.video:
            found = find_photo(job, estimator, args, ctx, t0)
            (hands,) = _lift_batch([found], estimator)
            return finish_photo(found, hands, estimator, args, ctx)
        skipped = [f for f, given in (("--crop", args.crop), ("--mesh", args.mesh), ("--mano", args.mano)) if given]
        if skipped:  # one mesh file per hand and frame is not what anyone wants from a video
            warnings.warn(
                f"{job.path}: {', '.join(skipped)} for photos only: not applied to this video",
                DiffuhandWarning,
                stacklevel=1,
            )
        jsonl, t, seen = predict_video(
            job.path,
            estimator,
            args.out,
            job.name,
            render=args.render,
            body=args.body,
            progress=progress or (lambda n: None),
            run=ctx.stamp.digest,
        )
        message = f"{job.path}: {t} frames, hands in {seen} -> {jsonl}"
        return Outcome(job, "done", t, seen, time.perf_counter() - t0, message=message)
    except Exception as exc:  # noqa: BLE001 - see _failed
        return _failed(job, exc, t0)


@dataclass
class FoundPhoto:
    """A photo of a run read and its hands found, waiting for the lift."""

    job: Job
    found: FoundHands
    body: object
    t0: float


def find_photo(job: Job, estimator, args: argparse.Namespace, ctx: PredictContext, t0: float) -> FoundPhoto:
    """Read a photo and find its hands (and its body with ``--body``)."""
    image = read_image(job.path)
    found = estimator.find_hands(image, crop=args.crop, hand=args.hand if args.crop else None)
    body = ctx.body_detector(image) if ctx.body_detector is not None else False
    return FoundPhoto(job, found, body, t0)


def finish_photo(f: FoundPhoto, hands: list, estimator, args: argparse.Namespace, ctx: PredictContext) -> Outcome:
    """A photo's lifted hands -> ``<name>.json`` (written last) and the overlays and meshes asked for."""
    from diffuhand.io.export import write_mesh

    job, image = f.job, f.found.image
    meshes = []
    if args.mesh:
        from diffuhand.synth.mesh import posed_mesh  # start-up: torch, for --mesh only

        meshes = [posed_mesh(h, estimator.anchor_mm) for h in hands]
    manos = [mano_mesh(ctx.poser, h, estimator.anchor_mm) for h in hands] if ctx.poser is not None else []
    base = args.out / job.name
    if args.render:
        from PIL import Image

        from diffuhand.viz.overlay import plot_hands_3d, render_overlay

        with atomic_path(base.parent / f"{base.name}-overlay.png") as tmp:
            shown = render_overlay(image, hands, estimator.anchor_mm, body=f.body or None)
            Image.fromarray(shown).save(tmp, format="PNG")
        if hands:
            with atomic_path(base.parent / f"{base.name}-3d.png") as tmp:
                plot_hands_3d(hands, tmp, title=job.path.name)
    for i, (v, faces) in enumerate(meshes):
        write_mesh(base.parent / f"{base.name}-hand{i}.{args.mesh}", v, faces)
    for i, (v, faces) in enumerate(manos):
        write_mesh(base.parent / f"{base.name}-hand{i}-mano.{args.mesh or 'obj'}", v, faces)
    record = image_record(job.path, image, hands, f.body, run=ctx.stamp.digest)
    out = base.parent / f"{base.name}.json"
    atomic_write_text(out, json.dumps(record, indent=1) + "\n")
    plural = "s" if len(hands) != 1 else ""
    message = f"{job.path}: {len(hands)} hand{plural} -> {out}"
    return Outcome(job, "done", 1, len(hands), time.perf_counter() - f.t0, message=message)


def _lift_batch(batch: list[FoundPhoto], estimator) -> list[list]:
    """The hands of a batch of photos lifted together (each input from the seed: with a deterministic lift its
    result depends on it alone, not on the order, a resumed run's skips or the worker that took it)."""
    estimator.reseed()
    return estimator.lift_found([f.found for f in batch])


def finish_batch(
    batch: list[FoundPhoto],
    lifted: Future,
    estimator,
    args: argparse.Namespace,
    ctx: PredictContext,
    pool: ThreadPoolExecutor | None = None,
) -> list[Outcome]:
    """A lifted batch's outputs, written in this thread (the renderer's GL context and matplotlib are this
    thread's); a photo that broke the batch's lift is lifted alone, so that only it fails, in ``pool`` (the
    lift's one thread, where the next batch may be lifting: never two lifts at once on one estimator)."""
    try:
        hands_of = lifted.result()
    except Exception:  # noqa: BLE001 - found again photo by photo below
        hands_of = None
    outcomes = []
    for i, f in enumerate(batch):
        try:
            if hands_of is not None:
                hands = hands_of[i]
            elif pool is not None:
                hands = pool.submit(_lift_batch, [f], estimator).result()[0]
            else:
                hands = _lift_batch([f], estimator)[0]
            outcomes.append(finish_photo(f, hands, estimator, args, ctx))
        except Exception as exc:  # noqa: BLE001 - see _failed
            outcomes.append(_failed(f.job, exc, f.t0))
    return outcomes


def run_jobs(
    jobs: list[Job], estimator, args: argparse.Namespace, ctx: PredictContext, progress: Callable[[int], None] | None
) -> Iterator[Outcome]:
    """The jobs in this process, their outcomes as they finish. With a deterministic lift photos go in batches of
    :data:`PHOTO_CHUNK`: read and searched (MediaPipe) here while the previous batch is lifted in a second thread
    (MediaPipe leaves the interpreter while it runs), then written here; videos one by one (their frames are
    batched by :meth:`~diffuhand.pipeline.Estimator.predict_frames`)."""
    chunk = PHOTO_CHUNK if getattr(estimator.lifter, "deterministic", False) else 1
    overwrite = getattr(args, "overwrite", False)
    with ThreadPoolExecutor(max_workers=1) as pool:
        lifting: deque[tuple[list[FoundPhoto], Future]] = deque()
        batch: list[FoundPhoto] = []

        def finish_oldest() -> list[Outcome]:
            done, lifted = lifting.popleft()
            return finish_batch(done, lifted, estimator, args, ctx, pool)

        for job in jobs:
            if job.video or chunk == 1:
                if batch:
                    lifting.append((batch, pool.submit(_lift_batch, batch, estimator)))
                    batch = []
                while lifting:
                    yield from finish_oldest()
                yield predict_job(job, estimator, args, ctx, progress)
                continue
            t0 = time.perf_counter()
            try:
                if not overwrite and up_to_date(job, args.out, args, ctx.stamp):
                    yield _skipped(job, args, ctx)
                    continue
                batch.append(find_photo(job, estimator, args, ctx, t0))
            except Exception as exc:  # noqa: BLE001 - see _failed
                yield _failed(job, exc, t0)
                continue
            if len(batch) >= chunk:
                lifting.append((batch, pool.submit(_lift_batch, batch, estimator)))
                batch = []
                while len(lifting) > 1:  # one batch lifted while the next is found: no more held in memory
                    yield from finish_oldest()
        if batch:
            lifting.append((batch, pool.submit(_lift_batch, batch, estimator)))
        while lifting:
            yield from finish_oldest()


def _run_predict(args: argparse.Namespace, estimator, compute_threads: ComputeThreads | None = None) -> int:
    if args.hand is not None and not args.crop:
        warnings.warn(
            f"--hand {args.hand} is used only with --crop (the detector tells each hand's side): ignored",
            DiffuhandWarning,
            stacklevel=1,
        )
    manifest = getattr(args, "manifest", None)
    listed = collect_jobs(args.inputs, manifest, out=args.out)
    jobs = listed.jobs
    if not jobs and not listed.problems:
        raise DiffuhandError("no input images (folders are searched for " + ", ".join(IMAGE_SUFFIXES) + ")")
    engine = getattr(args, "engine", "local")
    summary = Summary(engine=engine, workers=1)
    ctx = prepare(args, estimator)  # here for Ray too: a bad --mano is one line before any worker starts
    if compute_threads is not None and engine == "local":
        compute_threads.apply(load=needs_torch(args, estimator, jobs))  # set before the jobs' torch work
    summary.run = ctx.stamp.digest
    problems = [
        Outcome(Job(path, path.name, False, 0), "failed", error=f"{path}: {why}") for path, why in listed.problems
    ]
    progress = Progress(sum(j.frames for j in jobs))
    try:
        if engine == "ray":
            outcomes = run_ray(jobs, args, summary, ctx.stamp) if jobs else iter(())
        else:
            outcomes = run_jobs(jobs, estimator, args, ctx, progress.advance)
        account(itertools.chain(problems, outcomes), summary, progress)
    finally:
        progress.close()
    path = getattr(args, "summary", None) or (args.out / f"{SUMMARY_NAME}.json" if listed.corpus else None)
    if path is not None:
        write_summary(path, summary)
        print(
            f"{summary.inputs} inputs: {summary.done} done, {summary.skipped} up to date, {summary.failed} failed; "
            f"{summary.frames} frames in {summary.seconds:.1f} s -> {path}"
        )
    if getattr(args, "html", False) and summary.done + summary.skipped:  # the viewer pages, once all are predicted
        from diffuhand.viz.page import write_pages

        pages = write_pages(args.out, videos={j.name: j.path for j in jobs if j.video})
        print(f"viewer: {len(pages)} page{'s' if len(pages) != 1 else ''} ({', '.join(p.name for p in pages)})")
    return 1 if summary.failed else 0


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
