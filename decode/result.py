"""The decoder's result type: the poses found in one image, as arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posenet_onnx.keypoints import PART_NAMES


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

    def to_dicts(self) -> list[dict]:
        """The poses in upstream's JavaScript structure: ``[{score, keypoints: [{part, score, position: {x, y}}]}]``."""
        return [
            {
                "score": float(self.scores[p]),
                "keypoints": [
                    {
                        "part": name,
                        "score": float(self.keypoint_scores[p, k]),
                        "position": {"x": float(self.keypoints[p, k, 0]), "y": float(self.keypoints[p, k, 1])},
                    }
                    for k, name in enumerate(PART_NAMES)
                ],
            }
            for p in range(len(self))
        ]
