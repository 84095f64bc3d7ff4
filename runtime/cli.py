"""The `posenet-onnx estimate` subcommand (poses in image files as JSON, and annotated pictures), and the
model options it shares with `video`."""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from posenet_onnx.atomic import write_bytes_atomic
from posenet_onnx.contract import MULTIPLIERS, OUTPUT_STRIDES
from posenet_onnx.runtime.providers import DEVICES

if TYPE_CHECKING:
    from posenet_onnx.runtime.images import ImageLike
    from posenet_onnx.runtime.pose import Pose
    from posenet_onnx.runtime.posenet import PoseNet


def register(commands: argparse._SubParsersAction) -> None:
    """Add this stage's subcommands to the `posenet-onnx` parser."""
    parser = commands.add_parser(
        "estimate",
        help="estimate poses in images",
        description="Estimate poses in image files and print them as JSON (upstream's pose structure), "
        "optionally drawing them.",
    )
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="image files")
    parser.add_argument("--multi", action="store_true", help="multi-pose decoding (default: single pose)")
    add_model_options(parser)
    parser.add_argument("--json", type=Path, metavar="OUT", help="write the JSON to OUT instead of printing it")
    parser.add_argument("--draw", type=Path, metavar="DIR", help="write each image with its poses drawn to DIR/<name>.png")
    parser.set_defaults(handler=run_estimate)


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """The options that choose the model and how it estimates, shared by `estimate` and `video`."""
    model = parser.add_argument_group("model")
    model.add_argument("--multiplier", type=float, default=1.01, choices=MULTIPLIERS, help="model width (default 1.01)")
    model.add_argument("--output-stride", type=int, default=16, choices=OUTPUT_STRIDES, help="default 16")
    model.add_argument("--scale", type=float, default=0.5, help="image scale factor in [0.2, 1.0] (default 0.5)")
    model.add_argument("--flip", action="store_true", help="mirror the input left to right first (a selfie view)")
    model.add_argument("--max-poses", type=int, default=5, help="multi-pose: most poses per image (default 5)")
    model.add_argument(
        "--score-threshold", type=float, default=0.5, help="multi-pose: root part score threshold (default 0.5)"
    )
    model.add_argument("--nms-radius", type=float, default=20, help="multi-pose: in model-input pixels (default 20)")
    model.add_argument(
        "--model-dir",
        type=Path,
        metavar="DIR",
        help="folder of exported graphs (default $POSENET_ONNX_MODEL_DIR or the cache)",
    )
    model.add_argument(
        "--checkpoint-dir",
        type=Path,
        metavar="DIR",
        help="offline folder of mobilenet_v1_XXX/ checkpoints, used when a missing graph is exported "
        "(default $POSENET_ONNX_CHECKPOINT_DIR, else download)",
    )
    model.add_argument("--device", choices=DEVICES, default="auto", help="default auto: CUDA if usable, else CPU")


def load_from_args(args: argparse.Namespace, **extra: Any) -> PoseNet:
    """The PoseNet the model options name; `extra` keyword arguments go to `posenet_onnx.load` as they are."""
    from posenet_onnx.runtime.posenet import load

    return load(
        args.multiplier, device=args.device, model_dir=args.model_dir, checkpoint_dir=args.checkpoint_dir, **extra
    )


def estimator_from_args(
    net: PoseNet, args: argparse.Namespace, *, multi: bool, flip: bool
) -> Callable[[ImageLike], list[Pose]]:
    """`estimate(image) -> poses` with the model options' settings: one pose, or up to --max-poses with `multi`."""
    if multi:
        return lambda image: net.estimate_multiple_poses(
            image, args.scale, flip, args.output_stride, args.max_poses, args.score_threshold, args.nms_radius
        )
    return lambda image: [net.estimate_single_pose(image, args.scale, flip, args.output_stride)]


def run_estimate(args: argparse.Namespace) -> int:
    """Estimate, then print or write `[{"image": path, "poses": [pose, ...]}, ...]`."""
    from posenet_onnx.runtime.draw import draw_poses
    from posenet_onnx.runtime.images import load_image

    net = load_from_args(args)
    estimate = estimator_from_args(net, args, multi=args.multi, flip=args.flip)
    records = []
    for path in args.images:
        image = load_image(path)
        poses = estimate(image)
        records.append({"image": str(path), "poses": [pose.to_dict() for pose in poses]})
        if args.draw is not None:
            # With --flip the positions are those of the mirrored image (upstream 1.0.3), so draw on it.
            picture = io.BytesIO()
            draw_poses(image[:, ::-1] if args.flip else image, poses).save(picture, format="PNG")
            write_bytes_atomic(args.draw / f"{path.stem}.png", picture.getvalue())
    text = json.dumps(records, indent=2)
    if args.json is not None:
        write_bytes_atomic(args.json, (text + "\n").encode())
    else:
        sys.stdout.write(text + "\n")
    return 0
