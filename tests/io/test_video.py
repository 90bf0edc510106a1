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


@pytest.mark.parametrize("make, message", [
    (lambda p: None, "no such file"),
    (lambda p: p.write_bytes(b""), "empty file"),
    (lambda p: p.write_text("hello"), "not a video"),
])  # fmt: skip
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
