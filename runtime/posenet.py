"""`load()` and `PoseNet`: posenet 1.0.3's API on ONNX Runtime.

Same names, defaults and semantics as the original: height and width scaled independently to a valid
resolution, the image mirrored before inference when `flip_horizontal`, positions in original image pixels.
The estimate path reads like upstream's posenet_model.ts: resize, predict, decode, scale.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from posenet_onnx.contract import (
    DEFAULT_MULTIPLIER,
    DEFAULT_OUTPUT_STRIDE,
    DEFAULT_PRECISION,
    default_model_dir,
    validate_multiplier,
    validate_output_stride_for,
    validate_precision,
)
from posenet_onnx.decode import DecodedPoses, decode_network_outputs
from posenet_onnx.runtime.images import ImageLike, to_rgb_array, to_rgb_batch
from posenet_onnx.runtime.model_files import can_export, export_command, export_graph, graph_file
from posenet_onnx.runtime.network import InvalidGraphError, Network, SelfContainedGraphError, check_config, open_network
from posenet_onnx.runtime.pose import Pose
from posenet_onnx.runtime.providers import DEFAULT_DEVICE, requested_providers, resolve_providers, session_options
from posenet_onnx.runtime.resize import resize_bilinear, valid_resolution
from posenet_onnx.runtime.settings import EstimateSettings

if TYPE_CHECKING:
    from posenet_onnx.runtime.multi_pose_graph import MultiPoseGraph

class PoseNet:
    """A PoseNet model: one multiplier and precision, its graphs (one per output stride) opened on first use;
    or one graph file, whose metadata says its multiplier, output stride and precision."""

    def __init__(
        self,
        multiplier: float | str | os.PathLike = DEFAULT_MULTIPLIER,
        *,
        precision: str = DEFAULT_PRECISION,
        device: str = DEFAULT_DEVICE,
        providers: Sequence[str] | None = None,
        model_dir: str | os.PathLike | None = None,
        checkpoint_dir: str | os.PathLike | None = None,
        intra_op_threads: int | None = None,
        allow_spinning: bool = True,
    ) -> None:
        self._device = device
        requested_providers(device, providers)  # reject a bad device or provider list now, not at first use
        self._providers = list(providers) if providers is not None else None
        self._options = session_options(intra_op_threads, allow_spinning)  # checked now, shared by every graph
        self._networks: dict[int, Network] = {}
        self._lock = threading.Lock()
        self._resolved: list[str] | None = None
        if isinstance(multiplier, (str, os.PathLike)):
            self.model_file: Path | None = Path(multiplier)
            if not self.model_file.is_file():
                raise FileNotFoundError(
                    f"No model file {self.model_file}; give an exported .onnx graph, or a multiplier as a number "
                    "(0.50, 0.75, 1.00 or 1.01)."
                )
            network = self._open(self.model_file)
            config = network.config
            self.multiplier, self.precision, self.output_stride = config.multiplier, config.precision, config.output_stride
            self._networks[config.output_stride] = network
            self.model_dir = self.model_file.parent
            self.checkpoint_dir = None
        else:
            self.model_file = None
            self.multiplier = validate_multiplier(multiplier)
            self.precision = validate_precision(precision)
            self.output_stride = DEFAULT_OUTPUT_STRIDE
            if model_dir is not None and os.fspath(model_dir) == "":
                raise ValueError("model_dir is empty; give a folder, or None for the default (the per-user cache).")
            self.model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
            self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None

    def __repr__(self) -> str:
        where = f"model_file={str(self.model_file)!r}" if self.model_file else f"model_dir={str(self.model_dir)!r}"
        return f"PoseNet(multiplier={self.multiplier:.2f}, precision={self.precision!r}, {where}, device={self._device!r})"

    @property
    def providers(self) -> list[str]:
        """The execution providers the sessions really run on (RuntimeError for device="cuda" without CUDA)."""
        return self._real_providers()

    def network(self, output_stride: int | None = None) -> Network:
        """The graph session for `output_stride` (None: the model's own), opened on first use (found in the model
        folder, or exported there): for runtimes and tools that take the graph itself."""
        return self._network(self._stride(output_stride))

    def check(self, settings: EstimateSettings) -> int:
        """The output stride this model runs `settings` at; ValueError where it cannot (for callers that check
        before any work)."""
        return self._stride(settings.output_stride)

    def _stride(self, output_stride: int | None) -> int:
        """The output stride to run: the model's own for None, else one its multiplier (or graph file) has."""
        if output_stride is None:
            return self.output_stride
        stride = validate_output_stride_for(self.multiplier, output_stride)
        if self.model_file is not None and stride != self.output_stride:
            raise ValueError(f"{self.model_file} runs at output stride {self.output_stride} only; got {stride}.")
        return stride

    def estimate(self, images: Sequence[ImageLike] | np.ndarray, settings: EstimateSettings) -> list[list[Pose]]:
        """The poses of each image, in input order, as `settings` say: one pose per image in single-pose mode.

        One session call per distinct image size; the form the folder jobs, evaluation and video use.
        """
        return self._estimate(to_rgb_batch(images), settings)

    def estimate_single_pose(
        self,
        image: ImageLike,
        image_scale_factor: float = 0.5,
        flip_horizontal: bool = False,
        output_stride: int | None = None,
    ) -> Pose:
        """The single best pose in `image` (numpy H x W x 3 RGB, PIL image or file path), in image pixels.

        `output_stride` None means 16 (upstream's default), or the stride of a graph loaded from its file.
        """
        settings = EstimateSettings(False, image_scale_factor, flip_horizontal, output_stride)
        return self._estimate([to_rgb_array(image)], settings)[0][0]

    def estimate_multiple_poses(
        self,
        image: ImageLike,
        image_scale_factor: float = 0.5,
        flip_horizontal: bool = False,
        output_stride: int | None = None,
        max_pose_detections: int = 5,
        score_threshold: float = 0.5,
        nms_radius: float = 20,
        refinement: str = "v1",
    ) -> list[Pose]:
        """Up to `max_pose_detections` poses in `image`, in upstream's order (strongest root part first).

        `score_threshold` gates the root parts only; `nms_radius` is in network-input pixels. `refinement`
        "v1" is posenet 1.0.3's decoder (the default), "v2" posenet 2.x's.
        """
        settings = EstimateSettings(
            True, image_scale_factor, flip_horizontal, output_stride, max_pose_detections, score_threshold, nms_radius, refinement
        )
        return self._estimate([to_rgb_array(image)], settings)[0]

    def estimate_single_pose_batch(
        self,
        images: Sequence[ImageLike] | np.ndarray,
        image_scale_factor: float = 0.5,
        flip_horizontal: bool = False,
        output_stride: int | None = None,
    ) -> list[Pose]:
        """estimate_single_pose for many images: one session call per distinct image size, results in input order."""
        settings = EstimateSettings(False, image_scale_factor, flip_horizontal, output_stride)
        return [poses[0] for poses in self._estimate(to_rgb_batch(images), settings)]

    def estimate_multiple_poses_batch(
        self,
        images: Sequence[ImageLike] | np.ndarray,
        image_scale_factor: float = 0.5,
        flip_horizontal: bool = False,
        output_stride: int | None = None,
        max_pose_detections: int = 5,
        score_threshold: float = 0.5,
        nms_radius: float = 20,
        refinement: str = "v1",
    ) -> list[list[Pose]]:
        """estimate_multiple_poses for many images: one session call per distinct image size, results in input order."""
        settings = EstimateSettings(
            True, image_scale_factor, flip_horizontal, output_stride, max_pose_detections, score_threshold, nms_radius, refinement
        )
        return self._estimate(to_rgb_batch(images), settings)

    def _estimate(self, images: list[np.ndarray], settings: EstimateSettings) -> list[list[Pose]]:
        """Poses per image: same-size images share one session call."""
        network = self._network(self.check(settings))
        results: list[list[Pose]] = [[] for _ in images]
        for indices in _same_size_groups(images).values():
            group = [images[i] for i in indices]
            for i, poses in zip(indices, estimate_same_size(network, group, settings)):
                results[i] = poses
        return results

    def _network(self, output_stride: int) -> Network:
        """The stride's graph, opened once: found in the model folder (exported there if missing)."""
        with self._lock:
            if output_stride not in self._networks:
                args = (self.multiplier, output_stride, self.precision, self.model_dir, self.checkpoint_dir)
                path = graph_file(*args)
                try:
                    network = self._open(path)
                except InvalidGraphError as exc:
                    if not can_export(self.precision):
                        raise InvalidGraphError(
                            f"{exc}; re-export it with `{export_command(*args[:4])}`"
                        ) from None
                    network = self._open(export_graph(*args))  # a damaged file in the cache is replaced
                check_config(network.config, self.multiplier, output_stride, self.precision, path)
                self._networks[output_stride] = network
            return self._networks[output_stride]

    def _open(self, path: Path) -> Network:
        return open_network(path, self._real_providers(), self._options)

    def _real_providers(self) -> list[str]:
        if self._resolved is None:
            self._resolved = resolve_providers(self._device, self._providers)
        return self._resolved


def estimate_same_size(network: Network, images: list[np.ndarray], settings: EstimateSettings) -> list[list[Pose]]:
    """Same-size images through one graph: resize to the network input, predict, decode, scale to image pixels."""
    height, width = images[0].shape[:2]
    resized_height, resized_width = network_input_size(network, height, width, settings.image_scale_factor)
    batch = images[0][np.newaxis] if len(images) == 1 else np.stack(images)
    network_input = resize_bilinear(batch, resized_height, resized_width, settings.flip_horizontal)
    decoded: list[DecodedPoses] = []
    for chunk in _fixed_batches(network, network_input):
        decoded += decode_network_outputs(network.run(chunk), network.config.output_stride, settings.decoder_parameters)
    decoded = decoded[: len(images)]  # a padded last chunk's extra images
    parts = network.config.part_names
    return [_to_poses(poses, height / resized_height, width / resized_width, parts) for poses in decoded]


def network_input_size(network: Network, height: int, width: int, image_scale_factor: float) -> tuple[int, int]:
    """Upstream's valid resolution of the scaled image; a fixed-shape graph's own size (the image is resized
    to it whatever the scale factor)."""
    if network.config.input_size is not None:
        return network.config.input_size
    stride = network.config.output_stride
    return valid_resolution(image_scale_factor, height, stride), valid_resolution(image_scale_factor, width, stride)


def _fixed_batches(network: Network, network_input: np.ndarray) -> list[np.ndarray]:
    """The input as the graph takes it: whole, or in chunks of a fixed-batch graph's size (the last padded)."""
    size = network.config.batch
    if size is None or len(network_input) == size:
        return [network_input]
    chunks = []
    for start in range(0, len(network_input), size):
        chunk = network_input[start : start + size]
        if len(chunk) < size:
            chunk = np.concatenate([chunk, np.zeros((size - len(chunk), *chunk.shape[1:]), chunk.dtype)])
        chunks.append(chunk)
    return chunks


def load(
    multiplier: float | str | os.PathLike = DEFAULT_MULTIPLIER,
    *,
    precision: str = DEFAULT_PRECISION,
    device: str = DEFAULT_DEVICE,
    providers: Sequence[str] | None = None,
    model_dir: str | os.PathLike | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    intra_op_threads: int | None = None,
    allow_spinning: bool = True,
) -> PoseNet | MultiPoseGraph:
    """A PoseNet for `multiplier` (0.50, 0.75, 1.00 or 1.01), like upstream's `posenet.load`, or for one
    exported graph file (a path: its metadata says multiplier, output stride and precision; a multi-pose graph
    gives a MultiPoseGraph, which estimates multiple poses inside the graph).

    `precision` is "fp32" (default), "fp16" or "int8" (int8 graphs need calibration photos to export, so a
    missing one is an error naming the command). `model_dir` (default $POSENET_ONNX_MODEL_DIR, else the
    per-user cache) holds the exported graphs; a missing fp32/fp16 one is exported on first use when the export
    extra is installed, from `checkpoint_dir` (default $POSENET_ONNX_CHECKPOINT_DIR, else downloaded).
    `device` is "auto" (CUDA when it really works, else CPU), "cpu" or "cuda" (RuntimeError when CUDA is not
    usable); `providers` overrides it with an explicit onnxruntime provider list. `net.providers` tells what
    the sessions really run on. `intra_op_threads` (default: onnxruntime's choice, the physical cores) sets
    the threads of one inference; `allow_spinning=False` stops onnxruntime's idle threads from spinning
    between calls (better when other work shares the CPU; slower for back-to-back single images).
    """
    try:
        return PoseNet(
            multiplier,
            precision=precision,
            device=device,
            providers=providers,
            model_dir=model_dir,
            checkpoint_dir=checkpoint_dir,
            intra_op_threads=intra_op_threads,
            allow_spinning=allow_spinning,
        )
    except SelfContainedGraphError as exc:
        if exc.decoder != "multi":
            raise
    from posenet_onnx.runtime.multi_pose_graph import MultiPoseGraph

    return MultiPoseGraph(
        multiplier, device=device, providers=providers, intra_op_threads=intra_op_threads, allow_spinning=allow_spinning
    )


def _same_size_groups(images: list[np.ndarray]) -> dict[tuple[int, int], list[int]]:
    """Image indices grouped by (height, width), in first-seen order."""
    groups: dict[tuple[int, int], list[int]] = {}
    for i, image in enumerate(images):
        groups.setdefault(image.shape[:2], []).append(i)
    return groups


def _to_poses(decoded: DecodedPoses, scale_y: float, scale_x: float, part_names: tuple[str, ...]) -> list[Pose]:
    """Decoded poses in image pixels: x * (width / resized width), y * (height / resized height)."""
    positions = decoded.keypoints * np.array([scale_x, scale_y])
    return list(map(Pose.from_arrays, decoded.scores.tolist(), decoded.keypoint_scores, positions, repeat(part_names)))
