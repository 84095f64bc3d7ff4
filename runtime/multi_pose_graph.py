"""A self-contained multi-pose graph (`export --decoder multi`) serving the PoseNet API.

`posenet_onnx.load("..._multi.onnx")` returns a MultiPoseGraph: `estimate_multiple_poses`, its batch form and
`estimate` take PoseNet's parameters (an EstimateSettings) and run resize, network and decoding in one session
call; single-pose estimation is refused (the graph does not compute it). The graph takes uint8 pixels and float32 parameters:
the score threshold goes in as the smallest float32 not below it, so a float32 heatmap score passes it exactly
when it passes the threshold itself, as upstream compares them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from posenet_onnx.contract import (
    INPUT_NAME,
    MAX_POSES_NAME,
    META_DECODER,
    MULTI_GRAPH_OUTPUTS,
    NMS_RADIUS_NAME,
    SCALE_FACTOR_NAME,
    SCORE_THRESHOLD_NAME,
    validate_output_stride_for,
)
from posenet_onnx.decode.decode_pose import REFINEMENT_V1
from posenet_onnx.keypoints import NUM_KEYPOINTS
from posenet_onnx.runtime.images import Size, decode_image
from posenet_onnx.runtime.network import GraphConfig, Network, graph_config
from posenet_onnx.runtime.pose import Pose
from posenet_onnx.runtime.posenet import PoseNet
from posenet_onnx.runtime.providers import DEFAULT_DEVICE, create_session, requested_providers, session_options
from posenet_onnx.runtime.resize import valid_resolution
from posenet_onnx.runtime.settings import EstimateSettings


class MultiPoseGraph:
    """One multi-pose graph file on onnxruntime, with PoseNet's estimate API (multi-pose settings only)."""

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        device: str = DEFAULT_DEVICE,
        providers: Sequence[str] | None = None,
        intra_op_threads: int | None = None,
        allow_spinning: bool = True,
    ) -> None:
        requested_providers(device, providers)
        self.model_file = Path(path)
        self.session = create_session(self.model_file, device, providers, session_options(intra_op_threads, allow_spinning))
        metadata = self.session.get_modelmeta().custom_metadata_map
        if metadata.get(META_DECODER) != "multi":
            raise ValueError(f"{self.model_file} is not a multi-pose graph (export it with --decoder multi).")
        self.config: GraphConfig = graph_config(metadata, self.model_file)
        self.multiplier, self.output_stride = self.config.multiplier, self.config.output_stride
        self.precision = self.config.precision
        self.model_dir, self.checkpoint_dir = self.model_file.parent, None
        self._inputs = {value.name for value in self.session.get_inputs()}

    def __repr__(self) -> str:
        return f"MultiPoseGraph(model_file={str(self.model_file)!r}, providers={self.providers!r})"

    @property
    def providers(self) -> list[str]:
        """The execution providers the session really runs on."""
        return self.session.get_providers()

    def network(self, output_stride: int | None = None) -> Network:
        """Refused: the graph has no plain network outputs to hand out."""
        raise ValueError(f"{self.model_file} is a multi-pose graph: it has no plain network graph (its four outputs).")

    def check(self, settings: EstimateSettings) -> int:
        """The output stride this graph runs `settings` at; ValueError where it cannot (single-pose estimation, a
        stride or refinement the graph lacks)."""
        if not settings.multi_pose:
            raise self._single_pose_error()
        if settings.output_stride is not None:
            stride = validate_output_stride_for(self.multiplier, settings.output_stride)
            if stride != self.output_stride:
                raise ValueError(f"{self.model_file} runs at output stride {self.output_stride} only; got {stride}.")
        if settings.flip_test:
            raise ValueError(f"{self.model_file} runs the network once per image; the flip test needs the plain graph.")
        if settings.decoder_parameters[3] != REFINEMENT_V1:
            raise ValueError(f"{self.model_file} decodes with posenet 1.0.3's refinement only; use refinement='v1'.")
        return self.output_stride

    # PoseNet's estimate methods, as they are: each builds its EstimateSettings and calls self._estimate, which
    # here runs the graph (and refuses single-pose settings in check).
    estimate = PoseNet.estimate
    estimate_single_pose = PoseNet.estimate_single_pose
    estimate_multiple_poses = PoseNet.estimate_multiple_poses
    estimate_single_pose_batch = PoseNet.estimate_single_pose_batch
    estimate_multiple_poses_batch = PoseNet.estimate_multiple_poses_batch

    def read_image(self, path: str | os.PathLike, settings: EstimateSettings) -> tuple[np.ndarray, Size]:
        """An image file's whole pixels and size: the graph resizes whole images itself."""
        if settings.fast_decode:
            raise ValueError(f"{self.model_file} resizes whole images itself; fast decoding is not available with it.")
        return decode_image(path, None)

    def _single_pose_error(self) -> ValueError:
        return ValueError(
            f"{self.model_file} is a multi-pose graph: it estimates multiple poses only; for single poses load the "
            "plain graph (posenet_onnx.load(multiplier)) or run a single-pose graph (export --decoder single)."
        )

    def _estimate(
        self, images: list[np.ndarray], settings: EstimateSettings, sizes: Sequence[Size | None] | None = None
    ) -> list[list[Pose]]:
        """Poses per image: one graph call per group of same-size images. The graph sizes its network input from
        the image it is given, so images read at a reduced size (`sizes`) cannot be mapped back and are refused."""
        self.check(settings)
        if sizes is not None and any(size is not None and tuple(size) != image.shape[:2] for image, size in zip(images, sizes)):
            raise ValueError(f"{self.model_file} resizes whole images itself; fast decoding is not available with it.")
        parameters = graph_parameters(settings)
        groups: dict[tuple[int, int], list[int]] = {}
        for index, image in enumerate(images):
            groups.setdefault(image.shape[:2], []).append(index)
        results: list[list[Pose]] = [[] for _ in images]
        for (height, width), indices in groups.items():
            batch = np.stack([_pixels(images[i], settings.flip_horizontal) for i in indices])
            poses = self._run(batch, settings.image_scale_factor, dict(parameters), height, width)
            for i, image_poses in zip(indices, poses):
                results[i] = image_poses
        return results

    def _run(self, batch: np.ndarray, scale: float, parameters: dict[str, np.ndarray], height: int, width: int) -> list[list[Pose]]:
        """The graph's poses for same-size uint8 images, in chunks of a fixed-batch graph's size."""
        size = self.config.input_size
        if size is not None and (height, width) != size:
            raise ValueError(
                f"{self.model_file} takes {size[0]}x{size[1]} images only (a fixed-shape graph); got {height}x{width}."
            )
        stride = self.output_stride
        grid = [(valid_resolution(scale, side, stride) - 1) // stride + 1 for side in (size or (height, width))]
        # Every pose has its own root candidate: no image yields more than its heatmap cells' count.
        cap = grid[0] * grid[1] * NUM_KEYPOINTS
        parameters[MAX_POSES_NAME] = np.array(min(int(parameters[MAX_POSES_NAME]), cap), np.int64)
        if SCALE_FACTOR_NAME in self._inputs:
            parameters[SCALE_FACTOR_NAME] = np.array(scale, np.float32)
        chunk = self.config.batch or len(batch)
        poses: list[list[Pose]] = []
        for start in range(0, len(batch), chunk):
            images = batch[start : start + chunk]
            count = len(images)
            if count < chunk:  # a fixed-batch graph's last chunk, padded with blank images
                images = np.concatenate([images, np.zeros((chunk - count, *images.shape[1:]), np.uint8)])
            outputs = self.session.run(list(MULTI_GRAPH_OUTPUTS), {INPUT_NAME: images, **parameters})
            poses += [_poses(outputs, n, self.config.part_names) for n in range(count)]
        return poses


def graph_parameters(settings: EstimateSettings) -> dict[str, np.ndarray]:
    """The graph's decoding inputs for multi-pose `settings`. The threshold goes in as the smallest float32 not
    below it, so that a float32 score passes the graph's float32 comparison exactly when it is >= the double."""
    max_poses, threshold, radius, _ = settings.decoder_parameters
    smallest = np.float32(threshold)
    if float(smallest) < threshold:  # compared as doubles (NumPy would compare a float32 with a float in float32)
        smallest = np.nextafter(smallest, np.float32(np.inf))
    return {
        MAX_POSES_NAME: np.array(max_poses, np.int64),
        SCORE_THRESHOLD_NAME: np.array(smallest, np.float32),
        NMS_RADIUS_NAME: np.array(radius, np.float32),
    }


def _pixels(image: np.ndarray, flip_horizontal: bool) -> np.ndarray:
    """An RGB array as the graph's uint8 pixels, mirrored when asked (upstream mirrors before inference)."""
    if image.dtype != np.uint8:
        if not np.array_equal(image, np.round(image)):
            raise ValueError("A multi-pose graph takes whole pixel values (uint8); this image has fractional ones.")
        image = image.astype(np.uint8)
    return image[:, ::-1] if flip_horizontal else image


def _poses(outputs: list[np.ndarray], n: int, part_names: tuple[str, ...]) -> list[Pose]:
    """Image n's poses from the graph's outputs (float64, as the Python decoder's)."""
    keypoints, keypoint_scores, scores, num_poses = outputs
    count = int(num_poses[n])
    positions = keypoints[n, :count].astype(np.float64)
    parts = keypoint_scores[n, :count].astype(np.float64)
    return [Pose.from_arrays(float(scores[n, p]), parts[p], positions[p], part_names) for p in range(count)]
