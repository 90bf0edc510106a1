"""diffuhand view: pages written from predict's outputs, loaded in headless Chromium (Debian's, via selenium)."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from diffuhand.commands.view import add_parser, run_view
from diffuhand.errors import DiffuhandError
from diffuhand.viz.page import write_pages

DEMO = Path(__file__).resolve().parents[1] / "src" / "diffuhand" / "demo"


def _hand(dx: float, side: str) -> dict:
    j3 = (np.random.default_rng(0).normal(size=(21, 3)) * 30).round(2)
    j2 = (np.abs(j3[:, :2]) + [60 + dx, 80]).round(2)
    return {
        "handedness": side,
        "status": "found",
        "score": 0.9,
        "box": [0, 0, 10, 10],
        "joints_2d": j2.tolist(),
        "joints_3d": j3.tolist(),
        "angles": [0.1] * 41,
        "bone_ratios": [1.0] * 20,
        "uncertainty_mm": [5.0] * 21,
    }


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    """A predict-like folder: a photo with two hands (the demo's hand3.jpg) and a 6-frame video with one missing."""
    d = tmp_path_factory.mktemp("pred")
    two = {
        "image": str(DEMO / "hand3.jpg"),
        "width": 320,
        "height": 320,
        "angle_names": [f"a{i}" for i in range(41)],
        "hands": [_hand(0, "left"), _hand(120, "right")],
    }
    (d / "two.json").write_text(json.dumps(two))
    rows = []
    for t in range(6):
        h = _hand(0, "right")
        h["joints_3d"] = (np.asarray(h["joints_3d"]) * (1 + 0.5 * t)).tolist()  # the pose changes frame to frame
        rows.append({"frame": t, "time_s": t / 24, "hands": [] if t == 3 else [h]})
    (d / "clip.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    shutil.copy(DEMO / "motion.mp4", d / "clip.mp4")
    write_pages(d, videos=[d / "clip.mp4"])
    return d


def test_pages_written(out: Path) -> None:
    assert sorted(p.name for p in out.glob("*.html")) == ["clip.html", "two.html"]
    html = (out / "clip.html").read_text()
    assert "http://" not in html.split("window.DIFFUHAND_DATA")[1][:2000] and '"kind":"video"' in html


def test_bad_input(tmp_path: Path) -> None:
    sub = argparse.ArgumentParser().add_subparsers()
    add_parser(sub)
    with pytest.raises(DiffuhandError, match="no such folder"):
        run_view(argparse.Namespace(out=tmp_path / "nope", dest=None, video=[]))
    with pytest.raises(DiffuhandError, match="no prediction"):
        run_view(argparse.Namespace(out=tmp_path, dest=None, video=[]))


def _driver():
    chromium = shutil.which("chromium")
    chromedriver = shutil.which("chromedriver")
    if chromium is None or chromedriver is None:
        pytest.skip("Debian's chromium and chromium-driver are not installed (make setup installs them)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (the dev extra)")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for a in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1200,800",
        "--use-angle=swiftshader",
        "--enable-unsafe-swiftshader",
    ):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(chromedriver), options=opts)


@pytest.fixture(scope="module")
def browser():
    d = _driver()
    yield d
    d.quit()


def _canvas_pixels(browser) -> np.ndarray:
    import io

    from PIL import Image

    el = browser.find_element("id", "three")
    return np.asarray(Image.open(io.BytesIO(el.screenshot_as_png)).convert("RGB")).astype(np.float32)


def _load(browser, page: Path) -> None:
    browser.get(page.as_uri())
    assert browser.execute_script("return document.body.dataset.ready") == "1"
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == [], errors


def test_photo_two_hands(browser, out: Path) -> None:
    _load(browser, out / "two.html")
    assert browser.execute_script("return document.body.dataset.hands") == "2"
    px = _canvas_pixels(browser)
    assert px.std() > 5  # not blank: the hands' lines and joints over the background
    blue = (px[..., 2] > 150) & (px[..., 0] < 120)
    orange = (px[..., 0] > 200) & (px[..., 2] < 120)
    assert blue.sum() > 20 and orange.sum() > 20  # both hands drawn, each in its colour
    xs_b, xs_o = np.nonzero(blue)[1].mean(), np.nonzero(orange)[1].mean()
    assert abs(xs_b - xs_o) > 20  # side by side


def test_video_scrubber(browser, out: Path) -> None:
    _load(browser, out / "clip.html")
    a = _canvas_pixels(browser)
    assert a.std() > 5
    browser.execute_script("var s=document.getElementById('scrub');s.value=5;s.dispatchEvent(new Event('input'));")
    browser.execute_script("return new Promise(r=>requestAnimationFrame(()=>requestAnimationFrame(r)))")
    assert browser.execute_script("return document.body.dataset.frame") == "5"
    b = _canvas_pixels(browser)
    assert np.abs(a - b).mean() > 0.5  # the pose drawn changed
    statuses = browser.execute_script("return [...document.querySelectorAll('#tl span')].map(s=>s.className)")
    assert statuses == ["found", "found", "found", "missing", "found", "found"]
