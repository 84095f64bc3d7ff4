"""The PoseNet and the estimate function that the model options (`cli._model_options`) describe."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from posenet_onnx.runtime.images import ImageLike
from posenet_onnx.runtime.pose import Pose
from posenet_onnx.runtime.posenet import PoseNet, load


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


def estimator_from_args(net: PoseNet, args: argparse.Namespace, *, multi: bool, flip: bool) -> Callable[[ImageLike], list[Pose]]:
    """`estimate(image) -> poses` with the model options' settings: one pose, or up to --max-poses with `multi`.

    The parameters are checked here, once, before any image is read.
    """
    stride = args.output_stride
    net.check_parameters(args.scale, stride, (args.max_poses, args.score_threshold, args.nms_radius) if multi else None)
    if multi:
        return lambda image: net.estimate_multiple_poses(
            image, args.scale, flip, stride, args.max_poses, args.score_threshold, args.nms_radius
        )
    return lambda image: [net.estimate_single_pose(image, args.scale, flip, stride)]
