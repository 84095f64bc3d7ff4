"""The flip test: the network on an image and on its mirror, the mirror's outputs mirrored back and averaged.

The network input's width is 1 + k * output stride (upstream's valid resolution), so its mirror maps output
cell i to cell W' - 1 - i exactly. Mirrored back, each output takes its mirror part's or mirror edge's
channel (leftEye <-> rightEye, nose->leftEye <-> nose->rightEye) and its x components change sign (offsets,
displacements); the average of the two views is then decoded like one network's outputs.
"""

from __future__ import annotations

import numpy as np

from posenet_onnx.contract import OUTPUT_NAMES
from posenet_onnx.keypoints import MIRRORED_EDGE_IDS, MIRRORED_PART_IDS, NUM_EDGES, NUM_KEYPOINTS


def _channel_map(mirrored: np.ndarray, count: int, has_x: bool) -> tuple[np.ndarray, np.ndarray]:
    """(source channel, sign) per channel of an output with `count` parts or edges: y channels first, then x."""
    if not has_x:
        return mirrored, np.ones(count, np.float32)
    source = np.concatenate([mirrored, mirrored + count])
    sign = np.concatenate([np.ones(count, np.float32), -np.ones(count, np.float32)])
    return source, sign


# For each output, in contract order: the mirrored output's channel each channel comes from, and its sign.
_CHANNEL_MAPS: dict[str, tuple[np.ndarray, np.ndarray]] = {
    "heatmap_scores": _channel_map(MIRRORED_PART_IDS, NUM_KEYPOINTS, has_x=False),
    "offsets": _channel_map(MIRRORED_PART_IDS, NUM_KEYPOINTS, has_x=True),
    "displacement_fwd": _channel_map(MIRRORED_EDGE_IDS, NUM_EDGES, has_x=True),
    "displacement_bwd": _channel_map(MIRRORED_EDGE_IDS, NUM_EDGES, has_x=True),
}
_MAPS = tuple(_CHANNEL_MAPS[name] for name in OUTPUT_NAMES)


def with_mirrors(network_input: np.ndarray) -> np.ndarray:
    """N x H x W x 3 network input -> 2N: the N images, then their left-right mirrors (one session call)."""
    return np.concatenate([network_input, network_input[:, :, ::-1]])


def mirror_back(outputs: list[np.ndarray]) -> list[np.ndarray]:
    """The outputs of mirrored images, in the unmirrored image's frame (N x H' x W' x C each, contract order)."""
    return [output[:, :, ::-1, source] * sign for output, (source, sign) in zip(outputs, _MAPS)]


def average_with_mirrors(outputs: list[np.ndarray], count: int) -> list[np.ndarray]:
    """The outputs of `with_mirrors`' 2N images -> N: each image's outputs averaged with its mirror's, mirrored back."""
    mirrored = mirror_back([output[count : 2 * count] for output in outputs])
    return [(output[:count] + back) * np.float32(0.5) for output, back in zip(outputs, mirrored)]
