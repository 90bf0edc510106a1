"""``diffuhand view OUT``: a self-contained HTML viewer page per prediction in OUT (see :mod:`diffuhand.viz.page`)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``view`` on the ``diffuhand`` subparsers; returns its parser."""
    p = sub.add_parser(
        "view",
        help="HTML viewer pages (3D hand, 2D skeleton, angles, timeline) for predict's outputs",
        description="One self-contained <name>.html per <name>.json / <name>.jsonl of OUT; opens "
        "offline from the file system.",
    )
    p.add_argument("out", type=Path, help="the folder diffuhand predict wrote")
    p.add_argument("--dest", type=Path, default=None, help="where to write the pages (default: OUT)")
    p.add_argument(
        "--video",
        type=Path,
        action="append",
        default=[],
        help="a video the predictions came from (frames for the page; default <name>-overlay.mp4 in OUT)",
    )
    p.set_defaults(func=run_view)
    return p


def run_view(args: argparse.Namespace) -> int:
    """Write the pages; prints one line per page. Raises DiffuhandError on a missing folder or no prediction."""
    from diffuhand.viz.page import write_pages

    for page in write_pages(args.out, args.dest, args.video):
        print(page)
    return 0
