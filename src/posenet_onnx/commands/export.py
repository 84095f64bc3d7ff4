"""`posenet-onnx export`: write one graph, or all ten, as ONNX files."""

from __future__ import annotations

import argparse
import sys

from posenet_onnx.contract import VALID_MODELS, default_model_dir, model_filename, validate_graph_options, validate_model
from posenet_onnx.outputs import OutputPlan, check_writable_folder


def run(args: argparse.Namespace, kept: list[str]) -> int:
    """Export the requested graphs, printing each file written; the output folder is checked first."""
    models = VALID_MODELS if args.all else [validate_model(args.multiplier, args.output_stride)]
    for _, output_stride in models:  # a bad size or batch fails before the first slow export
        validate_graph_options(
            output_stride, args.precision, args.decoder, args.input_size, args.batch, args.file_format, args.opset,
            args.resize,
        )
    if args.precision == "int8":
        from posenet_onnx.export.precision import check_calibration_photos

        check_calibration_photos(args.calibration_dir)  # a missing or empty folder, or a bad photo, fails first
    out_dir = check_writable_folder(args.output_dir or default_model_dir(), "output folder")
    plan = OutputPlan()
    for multiplier, output_stride in models:  # a folder, link to one, pipe or device where a graph goes fails now
        name = model_filename(
            multiplier, output_stride, args.precision, decoder=args.decoder, input_size=args.input_size,
            batch=args.batch, file_format=args.file_format, resize=args.resize,
        )
        plan.add(out_dir / name, "graph file", regular_only=True)
    from posenet_onnx.export import export_model

    for number, (multiplier, output_stride) in enumerate(models, 1):
        print(
            f"[{number}/{len(models)}] exporting multiplier {multiplier:.2f}, output stride {output_stride} ({args.precision})",
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
            decoder=args.decoder,
            input_size=args.input_size,
            batch=args.batch,
            opset=args.opset,
            file_format=args.file_format,
            resize=args.resize,
        )
        print(path, flush=True)
    return 0
