"""InterHand2.6M (Moon et al. 2020), layout ``annotations/<split>/InterHand2.6M_<split>_{data,camera,joint_3d}.json``
and ``images/<split>/<file_name>``. World joints in mm (42: right hand 0-20, left 21-41, each in InterHand order),
cameras ``cam = R (world - campos)``. One sample per valid hand: an image with two hands gives two samples.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from diffuhand.data.jsonfiles import read_json
from diffuhand.data.schema import HandDataset, project
from diffuhand.errors import DiffuhandError
from diffuhand.kinematics.conventions import to_canonical

SPLITS = ("train", "val", "test")


def open_interhand(root: str | Path, split: str = "test", load_images: bool = True, min_valid: int = 11) -> HandDataset:
    """InterHand2.6M samples; a hand counts when the image's hand type includes it and at least ``min_valid``
    of its joints are valid. ``extra["hand_type"]`` is ``single`` or ``interacting`` (table 2's split)."""
    root = Path(root)
    if split not in SPLITS:
        raise DiffuhandError(f"interhand26m: unknown split {split!r}; use one of {', '.join(SPLITS)}")
    ann_dir = root / "annotations" / split
    data = read_json(ann_dir / f"InterHand2.6M_{split}_data.json")
    cams = read_json(ann_dir / f"InterHand2.6M_{split}_camera.json")
    joints = read_json(ann_dir / f"InterHand2.6M_{split}_joint_3d.json")
    try:
        anns = {a["image_id"]: a for a in data["annotations"]}
        records = []
        for im in data["images"]:
            ann = anns[im["id"]]
            cap, cam, frame = str(im["capture"]), str(im["camera"]), str(im["frame_idx"])
            rec = joints[cap][frame]
            rot = np.asarray(cams[cap]["camrot"][cam], dtype=np.float64)
            pos = np.asarray(cams[cap]["campos"][cam], dtype=np.float64)
            (fx, fy), (cx, cy) = cams[cap]["focal"][cam], cams[cap]["princpt"][cam]
            K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
            world = np.asarray(rec["world_coord"], dtype=np.float64).reshape(42, 3)
            valid = np.asarray(ann.get("joint_valid", rec["joint_valid"]), dtype=bool).reshape(42)
            xyz = (world - pos) @ rot.T
            hand_type = ann.get("hand_type", rec.get("hand_type"))
            present = {"right": ("right",), "left": ("left",), "interacting": ("right", "left")}.get(hand_type, ())
            for side, sl in (("right", slice(0, 21)), ("left", slice(21, 42))):
                v = to_canonical(valid[sl][:, None], "interhand")[:, 0]
                if side not in present or v.sum() < min_valid:
                    continue
                j3 = to_canonical(xyz[sl], "interhand")
                records.append(
                    {
                        "joints_3d": j3,
                        "joints_2d": project(j3, K),
                        "valid": v,
                        "K": K,
                        "handedness": side,
                        "image_path": str(root / "images" / split / im["file_name"]),
                        "sequence_id": f"{cap}/{im.get('seq_name', '')}/{cam}",
                        "frame_index": int(im["frame_idx"]),
                        "extra": {
                            "hand_type": "interacting" if hand_type == "interacting" else "single",
                            "bbox": ann.get("bbox"),
                            "capture": cap,
                            "camera": cam,
                        },
                    }
                )
    except (KeyError, TypeError, ValueError) as exc:
        raise DiffuhandError(
            f"{ann_dir}: annotations do not match each other ({exc.__class__.__name__}: {exc})"
        ) from None
    return HandDataset("interhand26m", records, load_images=load_images)
