"""``diffuhand predict`` over many inputs: the work list, what is already done, the run's summary, and Ray.

A run is a list of :class:`Job` (one per photo or video, each with the name its outputs take under ``--out``):
files as given, folders searched through their whole tree (mirrored under ``--out``), a manifest file's paths.
Each job is done by :func:`~diffuhand.commands.predict.predict_job` wherever it runs (this process, or a Ray
worker that loaded the model once), which skips an input whose outputs are complete, newer than the input and
the model, and made with the same model and options (:class:`RunStamp`), so that a killed run started again
goes on where it stopped. The driver shows one progress bar over all frames and writes the summary.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from diffuhand.errors import DiffuhandError, one_line
from diffuhand.io.files import atomic_write_text
from diffuhand.io.images import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from diffuhand.io.weights import weights_digest

#: the summary of a corpus run, written at the top of ``--out`` (an input of that name takes a suffix)
SUMMARY_NAME = "diffuhand-summary"
#: predict's options that change what a prediction holds (the rest, e.g. --threads or --backend, do not)
#: (the estimator's own settings, camera and smoothing, are read from it: RunStamp.of)
STAMPED_OPTIONS = ("crop", "hand", "skeleton", "samples", "steps", "body", "no_temporal")


@dataclass(frozen=True)
class Job:
    """One input of a run.

    Attributes:
        path: the photo or video file.
        name: where its outputs go: ``--out/<name>.json`` (photo) or ``<name>.jsonl`` + ``<name>.npz`` (video);
            a relative POSIX path without suffix (a folder's tree is mirrored).
        video: whether it is read as a video (by its suffix).
        frames: frames it holds as far as known before reading it (1 for a photo; a video's header; 0: unknown).
    """

    path: Path
    name: str
    video: bool
    frames: int


@dataclass
class Outcome:
    """What became of one job: ``status`` "done", "skipped" (up to date) or "failed" (``error`` says why)."""

    job: Job
    status: str
    frames: int = 0
    hands: int = 0
    seconds: float = 0.0
    error: str | None = None
    message: str = ""


#: endings of the images and videos predict writes (``<name>-overlay.png``...), never read as inputs from ``--out``
OUTPUT_ENDINGS = ("-overlay.png", "-3d.png", "-overlay.mp4")


def _files_under(folder: Path, out: Path | None = None, problems: list | None = None) -> list[Path]:
    """Photos and videos anywhere under ``folder`` (hidden files and folders left out), in name order.

    Linked folders are followed, each real folder once (a link back up the tree is no endless loop). The run's
    own outputs are no inputs: with ``out`` inside ``folder`` nothing under it is searched; an overlay predict
    writes (``<stem>-overlay.png``...) under ``out`` (the folder itself, or above it) is left out
    (:func:`_an_output`), and a photo so named anywhere else is an input. A folder that cannot be read is added to
    ``problems`` as (folder, reason)."""
    found = []
    seen: set[tuple[int, int]] = set()
    top = os.path.realpath(folder)
    skip = os.path.realpath(out) if out is not None else None
    inside = skip is not None and _below(skip, top) and skip != top

    def unreadable(exc: OSError) -> None:
        if problems is not None:
            problems.append((Path(exc.filename or folder), f"cannot read the folder ({exc.strerror or exc})"))

    for root, dirs, files in os.walk(folder, followlinks=True, onerror=unreadable):
        st = os.stat(root)
        real = os.path.realpath(root)
        if (st.st_dev, st.st_ino) in seen or (inside and _below(real, skip)):
            dirs[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for f in sorted(files):
            if f.startswith(".") or Path(f).suffix.lower() not in IMAGE_SUFFIXES + VIDEO_SUFFIXES:
                continue
            if skip is not None and _an_output(real, f, top, skip):
                continue
            found.append(Path(root) / f)
    return found


def _an_output(real: str, name: str, top: str, out: str) -> bool:
    """Whether file ``name`` in real folder ``real`` is an overlay predict wrote (``<stem>-overlay.png``...): it lies
    under ``out`` and beside its prediction (``<stem>.json`` or ``<stem>.jsonl``, an earlier run's), or at the place
    of a folder of the tree ``top`` that holds the photo or video ``<stem>`` it is made from (this run's)."""
    ending = next((e for e in OUTPUT_ENDINGS if name.lower().endswith(e)), None)
    if ending is None or not _below(real, out):
        return False
    stem = name[: -len(ending)]
    if any(os.path.isfile(os.path.join(real, stem + s)) for s in (".json", ".jsonl")):
        return True
    source = os.path.join(top, os.path.relpath(real, out))
    try:
        return any(
            Path(n).stem == stem and Path(n).suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES
            for n in os.listdir(source)
        )
    except OSError:
        return False


def _below(path: str, folder: str) -> bool:
    """Whether real path ``path`` is ``folder`` or inside it."""
    return (path + os.sep).startswith(folder.rstrip(os.sep) + os.sep)


def read_manifest(path: Path) -> list[Path]:
    """A manifest's inputs: one path per line, relative ones to the manifest's folder; blank lines and lines
    starting with ``#`` skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DiffuhandError(f"{path}: no such manifest file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DiffuhandError(f"{path}: cannot read the manifest ({exc.__class__.__name__})") from None
    out = []
    for line in lines:
        line = line.strip()
        if line and not line.startswith("#"):
            p = Path(line).expanduser()
            out.append(p if p.is_absolute() else path.parent / p)
    return out


def _stem(path: Path) -> str:
    return path.with_suffix("").as_posix()


@dataclass
class JobList:
    """The jobs of a run (:func:`collect_jobs`).

    Attributes:
        jobs: one per input, in order.
        corpus: whether a folder or a manifest is among the inputs (a corpus run writes a summary).
        problems: folders that could not be searched, as (folder, one-line reason): reported as failures.
    """

    jobs: list[Job]
    corpus: bool
    problems: list[tuple[Path, str]] = field(default_factory=list)


def collect_jobs(inputs: Iterable[Path], manifest: Path | None = None, out: Path | None = None) -> JobList:
    """The jobs of a run.

    Files given on the command line keep their stem (``photo.jpg`` -> ``photo``); a folder's files keep their
    path below it (``clips/a/b.mp4`` -> ``a/b``); a manifest's keep their path below the folder all its entries
    share. A name taken twice takes the first free ``-1``, ``-2``... (two inputs never write one output). Files
    under ``out`` (the run's own outputs) are not searched for in folders."""
    named: list[tuple[Path, str]] = []
    problems: list[tuple[Path, str]] = []
    corpus = manifest is not None
    for p in inputs:
        if p.is_dir():
            corpus = True
            named.extend((f, _stem(f.relative_to(p))) for f in _files_under(p, out, problems))
        else:
            named.append((p, p.stem))
    if manifest is not None:
        entries = read_manifest(manifest)
        if entries:
            root = Path(os.path.commonpath([os.path.abspath(p.parent) for p in entries]))
            named.extend((p, _stem(Path(os.path.abspath(p)).relative_to(root))) for p in entries)
    taken = {SUMMARY_NAME.casefold()}
    jobs = []
    for path, name in named:
        unique, n = name, 0
        # "a" twice beside an input named "a-1": the second "a" becomes "a-2"; "A" and "a" are one file on the
        # file systems of macOS and Windows: they collide too
        while unique.casefold() in taken:
            n += 1
            unique = f"{name}-{n}"
        taken.add(unique.casefold())
        video = path.suffix.lower() in VIDEO_SUFFIXES
        jobs.append(Job(path, unique, video, _frames(path) if video else 1))
    return JobList(jobs, corpus, problems)


def _frames(path: Path) -> int:
    """A video's frame count from its header (0 where it does not say or cannot be read: the job reports that)."""
    from diffuhand.io.video import video_info

    try:
        return int(video_info(path).frames or 0)
    except Exception:  # noqa: BLE001 - any unreadable video: its job gives the one-line reason
        return 0


def weights_identity(module) -> str:
    """A short hash of a torch module's weights (and its ``cfg`` where it has one); of a temporal checkpoint not
    loaded yet (:class:`~diffuhand.pipeline.TemporalCheckpoint`) the same hash from its files, without torch
    (start-up: a photo's run never loads the temporal model)."""
    from diffuhand.pipeline import TemporalCheckpoint

    if isinstance(module, TemporalCheckpoint):
        # its config.json holds every field of the model's cfg (TemporalConfig.to_dict), and its weights are the
        # model's state dict as saved (loaded strictly, float32)
        cfg = {k: v for k, v in module.config["model"].items() if k != "kind"}
        return weights_digest(cfg, module.state_arrays())
    return weights_digest(vars(getattr(module, "cfg", object())), module.state_dict())


@dataclass(frozen=True)
class RunStamp:
    """What made a run's outputs: the model, the temporal model and the options that change a prediction; an
    output stamped otherwise, or older than the model's files, is made again.

    Attributes:
        digest: a short hash of all of it, written into each photo's JSON and each video's NPZ (``run``).
        model_mtime: newest modification time of the model's files (seconds since the epoch; 0: none known).
    """

    digest: str
    model_mtime: float

    @classmethod
    def of(cls, estimator, args: argparse.Namespace) -> RunStamp:
        temporal = temporal_held(estimator)
        what = {
            "lift": estimator.lifter.identity,
            "temporal": None if temporal is None else weights_identity(temporal),
            "anchor_mm": estimator.anchor_mm,
            "seed": estimator.seed,
            # what the estimator holds, not what the options asked: an estimator given to run_predict has its own
            "camera": None if estimator.camera is None else np.asarray(estimator.camera).round(6).tolist(),
            "smoothing_s": None if temporal is None else estimator.smoothing_s,
            "options": {k: _plain(getattr(args, k, None)) for k in STAMPED_OPTIONS},
        }
        digest = hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]
        return cls(digest, _newest_mtime(model_files(args, estimator)))


def _plain(v):
    return str(v) if isinstance(v, Path) else v


def temporal_held(estimator):
    """The estimator's temporal model, or its checkpoint while not loaded (start-up: a photo's run loads nothing)."""
    return estimator.temporal_ref if hasattr(estimator, "temporal_ref") else estimator.temporal


def model_files(args: argparse.Namespace, estimator) -> list[Path]:
    """The files the run's models were read from (the lift's checkpoint, the temporal model's)."""
    from diffuhand import shipped_weights

    folders = []
    lift = args.model if args.model not in (None, "hand", "keypoints") else shipped_weights(args.model or "hand")
    if lift is not None:
        folders.append(Path(str(lift)))
    if temporal_held(estimator) is not None:
        t = args.temporal if getattr(args, "temporal", None) else shipped_weights("temporal")
        if t is not None:
            folders.append(Path(str(t)))
    return [f for d in folders for f in (sorted(d.iterdir()) if d.is_dir() else [d]) if f.is_file()]


def _same_file(recorded: str | None, path: Path) -> bool:
    """Whether the input path an output records is ``path`` (written another way, or through a link). Outputs
    record the absolute path; a relative one (an older output) counts only as the very same string, since the
    folder it was relative to is not known."""
    if recorded is None:
        return False
    if recorded in (str(path), os.path.abspath(path)):
        return True
    if not os.path.isabs(recorded):
        return False
    try:
        return os.path.samefile(recorded, path)
    except OSError:
        return False


def _newest_mtime(files: list[Path]) -> float:
    return max((f.stat().st_mtime for f in files), default=0.0)


def primary_output(out: Path, job: Job) -> Path:
    """The output written last for a job (its presence means the others were written first)."""
    return out / f"{job.name}.npz" if job.video else out / f"{job.name}.json"


def up_to_date(job: Job, out: Path, args: argparse.Namespace, stamp: RunStamp) -> bool:
    """Whether ``job``'s outputs are complete (every file these options write), made from this input (its path
    recorded in them: names shift when inputs come and go), newer than the input and the model's files, and
    stamped with this run's model and options."""
    primary = primary_output(out, job)
    try:
        made = job.path.stat().st_mtime, stamp.model_mtime
        if job.video:
            with np.load(primary) as z:
                if "run" not in z.files or str(z["run"]) != stamp.digest:
                    return False
                if "input" not in z.files or not _same_file(str(z["input"]), job.path):
                    return False
            wanted = [out / f"{job.name}.jsonl"] + ([out / f"{job.name}-overlay.mp4"] if args.render else [])
        else:
            rec = json.loads(primary.read_text())
            if rec.get("run") != stamp.digest or not _same_file(rec.get("image"), job.path):
                return False
            n = len(rec.get("hands", []))
            wanted = [out / f"{job.name}-overlay.png"] if args.render else []
            if args.mesh:
                wanted += [out / f"{job.name}-hand{i}.{args.mesh}" for i in range(n)]
            if args.mano:
                wanted += [out / f"{job.name}-hand{i}-mano.{args.mesh or 'obj'}" for i in range(n)]
        return all(p.stat().st_mtime >= max(made) for p in [primary, *wanted])
    except Exception:  # noqa: BLE001 - missing, half-old or unreadable in any way: made again
        return False


def file_system_now(folder: Path) -> float:
    """Now, in seconds since the epoch, by the clock that stamps files written under ``folder``: the mtime of a
    file made (and removed) in its nearest existing folder. A network file system stamps files by its server's
    clock, which may run apart from this node's ``time.time()``; comparing an output's mtime with it would then
    count a file this run wrote as older than the run. This node's clock where no file can be made there."""
    where = Path(folder).resolve()
    while not where.is_dir() and where != where.parent:
        where = where.parent
    try:
        import tempfile

        fd, name = tempfile.mkstemp(dir=where, prefix=".diffuhand-clock-")
        try:
            os.close(fd)
            return os.stat(name).st_mtime
        finally:
            os.unlink(name)
    except OSError:
        return time.time()


def made_since(job: Job, out: Path, since: float | None) -> Outcome | None:
    """For an up-to-date job (:func:`up_to_date`): a "done" outcome when its outputs were written at or after
    ``since`` (the run's start by the file system's clock, :func:`file_system_now`), i.e. by this run (a Ray task tried again after its worker
    died, or lost with it, had done it), with its frames and hands read back; None when they are older (skipped)
    or unreadable."""
    if since is None:
        return None
    primary = primary_output(out, job)
    try:
        if primary.stat().st_mtime < since:
            return None
        if job.video:
            with np.load(primary) as z:
                seen = np.asarray(z["status"]) != ""
            return Outcome(job, "done", len(seen), int(seen.any(1).sum()), message=f"{job.path}: done -> {primary}")
        hands = len(json.loads(primary.read_text()).get("hands", []))
        return Outcome(job, "done", 1, hands, message=f"{job.path}: done -> {primary}")
    except Exception:  # noqa: BLE001 - unreadable: not counted as done
        return None


@dataclass
class Summary:
    """A run's account, written as JSON at its end (``--summary``, by default ``--out/diffuhand-summary.json``
    for a corpus): inputs done, skipped (up to date) and failed (each with its reason), photos and videos done,
    their frames, hands found in the photos, video frames with a hand, wall seconds and frames per second."""

    engine: str
    workers: int
    inputs: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    photos: int = 0
    videos: int = 0
    frames: int = 0
    hands_found: int = 0
    video_frames_with_hands: int = 0
    seconds: float = 0.0
    frames_per_second: float = 0.0
    failures: list[dict] = field(default_factory=list)
    run: str | None = None

    def add(self, o: Outcome) -> None:
        self.inputs += 1
        setattr(self, o.status, getattr(self, o.status) + 1)
        if o.status == "failed":
            self.failures.append({"input": str(o.job.path), "error": o.error})
            return
        if o.status == "done":
            self.frames += o.frames
            if o.job.video:
                self.videos += 1
                self.video_frames_with_hands += o.hands
            else:
                self.photos += 1
                self.hands_found += o.hands

    def to_json(self) -> dict:
        d = asdict(self)
        d["frames_per_second"] = round(self.frames / self.seconds, 3) if self.seconds > 0 else 0.0
        d["seconds"] = round(self.seconds, 3)
        return d


def write_summary(path: Path, summary: Summary) -> None:
    atomic_write_text(path, json.dumps(summary.to_json(), indent=1) + "\n")


class Progress:
    """One bar over every frame of a run with its ETA (tqdm, on stderr), and the per-input lines above it."""

    def __init__(self, total: int, disable: bool | None = None):
        from tqdm import tqdm

        self.bar = tqdm(total=total or None, unit="frame", desc="predict", dynamic_ncols=True, disable=disable)

    def advance(self, n: int = 1) -> None:
        self.bar.update(n)

    def settle(self, position: int) -> None:
        """The bar at ``position`` frames (after an input: what its frames added, however it advanced)."""
        if self.bar.total is not None and position > self.bar.total:
            self.bar.total = position  # a video longer than its header said
        if position > self.bar.n:
            self.bar.update(position - self.bar.n)

    def drop(self, frames: int) -> None:
        """An input's frames leave the total (skipped: no work, so no part of the rate or the ETA)."""
        if self.bar.total is not None and frames:
            self.bar.total = max(self.bar.n, self.bar.total - frames)
            self.bar.refresh()

    def line(self, text: str, error: bool = False) -> None:
        self.bar.write(text, file=sys.stderr if error else sys.stdout)

    def close(self) -> None:
        self.bar.close()


def report(o: Outcome, progress: Progress) -> None:
    if o.status == "failed":
        progress.line(f"diffuhand: error: {o.error}", error=True)
    elif o.message:
        progress.line(o.message)


def run_ray(
    jobs: list[Job], args: argparse.Namespace, summary: Summary, stamp: RunStamp | None = None
) -> Iterator[Outcome]:
    """The jobs on Ray: one actor per worker, each with the model loaded once, handed tasks (a video, or a few
    dozen photos: :func:`ray_tasks`) as it frees up (:func:`dispatch`).

    Ray restarts a worker whose process dies, as often as it takes (one input that crashes its worker must not use
    it up for the rest of the run), and tries a task lost with its worker once more (a node taken away); a task
    that still fails fails its inputs not done by then, with the reason, not the run. ``stamp``: the driver's
    :class:`RunStamp` digest; a worker whose model or options give another (another version of diffuhand on its
    node) stops at its start and takes no task. An input of a lost task counts as done where this run wrote its
    outputs, as skipped where they were up to date before, and fails otherwise.

    A local Ray instance is started (``--workers`` CPUs) unless ``--ray-address`` names a cluster. Workers are
    sent the options and the inputs' paths, run in the driver's folder where it exists on their node, and write
    the outputs under ``--out`` themselves: on a cluster, inputs and ``--out`` must be on a file system every node
    sees. Yields the outcomes as they finish."""
    try:
        import ray
    except ImportError:
        raise DiffuhandError("--engine ray needs Ray: pip install 'diffuhand[ray]'") from None
    ray_start_timeout()  # a bad DIFFUHAND_RAY_START_TIMEOUT fails before Ray starts
    started = False
    since = file_system_now(args.out)  # by the clock the outputs' mtimes will be read against
    if not ray.is_initialized():
        # --ray-address, else RAY_ADDRESS (Ray's own variable, as `ray job submit` sets it), else a local instance
        address = getattr(args, "ray_address", None) or os.environ.get("RAY_ADDRESS") or None
        kwargs = {} if address else {"num_cpus": args.workers or os.cpu_count() or 1, "include_dashboard": False}
        try:
            ray.init(address=address or "local", log_to_driver=True, **kwargs)
        except Exception as exc:  # noqa: BLE001 - no cluster there, a refused connection...: one line
            where = f"the Ray cluster at {address}" if address else "a local Ray instance"
            raise DiffuhandError(f"--engine ray: cannot start or reach {where} ({one_line(exc)})") from None
        started = True
    try:
        tasks = ray_tasks(jobs)
        workers = min(args.workers or max(1, int(ray.cluster_resources().get("CPU", 1))), len(tasks)) or 1
        summary.workers = workers
        options = {k: v for k, v in vars(args).items() if k != "func"}
        remote = ray.remote(num_cpus=1, max_restarts=-1, max_task_retries=RAY_TASK_RETRIES)(PredictWorker)
        digest = None if stamp is None else stamp.digest
        actors = [remote.remote(options, os.getcwd(), digest, since) for _ in range(workers)]
        for task, outcomes in dispatch(actors, tasks):
            if isinstance(outcomes, str):
                yield from (_lost(job, outcomes, args, stamp, since) for job in task)
            else:
                yield from outcomes
    finally:
        if started:
            ray.shutdown()


def _lost(job: Job, why: str, args: argparse.Namespace, stamp: RunStamp | None, since: float) -> Outcome:
    """An input of a lost Ray task: done where this run wrote its outputs, skipped where they were up to date
    already, else failed with ``why``."""
    made = made_since(job, args.out, since)
    if made is not None:
        return made
    if stamp is not None and not getattr(args, "overwrite", False) and up_to_date(job, args.out, args, stamp):
        return Outcome(job, "skipped", message=f"{job.path}: up to date, skipped")
    return Outcome(job, "failed", error=f"{job.path}: {why}")


#: times Ray tries a task again after its worker died with it (then its inputs fail, each task with its reason)
RAY_TASK_RETRIES = 1


def dispatch(actors: list, tasks: list) -> Iterator[tuple[list, list[Outcome] | str]]:
    """Tasks to Ray actors (``run(index, task)``, ``ping()``) as they free up -> (task, its outcomes, or the one-line
    reason it was lost), in the order they finish.

    Each actor is first asked ``ping()`` (it has loaded the model) before it takes a task. A task whose worker
    died with it (:class:`ray.exceptions.RayActorError`) is lost, and that actor is pinged again before it takes
    more: Ray restarts it, or it is gone for good (and retired); a task that raised (the worker lives) is lost and
    the actor goes on. Tasks left when no actor is left are lost with the last reason an actor gave, and so are
    they when no task runs and no actor has answered for :data:`RAY_START_TIMEOUT_S` (workers that die while
    loading the model are restarted by Ray without end)."""
    import ray
    from ray.exceptions import RayActorError, RayError, RayTaskError

    def why(exc: BaseException) -> str:
        cause = getattr(exc, "cause", None)  # a task's own exception: its type and words, not the remote traceback
        if isinstance(exc, RayTaskError) and isinstance(cause, BaseException):
            return f"{type(cause).__name__}: {one_line(cause)}"[:RAY_REASON_CHARS]
        return one_line(ANSI.sub("", str(exc)))[:RAY_REASON_CHARS]

    queue = deque(enumerate(tasks))
    idle: list = []
    running: dict = {}  # task's future -> (task, actor)
    pinged = {a.ping.remote(): a for a in actors}  # ping's future -> actor
    gone = "no Ray worker started"
    patience = ray_start_timeout()
    answered = time.monotonic()  # when an actor last answered (a task's end or a ping)
    while running or (queue and (idle or pinged)):
        while idle and queue:
            actor, (i, task) = idle.pop(), queue.popleft()
            running[actor.run.remote(i, task)] = (task, actor)
        # a task may run for long (a long video); workers only starting must answer in time
        ready, _ = ray.wait([*running, *pinged], num_returns=1, timeout=None if running else RAY_POLL_S)
        if not ready:
            if time.monotonic() - answered > patience:
                gone = (
                    f"no Ray worker ready after {patience:g} s (workers that die loading the model: memory, "
                    "libraries on their nodes? DIFFUHAND_RAY_START_TIMEOUT gives more time)"
                )
                break
            continue
        answered = time.monotonic()
        (ref,) = ready
        if ref in pinged:
            actor = pinged.pop(ref)
            try:
                ray.get(ref)
                idle.append(actor)
            except RayError as exc:  # gone for good (or it never loaded the model): retired
                gone = f"no Ray worker left: {why(exc)}"
            continue
        task, actor = running.pop(ref)
        try:
            _, outcomes = ray.get(ref)
        except RayActorError as exc:
            yield task, lost_with_worker(exc, why(exc))
            pinged[actor.ping.remote()] = actor
            continue
        except RayError as exc:
            yield task, f"Ray task failed: {why(exc)}"
            idle.append(actor)
            continue
        idle.append(actor)
        yield task, outcomes
    for _, task in queue:
        yield task, gone


def lost_with_worker(exc: BaseException, reason: str) -> str:
    """A task's failure when its Ray worker (actor) failed under it. Ray's ``ActorUnavailableError`` does not say
    which: a worker process that died and is being restarted raises it (seen when a worker exits mid-task), and so
    does one that is only unreachable for a while (the task may then have run)."""
    from ray.exceptions import ActorUnavailableError

    if isinstance(exc, ActorUnavailableError):
        return f"Ray worker died with it or became unreachable (Ray restarts it): {reason}"
    return f"Ray worker died with it: {reason}"


def ray_start_timeout() -> float:
    """Seconds to wait for a worker to start: ``DIFFUHAND_RAY_START_TIMEOUT`` or :data:`RAY_START_TIMEOUT_S`."""
    text = os.environ.get("DIFFUHAND_RAY_START_TIMEOUT")
    if text is None:
        return RAY_START_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise DiffuhandError(f"DIFFUHAND_RAY_START_TIMEOUT must be a positive number of seconds, not {text!r}")
    return value


#: seconds the driver waits for a worker to load the model while no task runs, before it fails the tasks left
#: (DIFFUHAND_RAY_START_TIMEOUT overrides it: a cluster whose autoscaler brings nodes up takes longer)
RAY_START_TIMEOUT_S = 600.0
#: seconds between the driver's looks at the clock while it waits for workers to start
RAY_POLL_S = 5.0

#: terminal colour codes (Ray colours its messages)
ANSI = re.compile(r"\x1b\[[0-9;]*m")

#: the start of a Ray failure's message kept in an input's reason (the rest is a remote traceback)
RAY_REASON_CHARS = 200

#: photos in one Ray task: two of a worker's lift batches, so that it reads and searches one while it lifts the
#: other (commands.predict.PHOTO_CHUNK), and few enough that the workers finish together
RAY_TASK_PHOTOS = 32


def ray_tasks(jobs: list[Job]) -> list[list[Job]]:
    """The jobs as Ray tasks: each video alone, consecutive photos up to :data:`RAY_TASK_PHOTOS` together."""
    tasks: list[list[Job]] = []
    for job in jobs:
        if job.video or not tasks or tasks[-1][0].video or len(tasks[-1]) >= RAY_TASK_PHOTOS:
            tasks.append([job])
        else:
            tasks[-1].append(job)
    return tasks


class PredictWorker:
    """A Ray worker of ``predict``: loads the model once, then does job after job (its outputs under ``--out``)."""

    def __init__(self, options: dict, folder: str | None = None, stamp: str | None = None, since: float | None = None):
        from diffuhand.commands.predict import ComputeThreads, load_estimator, prepare

        if folder is not None and os.path.isdir(folder):
            os.chdir(folder)  # relative inputs and --out as the driver meant them
        self.args = argparse.Namespace(**options)
        # one worker per core: each on one thread (BLAS at once; torch once in use, never for photos of the fusion lift)
        self.threads = ComputeThreads(self.args.threads or 1)
        self.threads.apply()
        self.estimator = load_estimator(self.args)
        self.threads.apply()
        self.context = prepare(self.args, self.estimator, since=since)
        if stamp is not None and self.context.stamp.digest != stamp:
            raise DiffuhandError(
                "this Ray worker's model or options differ from the driver's (another diffuhand or model on its "
                "node, or an estimator given to run_predict: workers load the model from the options)"
            )

    def ping(self) -> bool:
        """True once the model is loaded (the driver asks before it hands a task)."""
        return True

    def run(self, index: int, jobs: list[Job]) -> tuple[int, list[Outcome]]:
        """Task ``index``'s jobs done here: (index, their outcomes)."""
        from diffuhand.commands.predict import needs_torch, run_jobs

        self.threads.apply(load=needs_torch(self.args, self.estimator, jobs))
        return index, list(run_jobs(jobs, self.estimator, self.args, self.context, None))


def account(outcomes: Iterable[Outcome], summary: Summary, progress: Progress) -> None:
    """Count, report and show each outcome as it comes (the bar moves on by the input's frames, or by what it
    had left when it moved frame by frame); the summary's wall time covers them all."""
    t0 = time.perf_counter()
    position = progress.bar.n
    for o in outcomes:
        summary.add(o)
        report(o, progress)
        if o.status == "skipped":
            progress.drop(o.job.frames)
        else:
            position += max(o.frames, o.job.frames)
            progress.settle(position)
        summary.seconds = time.perf_counter() - t0


__all__ = [
    "Job",
    "JobList",
    "Outcome",
    "RunStamp",
    "Summary",
    "collect_jobs",
    "dispatch",
    "made_since",
    "read_manifest",
    "run_ray",
    "up_to_date",
]
