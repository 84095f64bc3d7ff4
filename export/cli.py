"""The `posenet-onnx export` subcommand: write one graph, or all ten, as ONNX files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from posenet_onnx.contract import MULTIPLIERS, OUTPUT_STRIDES, PRECISIONS, VALID_MODELS, default_model_dir


def register(commands: argparse._SubParsersAction) -> None:
    """Add this stage's subcommands to the `posenet-onnx` parser."""
    parser = commands.add_parser(
        "export",
        help="export PoseNet checkpoints to ONNX graphs (needs the export extra)",
        description="Convert PoseNet 1.x checkpoints (downloaded once, or from --checkpoint-dir) to ONNX graphs.",
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--multiplier", type=float, choices=MULTIPLIERS, help="MobileNet width multiplier")
    which.add_argument("--all", action="store_true", help=f"export all {len(VALID_MODELS)} valid graphs")
    parser.add_argument("--output-stride", type=int, choices=OUTPUT_STRIDES, default=16, help="default: 16")
    parser.add_argument(
        "--precision", choices=PRECISIONS, default="fp32", help="fp32 (default), fp16 for GPUs, int8 for CPUs"
    )
    parser.add_argument(
        "--calibration-dir", type=Path, default=None, help="folder of photos of people to calibrate int8 on"
    )
    parser.add_argument(
        "-o", "--output-dir", type=Path, default=None, help="folder for the .onnx files (default: the model cache)"
    )
    parser.add_argument(
        "--checkpoint-dir",
        type=Path,
        default=None,
        help="offline folder of mobilenet_v1_XXX/ checkpoints (default: $POSENET_ONNX_CHECKPOINT_DIR, else download)",
    )
    parser.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    """Export the requested graphs, printing each file written."""
    from posenet_onnx.export import export_model

    models = VALID_MODELS if args.all else [(args.multiplier, args.output_stride)]
    out_dir = args.output_dir or default_model_dir()
    for number, (multiplier, output_stride) in enumerate(models, 1):
        print(
            f"[{number}/{len(models)}] exporting multiplier {multiplier:.2f}, "
            f"output stride {output_stride} ({args.precision})",
            file=sys.stderr,
            flush=True,
        )
        path = export_model(
            multiplier,
            output_stride,
            out_dir,
            checkpoint_dir=args.checkpoint_dir,
            precision=args.precision,
            calibration_dir=args.calibration_dir,
        )
        print(path, flush=True)
    return 0
