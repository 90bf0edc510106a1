"""The renderer sets its OpenGL environment when it is first made, not when its module is imported, and never
over a value the user set."""

import os
import subprocess
import sys

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
