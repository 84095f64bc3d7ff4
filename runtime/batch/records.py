"""A folder job's records and the files they go to: JSON Lines (streamed, resumable) and Parquet (pyarrow).

A record is one image's result, `{"image": PATH, "width": W, "height": H, "poses": [pose, ...]}` with poses in
upstream's JSON shape (`Pose.to_dict()`), or `{"image": PATH, "error": MESSAGE}` for an image that could not
be read or estimated.

JSON Lines: written straight into the output (not under a temporary name: a killed job must leave the
images it finished), each record one line written whole with unbuffered writes, so a killed job leaves
complete lines (at worst a partial last one, which `completed_images` cuts off before a resumed job appends).

Parquet: one row per pose, columns `image` (string), `width`, `height` (int32), `error` (string), `pose`
(int32, the pose's index in the image), `score` (float64) and, for each of the 17 parts in part-id order,
`<part>_x`, `<part>_y`, `<part>_score` (float64; part names as `posenet_onnx.part_names`, e.g. `leftEye_x`).
An image without poses, or that failed, has one row whose pose columns are null (`error` set when it failed).
The file is written under a temporary name and renamed when the job completes (`posenet_onnx.outputs`).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from typing import Any

from posenet_onnx.keypoints import PART_NAMES
from posenet_onnx.outputs import Output, json_text
from posenet_onnx.runtime.pose import Pose

Record = dict[str, Any]
PARQUET_ROW_GROUP = 4096  # rows buffered before a row group is written


def image_record(image: str, width: int, height: int, poses: Iterable[Pose]) -> Record:
    """The record of an estimated image."""
    return {"image": image, "width": width, "height": height, "poses": [pose.to_dict() for pose in poses]}


def error_record(image: str, message: str) -> Record:
    """The record of an image that could not be read or estimated."""
    return {"image": image, "error": message}


def record_line(record: Record) -> bytes:
    """One JSON line (newline-terminated UTF-8; NaN or infinite numbers, possible only for degenerate outputs,
    as null)."""
    return (json_text(record) + "\n").encode()


def completed_images(path: str | os.PathLike) -> set[str]:
    """The images recorded in a JSONL file, after cutting off a partial last line (what a killed job may leave).

    A missing file has none. ValueError when a complete line is not a record: then the file is not a job's
    output, and appending to it would be wrong.
    """
    if not os.path.exists(path):
        return set()
    with open(path, "rb+") as handle:
        data = handle.read()
        end = data.rfind(b"\n") + 1
        images = set()
        for number, line in enumerate(data[:end].splitlines(), 1):
            try:
                images.add(json.loads(line)["image"])
            except (ValueError, KeyError, TypeError):
                name = os.fspath(path)
                raise ValueError(f"{name} line {number} is not a posenet-onnx record; only a job's own JSON lines can be resumed") from None
        if end < len(data):
            handle.truncate(end)
    return images


class JsonlWriter:
    """Records to a checked JSON Lines output: appended to with `append`, else created or emptied; standard
    output, FIFOs and devices are written as they are, and a symlink's target gets the lines."""

    def __init__(self, output: Output, *, append: bool = False) -> None:
        self._owned = not output.is_stdout
        if output.is_stdout:
            sys.stdout.flush()
            self._fd = sys.stdout.fileno()
        else:
            mode = 0 if output.special else os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
            self._fd = os.open(output.path, os.O_WRONLY | mode | getattr(os, "O_BINARY", 0), 0o666)

    def write(self, record: Record) -> None:
        """Write one record as one line, whole: a line is never left half-written by a short write."""
        line = memoryview(record_line(record))
        while line:
            line = line[os.write(self._fd, line) :]

    def close(self) -> None:
        if self._owned:
            os.close(self._fd)

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def import_pyarrow() -> tuple[Any, Any]:
    """pyarrow and pyarrow.parquet, imported on first use; a clear message when the `[parquet]` extra is missing."""
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise RuntimeError('Parquet output needs pyarrow: pip install "posenet-onnx[parquet]"') from None
    return pyarrow, pyarrow.parquet


def parquet_schema() -> Any:
    """The Parquet files' schema (see the module docstring)."""
    pa, _ = import_pyarrow()
    fields = [
        pa.field("image", pa.string(), nullable=False),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("error", pa.string()),
        pa.field("pose", pa.int32()),
        pa.field("score", pa.float64()),
    ]
    fields += [pa.field(f"{part}_{value}", pa.float64()) for part in PART_NAMES for value in ("x", "y", "score")]
    return pa.schema(fields)


def parquet_rows(record: Record) -> Iterator[dict[str, Any]]:
    """A record's Parquet rows: one per pose, or one with null pose columns."""
    base = {"image": record["image"], "width": record.get("width"), "height": record.get("height"), "error": record.get("error")}
    poses = record.get("poses") or []
    if not poses:
        yield base
    for index, pose in enumerate(poses):
        row = {**base, "pose": index, "score": pose["score"]}
        for keypoint in pose["keypoints"]:
            part = keypoint["part"]
            row[f"{part}_x"] = keypoint["position"]["x"]
            row[f"{part}_y"] = keypoint["position"]["y"]
            row[f"{part}_score"] = keypoint["score"]
        yield row


class ParquetWriter:
    """Records to a checked Parquet output, written under a temporary name and renamed into place by `close()`.

    Leaving the `with` block by an exception (Ctrl-C included) removes the temporary file: no incomplete file
    takes the name.
    """

    def __init__(self, output: Output) -> None:
        self._pa, parquet = import_pyarrow()
        self._schema = parquet_schema()
        self._stack = ExitStack()
        temp = self._stack.enter_context(output.staged())
        self._writer = parquet.ParquetWriter(temp, self._schema)
        self._rows: list[dict[str, Any]] = []

    def write(self, record: Record) -> None:
        self._rows.extend(parquet_rows(record))
        if len(self._rows) >= PARQUET_ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        if self._rows:
            self._writer.write_table(self._pa.Table.from_pylist(self._rows, schema=self._schema))
            self._rows = []

    def close(self) -> None:
        """Write what is buffered and put the complete file in place."""
        self._flush()
        self._writer.close()
        self._stack.close()

    def __enter__(self) -> ParquetWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc_type is None:
            self.close()
            return
        self._writer.close()
        self._stack.__exit__(exc_type, exc, tb)  # the staged output removes the temporary file
