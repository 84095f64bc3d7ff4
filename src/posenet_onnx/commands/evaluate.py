"""`posenet-onnx evaluate`: COCO keypoint accuracy (OKS AP) of one configuration or a sweep, as one table."""

from __future__ import annotations

import argparse
from typing import Any

from posenet_onnx.outputs import OutputPlan, write_bytes


def run(args: argparse.Namespace, kept: list[str]) -> int:
    """Check the outputs, evaluate every configuration, print the table; write the rows and the detections."""
    from tqdm import tqdm

    from posenet_onnx.commands.model import load_from_args, settings_from_args
    from posenet_onnx.runtime.evaluation import coco
    from posenet_onnx.contract import DEFAULT_OUTPUT_STRIDE

    # No --output-stride: the default, or a --model file's own.
    strides = [DEFAULT_OUTPUT_STRIDE] if args.output_stride == [None] and args.model is None else args.output_stride
    base = settings_from_args(args, multi_pose=True, image_scale_factor=args.scale[0], output_stride=strides[0])
    configurations = coco.sweep(
        base, scales=args.scale, output_strides=strides, precisions=args.precision,
        modes=args.mode, refinements=args.refinement,
    )
    ground_truth = coco.load_annotations(args.annotations)
    images = coco.image_paths(ground_truth, args.images)
    plan = OutputPlan([args.annotations, *images.values(), *([args.model] if args.model else [])])
    rows = None if args.json is None else plan.add(args.json, "JSON output")
    detections = None
    if args.detections is not None:
        names = [args.detections] if len(configurations) == 1 else coco.tagged_names(args.detections, configurations)
        detections = [plan.add(name, "detections file") for name in names]

    def net(precision: str) -> Any:
        return load_from_args(argparse.Namespace(**{**vars(args), "precision": precision}))

    evaluations = coco.evaluate(
        ground_truth, args.images, net, configurations,
        progress=lambda items, total: tqdm(items, total=total, unit="img", desc="evaluate", disable=None),
    )
    print(coco.format_table(evaluations))
    if rows is not None:
        write_bytes(rows, coco.rows_json(evaluations))
    for output, result in zip(detections or [], evaluations):
        write_bytes(output, coco.detections_json(result.detections))
    return 0
