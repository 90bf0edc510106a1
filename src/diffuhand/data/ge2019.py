"""The real-world test set of Ge et al. 2019 (``ge-realworld``): ``images/NNNNN.jpg`` (256 x 256 crops of 1280 x 720
photos), ``pose_gt.mat`` (N, 21, 3) cm in the camera frame, ``params.mat`` (``cam_param`` fx, fy, u0, v0 of the
full photo; ``bbox`` x, y, w, h of the crop). LEFT hands (checked by projecting onto the photos), canonical order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from diffuhand.data.jsonfiles import read_mat
from diffuhand.data.schema import HandDataset, project
from diffuhand.errors import DiffuhandError

CROP = 256


def crop_intrinsics(cam_param: np.ndarray, bbox: np.ndarray, size: int = CROP) -> np.ndarray:
    """K of the ``size`` x ``size`` crop of box (x, y, w, h) from a photo with (fx, fy, u0, v0)."""
    fx, fy, u0, v0 = cam_param
    x, y, w, h = bbox
    sx, sy = size / w, size / h
    return np.array([[fx * sx, 0.0, (u0 - x) * sx], [0.0, fy * sy, (v0 - y) * sy], [0.0, 0.0, 1.0]])


def open_ge2019(root: str | Path, split: str = "dev", load_images: bool = True) -> HandDataset:
    root = Path(root)
    gt = read_mat(root / "pose_gt.mat")
    params = read_mat(root / "params.mat")
    try:
        joints = np.asarray(gt["pose_gt"], dtype=np.float64) * 10.0
        cam, bbox = np.asarray(params["cam_param"], dtype=np.float64), np.asarray(params["bbox"], dtype=np.float64)
    except KeyError as exc:
        raise DiffuhandError(f"{root}: pose_gt.mat / params.mat lack {exc}") from None
    if joints.ndim != 3 or joints.shape[1:] != (21, 3) or len(cam) != len(joints) or len(bbox) != len(joints):
        raise DiffuhandError(f"{root}: pose_gt {joints.shape}, cam_param {cam.shape}, bbox {bbox.shape} do not match")
    records = []
    for i in range(len(joints)):
        K = crop_intrinsics(cam[i], bbox[i])
        records.append(
            {
                "joints_3d": joints[i],
                "joints_2d": project(joints[i], K),
                "valid": np.ones(21, dtype=bool),
                "K": K,
                "handedness": "left",
                "image_path": str(root / "images" / f"{i:05d}.jpg"),
                "extra": {"photo_K": crop_intrinsics(cam[i], np.array([0, 0, CROP, CROP])), "bbox": bbox[i].tolist()},
            }
        )
    return HandDataset("ge-realworld", records, load_images=load_images)
