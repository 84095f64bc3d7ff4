#!/usr/bin/env python
"""Benchmark int8 (and fp16) against fp32 on the CPU: speed and OKS AP on the 28 annotated photos.

In one process, for the real 0.50 checkpoint at output strides 8 and 16:
- int8 is calibrated on a folder built here from real images that are NOT the evaluation photos:
  <shared>/images (3 photos) and every 8th frame of <shared>/images/pose_squats.mp4 (9 frames); the
  exporter expands each into 8 inputs (whole + centre crop, mirrored, image scales 0.5 and 1.0);
- speed: the network alone (onnxruntime session on the runtime's input for a 640x480 photo at scale 0.5)
  and end to end (posenet_onnx `estimate_multiple_poses`, upstream defaults), fp32 and int8 interleaved
  in blocks; the figures are the medians of the per-block time ratios fp32 / int8;
- accuracy: OKS AP (pycocotools, COCO keypoints) of multi-pose estimation on <shared>/photos
  (coco17_all.json; 28 photos, 67 people), image scales 0.5 and 1.0, fp32 vs int8 (and fp16), with the
  jackknife (leave one photo out) standard error of the int8 - fp32 difference.

    python scripts/bench_precision.py [--shared ../shared/posenet] [--blocks 15] [--block 10]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort

import posenet_onnx
from posenet_onnx.contract import INPUT_NAME, model_filename
from posenet_onnx.export import export_model
from posenet_onnx.runtime.images import load_image
from posenet_onnx.runtime.providers import session_options
from posenet_onnx.runtime.resize import resize_bilinear, valid_resolution

REPO = Path(__file__).resolve().parents[1]
STRIDES = (8, 16)
SCALES = (0.5, 1.0)
FRAME_STEP = 8


def calibration_folder(shared: Path, folder: Path) -> Path:
    """<shared>/images' photos (linked) and every FRAME_STEP-th frame of the squats clip (PNG) in `folder`."""
    import imageio.v3 as iio
    from PIL import Image

    folder.mkdir()
    for photo in sorted((shared / "images").iterdir()):
        if photo.suffix.lower() in (".jpg", ".png"):
            (folder / photo.name).symlink_to(photo.resolve())
    for index, frame in enumerate(iio.imiter(shared / "images" / "pose_squats.mp4")):
        if index % FRAME_STEP == 0:
            Image.fromarray(frame).save(folder / f"pose_squats_{index:03d}.png")
    return folder


def interleaved_ratios(
    runs: dict[str, Callable[[], object]], blocks: int, block: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Median over blocks of (fp32 block time / each run's block time), and each run's median ms per call;
    the runs alternate block by block, so all see the same machine load."""
    for run in runs.values():
        run()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(blocks):
        for name, run in runs.items():
            start = time.perf_counter()
            for _ in range(block):
                run()
            times[name].append((time.perf_counter() - start) / block)
    ratios = {name: statistics.median(b / t for b, t in zip(times["fp32"], series)) for name, series in times.items()}
    return ratios, {name: statistics.median(series) * 1e3 for name, series in times.items()}


def detections(net: posenet_onnx.PoseNet, photos: Path, scale: float, stride: int) -> list[dict[str, object]]:
    """estimate_multiple_poses on every annotated photo, as COCO keypoint results."""
    records = json.loads((photos / "coco17_all.json").read_text())["images"]
    results = []
    for record in records:
        for pose in net.estimate_multiple_poses(load_image(photos / record["file_name"]), scale, output_stride=stride):
            keypoints = np.concatenate([pose.positions, pose.scores[:, None]], axis=1)
            results.append(
                {"image_id": record["id"], "category_id": 1, "keypoints": keypoints.ravel().tolist(), "score": pose.score}
            )
    return results


def oks_ap(truth: object, results: object, image_ids: list[int]) -> float:
    """COCO keypoint AP (OKS 0.50:0.95) of loaded `results` over `image_ids` (pycocotools)."""
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        evaluation = COCOeval(truth, results, "keypoints")
        evaluation.params.imgIds = image_ids
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return float(evaluation.stats[0])


def ap_comparison(
    nets: dict[str, posenet_onnx.PoseNet], photos: Path, scale: float, stride: int
) -> tuple[dict[str, float], float]:
    """AP per precision over all photos, and the jackknife standard error of AP(int8) - AP(fp32) (leave one
    photo out): how far the difference moves with the photos chosen."""
    from pycocotools.coco import COCO

    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO(str(photos / "coco17_all.json"))
        loaded = {p: truth.loadRes(detections(net, photos, scale, stride)) for p, net in nets.items()}
    ids = sorted(truth.getImgIds())
    ap = {p: oks_ap(truth, results, ids) for p, results in loaded.items()}
    left_out = [
        oks_ap(truth, loaded["int8"], others) - oks_ap(truth, loaded["fp32"], others)
        for others in ([i for i in ids if i != dropped] for dropped in ids)
    ]
    mean = statistics.fmean(left_out)
    return ap, ((len(ids) - 1) / len(ids) * sum((d - mean) ** 2 for d in left_out)) ** 0.5


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "posenet")
    parser.add_argument("--blocks", type=int, default=15)
    parser.add_argument("--block", type=int, default=10, help="calls per timed block")
    args = parser.parse_args()
    photos = args.shared / "photos"
    photo = load_image(args.shared / "images" / "couple.jpg")  # 640x480; not an evaluation photo

    with tempfile.TemporaryDirectory() as scratch:
        calibration = calibration_folder(args.shared, Path(scratch) / "calibration")
        models = Path(scratch) / "models"
        for stride in STRIDES:
            for precision in ("fp32", "fp16", "int8"):
                start = time.perf_counter()
                export_model(
                    0.50, stride, models, checkpoint_dir=args.shared / "checkpoints", precision=precision,
                    calibration_dir=calibration, progress=False,
                )
                print(f"exported stride {stride} {precision} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        nets = {
            p: posenet_onnx.load(0.50, precision=p, model_dir=models, device="cpu", allow_spinning=False)
            for p in ("fp32", "fp16", "int8")
        }

        print(
            f"Load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} logical cores; onnxruntime {ort.__version__}; "
            f"calibration: {len(list(calibration.iterdir()))} images x 8 views"
        )
        print("\n| stride | network input | network int8 speed-up | end-to-end int8 speed-up | fp32 / int8 network ms |")
        print("|---|---|---:|---:|---:|")
        for stride in STRIDES:
            size = [valid_resolution(0.5, side, stride) for side in photo.shape[:2]]
            network_input = resize_bilinear(photo[None], *size)
            sessions = {
                p: ort.InferenceSession(
                    str(models / model_filename(0.50, stride, p)), session_options(allow_spinning=False),
                    providers=["CPUExecutionProvider"],
                )
                for p in ("fp32", "int8")
            }
            network, network_ms = interleaved_ratios(
                {p: (lambda s=s: s.run(None, {INPUT_NAME: network_input})) for p, s in sessions.items()},
                args.blocks, args.block,
            )
            end_to_end, _ = interleaved_ratios(
                {p: (lambda n=nets[p]: n.estimate_multiple_poses(photo, 0.5, output_stride=stride)) for p in ("fp32", "int8")},
                args.blocks, args.block,
            )
            print(
                f"| {stride} | {size[0]}x{size[1]} | {network['int8']:.2f}x | {end_to_end['int8']:.2f}x "
                f"| {network_ms['fp32']:.2f} / {network_ms['int8']:.2f} |"
            )

        print("\n| stride | image scale | OKS AP fp32 | OKS AP fp16 | OKS AP int8 | int8 - fp32 | jackknife SE |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for stride in STRIDES:
            for scale in SCALES:
                ap, standard_error = ap_comparison(nets, photos, scale, stride)
                print(
                    f"| {stride} | {scale} | {ap['fp32']:.3f} | {ap['fp16']:.3f} | {ap['int8']:.3f} "
                    f"| {ap['int8'] - ap['fp32']:+.3f} | {standard_error:.3f} |",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
