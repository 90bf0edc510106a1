"""Reading videos (PyAV: MP4, MOV, AVI, MKV, WebM and whatever FFmpeg decodes) frame by frame as RGB arrays."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from diffuhand.errors import DiffuhandError, DiffuhandWarning


@dataclass
class VideoInfo:
    fps: float
    frames: int  # as the container states it (0: unknown)
    width: int
    height: int


def _open(path: Path):
    import av

    if not path.exists():
        raise DiffuhandError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise DiffuhandError(f"{path}: empty file")
    try:
        container = av.open(str(path))
    except EOFError:
        raise DiffuhandError(f"{path}: the video has no frames (the file ends before the first one)") from None
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise DiffuhandError(f"{path}: not a video FFmpeg can read ({exc.__class__.__name__})") from None
    if not container.streams.video:
        container.close()
        raise DiffuhandError(f"{path}: no video stream")
    return container


def video_info(path: str | Path) -> VideoInfo:
    path = Path(path)
    with _open(path) as c:
        s = c.streams.video[0]
        fps = float(s.average_rate) if s.average_rate else 30.0
        return VideoInfo(fps, int(s.frames or 0), int(s.codec_context.width), int(s.codec_context.height))


def read_video(path: str | Path) -> Iterator[np.ndarray]:
    """Yield (H, W, 3) uint8 RGB frames in order; a video that yields none raises :class:`DiffuhandError`; one
    whose data breaks off after some frames yields those and warns (:class:`DiffuhandWarning`) how many."""
    import av

    path = Path(path)
    n = 0
    with _open(path) as c:
        try:
            for frame in c.decode(video=0):
                n += 1
                yield frame.to_ndarray(format="rgb24")
        except av.FFmpegError as exc:
            if n == 0:
                raise DiffuhandError(f"{path}: cannot decode the video ({exc.__class__.__name__})") from None
            # a damaged tail: keep the frames decoded so far, as players do, and say so
            warnings.warn(
                f"{path}: the video is damaged after frame {n} ({exc.__class__.__name__}); kept the {n} "
                "frames before it",
                DiffuhandWarning,
                stacklevel=2,
            )
    if n == 0:
        raise DiffuhandError(f"{path}: the video has no frames")
