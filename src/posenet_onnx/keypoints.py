"""PoseNet's keypoint tables: part names and ids, the pose chain and the drawing skeleton.

Defined once here; the decoder, the runtime and the exporter's model metadata all read them.
"""

from __future__ import annotations

import numpy as np

PART_NAMES: tuple[str, ...] = (
    "nose",
    "leftEye",
    "rightEye",
    "leftEar",
    "rightEar",
    "leftShoulder",
    "rightShoulder",
    "leftElbow",
    "rightElbow",
    "leftWrist",
    "rightWrist",
    "leftHip",
    "rightHip",
    "leftKnee",
    "rightKnee",
    "leftAnkle",
    "rightAnkle",
)
NUM_KEYPOINTS = len(PART_NAMES)
PART_IDS: dict[str, int] = {name: i for i, name in enumerate(PART_NAMES)}

# (parent, child) edges of the tree the multi-pose decoder walks; edge index = position.
POSE_CHAIN: tuple[tuple[str, str], ...] = (
    ("nose", "leftEye"),
    ("leftEye", "leftEar"),
    ("nose", "rightEye"),
    ("rightEye", "rightEar"),
    ("nose", "leftShoulder"),
    ("leftShoulder", "leftElbow"),
    ("leftElbow", "leftWrist"),
    ("leftShoulder", "leftHip"),
    ("leftHip", "leftKnee"),
    ("leftKnee", "leftAnkle"),
    ("nose", "rightShoulder"),
    ("rightShoulder", "rightElbow"),
    ("rightElbow", "rightWrist"),
    ("rightShoulder", "rightHip"),
    ("rightHip", "rightKnee"),
    ("rightKnee", "rightAnkle"),
)
NUM_EDGES = len(POSE_CHAIN)
# The pose chain as an int32 [16, 2] array of (parent id, child id), for Numba kernels.
POSE_CHAIN_IDS: np.ndarray = np.array(
    [(PART_IDS[parent], PART_IDS[child]) for parent, child in POSE_CHAIN], dtype=np.int32
)

# Pairs joined by a line when drawing; the order is upstream's (get_adjacent_keypoints keeps it).
CONNECTED_PART_NAMES: tuple[tuple[str, str], ...] = (
    ("leftHip", "leftShoulder"),
    ("leftElbow", "leftShoulder"),
    ("leftElbow", "leftWrist"),
    ("leftHip", "leftKnee"),
    ("leftKnee", "leftAnkle"),
    ("rightHip", "rightShoulder"),
    ("rightElbow", "rightShoulder"),
    ("rightElbow", "rightWrist"),
    ("rightHip", "rightKnee"),
    ("rightKnee", "rightAnkle"),
    ("leftShoulder", "rightShoulder"),
    ("leftHip", "rightHip"),
)
CONNECTED_PART_INDICES: tuple[tuple[int, int], ...] = tuple(
    (PART_IDS[a], PART_IDS[b]) for a, b in CONNECTED_PART_NAMES
)


def _mirrored_name(name: str) -> str:
    """A part's name in the mirror image: left and right trade places (the nose is its own mirror)."""
    if name.startswith("left"):
        return "right" + name[4:]
    if name.startswith("right"):
        return "left" + name[5:]
    return name


# Part id -> the id of the part it becomes in a left-right mirrored image (leftEye <-> rightEye, nose -> nose).
MIRRORED_PART_IDS: np.ndarray = np.array([PART_IDS[_mirrored_name(name)] for name in PART_NAMES], dtype=np.intp)
# Pose-chain edge index -> the index of the edge it becomes in a mirrored image (nose->leftEye <-> nose->rightEye).
MIRRORED_EDGE_IDS: np.ndarray = np.array(
    [POSE_CHAIN.index((_mirrored_name(parent), _mirrored_name(child))) for parent, child in POSE_CHAIN], dtype=np.intp
)
