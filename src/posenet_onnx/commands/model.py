"""The PoseNet and the estimate settings that the model options (`cli._model_options`) describe."""

from __future__ import annotations

import argparse
from typing import Any

from posenet_onnx.runtime.posenet import PoseNet, load
from posenet_onnx.runtime.settings import EstimateSettings


def load_from_args(args: argparse.Namespace, **extra: Any) -> PoseNet:
    """The PoseNet the model options name (a --model file, or multiplier and precision); `extra` goes to `load`."""
    return load(
        args.model if args.model is not None else args.multiplier,
        precision=args.precision,
        device=args.device,
        model_dir=args.model_dir,
        checkpoint_dir=args.checkpoint_dir,
        **extra,
    )


def settings_from_args(args: argparse.Namespace, **fields: Any) -> EstimateSettings:
    """The estimate settings the model options give; `fields` set the others (`multi_pose`) or replace one.

    Checked here, once, before any image is read (ValueError naming the bad value).
    """
    options = {
        "image_scale_factor": args.scale,
        "flip_horizontal": args.flip,
        "output_stride": args.output_stride,
        "max_pose_detections": args.max_poses,
        "score_threshold": args.score_threshold,
        "nms_radius": args.nms_radius,
    }
    return EstimateSettings(**{**options, **fields})
