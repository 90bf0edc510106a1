"""Build the published on-disk layouts from the real samples in shared/data (mmpose re-packed them) or, where no
sample exists (STB) or the sample lacks 3D (FreiHAND), from poses of our own model."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from diffuhand.kinematics import forward_kinematics, named_poses
from diffuhand.kinematics.conventions import from_canonical, mirror


def rhd_layout(mmpose: Path, out: Path) -> Path:
    """RHD_published_v2/evaluation/{anno_evaluation.pickle, color/, mask/} from mmpose's test_rhd.json."""
    data = json.loads((mmpose / "rhd" / "test_rhd.json").read_text())
    images = {im["id"]: im for im in data["images"]}
    root = out / "RHD_published_v2"
    (root / "evaluation" / "color").mkdir(parents=True)
    (root / "evaluation" / "mask").mkdir()
    annos = {}
    for ann in data["annotations"]:
        im = images[ann["image_id"]]
        xyz = np.asarray(ann["joint_cam"], dtype=np.float64) / 1000.0  # RHD stores metres
        uv_vis = np.asarray(ann["keypoints"], dtype=np.float64)
        other_xyz, other_uv = xyz + [0.5, 0.0, 0.0], np.concatenate([uv_vis[:, :2] + 400, np.zeros((21, 1))], 1)
        left = ann["hand_type"] == "left"
        annos[ann["image_id"]] = {
            "xyz": np.concatenate([xyz, other_xyz] if left else [other_xyz, xyz]).astype(np.float32),
            "uv_vis": np.concatenate([uv_vis, other_uv] if left else [other_uv, uv_vis]).astype(np.float32),
            "K": np.array(
                [
                    [im["cam_param"]["focal"][0], 0, im["cam_param"]["princpt"][0]],
                    [0, im["cam_param"]["focal"][1], im["cam_param"]["princpt"][1]],
                    [0, 0, 1],
                ],
                np.float32,
            ),
        }
        shutil.copy(mmpose / "rhd" / im["file_name"], root / "evaluation" / "color" / f"{ann['image_id']:05d}.png")
        mask = np.zeros((im["height"], im["width"]), np.uint8)
        for u, v, _ in uv_vis:  # paint the annotated hand's parts around its keypoints
            x, y = int(np.clip(u, 0, im["width"] - 1)), int(np.clip(v, 0, im["height"] - 1))
            mask[max(y - 4, 0) : y + 5, max(x - 4, 0) : x + 5] = 5 if left else 20
        Image.fromarray(mask).save(root / "evaluation" / "mask" / f"{ann['image_id']:05d}.png")
    with open(root / "evaluation" / "anno_evaluation.pickle", "wb") as fh:
        pickle.dump(annos, fh, protocol=2)
    return root


def interhand_layout(mmpose: Path, out: Path, split: str = "test") -> Path:
    src = mmpose / "interhand2.6m"
    ann = out / "InterHand2.6M" / "annotations" / split
    ann.mkdir(parents=True)
    for part in ("data", "camera", "joint_3d"):
        shutil.copy(src / f"test_interhand2.6m_{part}.json", ann / f"InterHand2.6M_{split}_{part}.json")
    data = json.loads((src / "test_interhand2.6m_data.json").read_text())
    img_dir = out / "InterHand2.6M" / "images" / split
    img_dir.mkdir(parents=True)
    for im in data["images"]:
        shutil.copy(src / im["file_name"], img_dir / im["file_name"])
    return out / "InterHand2.6M"


def model_poses(n: int, left: bool = False) -> np.ndarray:
    """n named poses in front of a camera, mm, canonical order (mirrored for left hands)."""
    _, angles, ratios = named_poses()
    rot = np.array([[0.0, -1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
    import torch

    j = forward_kinematics(
        angles[:n], ratios[:n], 85.0, torch.as_tensor(rot), torch.tensor([0.0, 40.0, 500.0], dtype=torch.float64)
    ).numpy()
    return mirror(j) if left else j


def freihand_layout(mmpose: Path, out: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """FreiHAND layout: the 8 real mmpose images as training/rgb/%08d.jpg over 4 model poses (4 x 2 versions)."""
    root = out / "FreiHAND"
    (root / "training" / "rgb").mkdir(parents=True)
    xyz_mm = model_poses(4)
    K = np.array([[[480.0, 0, 112], [0, 480.0, 112], [0, 0, 1]]] * 4) + np.arange(4)[:, None, None] * np.eye(3) * 0
    (root / "training_xyz.json").write_text(json.dumps((xyz_mm / 1000.0).tolist()))
    (root / "training_K.json").write_text(json.dumps(K.tolist()))
    for i, f in enumerate(sorted((mmpose / "freihand").glob("*.jpg"))):
        shutil.copy(f, root / "training" / "rgb" / f"{i:08d}.jpg")
    return root, xyz_mm, K


def stb_layout(out: Path, frames: int = 3) -> tuple[Path, np.ndarray]:
    """STB layout for B1Counting and B1Random: labels/<seq>_BB.mat (palm at joint 0, STB order, mm, left hands)
    and blank BB_left/BB_right images."""
    import scipy.io

    root = out / "STB"
    (root / "labels").mkdir(parents=True)
    canon = model_poses(frames, left=True)
    stb = canon.copy()
    stb[:, 0] = 0.5 * (canon[:, 0] + canon[:, 9])  # STB's joint 0 is the palm centre
    stb = from_canonical(stb, "stb")
    for seq in ("B1Counting", "B1Random"):
        scipy.io.savemat(root / "labels" / f"{seq}_BB.mat", {"handPara": np.transpose(stb, (2, 1, 0))})
        (root / seq).mkdir()
        for i in range(frames):
            for cam in ("BB_left", "BB_right"):
                Image.fromarray(np.full((480, 640, 3), 60, np.uint8)).save(root / seq / f"{cam}_{i}.png")
    return root, canon
