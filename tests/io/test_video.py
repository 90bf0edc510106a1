import numpy as np
import pytest

from diffuhand.errors import DiffuhandError
from diffuhand.io.video import read_video, video_info

from ..conftest import shared


def write_mp4(path, frames, fps=10):
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=fps)
        s.width, s.height, s.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        for f in frames:
            c.mux(s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        c.mux(s.encode())


def test_reads_a_real_video():
    path = shared("sign-language-pose") / "src/python/tests/data/test_video.mp4"
    info = video_info(path)
    frames = list(read_video(path))
    assert (info.width, info.height) == (540, 720) and abs(info.fps - 29.9) < 0.1
    assert len(frames) == info.frames == 58 and frames[0].shape == (720, 540, 3) and frames[0].dtype == np.uint8


def test_written_frames_come_back(tmp_path):
    frames = [np.full((64, 80, 3), v, np.uint8) for v in (30, 120, 220)]
    write_mp4(tmp_path / "v.mp4", frames)
    back = list(read_video(tmp_path / "v.mp4"))
    assert len(back) == 3 and all(abs(float(b.mean()) - float(f.mean())) < 6 for b, f in zip(back, frames))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: None, "no such file"),
        (lambda p: p.write_bytes(b""), "empty file"),
        (lambda p: p.write_text("hello"), "not a video"),
    ],
)
def test_bad_videos(tmp_path, make, message):
    p = tmp_path / "bad.mp4"
    make(p)
    with pytest.raises(DiffuhandError, match=message):
        list(read_video(p))


def test_a_video_with_no_frames(tmp_path):
    import av

    with av.open(str(tmp_path / "empty.mkv"), "w") as c:
        s = c.add_stream("mpeg4", rate=10)
        s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
        c.start_encoding()  # a header and no frame
    assert (tmp_path / "empty.mkv").stat().st_size > 0
    with pytest.raises(DiffuhandError, match="no frames"):
        list(read_video(tmp_path / "empty.mkv"))


def test_a_damaged_tail_is_kept_with_a_warning(tmp_path):
    """H.264 cut short mid-stream: the frames decoded before the damage come back, and a warning says how many."""
    import av

    from diffuhand.errors import DiffuhandWarning

    rng = np.random.default_rng(0)
    path = tmp_path / "whole.mp4"
    with av.open(str(path), "w", options={"movflags": "faststart"}) as c:  # the index first: a cut file still opens
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = 80, 64, "yuv420p"
        for _ in range(20):
            c.mux(
                s.encode(av.VideoFrame.from_ndarray(rng.integers(0, 255, (64, 80, 3), dtype=np.uint8), format="rgb24"))
            )
        c.mux(s.encode())
    data = path.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    with pytest.warns(DiffuhandWarning, match=r"cut\.mp4: .*damaged after frame (\d+).*kept the \1 frames") as rec:
        frames = list(read_video(tmp_path / "cut.mp4"))
    assert 0 < len(frames) < 20 and len(rec) == 1 and f"after frame {len(frames)}" in str(rec[0].message)
