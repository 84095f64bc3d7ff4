"""The typed Python layer over the Numba kernels: validate parameters and shapes, convert inputs once to
C-contiguous float32, allocate the outputs and wrap them in DecodedPoses.
"""

from __future__ import annotations

import math
import sys
import threading
from collections.abc import Sequence
from numbers import Rational, Real

import numpy as np

from posenet_onnx.contract import OUTPUT_CHANNELS, OUTPUT_NAMES, OUTPUT_STRIDES, SINGLE_POSE_OUTPUTS, validate_output_stride
from posenet_onnx.keypoints import NUM_KEYPOINTS, POSE_CHAIN_IDS

from .decode_pose import REFINEMENT_V1, REFINEMENT_V2
from .multi_pose import decode_multiple_poses_batch_into, decode_multiple_poses_image
from .result import DecodedPoses
from .single_pose import decode_single_pose_batch_into, decode_single_pose_into

REFINEMENTS: dict[str, int] = {"v1": REFINEMENT_V1, "v2": REFINEMENT_V2}

_CHANNELS = OUTPUT_CHANNELS
_SINGLE = SINGLE_POSE_OUTPUTS
_MULTI = OUTPUT_NAMES
_SINGLE_CHANNELS = tuple(_CHANNELS[name] for name in _SINGLE)
_MULTI_CHANNELS = tuple(_CHANNELS[name] for name in _MULTI)

# One parallel (prange) launch at a time: Numba's fallback "workqueue" threading layer aborts the process
# on concurrent launches from several threads, and each launch already uses every core.
_PARALLEL_LAUNCH = threading.Lock()

# Parameter types checked by value alone (bool, a subclass of int, is not one of them).
_PLAIN_NUMBERS = frozenset((int, float))
_FLOAT32 = np.dtype(np.float32)  # the native-order dtype instance, compared by identity on the fast path
_NDARRAY = np.ndarray  # one global lookup instead of two on the runtime's path
# The kernels count poses in int64; no image can hold more candidates than that, so larger counts mean the same.
_MAX_POSES = int(np.iinfo(np.int64).max)
_FLOAT_MAX = sys.float_info.max


def _as_tensor(name: str, array: np.ndarray, ndim: int) -> np.ndarray:
    """``array`` as a C-contiguous float32 array (no copy if it is one) after checking its rank, channels
    and grid size."""
    if not (type(array) is np.ndarray and array.dtype is _FLOAT32 and array.flags.c_contiguous):
        array = np.asarray(array)
        if array.dtype.kind not in "fiu":
            raise ValueError(f"{name} must hold real numbers; got dtype {array.dtype}.")
        array = np.ascontiguousarray(array, dtype=np.float32)
    shape = array.shape
    if len(shape) != ndim:
        layout = "H' x W' x C" if ndim == 3 else "N x H' x W' x C"
        raise ValueError(f"{name} must be a {ndim}-D array ({layout}); got shape {shape}.")
    if shape[-1] != _CHANNELS[name]:
        raise ValueError(f"{name} must have {_CHANNELS[name]} channels in its last axis; got shape {shape}.")
    if shape[-3] < 1 or shape[-2] < 1:
        raise ValueError(f"{name} must have a grid of at least 1 x 1 cells; got shape {shape}.")
    return array


def _tensors(ndim: int, names: tuple[str, ...], arrays: tuple[np.ndarray, ...]) -> list[np.ndarray]:
    """Convert the named outputs and check they share their leading (N,) H', W' axes."""
    tensors = list(map(_as_tensor, names, arrays, (ndim,) * len(names)))
    leading = tensors[0].shape[:-1]
    for tensor in tensors:
        if tensor.shape[:-1] != leading:
            shapes = ", ".join(f"{n} {t.shape}" for n, t in zip(names, tensors))
            axes = "grid" if ndim == 3 else "batch and grid"
            raise ValueError(f"The network outputs must share their {axes} axes; got {shapes}.")
    return tensors


def validate_multi_pose_parameters(
    max_pose_detections: int, score_threshold: float, nms_radius: float, refinement: str = "v1"
) -> tuple[int, float, float, int]:
    """Check the multi-pose parameters (ValueError naming the bad one); return them as the kernels take them.

    Callers may check before running the network; the exact-type fast paths keep a second check cheap. Every
    valid value works: counts beyond what any image can hold mean the same as that count (int64's maximum),
    radii beyond float64's range are infinite.
    """
    if type(max_pose_detections) is not int or max_pose_detections < 1:
        max_pose_detections = _checked_count(max_pose_detections)
    if type(score_threshold) not in _PLAIN_NUMBERS or not 0.0 <= score_threshold <= 1.0:
        score_threshold = _checked_threshold(score_threshold)
    if type(nms_radius) not in _PLAIN_NUMBERS or not nms_radius > 0.0:
        nms_radius = _checked_radius(nms_radius)
    mode = REFINEMENTS.get(refinement) if isinstance(refinement, str) else None
    if mode is None:
        raise ValueError(f"refinement must be 'v1' (posenet 1.0.3) or 'v2' (posenet 2.x); got {refinement!r}.")
    if max_pose_detections > _MAX_POSES:
        max_pose_detections = _MAX_POSES
    return max_pose_detections, float(score_threshold), _as_float(nms_radius), mode


def _as_float(value: Real) -> float:
    """``value`` (a real number > 0) as a float: infinity when it is beyond float64's range (e.g. 10**400).

    Only exact numbers (int, Fraction) can lie beyond it; floats of any width convert as they are.
    """
    kind = type(value)
    if kind is float:
        return value
    if kind is not int and not isinstance(value, Rational):
        return float(value)
    return float(value) if value <= _FLOAT_MAX else math.inf


def _checked_count(max_pose_detections: object) -> int:
    """The general check of max_pose_detections: any integer type but bool, >= 1."""
    if isinstance(max_pose_detections, bool) or not isinstance(max_pose_detections, (int, np.integer)) or max_pose_detections < 1:
        raise ValueError(f"max_pose_detections must be an integer >= 1; got {max_pose_detections!r}.")
    return int(max_pose_detections)


def _checked_threshold(score_threshold: object) -> float:
    """The general check of score_threshold: any real number type but bool, in [0, 1]."""
    if isinstance(score_threshold, bool) or not isinstance(score_threshold, Real) or not 0.0 <= score_threshold <= 1.0:
        raise ValueError(f"score_threshold must be a number in [0, 1]; got {score_threshold!r}.")
    return float(score_threshold)


def _checked_radius(nms_radius: object) -> Real:
    """The general check of nms_radius: any real number type but bool, > 0."""
    if isinstance(nms_radius, bool) or not isinstance(nms_radius, Real) or not nms_radius > 0.0:
        raise ValueError(f"nms_radius must be a number > 0 (model-input pixels); got {nms_radius!r}.")
    return nms_radius


def decode_single_pose(heatmap_scores: np.ndarray, offsets: np.ndarray, output_stride: int) -> DecodedPoses:
    """The single pose in one image's outputs (H' x W' x 17 sigmoid scores, H' x W' x 34 offsets): P == 1."""
    output_stride = validate_output_stride(output_stride)
    scores, offsets = _tensors(3, _SINGLE, (heatmap_scores, offsets))
    keypoints = np.empty((1, NUM_KEYPOINTS, 2))
    keypoint_scores = np.empty((1, NUM_KEYPOINTS))
    score = decode_single_pose_into(scores, offsets, output_stride, keypoints[0], keypoint_scores[0])
    return DecodedPoses(np.array([score]), keypoint_scores, keypoints)


def decode_single_pose_batch(heatmap_scores: np.ndarray, offsets: np.ndarray, output_stride: int) -> list[DecodedPoses]:
    """decode_single_pose for N images (N x H' x W' x C arrays), decoded in parallel."""
    output_stride = validate_output_stride(output_stride)
    scores, offsets = _tensors(4, _SINGLE, (heatmap_scores, offsets))
    return _single_pose_batch(scores, offsets, output_stride)


def _single_pose_batch(scores: np.ndarray, offsets: np.ndarray, output_stride: int) -> list[DecodedPoses]:
    """Allocate the outputs, run the kernel (the serial one for one image) and wrap the results."""
    count = scores.shape[0]
    keypoints = np.empty((count, 1, NUM_KEYPOINTS, 2))
    keypoint_scores = np.empty((count, 1, NUM_KEYPOINTS))
    pose_scores = np.empty((count, 1))
    if count == 1:  # one image: the serial kernel, without waking the parallel worker threads
        pose_scores[0, 0] = decode_single_pose_into(scores[0], offsets[0], output_stride, keypoints[0, 0], keypoint_scores[0, 0])
    else:
        with _PARALLEL_LAUNCH:
            decode_single_pose_batch_into(scores, offsets, output_stride, keypoints[:, 0], keypoint_scores[:, 0], pose_scores[:, 0])
    return [DecodedPoses(pose_scores[n], keypoint_scores[n], keypoints[n]) for n in range(count)]


def decode_multiple_poses(
    heatmap_scores: np.ndarray,
    offsets: np.ndarray,
    displacement_fwd: np.ndarray,
    displacement_bwd: np.ndarray,
    output_stride: int,
    max_pose_detections: int = 5,
    score_threshold: float = 0.5,
    nms_radius: float = 20,
    refinement: str = "v1",
) -> DecodedPoses:
    """Up to ``max_pose_detections`` poses in one image's four outputs (H' x W' x 17 / 34 / 32 / 32), best first.

    ``score_threshold`` gates root parts only; ``nms_radius`` is in model-input pixels. ``refinement``
    "v1" is posenet 1.0.3's decoder, "v2" posenet 2.x's (two offset-refinement steps).
    """
    output_stride = validate_output_stride(output_stride)
    max_poses, threshold, radius, mode = validate_multi_pose_parameters(
        max_pose_detections, score_threshold, nms_radius, refinement
    )
    tensors = _tensors(3, _MULTI, (heatmap_scores, offsets, displacement_fwd, displacement_bwd))
    return DecodedPoses(*decode_multiple_poses_image(*tensors, output_stride, max_poses, threshold, radius, mode))


def decode_multiple_poses_batch(
    heatmap_scores: np.ndarray,
    offsets: np.ndarray,
    displacement_fwd: np.ndarray,
    displacement_bwd: np.ndarray,
    output_stride: int,
    max_pose_detections: int = 5,
    score_threshold: float = 0.5,
    nms_radius: float = 20,
    refinement: str = "v1",
) -> list[DecodedPoses]:
    """decode_multiple_poses for N images (N x H' x W' x C arrays), decoded in parallel."""
    output_stride = validate_output_stride(output_stride)
    max_poses, threshold, radius, mode = validate_multi_pose_parameters(
        max_pose_detections, score_threshold, nms_radius, refinement
    )
    scores, offsets, fwd, bwd = _tensors(4, _MULTI, (heatmap_scores, offsets, displacement_fwd, displacement_bwd))
    return _multiple_poses_batch(scores, offsets, fwd, bwd, output_stride, max_poses, threshold, radius, mode)


def _multiple_poses_batch(
    scores: np.ndarray,
    offsets: np.ndarray,
    fwd: np.ndarray,
    bwd: np.ndarray,
    output_stride: int,
    max_poses: int,
    threshold: float,
    radius: float,
    mode: int,
) -> list[DecodedPoses]:
    """Run the kernel (the serial one-image kernel for one image) and wrap the results.

    A batch gets room for min(max_poses, H' * W' * 17) poses per image, the most candidates an image can
    have; np.empty leaves the pages of poses that are not found untouched.
    """
    count = scores.shape[0]
    if count == 1:  # one image: the serial kernel, without waking the parallel worker threads
        poses = decode_multiple_poses_image(
            scores, offsets, fwd, bwd, output_stride, max_poses, threshold, radius, mode
        )
        return [DecodedPoses(*poses)]
    capacity = min(max_poses, math.prod(scores.shape[1:]))
    keypoints = np.empty((count, capacity, NUM_KEYPOINTS, 2))
    keypoint_scores = np.empty((count, capacity, NUM_KEYPOINTS))
    pose_scores = np.empty((count, capacity))
    counts = np.empty(count, dtype=np.int64)
    with _PARALLEL_LAUNCH:
        decode_multiple_poses_batch_into(
            scores, offsets, fwd, bwd, POSE_CHAIN_IDS, output_stride, threshold, radius, mode,
            keypoints, keypoint_scores, pose_scores, counts,
        )
    return [
        DecodedPoses(pose_scores[n, : counts[n]], keypoint_scores[n, : counts[n]], keypoints[n, : counts[n]])
        for n in range(count)
    ]


def decode_network_outputs(
    outputs: Sequence[np.ndarray], output_stride: int, multi_pose: tuple[int, float, float, int] | None = None
) -> list[DecodedPoses]:
    """Decode a batch of a graph's outputs, in OUTPUT_NAMES order (N x H' x W' x C each): the runtime's hot path.

    ``multi_pose`` is what validate_multi_pose_parameters returned (checked once, before the network ran);
    None selects single-pose decoding. Outputs as onnxruntime returns them (C-contiguous float32 with their
    channels and one grid) pass one cheap check and go to the kernels as they are; anything else gets the
    public functions' conversion and checks.
    """
    if output_stride not in OUTPUT_STRIDES:
        output_stride = validate_output_stride(output_stride)
    names, channels = (_SINGLE, _SINGLE_CHANNELS) if multi_pose is None else (_MULTI, _MULTI_CHANNELS)
    tensors = outputs[: len(names)]
    if not _is_ready_batch(tensors, channels):
        tensors = _tensors(4, names, tuple(tensors))
    if multi_pose is None:
        return _single_pose_batch(*tensors, output_stride)
    return _multiple_poses_batch(*tensors, output_stride, *multi_pose)


def _is_ready_batch(arrays: Sequence[np.ndarray], channels: tuple[int, ...]) -> bool:
    """True when the arrays are C-contiguous float32 N x H' x W' x C tensors with these channels and one shared,
    non-empty grid: the kernels can take them as they are."""
    if len(arrays) != len(channels):
        return False
    first = arrays[0]
    if type(first) is not _NDARRAY or first.ndim != 4:
        return False
    count, height, width, _ = first.shape
    if height < 1 or width < 1:
        return False
    for array, depth in zip(arrays, channels):
        if (
            type(array) is not _NDARRAY
            or array.dtype is not _FLOAT32
            or array.shape != (count, height, width, depth)
            or not array.flags.c_contiguous
        ):
            return False
    return True
