"""Folder-job throughput against a loop over the same images already in memory, against each job's ceiling.

A folder of 504 real photos is made by linking the 28 shared photos under numbered names (`--copies`).
0.50, stride 16, multi-pose, the original's defaults. One process that keeps the memory it frees, as the command
line's does (commands/memory.py; `--default-malloc` leaves glibc's malloc as it comes), in interleaved rounds:

- the in-memory loop: `estimate_multiple_poses` on each image decoded beforehand, on `posenet_onnx.load(0.50)`
  as it comes (the baseline);
- the folder job as `posenet-onnx estimate --multi` runs it (`estimate_paths`, onnxruntime's spinning off);
- the same with `--fast-decode`.

Then each stage alone, in CPU time per image: reading (full decode, fast decode) and estimating (the job's
network, on the images in memory). A job's ceiling is what the machine's cores allow at the sum of its
stages' costs; the table gives each run's speed, its ratio to the baseline (per round, side by side) and
to its ceiling, with the load average, and what reading costs per image format. `--ray` adds the Ray engine with 2 actors against the local job.

    .venv/bin/python scripts/bench_jobs.py --model-dir DIR [--copies 18] [--rounds 5] [--ray] [--default-malloc]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image

import posenet_onnx
from posenet_onnx.runtime.batch.jobs import estimate_paths
from posenet_onnx.runtime.batch.sources import expand_sources
from posenet_onnx.runtime.images import decode_image
from posenet_onnx.runtime.settings import EstimateSettings

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stage_costs as costs  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "posenet"


def make_folder(folder: Path, photos: list[str], copies: int) -> list[str]:
    """`copies` links to each photo in `folder` (real files to the decoder, no extra disk)."""
    for copy in range(copies):
        for number, photo in enumerate(photos):
            os.symlink(photo, folder / f"{copy:03d}_{number:02d}{Path(photo).suffix}")
    return expand_sources([str(folder)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", required=True, help="folder holding mobilenet_v1_050_stride16.onnx")
    parser.add_argument("--copies", type=int, default=18, help="links per photo (18 x 28 = 504 images)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--ray", action="store_true", help="also the Ray engine with 2 actors against the local engine")
    costs.add_malloc_option(parser)
    args = parser.parse_args()
    costs.set_malloc(args)

    photos = expand_sources([str(SHARED / "photos")], recursive=True)
    decoded = [decode_image(p)[0] for p in photos] * args.copies
    net = posenet_onnx.load(0.50, model_dir=args.model_dir, device="cpu")
    # The job's network as the estimate command loads it on the CPU: one thread per worker, no idle spinning.
    job_net = posenet_onnx.load(0.50, model_dir=args.model_dir, device="cpu", allow_spinning=False, intra_op_threads=1)
    full = EstimateSettings(multi_pose=True, output_stride=16)
    fast = EstimateSettings(multi_pose=True, output_stride=16, fast_decode=True)
    cores = costs.cores()
    start_load = costs.load()

    def loop(on: posenet_onnx.PoseNet) -> Callable[[], int]:
        def run() -> int:
            for image in decoded:
                on.estimate_multiple_poses(image, 0.5, False, 16)
            return len(decoded)

        return run

    with tempfile.TemporaryDirectory() as folder:
        paths = make_folder(Path(folder), photos, args.copies)

        def job(settings: EstimateSettings) -> Callable[[], int]:
            return lambda: sum(1 for _ in estimate_paths(job_net, settings, paths, workers=os.cpu_count() or 1))

        def reading(settings: EstimateSettings) -> Callable[[], int]:
            return lambda: sum(1 for path in paths if job_net.read_image(path, settings) is not None)

        runs = {"in-memory loop": loop(net), "folder job": job(full), "folder job --fast-decode": job(fast)}
        stages = {
            "read (full decode)": reading(full),
            "read (fast decode)": reading(fast),
            "estimate (the job's network, images in memory)": loop(job_net),
            "estimate (the loop's network: onnxruntime's defaults)": loop(net),
        }
        for run in [*runs.values(), *stages.values()]:
            run()  # warm: graphs open, kernels compiled, files in the page cache
        timings = costs.interleave(runs, args.rounds, log=lambda text: print(text, file=sys.stderr, flush=True))
        stage_timings = costs.interleave(stages, max(2, args.rounds // 2), log=lambda text: None)
        if args.ray:
            ray_ratio = compare_ray(args, paths, full, job(full))
        by_format = reading_by_format(job_net, full, fast, photos)
    end_load = costs.load()

    cost = {name: t.cost for name, t in stage_timings.items()}
    estimate = cost["estimate (the job's network, images in memory)"]
    rows = [
        ("in-memory loop (baseline)", timings["in-memory loop"].cost, timings["in-memory loop"].rate,
         costs.ceiling([cost["estimate (the loop's network: onnxruntime's defaults)"]], cores), None),
        ("folder job", timings["folder job"].cost, timings["folder job"].rate,
         costs.ceiling([cost["read (full decode)"], estimate], cores), costs.ratio(timings, "folder job", "in-memory loop")),
        ("folder job --fast-decode", timings["folder job --fast-decode"].cost, timings["folder job --fast-decode"].rate,
         costs.ceiling([cost["read (fast decode)"], estimate], cores),
         costs.ratio(timings, "folder job --fast-decode", "in-memory loop")),
    ]
    print(f"\n**Folder job: {len(paths)} images ({len(photos)} photos x {args.copies}), 0.50 s16 multi-pose, scale 0.5, "
          f"{cores} cores; load average {start_load} at the start, {end_load} at the end; medians of {args.rounds} "
          "interleaved rounds**\n")
    print("\n".join(costs.stage_table("image", cost)))
    print()
    print("\n".join(costs.job_table("image", rows)))
    print(f"\n**Reading the {len(photos)} photos by format: CPU ms per image (fastest of 3)**\n")
    print("| format | photos | full decode | fast decode | share of the full decodes' time |")
    print("|---|---:|---:|---:|---:|")
    total = sum(count * full_ms for count, full_ms, _ in by_format.values())
    for name, (count, full_ms, fast_ms) in by_format.items():
        print(f"| {name} | {count} | {full_ms:.2f} | {fast_ms:.2f} | {count * full_ms / total:.0%} |")
    if args.ray:
        print(f"\nRay (2 actors, 1 thread each) / local folder job: {ray_ratio[0]:.2f} ({ray_ratio[1]:.2f}-{ray_ratio[2]:.2f})")
    return 0


def reading_by_format(
    net: posenet_onnx.PoseNet, full: EstimateSettings, fast: EstimateSettings, photos: list[str]
) -> dict[str, tuple[int, float, float]]:
    """Per image format: how many photos, and the mean CPU ms to read one, full and fast (fastest of 3)."""
    found: dict[str, list[tuple[float, float]]] = {}
    for photo in photos:
        with Image.open(photo) as image:
            name = image.format or "other"
        found.setdefault(name, []).append(tuple(read_cost(net, photo, settings) for settings in (full, fast)))
    return {name: (len(c), sum(f for f, _ in c) / len(c), sum(q for _, q in c) / len(c)) for name, c in found.items()}


def read_cost(net: posenet_onnx.PoseNet, photo: str, settings: EstimateSettings) -> float:
    """The fastest of 3 reads of `photo`, in CPU ms."""
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        net.read_image(photo, settings)
        best = min(best, time.process_time() - start)
    return 1000 * best


def compare_ray(
    args: argparse.Namespace, paths: list[str], settings: EstimateSettings, folder_job: Callable[[], int]
) -> tuple[float, float, float]:
    import ray

    from posenet_onnx.runtime.batch.ray_engine import ray_records

    ray.init(include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        load_kwargs = {"multiplier": 0.50, "model_dir": os.path.abspath(args.model_dir), "device": "cpu"}

        def ray_job() -> int:
            return sum(1 for _ in ray_records(paths, settings, load_kwargs, actors=2))

        ray_job()  # warm: the worker processes start
        timings = costs.interleave({"local": folder_job, "ray": ray_job}, args.rounds, log=lambda text: None)
        return costs.ratio(timings, "ray", "local")
    finally:
        ray.shutdown()


if __name__ == "__main__":
    sys.exit(main())
