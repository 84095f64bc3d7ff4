"""COCO OKS accuracy of the original JavaScript package (posenet 1.0.3 under Node, scripts/jsref) beside ours,
on the same annotated photos, with the same evaluation (posenet_onnx.runtime.evaluation.coco, pycocotools).

Both run the real 0.50 checkpoint, multi-pose with upstream's defaults (scale 0.5, max 5 poses, score
threshold 0.5, NMS radius 20) at output strides 8 and 16. The JavaScript package gets the very pixels our
decoder reads (raw RGB, as the parity tests hand them over). Needs `make jsref` and an exported model folder.

    .venv/bin/python scripts/accuracy_jsref.py --model-dir DIR [--annotations ../shared/posenet/photos/coco17_all.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import posenet_onnx
from posenet_onnx.keypoints import PART_NAMES
from posenet_onnx.runtime.evaluation import coco as evaluate
from posenet_onnx.runtime.images import load_image
from posenet_onnx.runtime.settings import EstimateSettings

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "posenet"
MULTI = {"maxDetections": 5, "scoreThreshold": 0.5, "nmsRadius": 20}


def js_poses(paths: dict[int, Path], output_stride: int, checkpoint_dir: Path) -> dict[int, list[dict]]:
    """image id -> the original package's poses (its JSON), for each annotated image."""
    node = shutil.which("node")
    if node is None or not (REPO / "scripts" / "jsref" / "node_modules" / ".installed").is_file():
        raise SystemExit("needs node and the JavaScript reference: make jsref")
    with tempfile.TemporaryDirectory() as work:
        cases = []
        for image_id, path in paths.items():
            image = load_image(path)
            pixels = Path(work) / f"{image_id}.rgb"
            image.tofile(pixels)
            cases.append({
                "pixels": str(pixels), "height": image.shape[0], "width": image.shape[1], "algorithm": "multi",
                "outputStride": output_stride, "imageScaleFactor": 0.5, "flipHorizontal": False, **MULTI,
            })
        request = Path(work) / "request.json"
        request.write_text(json.dumps({"checkpointDir": str(checkpoint_dir), "multiplier": 0.5, "cases": cases}))
        done = subprocess.run([node, str(REPO / "scripts" / "jsref" / "estimate.js"), str(request)],
                              capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"the JavaScript reference failed:\n{done.stderr[-3000:]}")
    return dict(zip(paths, json.loads(done.stdout)["results"]))


def js_detections(poses: dict[int, list[dict]], order: list[int]) -> list[dict]:
    """The JavaScript poses as COCO detections, exactly as evaluate.coco_detection makes ours."""
    detections = []
    for image_id, found in poses.items():
        for pose in found:
            by_part = {k["part"]: k for k in pose["keypoints"]}
            keypoints = []
            for i in order:
                k = by_part[PART_NAMES[i]]
                keypoints += [k["position"]["x"], k["position"]["y"], k["score"]]
            detections.append({"image_id": image_id, "category_id": 1, "keypoints": keypoints, "score": pose["score"]})
    return detections


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", required=True, help="folder holding the exported 0.50 graphs (strides 8 and 16)")
    parser.add_argument("--annotations", type=Path, default=SHARED / "photos" / "coco17_all.json")
    parser.add_argument("--checkpoint-dir", type=Path, default=SHARED / "checkpoints")
    args = parser.parse_args()

    ground_truth = evaluate.load_annotations(args.annotations)
    images = args.annotations.parent
    paths = {i: images / p for i, p in ((im["id"], im["file_name"]) for im in ground_truth.dataset["images"])}
    order = evaluate.keypoint_order(ground_truth)
    net = posenet_onnx.load(0.50, model_dir=args.model_dir, device="cpu")
    rows = []
    for stride in (8, 16):
        configuration = evaluate.Configuration(settings=EstimateSettings(multi_pose=True, output_stride=stride))
        [ours] = evaluate.evaluate(ground_truth, images, lambda precision: net, [configuration])
        theirs = evaluate.oks_metrics(ground_truth, js_detections(js_poses(paths, stride, args.checkpoint_dir), order))
        rows += [{"implementation": "posenet-onnx", "output_stride": stride, **ours.metrics},
                 {"implementation": "posenet 1.0.3 (JS)", "output_stride": stride, **theirs}]
    header = ["implementation", "output_stride", *evaluate.METRICS]
    print("  ".join(header))
    for row in rows:
        cells = [row["implementation"], str(row["output_stride"])]
        cells += ["-" if row[m] is None else f"{100 * row[m]:.1f}" for m in evaluate.METRICS]
        print("  ".join(cells))
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
