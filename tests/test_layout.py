"""The layout shows the flow (issue 14, item 14): every package imports only from the stages before it, lazy
imports inside functions included, so inference never loads training code and no two stages depend on each other."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "diffuhand"

#: the stages in order (docs/layout.md); a module may import from its own stage and from earlier ones
STAGES: tuple[tuple[str, ...], ...] = (
    ("errors", "io"),  # one-line errors; files, images, video, weights, atomic writes, the restricted unpickler
    ("kinematics",),  # the hand model: skeleton, FK, IK, limits, pose prior, fusion
    ("detect",),  # hand localisation (MediaPipe) and its crop box
    ("data",),  # crops, data-set readers, joint files
    ("models",),  # networks
    ("lift",),  # a detected hand -> its 3D pose (the one lift path)
    ("synth",),  # the rigged mesh, the renderer
    ("tracking", "pipeline"),  # photos and videos -> HandResult
    ("viz", "eval"),  # outputs seen and scored
    ("train",),
    ("commands", "cli", "__init__", "__main__"),
)
LEVEL = {name: i for i, names in enumerate(STAGES) for name in names}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("diffuhand."):
            out.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".")[1] for a in node.names if a.name.startswith("diffuhand.")}
    return out


def test_every_stage_imports_only_earlier_stages() -> None:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        own = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        assert own in LEVEL, f"{own}: a package not placed in STAGES (and docs/layout.md)"
        wrong += [
            f"{path.relative_to(PACKAGE)} imports diffuhand.{t}"
            for t in _imports(path)
            if t != own and LEVEL.get(t, -1) > LEVEL[own]
        ]
    assert wrong == [], "\n".join(wrong)


def test_inference_never_imports_training() -> None:
    inference = [
        p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] not in ("train", "commands", "cli.py")
    ]
    assert not [p for p in inference if "train" in _imports(p)]
