"""PoseNet 1.x checkpoints in the TensorFlow.js layout: `manifest.json` plus one raw float32 file per variable.

The loader reads only the variables the network uses (served manifests also list unused heads such as
`*_1`, `partheat_*`, `segment_*`), checks every file's byte size against its manifest shape and the
shapes against each other, and names the offending file in every error.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from posenet_onnx.contract import OUTPUT_CHANNELS
from posenet_onnx.export.architecture import NUM_BLOCKS

MANIFEST = "manifest.json"
# What a variable's file may be called: no folders, nothing hidden (the folder's temporary files are).
PLAIN_FILENAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")
# The checkpoint's output heads, in the contract's output order (heatmap_2 -> heatmap_scores, ...).
HEADS: tuple[str, ...] = ("heatmap_2", "offset_2", "displacement_fwd_2", "displacement_bwd_2")
HEAD_CHANNELS: dict[str, int] = dict(zip(HEADS, OUTPUT_CHANNELS.values()))


class CheckpointError(ValueError):
    """A checkpoint folder that is missing, incomplete or inconsistent."""


@dataclass(frozen=True)
class ManifestEntry:
    """Where a variable is stored and its shape."""

    filename: str
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        """Size of the raw float32 file."""
        return 4 * math.prod(self.shape)


@dataclass(frozen=True)
class Checkpoint:
    """The variables the network uses, as float32 arrays, with the checkpoint's identity."""

    name: str
    folder: Path
    variables: dict[str, np.ndarray]

    def sha256(self) -> str:
        """SHA-256 over the used variables in name order (name bytes, then little-endian float32 data)."""
        digest = hashlib.sha256()
        for name in sorted(self.variables):
            digest.update(name.encode())
            digest.update(self.variables[name].astype("<f4").tobytes())
        return digest.hexdigest()


def block_variables(index: int) -> tuple[str, ...]:
    """Variable names of backbone block `index` (block 0 is a full conv, the rest are separable)."""
    if index == 0:
        return ("MobilenetV1/Conv2d_0/weights", "MobilenetV1/Conv2d_0/biases")
    return (
        f"MobilenetV1/Conv2d_{index}_depthwise/depthwise_weights",
        f"MobilenetV1/Conv2d_{index}_depthwise/biases",
        f"MobilenetV1/Conv2d_{index}_pointwise/weights",
        f"MobilenetV1/Conv2d_{index}_pointwise/biases",
    )


def head_variables(head: str) -> tuple[str, str]:
    """Weights and biases of an output head."""
    return f"MobilenetV1/{head}/weights", f"MobilenetV1/{head}/biases"


def required_variables() -> tuple[str, ...]:
    """Every variable the exported network uses, in network order."""
    names: list[str] = []
    for index in range(NUM_BLOCKS):
        names.extend(block_variables(index))
    for head in HEADS:
        names.extend(head_variables(head))
    return tuple(names)


def parse_manifest(text: str | bytes, source: str) -> dict[str, ManifestEntry]:
    """Parse a manifest, keeping only the variables the network uses; `source` names it in errors."""
    try:
        raw = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"Unreadable checkpoint manifest {source}: {exc}") from exc
    if not isinstance(raw, dict):
        raise CheckpointError(f"Unreadable checkpoint manifest {source}: expected a JSON object of variables.")
    entries: dict[str, ManifestEntry] = {}
    taken: set[str] = set()
    for name in required_variables():
        if name not in raw:
            raise CheckpointError(f"Checkpoint manifest {source} has no variable {name!r}.")
        item = raw[name]
        try:
            filename, shape = item["filename"], tuple(int(d) for d in item["shape"])
        except (TypeError, KeyError, ValueError) as exc:
            raise CheckpointError(
                f"Unreadable checkpoint manifest {source}: entry {name!r} needs 'filename' and an integer 'shape'."
            ) from exc
        _check_filename(name, filename, source, taken)
        entries[name] = ManifestEntry(filename, shape)
    _check_shapes(entries, source)
    return entries


def _check_filename(name: str, filename: object, source: str, taken: set[str]) -> None:
    """A variable's file must be a plain, visible file name, not the manifest's and not another variable's.

    The checkpoint folder's own files are the manifest and hidden temporary files, so no entry can name one
    of them; names are compared case-insensitively, as some file systems do. ``taken`` collects the names.
    """
    if not isinstance(filename, str) or not PLAIN_FILENAME.fullmatch(filename) or filename.casefold() == MANIFEST:
        raise CheckpointError(
            f"Checkpoint manifest {source}: entry {name!r} has filename {filename!r}; a variable file must be a "
            f"plain file name (letters, digits, '_', '-' and '.', not starting with '.') other than {MANIFEST}."
        )
    if filename.casefold() in taken:
        raise CheckpointError(f"Checkpoint manifest {source}: entry {name!r} reuses another variable's file {filename!r}.")
    taken.add(filename.casefold())


def read_manifest(folder: Path) -> dict[str, ManifestEntry]:
    """Read `folder/manifest.json` (see parse_manifest)."""
    path = Path(folder) / MANIFEST
    try:
        text = path.read_bytes()
    except FileNotFoundError as exc:
        raise CheckpointError(f"Checkpoint manifest {path} not found.") from exc
    except OSError as exc:
        raise CheckpointError(f"Unreadable checkpoint manifest {path}: {exc}") from exc
    return parse_manifest(text, str(path))


def load_checkpoint(folder: str | Path) -> Checkpoint:
    """Load the used variables of the checkpoint in `folder`, verifying every file's size."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"Checkpoint folder {folder} not found.")
    entries = read_manifest(folder)
    variables = {}
    for name, entry in entries.items():
        path = folder / entry.filename
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise CheckpointError(f"Checkpoint file {path} (variable {name!r}) not found.") from exc
        if len(data) != entry.nbytes:
            raise CheckpointError(
                f"Checkpoint file {path} has {len(data)} bytes; variable {name!r} of shape "
                f"{list(entry.shape)} needs {entry.nbytes} (raw float32)."
            )
        variables[name] = np.frombuffer(data, dtype="<f4").reshape(entry.shape).astype(np.float32)
    return Checkpoint(folder.name, folder, variables)


def _check_shapes(entries: dict[str, ManifestEntry], source: str) -> None:
    """Check that the shapes chain into one network: kernel sizes, channel counts, biases."""

    def expect(name: str, shape: tuple[int | None, ...]) -> None:
        actual = entries[name].shape
        if len(actual) != len(shape) or any(e is not None and e != a for a, e in zip(actual, shape)):
            wanted = ["*" if e is None else e for e in shape]
            raise CheckpointError(
                f"Checkpoint manifest {source}: variable {name!r} ({entries[name].filename}) has shape "
                f"{list(actual)}, expected {wanted}."
            )

    weights, biases = block_variables(0)
    expect(weights, (3, 3, 3, None))
    channels = entries[weights].shape[3]
    expect(biases, (channels,))
    for index in range(1, NUM_BLOCKS):
        depthwise, depthwise_biases, pointwise, pointwise_biases = block_variables(index)
        expect(depthwise, (3, 3, channels, 1))
        expect(depthwise_biases, (channels,))
        expect(pointwise, (1, 1, channels, None))
        channels = entries[pointwise].shape[3]
        expect(pointwise_biases, (channels,))
    for head in HEADS:
        weights, biases = head_variables(head)
        expect(weights, (1, 1, channels, HEAD_CHANNELS[head]))
        expect(biases, (HEAD_CHANNELS[head],))
