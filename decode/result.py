"""The decoder's result type: the poses found in one image, as arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DecodedPoses:
    """Poses decoded from one image's network outputs, best first (upstream's order).

    ``scores`` [P] pose scores, ``keypoint_scores`` [P, 17], ``keypoints`` [P, 17, 2] as (x, y) in
    model-input pixels; float64 like JavaScript's numbers. P may be 0 for multi-pose decoding.
    """

    scores: np.ndarray
    keypoint_scores: np.ndarray
    keypoints: np.ndarray

    def __len__(self) -> int:
        return int(self.scores.shape[0])
