"""``diffuhand predict``: 3D hands in photos (files or folders), one JSON per photo.

Each input is handled on its own: a bad one gets a one-line error and no output file, the others go on, and
the exit status is non-zero when any failed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from diffuhand.errors import DiffuhandError
from diffuhand.io.files import atomic_write_text
from diffuhand.io.images import IMAGE_SUFFIXES, VIDEO_SUFFIXES, read_image
from diffuhand.kinematics.skeleton import ANGLE_NAMES, BONE_NAMES, JOINT_NAMES


def expand_inputs(paths: list[Path]) -> list[Path]:
    """Files as given (whatever their suffix: the reader judges them), folders as their images in name order."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES))
        else:
            out.append(p)
    return out


def image_record(path: Path, image, hands) -> dict:
    return {"image": str(path), "width": int(image.shape[1]), "height": int(image.shape[0]),
            "units": {"joints_2d": "pixels of the image", "joints_3d": "mm, camera frame, relative to the wrist",
                      "angles": "rad (right-hand model)", "uncertainty_mm": "mm"},
            "joint_names": list(JOINT_NAMES), "angle_names": list(ANGLE_NAMES), "bone_names": list(BONE_NAMES),
            "hands": [h.to_json() for h in hands]}  # fmt: skip


def run_predict(args: argparse.Namespace) -> int:
    from diffuhand import load
    from diffuhand.io.export import write_mesh
    from diffuhand.pipeline import Estimator, posed_mesh

    estimator = Estimator(load(args.model))
    args.out.mkdir(parents=True, exist_ok=True)
    failed = 0
    inputs = expand_inputs(args.inputs)
    if not inputs:
        raise DiffuhandError("no input images (folders are searched for " + ", ".join(IMAGE_SUFFIXES) + ")")
    stems: dict[str, int] = {}
    for path in inputs:
        try:
            if path.suffix.lower() in VIDEO_SUFFIXES:
                raise DiffuhandError(f"{path}: video input arrives with the temporal path (not in this release)")
            image = read_image(path)
            hands = estimator.predict(image, crop=args.crop, hand=args.hand)
            meshes = [posed_mesh(h, estimator.anchor_mm) for h in hands] if args.mesh else []
        except DiffuhandError as exc:
            print(f"diffuhand: error: {exc}", file=sys.stderr)
            failed += 1
            continue
        n = stems.get(path.stem, 0)
        stems[path.stem] = n + 1
        name = path.stem if n == 0 else f"{path.stem}-{n}"  # two inputs with one stem do not overwrite
        for i, (v, f) in enumerate(meshes):
            write_mesh(args.out / f"{name}-hand{i}.{args.mesh}", v, f)
        atomic_write_text(args.out / f"{name}.json", json.dumps(image_record(path, image, hands), indent=1) + "\n")
        print(f"{path}: {len(hands)} hand{'s' if len(hands) != 1 else ''} -> {args.out / (name + '.json')}")
    return 1 if failed else 0


__all__ = ["expand_inputs", "run_predict"]
