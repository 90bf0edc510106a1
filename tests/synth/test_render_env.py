"""The renderer sets its OpenGL environment when it is first made, not when its module is imported, and never
over a value the user set."""

import importlib.util
import os
import subprocess
import sys

import pytest

from diffuhand.synth import render


def test_importing_sets_no_environment_variables():
    env = {k: v for k, v in os.environ.items() if k not in ("PYOPENGL_PLATFORM", "EGL_PLATFORM")}
    code = "import os, diffuhand.synth.render, diffuhand.synth.scene; print(os.environ.get('PYOPENGL_PLATFORM'), os.environ.get('EGL_PLATFORM'))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["None", "None"]


def test_the_renderer_environment_keeps_the_users_values(monkeypatch):
    monkeypatch.delenv("PYOPENGL_PLATFORM", raising=False)
    monkeypatch.setenv("EGL_PLATFORM", "device")  # the user's choice
    render.gl_environment()
    assert os.environ["PYOPENGL_PLATFORM"] == "egl" and os.environ["EGL_PLATFORM"] == "device"


def test_rendering_then_importing_the_estimator_does_not_crash():
    """Mesa's llvmpipe and triton each bring an LLVM: triton loaded after the GL context segfaulted the process
    (a script that renders, then builds an estimator; diffusers imports torch._dynamo, which imports triton)."""
    if importlib.util.find_spec("triton") is None:  # not importorskip: loading triton here could crash this process
        pytest.skip("triton is not installed (CPU-only torch): nothing can clash")
    code = (
        "from diffuhand.errors import DiffuhandError\n"
        "from diffuhand.synth.render import Renderer\n"
        "try:\n"
        "    Renderer(32).renderer\n"
        "except DiffuhandError:\n"
        "    raise SystemExit(3)\n"
        "import triton, diffusers\n"
        "print('imported')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=300)
    if proc.returncode == 3:
        pytest.skip("offscreen renderer unavailable")
    assert proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr[-400:]}"
    assert proc.stdout.strip() == "imported"
