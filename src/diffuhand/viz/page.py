"""Self-contained HTML viewer pages for the outputs of ``diffuhand predict`` (``diffuhand view OUT``).

One page per input: the photo (or the video's frames, downscaled JPEG) with the 2D skeleton, the 3D hand (posed
mesh where ``predict --mesh obj`` wrote one, and the skeleton) in three.js with orbit / zoom / pan, the per-joint
uncertainty as colour, the 41 angles against their limits as bars, and for a video a timeline (play / pause,
scrubber) with bridged and missing frames marked. three.js (MIT, ``assets/THREE-LICENSE``) is inlined, and the data
is embedded as JSON, so the page opens from ``file://`` with no server and no network."""

from __future__ import annotations

import base64
import json
import warnings
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from diffuhand.errors import DiffuhandError, DiffuhandWarning
from diffuhand.io.files import atomic_path
from diffuhand.kinematics.limits import ANGLE_NAMES, load_limits

#: Longest side (pixels) of the video frames embedded in a page, and their JPEG quality.
VIDEO_FRAME_SIDE = 320
VIDEO_JPEG_QUALITY = 70


def _asset(name: str) -> str:
    return resources.files("diffuhand.viz").joinpath(f"assets/{name}").read_text(encoding="utf-8")


def _jpeg_b64(image_bgr: np.ndarray, side: int | None, quality: int) -> tuple[str, int, int]:
    """A BGR image (H, W, 3) uint8 as base64 JPEG, its longest side at most ``side`` pixels; returns (b64, w, h)."""
    import cv2

    h, w = image_bgr.shape[:2]
    if side is not None and max(h, w) > side:
        s = side / max(h, w)
        image_bgr = cv2.resize(image_bgr, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise DiffuhandError("cannot encode a JPEG for the page")
    return base64.b64encode(buf.tobytes()).decode("ascii"), w, h


def _read_obj(path: Path) -> dict[str, str]:
    """An OBJ's vertices (V, 3) float32 mm and triangles (F, 3) uint32, each as base64 little-endian bytes."""
    verts, faces = [], []
    for line in path.read_text().splitlines():
        if line.startswith("v "):
            verts.append([float(x) for x in line.split()[1:4]])
        elif line.startswith("f "):
            faces.append([int(x.split("/")[0]) - 1 for x in line.split()[1:4]])
    v = np.asarray(verts, "<f4").reshape(-1, 3)
    f = np.asarray(faces, "<u4").reshape(-1, 3)
    return {"v": base64.b64encode(v.tobytes()).decode(), "f": base64.b64encode(f.tobytes()).decode()}


def _limits() -> dict[str, list[float]]:

    lim = load_limits()
    return {"min": [round(float(x), 5) for x in lim.angle_min], "max": [round(float(x), 5) for x in lim.angle_max]}


def _angle_names() -> list[str]:

    return list(ANGLE_NAMES)


def _hand(h: dict[str, Any]) -> dict[str, Any]:
    """The fields of one hand the page draws (``None`` 2D for a bridged hand)."""
    return {
        "side": h.get("handedness"),
        "status": h.get("status"),
        "j2": h.get("joints_2d"),
        "j3": h.get("joints_3d"),
        "angles": h.get("angles"),
        "unc": h.get("uncertainty_mm"),
    }


def photo_page_data(json_path: Path) -> dict[str, Any]:
    """The page data of one photo's ``<stem>.json`` (and its ``<stem>-hand<i>.obj`` meshes where written)."""
    import cv2

    doc = json.loads(json_path.read_text())
    image = cv2.imread(str(doc.get("image", "")), cv2.IMREAD_COLOR)
    data: dict[str, Any] = {
        "kind": "photo",
        "name": json_path.stem,
        "angle_names": doc.get("angle_names", []),
        "limits": _limits(),
        "width": doc.get("width"),
        "height": doc.get("height"),
    }
    if image is not None:
        data["image"], _, _ = _jpeg_b64(image, 1600, 85)
    hands = []
    for i, h in enumerate(doc.get("hands", [])):
        d = _hand(h)
        obj = json_path.with_name(f"{json_path.stem}-hand{i}.obj")
        if obj.is_file():
            d["mesh"] = _read_obj(obj)
        hands.append(d)
    data["frames"] = [{"hands": hands, "status": "found" if hands else "missing"}]
    return data


def video_page_data(jsonl_path: Path, video: Path | None = None) -> dict[str, Any]:
    """The page data of one video's ``<stem>.jsonl``: per frame its hands and status, the frames as JPEG.

    The video is read from ``video`` or the path the JSON Lines header names; frames are downscaled to
    :data:`VIDEO_FRAME_SIDE` so a 2-minute video's page stays a few tens of MB."""
    import cv2

    lines = [json.loads(s) for s in jsonl_path.read_text().splitlines() if s.strip()]
    header = next((x for x in lines if "frame" not in x), {})
    rows = [x for x in lines if "frame" in x]
    if not rows:
        raise DiffuhandError(f"{jsonl_path}: no frames")
    src = video if video is not None else jsonl_path.with_name(f"{jsonl_path.stem}-overlay.mp4")
    frames, images = [], []
    cap = cv2.VideoCapture(str(src)) if src and Path(src).is_file() else None
    width = height = None
    fi = 0
    for row in rows:
        hands = [_hand(h) for h in row.get("hands", [])]
        st = "missing" if not hands else ("bridged" if all(h["status"] == "bridged" for h in hands) else "found")
        frames.append({"hands": hands, "status": st, "t": row.get("time_s")})
        img = None
        if cap is not None:
            while fi <= row["frame"]:
                ok, img = cap.read()
                fi += 1
                if not ok:
                    img = None
                    break
        if img is not None:
            b64, width, height = _jpeg_b64(img, VIDEO_FRAME_SIDE, VIDEO_JPEG_QUALITY)
            images.append(b64)
        else:
            images.append(None)
    angle_names = header.get("angle_names") or _angle_names()
    return {
        "kind": "video",
        "name": jsonl_path.stem,
        "angle_names": angle_names,
        "limits": _limits(),
        "width": header.get("width", width),
        "height": header.get("height", height),
        "fps": header.get("fps"),
        "frames": frames,
        "images": images,
    }


def render_page(data: dict[str, Any]) -> str:
    """The HTML text of a page from its data (photo or video)."""
    template = _asset("page.html")
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    return (
        template.replace("/*THREE*/", _asset("three.min.js"))
        .replace("/*DATA*/null", payload)
        .replace("/*VIEWER*/", _asset("viewer.js"))
        .replace("{{TITLE}}", str(data.get("name", "diffuhand")))
    )


def write_pages(
    out_dir: str | Path, dest: str | Path | None = None, videos: list[Path] | dict[str, Path] | None = None
) -> list[Path]:
    """One ``<name>.html`` per ``<name>.json`` (photo) and ``<name>.jsonl`` (video) anywhere under ``out_dir``
    (a corpus run mirrors its input tree there), at the same place under ``dest`` (default ``out_dir``).

    A video's frames come from ``videos``: its input by output name (``{"clips/a": Path("in/clips/a.mp4")}``), or a
    list of inputs matched by stem; else ``<name>-overlay.mp4`` beside it. Returns the pages written. Raises
    :class:`DiffuhandError` when ``out_dir`` is not a folder or holds no prediction."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise DiffuhandError(f"{out_dir}: no such folder")
    dest = Path(dest) if dest is not None else out_dir
    inputs = sorted(out_dir.rglob("*.json")) + sorted(out_dir.rglob("*.jsonl"))
    by_name = videos if isinstance(videos, dict) else {Path(v).stem: Path(v) for v in videos or []}
    pages = []
    for p in inputs:
        if p.name.startswith("."):  # a file being written
            continue
        name = p.relative_to(out_dir).with_suffix("").as_posix()
        try:
            if p.suffix == ".json":
                record = json.loads(p.read_text())
                if not isinstance(record, dict) or not isinstance(record.get("hands"), list):
                    continue  # not a photo's prediction (a run's summary, another program's file)
                data = photo_page_data(p)
            else:
                video = by_name.get(name, by_name.get(p.stem) if not isinstance(videos, dict) else None)
                data = video_page_data(p, video)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            # one damaged file among a corpus's outputs costs its own page only
            warnings.warn(
                f"{p}: not a diffuhand prediction ({exc.__class__.__name__}): no page", DiffuhandWarning, stacklevel=2
            )
            continue
        page = dest / f"{name}.html"
        with atomic_path(page) as tmp:  # a page is whole or absent
            tmp.write_text(render_page(data), encoding="utf-8")
        pages.append(page)
    if not pages:
        raise DiffuhandError(f"{out_dir}: no prediction (<name>.json or <name>.jsonl from diffuhand predict)")
    return pages
