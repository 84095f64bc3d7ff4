"""Decoder: Numba-jitted single-pose and multi-pose decoding, identical to the original JavaScript package."""

from .api import (
    REFINEMENTS,
    decode_multiple_poses,
    decode_multiple_poses_batch,
    decode_network_outputs,
    decode_single_pose,
    decode_single_pose_batch,
    validate_multi_pose_parameters,
)
from .result import DecodedPoses

__all__ = [
    "REFINEMENTS",
    "DecodedPoses",
    "decode_multiple_poses",
    "decode_multiple_poses_batch",
    "decode_network_outputs",
    "decode_single_pose",
    "decode_single_pose_batch",
    "validate_multi_pose_parameters",
]
