#!/usr/bin/env python
"""Equal candidate scores on real photos: how often they happen, and whether they change any pose of the
multi-pose graph.

Upstream pops root candidates from its own array max-heap; the multi-pose graph sorts them with TopK, which puts
equal scores in scan order (y, x, part). Both give the same order unless two candidates score exactly alike.
For the real 0.50 and 0.75 checkpoints at output strides 8 and 16, image scales 0.5 and 1.0, on the 28 annotated
photos and the 3 photos of images/, this counts the cases (image x settings) whose candidates include equal
scores and those where the heap's order differs from TopK's, and compares the graph's decoder, fed the Python
path's own network outputs, with estimate_multiple_poses in every case at upstream's defaults, (10, 0.1) and
(20, 0.1) (max_pose_detections, score_threshold).

    python scripts/candidate_ties.py [--shared ../shared/posenet] [--model-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import posenet_onnx  # noqa: E402
from posenet_onnx.contract import OUTPUT_NAMES, model_filename  # noqa: E402
from posenet_onnx.decode.candidates import build_part_queue  # noqa: E402
from posenet_onnx.decode.max_heap import heap_pop  # noqa: E402
from posenet_onnx.export import export_model  # noqa: E402
from posenet_onnx.runtime.images import load_image  # noqa: E402
from posenet_onnx.runtime.resize import resize_bilinear, valid_resolution  # noqa: E402
from support.runtimes import decoder_part, multi_feed, multi_pose_differences, onnxruntime_multi  # noqa: E402

SETTINGS = ((5, 0.5, 20.0), (10, 0.1, 20.0), (20, 0.1, 20.0))


def heap_order(heatmaps: np.ndarray, threshold: float) -> tuple[list[int], list[int]]:
    """The candidates' flat indices in upstream's pop order and in TopK's (score descending, index ascending)."""
    values, items = np.empty(heatmaps.size, np.float32), np.empty(heatmaps.size, np.int64)
    size = build_part_queue(heatmaps, threshold, values, items)
    flat = heatmaps.reshape(-1)
    topk = sorted(items[:size].tolist(), key=lambda item: (-flat[item], item))
    popped = []
    while size:
        _, item, size = heap_pop(values, items, size)
        popped.append(int(item))
    return popped, topk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "posenet")
    parser.add_argument("--model-dir", type=Path, default=None, help="graphs kept here (default: a temporary folder)")
    args = parser.parse_args()
    records = json.loads((args.shared / "photos" / "coco17_all.json").read_text())["images"]
    paths = [args.shared / "photos" / record["file_name"] for record in records]
    paths += sorted((args.shared / "images").glob("*.[jp][pn]g"))
    photos = [load_image(path) for path in paths]

    with tempfile.TemporaryDirectory() as scratch:
        model_dir = args.model_dir or Path(scratch)
        cases = tied = reordered = poses = differing = 0
        for multiplier in (0.50, 0.75):
            for stride in (8, 16):
                for decoder in (None, "multi"):
                    if not (model_dir / model_filename(multiplier, stride, decoder=decoder)).is_file():
                        export_model(multiplier, stride, model_dir, checkpoint_dir=args.shared / "checkpoints",
                                     progress=False, decoder=decoder)
                net = posenet_onnx.load(model_dir / model_filename(multiplier, stride), device="cpu")
                decoder = onnxruntime_multi(decoder_part(model_dir / model_filename(multiplier, stride, decoder="multi")))
                network = net.network(stride)
                for image in photos:
                    for scale in (0.5, 1.0):
                        size = [valid_resolution(scale, side, stride) for side in image.shape[:2]]
                        outputs = network.run(resize_bilinear(image[np.newaxis], *size))
                        for threshold in sorted({settings[1] for settings in SETTINGS}):
                            popped, topk = heap_order(outputs[0][0], threshold)
                            scores = outputs[0][0].reshape(-1)[popped]
                            cases += 1
                            tied += len(np.unique(scores)) < len(scores)
                            reordered += popped != topk
                        for settings in SETTINGS:
                            feed = {**multi_feed(image[np.newaxis], scale, settings), **dict(zip(OUTPUT_NAMES, outputs))}
                            expected = net.estimate_multiple_poses(image, scale, False, stride, *settings)
                            distances, score_errors = multi_pose_differences(decoder(feed), 0, expected)
                            poses += len(expected)
                            differing += int((distances > 1e-3).any() or (score_errors > 1e-6).any())
        print(f"{len(photos)} photos x 2 checkpoints x 2 strides x 2 scales x thresholds 0.5 and 0.1: {cases} cases, "
              f"{tied} with equal candidate scores, {reordered} where upstream's heap pops them in another order "
              f"than TopK sorts them")
        print(f"decoded at {len(SETTINGS)} settings: {poses} poses; cases whose poses differ from "
              f"estimate_multiple_poses (beyond 0.001 px or 1e-6 in a score): {differing}")


if __name__ == "__main__":
    main()
