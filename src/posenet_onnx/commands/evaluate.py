"""`posenet-onnx evaluate`: COCO keypoint accuracy (OKS AP) of one configuration or a sweep, as one table."""

from __future__ import annotations

import argparse
from typing import Any

from posenet_onnx.outputs import OutputPlan, write_bytes


def run(args: argparse.Namespace, kept: list[str]) -> int:
    """Check the outputs, evaluate every configuration, print the table; write the rows and the detections."""
    from tqdm import tqdm

    from posenet_onnx.commands.model import load_from_args
    from posenet_onnx.runtime.evaluation import coco

    configurations = configurations_from_args(args)
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


def configurations_from_args(args: argparse.Namespace) -> list[Any]:
    """The sweep's configurations: every combination of the sweep options' values; an option not given is the
    --preset's one value, and a bare --flip-test is on."""
    from posenet_onnx.commands.model import preset_value, settings_from_args
    from posenet_onnx.contract import DEFAULT_OUTPUT_STRIDE
    from posenet_onnx.runtime.evaluation import coco

    axis = lambda option, field: _listed(preset_value(args, option, field))  # noqa: E731
    scales, strides, refinements = axis("scale", "image_scale_factor"), axis("output_stride", "output_stride"), axis("refinement", "refinement")
    flip_tests = [True] if args.flip_test == [] else axis("flip_test", "flip_test")
    if strides == [None] and args.model is None:  # the default stride is named in the table
        strides = [DEFAULT_OUTPUT_STRIDE]
    base = settings_from_args(
        args, multi_pose=True, image_scale_factor=scales[0], output_stride=strides[0], refinement=refinements[0],
        flip_test=flip_tests[0], fast_decode=args.fast_decode,
    )
    return coco.sweep(
        base, scales=scales, output_strides=strides, precisions=args.precision,
        modes=args.mode, refinements=refinements, flip_tests=flip_tests,
    )


def _listed(value: Any) -> list[Any]:
    """A sweep option's values: its list, or one preset value as a list of one."""
    return list(value) if isinstance(value, list) else [value]
