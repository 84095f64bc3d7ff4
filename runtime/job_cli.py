"""The folder job behind `posenet-onnx estimate` and the `posenet-onnx evaluate` command: options and handlers.

estimate reads files, folders, glob patterns and @LIST files, streams the images through the local engine
(decode threads, same-size batches) or Ray, and writes records as they come (--jsonl, --parquet), or the
seed's JSON list at the end (--json, else stdout). A failed image is a record, not the end of the job:
the exit status is 1 when any image failed, 0 otherwise.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from posenet_onnx.atomic import write_bytes_atomic
from posenet_onnx.contract import OUTPUT_STRIDES, PRECISIONS

ENGINES = ("local", "ray")
ON_ERROR = ("continue", "fail")
MODES = ("single", "multi")
REFINEMENTS = ("v1", "v2")


def add_job_options(parser: argparse.ArgumentParser) -> None:
    """The sources and the folder job's outputs and engine, for `estimate`."""
    parser.add_argument(
        "images", nargs="+", metavar="SOURCE", help="image files, folders, glob patterns or @LIST (a file of paths)"
    )
    parser.add_argument("--recursive", action="store_true", help="read folders' subfolders too; ** in patterns")
    outputs = parser.add_argument_group("outputs (default: the JSON list on stdout)")
    outputs.add_argument("--json", type=Path, metavar="OUT", help="write the JSON list of all images to OUT at the end")
    outputs.add_argument("--jsonl", metavar="OUT", help="stream one JSON record per image to OUT as it comes (- for stdout)")
    outputs.add_argument("--parquet", type=Path, metavar="OUT", help="write one row per pose to OUT (needs pyarrow)")
    outputs.add_argument("--draw", type=Path, metavar="DIR", help="write each image with its poses drawn to DIR/<name>.png")
    outputs.add_argument("--resume", action="store_true", help="skip the images already in the --jsonl OUT and append")
    outputs.add_argument(
        "--on-error", choices=ON_ERROR, default="continue",
        help="continue (default): a failed image gets an error record; fail: stop at the first",
    )
    engine = parser.add_argument_group("engine")
    engine.add_argument("--engine", choices=ENGINES, default="local", help="local (default) or ray (Ray Data)")
    engine.add_argument("--threads", type=int, metavar="N", help="local: image decoding threads (default: cores, at most 4)")
    engine.add_argument("--batch-size", type=int, default=8, metavar="N", help="images per network batch (default 8)")
    engine.add_argument("--ray-address", metavar="ADDR", help="ray: the cluster (default $RAY_ADDRESS, else a local Ray)")
    engine.add_argument("--actors", type=int, default=2, metavar="N", help="ray: PoseNet actors (default 2)")
    engine.add_argument("--actor-threads", type=int, default=1, metavar="N", help="ray: CPUs per actor (default 1)")


def settings_from_args(args: argparse.Namespace, *, multi: bool) -> Any:
    """The estimation settings the model options give (the seed's defaults unless changed)."""
    from posenet_onnx.runtime.jobs import EstimateSettings

    return EstimateSettings(
        multi, args.scale, args.flip, args.output_stride, args.max_poses, args.score_threshold, args.nms_radius
    )


def run_estimate(args: argparse.Namespace) -> int:
    """The folder job: expand the sources, estimate them on the chosen engine, write the records."""
    from posenet_onnx.runtime.records import completed_images
    from posenet_onnx.runtime.sources import expand_sources

    _check_counts(args)
    paths = expand_sources(args.images, recursive=args.recursive)
    _check_outputs(args, paths)
    if args.resume:
        done = completed_images(args.jsonl)
        paths = [path for path in paths if path not in done]
    settings = settings_from_args(args, multi=args.multi)
    records = _ray_records(args, paths, settings) if args.engine == "ray" else _local_records(args, paths, settings)
    failed = 0
    with ExitStack() as stack:
        sinks = _open_sinks(args, stack)
        collected: list[dict[str, Any]] = []
        for record in _progress(records, len(paths)):
            for sink in sinks:
                sink.write(record)
            if args.json is not None or not sinks:
                collected.append({key: record[key] for key in ("image", "poses", "error") if key in record})
            if "error" in record:
                failed += 1
                if args.on_error == "fail":
                    print(f"posenet-onnx estimate: stopped at {record['image']}: {record['error']}", file=sys.stderr)
                    break
        if args.json is not None:
            write_bytes_atomic(args.json, (json.dumps(collected, indent=2) + "\n").encode())
        elif not sinks:
            sys.stdout.write(json.dumps(collected, indent=2) + "\n")
    if failed and args.on_error == "continue":
        print(f"posenet-onnx estimate: {failed} of {len(paths)} images failed (their records say why)", file=sys.stderr)
    return 1 if failed else 0


def _check_counts(args: argparse.Namespace) -> None:
    for name in ("threads", "batch_size", "actors", "actor_threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be 1 or more; got {value}")


def _check_outputs(args: argparse.Namespace, paths: Sequence[str]) -> None:
    """Refuse what would go wrong late: --resume without a JSONL file, --draw on Ray, one file written twice,
    an output that is one of the inputs, two images drawn to one picture."""
    if args.resume and (args.jsonl in (None, "-") or args.parquet is not None or args.json is not None):
        raise ValueError("--resume appends to a --jsonl OUT file and goes with no --json or --parquet (written whole)")
    if args.draw is not None and args.engine == "ray":
        raise ValueError("--draw runs with the local engine only; draw from the records instead")
    outputs = [os.fspath(p) for p in (args.json, args.jsonl, args.parquet) if p is not None and os.fspath(p) != "-"]
    if len({os.path.realpath(p) for p in outputs}) < len(outputs):
        raise ValueError(f"one output file is named twice: {', '.join(outputs)}")
    names = {os.path.basename(p) for p in outputs}
    for path in paths:
        if os.path.basename(path) in names and any(_same_file(path, out) for out in outputs):
            raise ValueError(f"the output {path} is also an input image; choose another name")
    if args.draw is not None:
        drawn: dict[str, str] = {}
        for path in paths:
            other = drawn.setdefault(Path(path).stem, path)
            if other != path:
                raise ValueError(f"{other} and {path} would both be drawn to {args.draw / Path(path).stem}.png")


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _local_records(args: argparse.Namespace, paths: Sequence[str], settings: Any) -> Iterator[dict[str, Any]]:
    from posenet_onnx.runtime.cli import load_from_args
    from posenet_onnx.runtime.jobs import estimate_paths

    net = load_from_args(args)
    settings.check(net)
    return _drawn(args, estimate_paths(net, settings, paths, threads=args.threads, batch_size=args.batch_size))


def _drawn(args: argparse.Namespace, results: Iterator[Any]) -> Iterator[dict[str, Any]]:
    """The results' records, each image drawn with its poses to --draw DIR first."""
    from posenet_onnx.runtime.draw import draw_poses

    for result in results:
        if args.draw is not None and result.poses is not None:
            # With --flip the positions are those of the mirrored image (upstream 1.0.3), so draw on it.
            image = result.decoded.image
            picture = io.BytesIO()
            draw_poses(image[:, ::-1] if args.flip else image, result.poses).save(picture, format="PNG")
            write_bytes_atomic(args.draw / f"{Path(result.decoded.path).stem}.png", picture.getvalue())
        yield result.record


def _ray_records(args: argparse.Namespace, paths: Sequence[str], settings: Any) -> Iterator[dict[str, Any]]:
    from posenet_onnx.runtime.ray_engine import ray_records

    settings.validate(args.multiplier)
    load_kwargs = {
        "multiplier": args.multiplier,
        "device": args.device,
        "model_dir": None if args.model_dir is None else os.path.abspath(args.model_dir),
        "checkpoint_dir": None if args.checkpoint_dir is None else os.path.abspath(args.checkpoint_dir),
    }
    if not paths:
        return iter(())
    return ray_records(
        paths, settings, load_kwargs, address=args.ray_address, actors=args.actors,
        threads_per_actor=args.actor_threads, batch_size=args.batch_size,
    )


def _open_sinks(args: argparse.Namespace, stack: ExitStack) -> list[Any]:
    from posenet_onnx.runtime.records import JsonlWriter, ParquetWriter

    sinks: list[Any] = []
    if args.jsonl is not None:
        sinks.append(stack.enter_context(JsonlWriter(args.jsonl, append=args.resume)))
    if args.parquet is not None:
        sinks.append(stack.enter_context(ParquetWriter(args.parquet)))
    return sinks


def _progress(records: Iterator[dict[str, Any]], total: int) -> Iterator[dict[str, Any]]:
    """The records, with a progress bar (images/s, time left) on a terminal's stderr."""
    from tqdm import tqdm

    return tqdm(records, total=total, unit="img", desc="estimate", disable=None, dynamic_ncols=True)


def register_evaluate(commands: argparse._SubParsersAction) -> None:
    """Add `posenet-onnx evaluate` to the `posenet-onnx` parser."""
    from posenet_onnx.runtime.cli import add_model_options

    parser = commands.add_parser(
        "evaluate",
        help="accuracy (COCO keypoint OKS AP) on annotated images",
        description="COCO keypoint accuracy (OKS AP, AP50, AP75, APm, APl, AR; pycocotools) of PoseNet on "
        "annotated images, for one configuration or a sweep printed as one table. Without sweep options: "
        "multi-pose with the defaults, like `estimate --multi`.",
        conflict_handler="resolve",  # the sweep options below take several values where `estimate` takes one
    )
    parser.add_argument("--annotations", type=Path, required=True, metavar="COCO.json", help="COCO keypoint annotations")
    parser.add_argument("--images", type=Path, required=True, metavar="DIR", help="the folder the file_names are in")
    add_model_options(parser)
    sweep = parser.add_argument_group("sweep (each takes one or more values; every combination is evaluated)")
    sweep.add_argument("--scale", type=float, nargs="+", default=[0.5], metavar="S", help="image scale factors (default 0.5)")
    sweep.add_argument(
        "--output-stride", type=int, nargs="+", default=[16], choices=OUTPUT_STRIDES, metavar="N", help="default 16"
    )
    sweep.add_argument("--precision", nargs="+", default=["fp32"], choices=PRECISIONS, metavar="P", help="default fp32")
    sweep.add_argument("--mode", nargs="+", default=["multi"], choices=MODES, metavar="M", help="single, multi (default)")
    sweep.add_argument(
        "--refinement", nargs="+", default=["v1"], choices=REFINEMENTS, metavar="R",
        help="multi-pose decoder: v1 (posenet 1.0.3, default), v2 (2.x)",
    )
    parser.add_argument("--json", type=Path, metavar="OUT", help="write the rows (configuration and metrics) to OUT")
    parser.add_argument(
        "--detections", type=Path, metavar="OUT",
        help="write the COCO results file to OUT (with a sweep, one per configuration: OUT's name + its tag)",
    )
    parser.set_defaults(handler=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    """Evaluate every configuration of the sweep; print the table, write the rows and the detections."""
    from tqdm import tqdm

    from posenet_onnx.runtime import evaluate
    from posenet_onnx.runtime.jobs import EstimateSettings

    base = EstimateSettings(True, args.scale[0], args.flip, args.output_stride[0], args.max_poses, args.score_threshold, args.nms_radius)
    configurations = evaluate.sweep(
        base, scales=args.scale, output_strides=args.output_stride, precisions=args.precision,
        modes=args.mode, refinements=args.refinement,
    )
    ground_truth = evaluate.load_annotations(args.annotations)
    evaluations = evaluate.evaluate(
        ground_truth, args.images, _precision_loader(args), configurations,
        progress=lambda items, total: tqdm(items, total=total, unit="img", desc="evaluate", disable=None),
    )
    sys.stdout.write(evaluate.format_table(evaluations) + "\n")
    if args.json is not None:
        write_bytes_atomic(args.json, evaluate.rows_json(evaluations))
    if args.detections is not None:
        for e in evaluations:
            path = args.detections
            if len(evaluations) > 1:
                path = path.with_name(f"{path.stem}_{e.configuration.tag()}{path.suffix}")
            write_bytes_atomic(path, evaluate.detections_json(e.detections))
    return 0


def _precision_loader(args: argparse.Namespace) -> Any:
    """precision -> the PoseNet the model options name at that precision (fp32 unless `load` takes one)."""
    import inspect

    from posenet_onnx.runtime.cli import load_from_args
    from posenet_onnx.runtime.posenet import load

    def net(precision: str) -> Any:
        if precision == "fp32":
            return load_from_args(args)
        if "precision" not in inspect.signature(load).parameters:
            raise ValueError(f"--precision {precision}: this version of posenet_onnx.load runs fp32 graphs only")
        return load_from_args(args, precision=precision)

    return net
