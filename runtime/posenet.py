"""`load()` and `PoseNet`: posenet 1.0.3's API on ONNX Runtime.

Same names, defaults and semantics as the original: height and width scaled independently to a valid
resolution, the image mirrored before inference when `flip_horizontal`, positions in original image pixels.
"""

from __future__ import annotations

import os
import threading
from itertools import repeat
from collections.abc import Sequence
from numbers import Real
from pathlib import Path

import numpy as np
import onnxruntime as ort

from posenet_onnx.decode import DecodedPoses, decode_network_outputs, validate_multi_pose_parameters
from posenet_onnx.contract import INPUT_NAME, OUTPUT_NAMES, default_model_dir, validate_model, validate_multiplier
from posenet_onnx.runtime.graphs import GraphConfig, check_config, ensure_graph, read_config
from posenet_onnx.runtime.images import ImageLike, to_rgb_array, to_rgb_batch
from posenet_onnx.runtime.pose import Pose
from posenet_onnx.runtime.providers import create_session, requested_providers, session_options
from posenet_onnx.runtime.resize import resize_bilinear, valid_resolution

MIN_SCALE_FACTOR = 0.2
MAX_SCALE_FACTOR = 1.0


def validate_scale_factor(image_scale_factor: float) -> float:
    """Upstream's check: the image scale factor must lie in [0.2, 1.0]."""
    if isinstance(image_scale_factor, bool) or not isinstance(image_scale_factor, Real) or not (
        MIN_SCALE_FACTOR <= image_scale_factor <= MAX_SCALE_FACTOR
    ):
        raise ValueError(f"image_scale_factor must be a number in [0.2, 1.0]; got {image_scale_factor!r}.")
    return float(image_scale_factor)


class PoseNet:
    """A PoseNet model of one multiplier; its graphs (one per output stride) are opened on first use."""

    def __init__(
        self,
        multiplier: float = 1.01,
        *,
        device: str = "auto",
        providers: Sequence[str] | None = None,
        model_dir: str | os.PathLike | None = None,
        checkpoint_dir: str | os.PathLike | None = None,
        intra_op_threads: int | None = None,
        allow_spinning: bool = True,
    ) -> None:
        self.multiplier = validate_multiplier(multiplier)
        self.model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        requested_providers(device, providers)  # reject a bad device or provider list now, not at first use
        self._device = device
        self._providers = list(providers) if providers is not None else None
        self._options = session_options(intra_op_threads, allow_spinning)  # checked now, shared by every graph
        self._graphs: dict[int, tuple[ort.InferenceSession, GraphConfig, list[int]]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"PoseNet(multiplier={self.multiplier:.2f}, model_dir={str(self.model_dir)!r}, device={self._device!r})"

    @property
    def providers(self) -> list[str]:
        """The execution providers the sessions really run on (opens the stride-16 graph if none is open)."""
        graphs = self._graphs or {16: self._graph(16)}
        return next(iter(graphs.values()))[0].get_providers()

    def estimate_single_pose(
        self,
        image: ImageLike,
        image_scale_factor: float = 0.5,
        flip_horizontal: bool = False,
        output_stride: int = 16,
    ) -> Pose:
        """The single best pose in `image` (numpy H x W x 3 RGB, PIL image or file path), in image pixels."""
        return self._estimate([to_rgb_array(image)], image_scale_factor, flip_horizontal, output_stride, None)[0][0]

    def estimate_multiple_poses(
        self,
        image: ImageLike,
        image_scale_factor: float = 0.5,
        flip_horizontal: bool = False,
        output_stride: int = 16,
        max_pose_detections: int = 5,
        score_threshold: float = 0.5,
        nms_radius: float = 20,
    ) -> list[Pose]:
        """Up to `max_pose_detections` poses in `image`, in upstream's order (strongest root part first).

        `score_threshold` gates the root parts only; `nms_radius` is in network-input pixels.
        """
        multi = (max_pose_detections, score_threshold, nms_radius)
        return self._estimate([to_rgb_array(image)], image_scale_factor, flip_horizontal, output_stride, multi)[0]

    def estimate_single_pose_batch(
        self,
        images: Sequence[ImageLike] | np.ndarray,
        image_scale_factor: float = 0.5,
        flip_horizontal: bool = False,
        output_stride: int = 16,
    ) -> list[Pose]:
        """estimate_single_pose for many images: one session call per distinct image size, results in input order."""
        return [poses[0] for poses in self._estimate(to_rgb_batch(images), image_scale_factor, flip_horizontal, output_stride, None)]

    def estimate_multiple_poses_batch(
        self,
        images: Sequence[ImageLike] | np.ndarray,
        image_scale_factor: float = 0.5,
        flip_horizontal: bool = False,
        output_stride: int = 16,
        max_pose_detections: int = 5,
        score_threshold: float = 0.5,
        nms_radius: float = 20,
    ) -> list[list[Pose]]:
        """estimate_multiple_poses for many images: one session call per distinct image size, results in input order."""
        multi = (max_pose_detections, score_threshold, nms_radius)
        return self._estimate(to_rgb_batch(images), image_scale_factor, flip_horizontal, output_stride, multi)

    def _estimate(
        self,
        images: list[np.ndarray],
        image_scale_factor: float,
        flip_horizontal: bool,
        output_stride: int,
        multi: tuple[int, float, float] | None,
    ) -> list[list[Pose]]:
        """Poses per image; `multi` holds the multi-pose parameters, None selects single-pose decoding."""
        image_scale_factor = validate_scale_factor(image_scale_factor)
        output_stride = validate_model(self.multiplier, output_stride)[1]
        # A bad parameter fails before the network runs, not after; the decoder then takes them as they are.
        multi_pose = validate_multi_pose_parameters(*multi) if multi is not None else None
        session, config, order = self._graph(output_stride)
        results: list[list[Pose]] = [[] for _ in images]
        for indices in _same_size_groups(images).values():
            group = [images[i] for i in indices]
            decoded, scale_y, scale_x = self._run(
                session, config, order, group, image_scale_factor, bool(flip_horizontal), multi_pose
            )
            for i, poses in zip(indices, decoded):
                results[i] = _to_poses(poses, scale_y, scale_x, config.part_names)
        return results

    @staticmethod
    def _run(
        session: ort.InferenceSession,
        config: GraphConfig,
        order: list[int],
        images: list[np.ndarray],
        image_scale_factor: float,
        flip_horizontal: bool,
        multi_pose: tuple[int, float, float, int] | None,
    ) -> tuple[list[DecodedPoses], float, float]:
        """One session call and decode for same-size images (`multi_pose`: validated multi-pose parameters, None
        for single pose); also the factors back to image pixels."""
        height, width = images[0].shape[:2]
        resized_height = valid_resolution(image_scale_factor, height, config.output_stride)
        resized_width = valid_resolution(image_scale_factor, width, config.output_stride)
        batch = images[0][np.newaxis] if len(images) == 1 else np.stack(images)
        if batch.dtype != np.uint8:
            batch = batch.astype(np.float32, copy=False)
        network_input = resize_bilinear(batch, resized_height, resized_width, flip_horizontal)
        results = session.run(None, {INPUT_NAME: network_input})
        outputs = [results[i] for i in order]
        decoded = decode_network_outputs(outputs, config.output_stride, multi_pose)
        return decoded, height / resized_height, width / resized_width

    def _graph(self, output_stride: int) -> tuple[ort.InferenceSession, GraphConfig, list[int]]:
        """The session, checked configuration and OUTPUT_NAMES' positions among the session's outputs of the
        stride's graph, opened (and exported if missing) once."""
        with self._lock:
            if output_stride not in self._graphs:
                path = ensure_graph(self.multiplier, output_stride, self.model_dir, self.checkpoint_dir)
                session = create_session(path, self._device, self._providers, self._options)
                config = read_config(session, path)
                check_config(config, self.multiplier, output_stride, path)
                # Later graphs go straight to what this one really got (no second failed CUDA attempt).
                self._providers = self._providers or session.get_providers()
                names = [output.name for output in session.get_outputs()]
                self._graphs[output_stride] = (session, config, [names.index(name) for name in OUTPUT_NAMES])
            return self._graphs[output_stride]


def load(
    multiplier: float = 1.01,
    *,
    device: str = "auto",
    providers: Sequence[str] | None = None,
    model_dir: str | os.PathLike | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    intra_op_threads: int | None = None,
    allow_spinning: bool = True,
) -> PoseNet:
    """A PoseNet for `multiplier` (0.50, 0.75, 1.00 or 1.01), like upstream's `posenet.load`.

    `model_dir` (default $POSENET_ONNX_MODEL_DIR, else the per-user cache) holds the exported graphs;
    a missing one is exported on first use when the export extra is installed, from `checkpoint_dir`
    (default $POSENET_ONNX_CHECKPOINT_DIR, else downloaded). `device` is "auto" (CUDA when it really
    works, else CPU), "cpu" or "cuda" (RuntimeError when CUDA is not usable); `providers` overrides it
    with an explicit onnxruntime provider list. `net.providers` tells what the sessions really run on.
    `intra_op_threads` (default: onnxruntime's choice, the physical cores) sets the threads of one inference;
    `allow_spinning=False` stops onnxruntime's idle threads from spinning between calls (better when other
    work shares the CPU, e.g. video decoding and encoding; slower for back-to-back single images).
    """
    return PoseNet(
        multiplier,
        device=device,
        providers=providers,
        model_dir=model_dir,
        checkpoint_dir=checkpoint_dir,
        intra_op_threads=intra_op_threads,
        allow_spinning=allow_spinning,
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
