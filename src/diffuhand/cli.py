"""The ``diffuhand`` command."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from diffuhand import __version__
from diffuhand.commands import view as view_cmd  # only argparse at import: its page code loads when it runs
from diffuhand.errors import DiffuhandError, DiffuhandWarning, one_line


def _add_joint_input_args(p: argparse.ArgumentParser, per_input: bool = False) -> None:
    each = " Give it once for all inputs or once per input, in the same order." if per_input else ""
    kw = {"action": "append"} if per_input else {}
    p.add_argument(
        "--unit",
        choices=("mm", "cm", "m"),
        **kw,
        help="unit of the joints in the files (optional when an array is named *_mm, *_cm or *_m)." + each,
    )
    p.add_argument(
        "--order",
        **kw,
        help="joint order in the files: canonical, freihand, mediapipe, openpose, "
        "ge2019, rhd, stb, interhand, mano/ho3d/dexycb (default: canonical)." + each,
    )
    p.add_argument("--key", help="array to read from a .npz/.mat/.json object holding several")
    p.add_argument("--limits", type=Path, help="limits file (default: the shipped, data-derived limits)")


def _add_fit_inputs(p: argparse.ArgumentParser, out_help: str) -> None:
    """The inputs of the commands that IK-fit a data set of joints (``limits``, ``prior``)."""
    p.add_argument("data", nargs="+", type=Path, help="joint files or folders of them")
    _add_joint_input_args(p, per_input=True)
    p.add_argument(
        "--hand",
        choices=("right", "left", "auto"),
        default="auto",
        help="handedness (default auto: a file's own 'side', else whichever fits better)",
    )
    p.add_argument("--out", type=Path, required=True, help=out_help)
    p.add_argument("--max-residual", type=float, default=5.0, help="drop poses fitted worse than this (mm)")
    p.add_argument("--cache", type=Path, help="folder for per-file fits, so a rerun resumes (default: OUT.cache)")


def _lazy(module: str, name: str):
    """The command ``module.name(args)``, imported only when it runs (so ``--help`` stays fast)."""

    def run(args: argparse.Namespace) -> int:
        import importlib

        return getattr(importlib.import_module(module), name)(args)

    return run


def _cmd_train(args: argparse.Namespace) -> int:
    from diffuhand.train.config import load_config
    from diffuhand.train.loop import train

    cfg = load_config(args.config)
    if args.out:
        cfg.train.out = str(args.out)
    if cfg.model.get("kind") == "temporal":
        from diffuhand.train.temporal import train_temporal

        out = train_temporal(cfg, max_steps=args.max_steps)
    else:
        out = train(cfg, max_steps=args.max_steps)
    print(f"{cfg.name}: checkpoints in {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="diffuhand", description="3D hand pose with a kinematically constrained hand model."
    )
    parser.add_argument("--version", action="version", version=f"diffuhand {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "ik",
        help="fit the hand model to 3D joints; write angles, bone ratios, residuals and a 3D plot",
        description="Fit the kinematic hand model to 3D joints (JSON, NPY, NPZ or MAT; (N,21,3) or "
        "(21,3)). With no file, fits the bundled named poses.",
    )
    p.add_argument("files", nargs="*", type=Path, help="joint files; none: the bundled named poses")
    _add_joint_input_args(p)
    p.add_argument(
        "--hand",
        choices=("right", "left", "auto"),
        default="auto",
        help="handedness of the joints: left hands are mirrored before the fit (default auto: a file's own "
        "'side', else whichever fits better; a left hand fitted as a right one still looks plausible)",
    )
    p.add_argument("--out", type=Path, default=Path("diffuhand-out"), help="output folder (default: diffuhand-out)")
    p.add_argument("--plot-max", type=int, default=8, help="poses drawn in the PNG (default 8; 0: no PNG)")
    p.set_defaults(func=_lazy("diffuhand.commands.ik", "run_ik"))

    p = sub.add_parser(
        "limits",
        help="derive angle limits and bone-ratio ranges from a data set of 3D joints",
        description="Fit the hand model to every pose in DATA (files or folders) inside wide "
        "anatomical bounds, then write limits from robust percentiles of the fitted values.",
    )
    _add_fit_inputs(p, "the limits JSON to write")
    p.add_argument("--percentiles", type=float, nargs=2, default=(0.5, 99.5), metavar=("LOW", "HIGH"))
    p.add_argument("--margin", type=float, default=0.1, help="widen each range by this fraction of its width")
    p.set_defaults(func=_lazy("diffuhand.commands.limits", "run_limits"))

    p = sub.add_parser(
        "prior",
        help="fit the renderer's pose prior (a Gaussian mixture over angles) to real joints",
        description="Fit the hand model (inside the shipped limits) to every pose in DATA and fit a "
        "Gaussian mixture to the articulation angles; writes aggregate statistics only.",
    )
    _add_fit_inputs(p, "the prior JSON to write")
    p.add_argument("--components", type=int, default=12)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_lazy("diffuhand.commands.prior", "run_prior"))

    p = sub.add_parser(
        "skeleton",
        help="learn a skeleton convention (mean bone ratios) from a data set's 3D joints",
        description="Fit the hand model to every pose in DATA and store the mean bone ratios under "
        "NAME in a skeletons file (added to it, or replacing the same name).",
    )
    _add_fit_inputs(p, "the skeletons JSON to add to (e.g. src/diffuhand/kinematics/data/skeletons.json)")
    p.add_argument("--name", required=True, help="the skeleton's name, e.g. ge2019 or mano")
    p.set_defaults(func=_lazy("diffuhand.commands.skeleton", "run_skeleton"))

    p = sub.add_parser(
        "synth",
        help="render a synthetic data set of the rigged hand in the model's poses",
        description="Render COUNT images of the MIT hand mesh posed from the pose prior (random skin, "
        "light, background, camera, hands, occluders, blur, noise) with full labels, in chunks, in "
        "parallel, resumable, deterministic for --seed. Format: see diffuhand.synth.writer.",
    )
    p.add_argument("out", type=Path, help="output folder")
    p.add_argument("--count", type=int, required=True, help="number of images")
    p.add_argument("--size", type=int, default=128, help="image size in pixels (default 128, the model's input)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2, help="parallel processes (default 2)")
    p.add_argument("--chunk", type=int, default=256, help="images per label file (the unit of resuming)")
    p.add_argument("--sequence-length", type=int, default=0, help="> 1: smooth motion sequences of this many frames")
    p.add_argument(
        "--motion",
        help="with --sequence-length: replay recorded 3D motion instead of the prior's "
        "keyframes, READER:ROOT:SPLIT (e.g. dexycb:../shared/data/dexycb-left-sequences:train); each "
        "sequence seen from a new camera",
    )
    p.add_argument("--backgrounds", type=Path, help="folder of background images (default: procedural textures)")
    p.add_argument("--p-two-hands", type=float, default=0.2)
    p.add_argument("--p-occluder", type=float, default=0.25)
    p.add_argument(
        "--variant",
        default="photo",
        help="scene variant: photo (forearm, palm and nails, bounce light, "
        "room-like backgrounds, camera effects, colours as display values, skin shaded as a non-metal, two "
        "hands kept apart, natural tints, one person's two hands, ambient occlusion; the default since it measured "
        "more photo-like to MediaPipe, "
        "benchmarks/bench_render_realism.py), legacy (the plain renders of the first release), textured (photo "
        "with the skin painted in a texture), palm-lines (textured, with the palm's creases), shadows (photo "
        "with the key light's soft cast shadows), any single "
        "lever of synth.scene.SCENE_VARIANTS, or VARIANT-without-LEVER (e.g. photo-without-light)",
    )
    p.set_defaults(func=_lazy("diffuhand.commands.synth", "run_synth"))

    p = sub.add_parser(
        "train",
        help="train a model from a configuration file (configs/*.yaml)",
        description="Train the model a configuration names. Resumes from OUT/last if it exists; "
        "runs unchanged on a CPU, a GPU or several (torchrun --nproc_per_node N -m diffuhand train ...).",
    )
    p.add_argument("config", type=Path)
    p.add_argument("--out", type=Path, help="output folder (default: the configuration's train.out)")
    p.add_argument("--max-steps", type=int, help="stop after this many more steps (the schedule keeps its length)")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser(
        "predict",
        help="3D hands in photos: one JSON per photo",
        description="Find the hands in each photo (MediaPipe), lift each to 3D with the model, and "
        "write DIR/<stem>.json: per hand its handedness, box, 2D joints (pixels), 3D joints (mm, "
        "camera frame, wrist-relative, average adult hand size), 41 angles, 20 bone ratios and the "
        "per-joint uncertainty.",
    )
    p.add_argument(
        "inputs",
        nargs="*",
        type=Path,
        help="image or video files, or folders (searched through their whole tree, mirrored under --out)",
    )
    p.add_argument(
        "--manifest",
        type=Path,
        help="a text file of inputs, one path per line (relative ones to its folder); outputs mirror their "
        "paths below the folder they share",
    )
    p.add_argument(
        "--model",
        help="the lift: a checkpoint folder made by `diffuhand train`, or a shipped model: hand "
        "(the default: MediaPipe's 2D and 3D fused by the hand model) or keypoints (the 2D-keypoint "
        "diffusion model)",
    )
    p.add_argument(
        "--intrinsics",
        type=float,
        nargs=4,
        metavar=("FX", "FY", "CX", "CY"),
        help="the camera of the "
        "inputs in pixels, where known (default: principal point at the centre, focal length = image "
        "width); with the true one the hands' orientation in the camera frame is the true one",
    )
    p.add_argument(
        "--skeleton",
        help="the skeleton convention of the output: ge2019 (the default lift's) or mano "
        "(DexYCB's, FreiHAND's: MANO joints); see `diffuhand.kinematics.skeletons`",
    )
    p.add_argument("--out", type=Path, default=Path("diffuhand-out"), help="output folder (default: diffuhand-out)")
    p.add_argument(
        "--temporal",
        type=Path,
        help="videos: a temporal model checkpoint (`diffuhand train` of a "
        "temporal configuration) that smooths each hand's track and bridges short gaps (default: the "
        "shipped one, with the lift it was trained on, the default one; other lifts' videos go frame by frame)",
    )
    p.add_argument("--no-temporal", action="store_true", help="videos: every frame on its own, no temporal model")
    p.add_argument(
        "--smoothing",
        type=float,
        metavar="SECONDS",
        help="videos with a temporal model: standard deviation in seconds of the Gaussian over time applied to "
        "each hand's pose after it, within the joint limits (default 0.05; 0: none)",
    )
    p.add_argument(
        "--crop", action="store_true", help="photos: each image is one hand crop already (no search for hands)"
    )
    p.add_argument(
        "--hand", choices=("right", "left"), help="with --crop: which hand it shows (default: the detector's label)"
    )
    p.add_argument(
        "--backend",
        choices=("auto", "torch", "onnx"),
        default="auto",
        help="run the diffusion network "
        "in torch or ONNX Runtime (same output, faster per hand); auto (default): ONNX Runtime where the "
        "checkpoint has its unet.onnx (`diffuhand export-onnx`)",
    )
    p.add_argument(
        "--samples",
        type=int,
        help="diffusion samples per hand, averaged (default: the model's, 5 for "
        "the shipped one); 1 is fastest but gives no uncertainty (null in the JSON)",
    )
    p.add_argument(
        "--steps",
        type=int,
        help="denoising steps (default: the model's, 5 strided DDPM steps for the shipped one; 50 is the paper's)",
    )
    p.add_argument(
        "--mesh",
        choices=("obj", "glb"),
        help="photos: also write each hand's posed mesh (the MIT rigged "
        "hand) as DIR/<stem>-hand<i>.<obj|glb>, mm (glb: metres), camera frame, wrist at the origin",
    )
    p.add_argument(
        "--mano",
        type=Path,
        help="photos: your MANO_RIGHT.pkl: also write each hand as MANO posed by our "
        "angles (DIR/<stem>-hand<i>-mano.<obj|glb>); read without chumpy, never executed",
    )
    p.add_argument(
        "--body",
        action="store_true",
        help="also find the body (MediaPipe Pose, 33 landmarks): in the "
        "JSON as `body` and drawn on the overlays, as in the paper's figure 5",
    )
    p.add_argument(
        "--threads",
        type=int,
        help="threads for the lift, NumPy's BLAS and torch's (default: 1, or OMP_NUM_THREADS where set: the lift's "
        "small batches gain nothing from more, and more slow them badly on a busy machine; docs/speed.md)",
    )
    p.add_argument(
        "--render",
        action="store_true",
        help="also write DIR/<stem>-overlay.png (mesh and 2D skeleton "
        "on the photo, at most 2048 px on its longest side) and DIR/<stem>-3d.png (a 3D view)",
    )
    p.add_argument(
        "--html",
        action="store_true",
        help="also write DIR/<stem>.html, a self-contained viewer page per "
        "input (as `diffuhand view DIR` does): the photo or frames with the 2D skeleton, the 3D hand, the "
        "angles against their limits, a timeline for a video",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="predict every input again (default: an input whose outputs are complete, newer than it and the "
        "model, and made with the same model and options is skipped, so a stopped run goes on where it stopped)",
    )
    p.add_argument(
        "--summary",
        type=Path,
        help="write the run's summary JSON here (counts, failures with reasons, frames/s; default for a folder "
        "or --manifest: OUT/diffuhand-summary.json)",
    )
    p.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local (default): this process; ray: Ray workers, each loading the model once (a local Ray "
        "instance, or --ray-address); inputs and --out must be paths every worker sees",
    )
    p.add_argument("--workers", type=int, help="--engine ray: workers (default: the CPUs Ray has)")
    p.add_argument(
        "--ray-address",
        help="--engine ray: an existing cluster's address (default: RAY_ADDRESS where set, else start one here)",
    )
    p.set_defaults(func=_lazy("diffuhand.commands.predict", "run_predict"))

    p = sub.add_parser(
        "demo",
        help="the whole path on bundled inputs: JSON, meshes, overlays and a 3D view",
        description="Run `diffuhand predict --render --mesh obj` with the shipped model on the "
        "inputs bundled with the package (rendered by this project: three photos-like images, one "
        "with two hands, and a short video).",
    )
    p.add_argument("--out", type=Path, default=Path("diffuhand-out"), help="output folder (default: diffuhand-out)")
    p.set_defaults(func=_lazy("diffuhand.commands.predict", "run_demo"))

    view_cmd.add_parser(sub)

    p = sub.add_parser(
        "export-onnx",
        help="write a checkpoint's diffusion network as unet.onnx (ONNX Runtime)",
        description="Export the diffusion U-Net of CHECKPOINT to CHECKPOINT/unet.onnx, which "
        "`diffuhand predict` then runs in ONNX Runtime (faster per hand, same output). The shipped "
        "model's is made on first use.",
    )
    p.add_argument("checkpoint", type=Path, help="a checkpoint folder made by `diffuhand train`")
    p.set_defaults(func=_lazy("diffuhand.commands.export", "run_export_onnx"))

    p = sub.add_parser(
        "evaluate",
        help="score 3D predictions on a data set with its published protocol",
        description="Score predictions (N,21,3), one per hand of the data set in its order, camera "
        "frame, left hands as left hands. RHD/STB: the protocol of Spurr et al. (palm root, middle "
        "MCP-PIP scale, visible joints, PCK/AUC); InterHand2.6M: wrist-relative, single and "
        "interacting hands apart; all: wrist-aligned least-squares scale and PA-MPJPE.",
    )
    p.add_argument(
        "predictions",
        type=Path,
        help="predicted joints (.npy, .npz, .json, .mat), a model checkpoint "
        "(folder or .safetensors) to run on the data set, or `mediapipe` to score MediaPipe's own 3D",
    )
    p.add_argument("--dataset", required=True, help="rhd, stb, freihand, interhand26m, ge-realworld, dexycb")
    p.add_argument("--root", type=Path, required=True, help="the data set's folder in its published layout")
    p.add_argument("--split", help="split (default: the benchmark's test split)")
    p.add_argument("--unit", choices=("mm", "cm", "m"), default="mm", help="unit of the predictions (default mm)")
    p.add_argument("--order", help="joint order of the predictions (default canonical)")
    p.add_argument("--key", help="array to read from a predictions file holding several")
    p.add_argument("--out", type=Path, help="write the results as JSON here")
    p.add_argument("--limit", type=int, help="a model checkpoint: evaluate the first N hands only")
    p.add_argument("--sampler", choices=("ddpm", "ddim"), help="a diffusion checkpoint: sampler (default: its own)")
    p.add_argument(
        "--steps",
        type=int,
        help="denoising steps (default: the checkpoint's; with --sampler, 50 for ddpm, 10 for ddim)",
    )
    p.add_argument(
        "--samples", type=int, help="diffusion samples per hand, their mean the estimate (default: the checkpoint's)"
    )
    p.add_argument(
        "--ik",
        choices=("solver", "mlp"),
        default="solver",
        help="a diffusion checkpoint: how the "
        "sample mean becomes the final joints: our IK solver (default, what predict ships) or the "
        "model's IK MLP (section 2.5)",
    )
    p.add_argument(
        "--keypoints",
        choices=("truth", "mediapipe"),
        default="truth",
        help="a model checkpoint: 2D joints that place the crop and condition a keypoint model: the "
        "annotated ones (default) or MediaPipe's on each image (hands it misses are left out, and counted)",
    )
    p.set_defaults(func=_lazy("diffuhand.commands.evaluate", "run_evaluate"))
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning as one line on stderr, like the errors (Python's default adds the source file and line)."""
    label = "warning" if issubclass(category, DiffuhandWarning) else f"warning ({category.__name__})"
    print(f"diffuhand: {label}: {one_line(message)}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    with warnings.catch_warnings():  # restores the caller's warning display when the command returns
        warnings.showwarning = _show_warning
        try:
            return int(args.func(args) or 0)
        except DiffuhandError as exc:
            print(f"diffuhand: error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("diffuhand: interrupted", file=sys.stderr)
            return 130


if __name__ == "__main__":
    sys.exit(main())
