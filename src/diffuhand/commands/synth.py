"""``diffuhand synth``."""

from __future__ import annotations

import argparse
import time

from diffuhand.errors import DiffuhandError


def run_synth(args: argparse.Namespace) -> int:
    from diffuhand.synth.scene import SceneConfig, scene_variant
    from diffuhand.synth.writer import write_dataset

    if args.size < 32:
        raise DiffuhandError("--size must be >= 32")
    if args.backgrounds is not None and not args.backgrounds.is_dir():
        raise DiffuhandError(f"{args.backgrounds}: no such folder")
    variant = getattr(args, "variant", "photo")
    motion = getattr(args, "motion", None)
    if motion:
        from diffuhand.synth.motion import parse_motion_source

        parse_motion_source(motion)
        if args.sequence_length < 2:
            raise DiffuhandError("--motion replays sequences: give --sequence-length too")
    base = SceneConfig(
        size=args.size,
        p_two_hands=args.p_two_hands,
        p_occluder=args.p_occluder,
        backgrounds=args.backgrounds,
        motion_source=motion,
    )
    try:
        cfg = scene_variant(variant, base)
    except ValueError as exc:
        raise DiffuhandError(f"--variant: {exc}") from None
    t = time.perf_counter()
    write_dataset(
        args.out,
        args.count,
        cfg,
        seed=args.seed,
        workers=args.workers,
        chunk=args.chunk,
        sequence_length=args.sequence_length,
    )
    from diffuhand.viz.contact import synth_contact_sheet

    synth_contact_sheet(args.out, args.out / "contact-sheet.png")
    print(
        f"{args.out}: {args.count} images of {args.size} px ({time.perf_counter() - t:.1f} s this run); "
        f"look at {args.out / 'contact-sheet.png'}"
    )
    return 0
