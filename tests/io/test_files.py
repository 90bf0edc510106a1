import os
import stat

import pytest
import torch

from diffuhand.io.files import atomic_path, atomic_write_text
from diffuhand.io.weights import save_checkpoint


def mode(p):
    return stat.S_IMODE(os.stat(p).st_mode)


def test_outputs_get_the_usual_permissions_whatever_the_writer(tmp_path):
    want = 0o666 & ~_umask()
    atomic_write_text(tmp_path / "a.txt", "x")
    folder = save_checkpoint(
        tmp_path / "ckpt", torch.nn.Linear(2, 2), {"kind": "test"}
    )  # safetensors recreates its file
    assert mode(tmp_path / "a.txt") == want and mode(folder / "model.safetensors") == want


def test_a_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "out.json") as tmp:
        tmp.write_text("half")
        raise RuntimeError("stopped")
    assert list(tmp_path.iterdir()) == []


def _umask() -> int:
    u = os.umask(0)
    os.umask(u)
    return u
