"""Folder-job throughput against a tight loop of `estimate_multiple_poses` on already decoded images.

A folder of at least 500 real photos is made by linking the 28 shared photos under numbered names; the
baseline estimates the same photos, decoded beforehand, in a plain loop (0.50, stride 16, multi-pose
defaults) on `posenet_onnx.load(0.50)` as it comes (idle spinning on), and also with spinning off; the job
runs as `posenet-onnx estimate` runs it (spinning off: the decode threads share the cores). Runs alternate
(baseline, job, baseline, job, ...) in one process; medians and the median of the per-pair ratios are
printed, with the load average. `--ray` adds the Ray engine with 2 actors (a local Ray
started here) against the local engine, alternating the same way.

    .venv/bin/python scripts/bench_jobs.py --model-dir DIR [--copies 18] [--repeats 5] [--ray]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import posenet_onnx
from posenet_onnx.runtime.images import load_image
from posenet_onnx.runtime.batch.jobs import estimate_paths
from posenet_onnx.runtime.settings import EstimateSettings
from posenet_onnx.runtime.batch.sources import expand_sources

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "posenet"


def make_folder(folder: Path, photos: list[str], copies: int) -> list[str]:
    """`copies` links to each photo in `folder` (real files to the decoder, no extra disk)."""
    for copy in range(copies):
        for number, photo in enumerate(photos):
            os.symlink(photo, folder / f"{copy:03d}_{number:02d}{Path(photo).suffix}")
    return expand_sources([str(folder)])


def timed(run: Callable[[], int]) -> float:
    """Images per second of one run."""
    start = time.perf_counter()
    count = run()
    return count / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", required=True, help="folder holding mobilenet_v1_050_stride16.onnx")
    parser.add_argument("--copies", type=int, default=18, help="links per photo (18 x 28 = 504 images)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ray", action="store_true", help="also the Ray engine with 2 actors against the local engine")
    args = parser.parse_args()

    photos = expand_sources([str(SHARED / "photos")], recursive=True)
    decoded = [load_image(p) for p in photos] * args.copies
    net = posenet_onnx.load(0.50, model_dir=args.model_dir, device="cpu")
    quiet_net = posenet_onnx.load(0.50, model_dir=args.model_dir, device="cpu", allow_spinning=False)
    settings = EstimateSettings(multi_pose=True, output_stride=16)

    def loop(on: posenet_onnx.PoseNet) -> Callable[[], int]:
        def tight_loop() -> int:
            for image in decoded:
                on.estimate_multiple_poses(image, 0.5, False, 16)
            return len(decoded)

        return tight_loop

    tight_loop, quiet_loop = loop(net), loop(quiet_net)

    with tempfile.TemporaryDirectory() as folder:
        paths = make_folder(Path(folder), photos, args.copies)

        def folder_job() -> int:
            return sum(1 for _ in estimate_paths(quiet_net, settings, paths))

        tight_loop(), quiet_loop(), folder_job()  # warm: graphs open, kernels compiled, files in the page cache
        print(f"{len(paths)} images, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the start")
        compare("tight loop (decoded)", tight_loop, "folder job (local)", folder_job, args.repeats)
        compare("tight loop (decoded, spinning off)", quiet_loop, "folder job (local)", folder_job, args.repeats)
        if args.ray:
            compare_ray(args, paths, settings, folder_job)
        print(f"load average {os.getloadavg()[0]:.2f} at the end")
    return 0


def compare(base_name: str, base: Callable[[], int], name: str, run: Callable[[], int], repeats: int) -> None:
    """Alternate the two; print each one's median images/s and the median ratio run / base."""
    pairs = [(timed(base), timed(run)) for _ in range(repeats)]
    base_rates, rates = zip(*pairs)
    ratio = statistics.median(r / b for b, r in pairs)
    print(f"{base_name}: {statistics.median(base_rates):.1f} img/s   {name}: {statistics.median(rates):.1f} img/s   "
          f"ratio {ratio:.3f} (median of {repeats} alternating pairs)")


def compare_ray(args: argparse.Namespace, paths: list[str], settings: EstimateSettings, folder_job: Callable[[], int]) -> None:
    import ray

    from posenet_onnx.runtime.batch.ray_engine import ray_records

    ray.init(include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        load_kwargs = {"multiplier": 0.50, "model_dir": os.path.abspath(args.model_dir), "device": "cpu"}

        def ray_job() -> int:
            return sum(1 for _ in ray_records(paths, settings, load_kwargs, actors=2))

        ray_job()  # warm: the worker processes start
        compare("folder job (local)", folder_job, "ray (2 actors, 1 thread each)", ray_job, args.repeats)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    sys.exit(main())
