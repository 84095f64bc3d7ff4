"""`posenet-onnx estimate`: the folder job. Files, folders, glob patterns and @LIST files are streamed through
the local engine (read threads, same-size batches) or Ray; records go out as they come (--jsonl, --parquet)
or as the seed's JSON list at the end (--json, else standard output); drawings on request.

A failed image is a record, not the end of the job: the exit status is 1 when any image failed, 0 otherwise.
A subfolder that cannot be listed is one warning line before the work and exit status 1 at the end (with
--on-error fail, the job stops there). Each output file is held by one job at a time (`outputs.exclusive`),
and --resume appends only with the settings the file's first record names.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from posenet_onnx.outputs import (
    Output,
    OutputPlan,
    caused_by_interrupt,
    check_writable_folder,
    exclusive,
    json_text,
    os_error_reason,
    write_bytes,
)

if TYPE_CHECKING:
    from posenet_onnx.runtime.settings import EstimateSettings

DRAWING_SUFFIX = ".poses.png"


def drawing_names(images: list[str], folder: Path, plan: OutputPlan) -> list[Output]:
    """One checked drawing per image, `<stem>.poses.png` in `folder`; `<stem>-2.poses.png`, ... where two
    images share a stem or a name is one of the inputs, so that no drawing replaces another or an input."""
    outputs: list[Output] = []
    taken: set[str] = set()
    for image in images:
        stem = Path(image).stem
        number = 1
        while True:
            name = f"{stem}{DRAWING_SUFFIX}" if number == 1 else f"{stem}-{number}{DRAWING_SUFFIX}"
            number += 1
            if name in taken or _is_an_input(folder / name, images):
                continue
            taken.add(name)
            outputs.append(plan.add(folder / name, "drawing"))
            break
    return outputs


def _is_an_input(path: Path, images: list[str]) -> bool:
    return path.exists() and any(os.path.exists(image) and os.path.samefile(path, image) for image in images)


class JobOutputs:
    """The checked outputs of one job (before any work): JSON list, JSONL, Parquet and drawings; none of them
    may be an input (an image, a list file, the --model graph)."""

    def __init__(self, args: argparse.Namespace, paths: list[str]) -> None:
        if args.resume and (args.jsonl in (None, "-") or args.parquet is not None or args.json is not None):
            raise ValueError("--resume appends to a --jsonl OUT file, and goes with no --json or --parquet (written whole)")
        if args.draw is not None and args.fast_decode:
            raise ValueError("--draw draws on the whole image; --fast-decode reads images at a reduced size: give one of them")
        if args.draw is not None and args.engine == "ray":
            raise ValueError("--draw runs with the local engine only (--engine local); draw from the records instead")
        from posenet_onnx.runtime.batch.sources import list_files

        self.plan = OutputPlan([*paths, *list_files(args.images), *([args.model] if args.model else [])])
        folder = None if args.draw is None else check_writable_folder(args.draw, "drawing folder")  # created first
        self.drawings = None if folder is None else dict(zip(paths, drawing_names(paths, folder, self.plan)))
        self.jsonl = None if args.jsonl is None else self.plan.add(args.jsonl, "JSON lines output")
        self.parquet = None if args.parquet is None else self.plan.add(args.parquet, "Parquet output", regular_only=True)
        streamed = self.jsonl is not None or self.parquet is not None
        listed = args.json is not None or not streamed
        self.json = self.plan.add("-" if args.json is None else args.json, "JSON output") if listed else None


def run(args: argparse.Namespace, kept: list[str]) -> int:
    """Expand the sources, check every output, estimate on the chosen engine and write the records."""
    from posenet_onnx.commands.model import settings_from_args
    from posenet_onnx.runtime.batch.jobs import MAX_READ_THREADS

    for name in ("batch_size", "threads", "actors", "actor_threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be 1 or more; got {value}")
    if args.threads is not None and args.threads > MAX_READ_THREADS:
        raise ValueError(f"--threads must be 1 to {MAX_READ_THREADS}; got {args.threads}")
    settings = settings_from_args(args, multi_pose=args.multi, fast_decode=args.fast_decode)
    unreadable: list[OSError] = []
    paths = _expand(args, unreadable)
    outputs = JobOutputs(args, paths)
    with ExitStack() as held:
        for output in (outputs.jsonl, outputs.parquet, outputs.json):
            if output is not None:
                held.enter_context(exclusive(output))  # a second job on the same file is refused, before any work
        recorded_as = _job_settings(args, settings)
        if args.resume:
            paths = _remaining(args, outputs.jsonl, paths, recorded_as)
        if unreadable:
            if args.on_error == "fail":
                print(f"posenet-onnx estimate: stopped: {_folders(unreadable)}", file=sys.stderr)
                return 1
            print(f"posenet-onnx estimate: warning: images left out: {_folders(unreadable)}", file=sys.stderr)
        failed = _write_records(args, kept, outputs, settings, recorded_as, paths)
    return 1 if failed or unreadable else 0


def _expand(args: argparse.Namespace, unreadable: list[OSError]) -> list[str]:
    """The sources' image paths; the folders that could not be listed go to `unreadable`."""
    from posenet_onnx.runtime.batch.sources import expand_sources

    try:
        return expand_sources(args.images, recursive=args.recursive, onerror=unreadable.append)
    except ValueError as exc:
        if unreadable:
            raise ValueError(f"{exc}; {_folders(unreadable)}") from None
        raise


def _folders(errors: list[OSError], shown: int = 3) -> str:
    """The unreadable folders in a few words: "2 folders cannot be read: a (Permission denied), b (...)"."""
    named = ", ".join(f"{os.fsdecode(exc.filename)} ({os_error_reason(exc)})" for exc in errors[:shown])
    more = f" and {len(errors) - shown} more" if len(errors) > shown else ""
    counted = "1 folder cannot" if len(errors) == 1 else f"{len(errors)} folders cannot"
    return f"{counted} be read: {named}{more}"


def _job_settings(args: argparse.Namespace, settings: EstimateSettings) -> dict[str, Any]:
    """The settings the records depend on, as the output's first record carries them: the model and the
    estimate settings, with the stride a multiplier's model runs at when none is given."""
    from posenet_onnx.contract import DEFAULT_OUTPUT_STRIDE
    from posenet_onnx.runtime.batch.records import job_settings

    if args.model is not None:
        recorded = job_settings(settings, model=os.path.abspath(args.model))
    else:
        recorded = job_settings(settings, multiplier=args.multiplier, precision=args.precision)
        recorded["output_stride"] = recorded["output_stride"] or DEFAULT_OUTPUT_STRIDE
    return recorded


def _remaining(args: argparse.Namespace, jsonl: Output, paths: list[str], recorded_as: dict[str, Any]) -> list[str]:
    """--resume: the paths not yet in the JSONL file, which must have been made with the same settings."""
    from posenet_onnx.runtime.batch.records import completed_images, recorded_settings, settings_difference

    if jsonl.special:
        raise ValueError(f"--resume reads and appends to a regular file; {args.jsonl} is a pipe or device")
    recorded = recorded_settings(jsonl.path)
    difference = None if recorded is None else settings_difference(recorded, recorded_as)
    if difference is not None:  # refused before `completed_images` cuts a partial last line: the file stays as it is
        raise ValueError(
            f"--resume: {args.jsonl} was made with other settings ({difference}); resume with the settings it was "
            "made with, or write to another --jsonl file"
        )
    done = completed_images(jsonl.path)
    return [path for path in paths if path not in done]


def _write_records(
    args: argparse.Namespace,
    kept: list[str],
    outputs: JobOutputs,
    settings: EstimateSettings,
    recorded_as: dict[str, Any],
    paths: list[str],
) -> int:
    """Estimate the paths on the chosen engine and write their records; the number of failed images."""
    from posenet_onnx.runtime.batch.records import JsonlWriter, ParquetWriter

    if args.engine == "ray":
        records = _ray_records(args, settings, paths)
    else:
        records = _local_records(args, settings, paths, outputs.drawings)
    failed = 0
    listed: list[dict[str, Any]] = []
    with ExitStack() as stack:
        sinks: list[Any] = []
        if outputs.jsonl is not None:
            sinks.append(stack.enter_context(JsonlWriter(outputs.jsonl, append=args.resume, settings=recorded_as)))
        if outputs.parquet is not None:
            sinks.append(stack.enter_context(ParquetWriter(outputs.parquet, settings=recorded_as)))
        try:
            for record in _progress(records, len(paths)):
                for sink in sinks:
                    sink.write(record)
                if outputs.json is not None:
                    listed.append({key: record[key] for key in ("image", "poses", "error") if key in record})
                if "error" in record:
                    failed += 1
                    if args.on_error == "fail":
                        print(f"posenet-onnx estimate: stopped at {record['image']}: {record['error']}", file=sys.stderr)
                        break
        except BaseException as exc:
            if caused_by_interrupt(exc) and outputs.jsonl is not None and not outputs.jsonl.is_stdout:
                kept.append(f"{args.jsonl} (the images done; --resume goes on)")
            raise
    if outputs.json is not None:
        write_bytes(outputs.json, (json_text(listed, indent=2) + "\n").encode())
    if failed and args.on_error == "continue":
        print(f"posenet-onnx estimate: {failed} of {len(paths)} images failed (their records say why)", file=sys.stderr)
    return failed


def _local_records(
    args: argparse.Namespace, settings: EstimateSettings, paths: Sequence[str], drawings: dict[str, Output] | None
) -> Iterator[dict[str, Any]]:
    from posenet_onnx.commands.model import load_for_workers
    from posenet_onnx.runtime.batch.jobs import check_runs, estimate_paths

    net, workers = load_for_workers(args, args.threads)
    check_runs(net, settings)
    results = estimate_paths(net, settings, paths, threads=args.threads, batch_size=args.batch_size, workers=workers)
    return _drawn(results, drawings, flip=args.flip) if drawings is not None else (result.record for result in results)


def _drawn(results: Iterable[Any], drawings: dict[str, Output], *, flip: bool) -> Iterator[dict[str, Any]]:
    """The results' records, each estimated image drawn with its poses first."""
    from posenet_onnx.runtime.draw import draw_poses

    for result in results:
        if result.poses is not None:
            # With --flip the positions are those of the mirrored image (upstream 1.0.3), so draw on it.
            image = result.source.image
            picture = io.BytesIO()
            draw_poses(image[:, ::-1] if flip else image, result.poses).save(picture, format="PNG")
            write_bytes(drawings[result.source.path], picture.getvalue())
        yield result.record


def _ray_records(args: argparse.Namespace, settings: EstimateSettings, paths: Sequence[str]) -> Iterator[dict[str, Any]]:
    from posenet_onnx.contract import validate_output_stride_for
    from posenet_onnx.runtime.batch.ray_engine import import_ray, ray_records

    import_ray()  # the missing extra is named before any work
    if args.model is None and settings.output_stride is not None:  # a graph file's stride is checked on the workers
        validate_output_stride_for(args.multiplier, settings.output_stride)
    absolute = (lambda path: None if path is None else os.path.abspath(path))  # the workers' working folder differs
    load_kwargs = {
        "multiplier": absolute(args.model) if args.model else args.multiplier,
        "precision": args.precision,
        "device": args.device,
        "model_dir": absolute(args.model_dir),
        "checkpoint_dir": absolute(args.checkpoint_dir),
    }
    if not paths:
        return iter(())
    return ray_records(
        paths, settings, load_kwargs, address=args.ray_address, actors=args.actors,
        threads_per_actor=args.actor_threads, batch_size=args.batch_size,
    )


def _progress(records: Iterator[dict[str, Any]], total: int) -> Iterable[dict[str, Any]]:
    """The records, with a progress bar (images/s and the time left) when stderr is a terminal."""
    from tqdm import tqdm

    return tqdm(records, total=total, unit="img", desc="estimate", disable=None, dynamic_ncols=True)
