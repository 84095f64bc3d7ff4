"""The PoseNet and the estimate settings that the model options (`cli._model_options`) describe."""

from __future__ import annotations

import argparse
import os
from typing import Any

from posenet_onnx.runtime.posenet import PoseNet, load
from posenet_onnx.runtime.settings import PRESETS, EstimateSettings


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


def load_for_workers(args: argparse.Namespace, workers: int | None = None) -> tuple[PoseNet, int]:
    """The model for a job of several threads, and how many threads estimate: on the CPU, `workers` (default
    one per core), each on a network of one thread, so that every core works on whole images and none waits
    for another inside a network call; on a GPU, one, feeding onnxruntime's own threads. No idle spinning
    either way: the job's other threads (reading, drawing, encoding) share the cores."""
    from posenet_onnx.runtime.batch.jobs import MAX_READ_THREADS
    from posenet_onnx.runtime.providers import CPU, resolve_providers

    if resolve_providers(args.device) == [CPU]:
        cores = min(os.cpu_count() or 1, MAX_READ_THREADS)
        return load_from_args(args, allow_spinning=False, intra_op_threads=1), workers or cores
    return load_from_args(args, allow_spinning=False), 1


def preset_value(args: argparse.Namespace, option: str, field: str) -> Any:
    """An option's value: the one given, else the --preset's value of `field` (a --model file keeps its own
    output stride)."""
    given = getattr(args, option)
    if given is not None:
        return given
    if field == "output_stride" and args.model is not None:
        return None
    return PRESETS[args.preset][field]


def settings_from_args(args: argparse.Namespace, **fields: Any) -> EstimateSettings:
    """The estimate settings the model options give (the --preset's where an option is not given); `fields`
    set the others (`multi_pose`) or replace one.

    Checked here, once, before any image is read (ValueError naming the bad value).
    """
    options = {
        "image_scale_factor": preset_value(args, "scale", "image_scale_factor"),
        "flip_horizontal": args.flip,
        "output_stride": preset_value(args, "output_stride", "output_stride"),
        "max_pose_detections": args.max_poses,
        "score_threshold": args.score_threshold,
        "nms_radius": args.nms_radius,
        "refinement": preset_value(args, "refinement", "refinement"),
        "flip_test": preset_value(args, "flip_test", "flip_test"),
    }
    return EstimateSettings(**{**options, **fields})
