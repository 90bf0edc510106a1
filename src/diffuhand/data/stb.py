"""STB (Zhang et al. 2016), layout ``labels/<seq>_{BB,SK}.mat`` (``handPara`` (3, 21, 1500), mm) and
``<seq>/BB_{left,right}_<i>.png``, ``<seq>/SK_color_<i>.png``. LEFT hands; joint 0 is the palm centre.

Published intrinsics (Zhang et al.; as used by Spurr et al. and Ge et al.): Bumblebee (BB) fx = fy = 822.79041,
cx = 318.47345, cy = 250.31296, baseline 120.054 mm (labels in the left camera's frame; the right camera sits at
x = +120.054 mm); RealSense colour (SK) fx = 607.92271, fy = 607.88192, cx = 314.78337, cy = 236.42484, its labels
in the depth camera's frame, moved to the colour camera by the published rotation vector and translation.

The palm is kept in ``extra["palm_mm"]``; ``joints_3d`` carries the wrist estimated as ``mcp + 2 (palm - mcp)``
(:func:`~diffuhand.kinematics.conventions.stb_palm_to_wrist`), so the evaluation's palm (midpoint of wrist and
middle MCP) is exactly the published one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from diffuhand.data.jsonfiles import read_mat
from diffuhand.data.schema import HandDataset, project
from diffuhand.errors import DiffuhandError
from diffuhand.kinematics.conventions import stb_palm_to_wrist, to_canonical

BB_K = np.array([[822.79041, 0.0, 318.47345], [0.0, 822.79041, 250.31296], [0.0, 0.0, 1.0]])
BB_BASELINE_MM = 120.054
SK_K = np.array([[607.92271, 0.0, 314.78337], [0.0, 607.88192, 236.42484], [0.0, 0.0, 1.0]])
SK_ROT_VEC = np.array([0.00531, -0.01196, 0.00301])
SK_TRANS_MM = np.array([-24.0381, -0.4563, -1.2326])
TEST_SEQUENCES = ("B1Counting", "B1Random")
TRAIN_SEQUENCES = tuple(f"B{i}{kind}" for i in range(2, 7) for kind in ("Counting", "Random"))


def sk_depth_to_colour(xyz: np.ndarray) -> np.ndarray:
    """RealSense depth-camera points (..., 3) mm -> colour-camera frame (the published extrinsics)."""
    from scipy.spatial.transform import Rotation

    # as the STB readers of Ge et al. do it: colour = (depth - t) @ R, with R the rotation of the published
    # vector (their hand-written Rodrigues builds the transpose of the inverse rotation, i.e. R itself)
    return (xyz - SK_TRANS_MM) @ Rotation.from_rotvec(SK_ROT_VEC).as_matrix()


def open_stb(
    root: str | Path, split: str = "test", cameras: tuple[str, ...] = ("BB_left", "BB_right"), load_images: bool = True
) -> HandDataset:
    """STB samples; ``split`` ``test`` (B1Counting, B1Random: the benchmark's 3,000 frames, x2 for the stereo
    pair) or ``train`` (B2-B6); ``cameras`` any of ``BB_left``, ``BB_right``, ``SK_color``."""
    root = Path(root)
    seqs = {"test": TEST_SEQUENCES, "train": TRAIN_SEQUENCES}.get(split)
    if seqs is None:
        raise DiffuhandError(f"stb: unknown split {split!r}; use test or train")
    bad = [c for c in cameras if c not in ("BB_left", "BB_right", "SK_color")]
    if bad:
        raise DiffuhandError(f"stb: unknown camera {bad[0]!r}; use BB_left, BB_right or SK_color")
    records = []
    for seq in seqs:
        for cam in cameras:
            rig = "SK" if cam == "SK_color" else "BB"
            path = root / "labels" / f"{seq}_{rig}.mat"
            mat = read_mat(path)
            if "handPara" not in mat or mat["handPara"].shape[:2] != (3, 21):
                raise DiffuhandError(f"{path}: no handPara of shape (3, 21, N)")
            pts = np.transpose(mat["handPara"], (2, 1, 0)).astype(np.float64)  # (N, 21, 3) mm
            if cam == "SK_color":
                pts, K = sk_depth_to_colour(pts), SK_K
            else:
                K = BB_K
                if cam == "BB_right":
                    pts = pts - np.array([BB_BASELINE_MM, 0.0, 0.0])
            pts = to_canonical(pts, "stb")
            for i, j in enumerate(pts):
                records.append(
                    {
                        "joints_3d": stb_palm_to_wrist(j),
                        "joints_2d": project(stb_palm_to_wrist(j), K),
                        "valid": np.ones(21, dtype=bool),
                        "K": K,
                        "handedness": "left",
                        "image_path": str(root / seq / f"{cam}_{i}.png"),
                        "sequence_id": f"{seq}/{cam}",
                        "frame_index": i,
                        "extra": {"palm_mm": j[0].copy()},
                    }
                )
    return HandDataset("stb", records, load_images=load_images)
