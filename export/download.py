"""Where checkpoints come from: an offline folder, or the official server through a per-user cache.

The downloader fetches `manifest.json`, then each variable file the network uses (the served manifest's
unused heads are skipped), accepting gzip-encoded or plain bodies. Every file is checked against its
manifest size and renamed into place only when complete; the manifest is written last, so a folder
without `manifest.json` is an unfinished download. A re-run keeps the complete files and fetches the rest.
"""

from __future__ import annotations

import http.client
import json
import os
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from pathlib import Path

from tqdm import tqdm

from posenet_onnx.outputs import atomic_file, write_bytes_atomic
from posenet_onnx.export.checkpoint import MANIFEST, CheckpointError, ManifestEntry, parse_manifest
from posenet_onnx.contract import ENV_CHECKPOINT_DIR, cache_dir, checkpoint_name, validate_multiplier

BASE_URL = "https://storage.googleapis.com/tfjs-models/weights/posenet/"
ENV_BASE_URL = "POSENET_ONNX_CHECKPOINT_URL"
_CHUNK = 1 << 16
_TIMEOUT_S = 60


class DownloadError(RuntimeError):
    """A checkpoint download that failed; a re-run resumes it."""


def checkpoint_url(multiplier: float, base_url: str | None = None) -> str:
    """URL of a checkpoint folder: `base_url` (default $POSENET_ONNX_CHECKPOINT_URL, else the official server)."""
    base = base_url or os.environ.get(ENV_BASE_URL) or BASE_URL
    return f"{base.rstrip('/')}/{checkpoint_name(multiplier)}/"


def locate_checkpoint(
    multiplier: float, checkpoint_dir: str | Path | None = None, *, base_url: str | None = None, progress: bool = True
) -> Path:
    """The folder holding the checkpoint for `multiplier`.

    `checkpoint_dir` (default $POSENET_ONNX_CHECKPOINT_DIR) names an offline folder of
    `mobilenet_v1_XXX/` checkpoints, used as is; without either, the checkpoint is downloaded
    into the per-user cache (or reused from it).
    """
    multiplier = validate_multiplier(multiplier)
    name = checkpoint_name(multiplier)
    offline = checkpoint_dir if checkpoint_dir is not None else os.environ.get(ENV_CHECKPOINT_DIR)
    if offline:
        folder = Path(offline).expanduser() / name
        if not (folder / MANIFEST).is_file():
            raise CheckpointError(
                f"No checkpoint for multiplier {multiplier:.2f} in {Path(offline)}: "
                f"expected {folder / MANIFEST} (a {name}/ folder as served by {BASE_URL})."
            )
        return folder
    return download_checkpoint(multiplier, cache_dir() / "checkpoints", base_url=base_url, progress=progress)


def download_checkpoint(
    multiplier: float, root: str | Path, *, base_url: str | None = None, progress: bool = True
) -> Path:
    """Download (or complete) the checkpoint for `multiplier` into `root/mobilenet_v1_XXX/` and return that folder."""
    folder = Path(root).expanduser() / checkpoint_name(validate_multiplier(multiplier))
    if (folder / MANIFEST).is_file():
        return folder
    url = checkpoint_url(multiplier, base_url)
    manifest_bytes = b"".join(_fetch(url + MANIFEST))
    entries = parse_manifest(manifest_bytes, url + MANIFEST)
    folder.mkdir(parents=True, exist_ok=True)
    missing = {
        name: entry
        for name, entry in entries.items()
        if not ((folder / entry.filename).is_file() and (folder / entry.filename).stat().st_size == entry.nbytes)
    }
    total = sum(entry.nbytes for entry in missing.values())
    with tqdm(total=total, unit="B", unit_scale=True, desc=folder.name, disable=None if progress else True) as bar:
        for entry in missing.values():
            _download_file(url + entry.filename, folder / entry.filename, entry, bar)
    used = {name: {"filename": e.filename, "shape": list(e.shape)} for name, e in entries.items()}
    write_bytes_atomic(folder / MANIFEST, json.dumps(used, indent=1).encode())
    return folder


def _download_file(url: str, path: Path, entry: ManifestEntry, bar: tqdm) -> None:
    """Fetch one variable file to `path`, verifying its size before it takes the final name."""
    received = 0
    with atomic_file(path) as handle:
        for chunk in _fetch(url):
            received += len(chunk)
            if received > entry.nbytes:
                raise CheckpointError(
                    f"Downloaded {url} has more than {entry.nbytes} bytes, "
                    f"the size of its manifest shape {list(entry.shape)}."
                )
            handle.write(chunk)
            bar.update(len(chunk))
        if received != entry.nbytes:
            raise CheckpointError(
                f"Downloaded {url} has {received} bytes; its manifest shape {list(entry.shape)} needs {entry.nbytes}."
            )


def _fetch(url: str) -> Iterator[bytes]:
    """Stream a URL's body, decoding gzip content encoding; network failures become DownloadError."""
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip", "User-Agent": "posenet-onnx"})
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:
            gzipped = response.headers.get("Content-Encoding", "").lower() == "gzip"
            decoder = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzipped else None
            while chunk := response.read(_CHUNK):
                yield decoder.decompress(chunk) if decoder else chunk
            if decoder:
                yield decoder.flush()
                if not decoder.eof:
                    raise DownloadError(f"Download of {url} ended inside its gzip stream; re-run to resume.")
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"Download of {url} failed: HTTP {exc.code} {exc.reason}.") from exc
    except (urllib.error.URLError, http.client.HTTPException, OSError, zlib.error) as exc:
        raise DownloadError(f"Download of {url} failed ({exc}); re-run to resume (complete files are kept).") from exc
