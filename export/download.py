"""Where checkpoints come from: an offline folder, or the official server through a per-user cache.

The downloader fetches `manifest.json`, then each variable file the network uses (the served manifest's
unused heads are skipped), accepting gzip-encoded or plain bodies. Every file is checked against its
manifest size and, where the official file's SHA-256 is pinned (export/pins.py), its hash, and renamed into
place only when it passes; the manifest is written last, so a folder without `manifest.json` is an unfinished
download. Every run checks the cache the same way: a re-run keeps the good files and fetches the rest, a cache
damaged later is repaired, and temporary files left by a killed download are removed. One download per
folder runs at a time (a lock on the folder, where the system has flock).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from pathlib import Path

from tqdm import tqdm

from posenet_onnx.outputs import atomic_file, is_temporary_name, write_bytes_atomic
from posenet_onnx.export.checkpoint import MANIFEST, CheckpointError, ManifestEntry, parse_manifest
from posenet_onnx.export.pins import PINNED_SHA256
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
    """Download, complete or repair the checkpoint for `multiplier` in `root/mobilenet_v1_XXX/`; return that folder."""
    name = checkpoint_name(validate_multiplier(multiplier))
    folder = Path(root).expanduser() / name
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise CheckpointError(f"{folder} is in the way of the checkpoint cache (it is not a folder); remove it and re-run.")
    folder.mkdir(parents=True, exist_ok=True)
    pins = PINNED_SHA256.get(name)
    with _exclusive(folder):
        _remove_temporary_files(folder)
        cached = _cached_manifest(folder)
        if cached is not None and not _damaged(folder, cached, pins):
            return folder
        _check_nothing_in_the_way(folder, [MANIFEST])
        (folder / MANIFEST).unlink(missing_ok=True)  # incomplete until every file is good again
        url = checkpoint_url(multiplier, base_url)
        entries = parse_manifest(b"".join(_fetch(url + MANIFEST)), url + MANIFEST)
        if pins is not None:
            _check_pinned(entries, pins, url + MANIFEST)
        missing = _damaged(folder, entries, pins)
        _check_nothing_in_the_way(folder, [entry.filename for entry in missing])
        total = sum(entry.nbytes for entry in missing)
        with tqdm(total=total, unit="B", unit_scale=True, desc=name, disable=None if progress else True) as bar:
            for entry in missing:
                _download_file(url + entry.filename, folder / entry.filename, entry, pins, bar)
        used = {variable: {"filename": e.filename, "shape": list(e.shape)} for variable, e in entries.items()}
        write_bytes_atomic(folder / MANIFEST, json.dumps(used, indent=1).encode())
    return folder


@contextlib.contextmanager
def _exclusive(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on the folder (POSIX flock; no lock elsewhere), so that a second download into it
    waits instead of removing or replacing the first one's files."""
    try:
        import fcntl
    except ImportError:  # Windows: no flock
        yield
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # releases the lock


def _remove_temporary_files(folder: Path) -> None:
    """Remove what an interrupted download left (a killed process cannot clean up after itself); no variable
    file is hidden, so every hidden temporary name in the folder is ours."""
    for path in folder.iterdir():
        if is_temporary_name(path.name) and path.is_file() and not path.is_symlink():
            path.unlink()


def _cached_manifest(folder: Path) -> dict[str, ManifestEntry] | None:
    """The cache's own manifest, or None when it is missing or unreadable (then the download starts over)."""
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        return parse_manifest(path.read_bytes(), str(path))
    except (OSError, CheckpointError):
        return None


def _damaged(folder: Path, entries: dict[str, ManifestEntry], pins: dict[str, str] | None) -> list[ManifestEntry]:
    """The entries whose file is missing, of the wrong size or (where pinned) of the wrong SHA-256."""
    return [entry for entry in entries.values() if not _is_good(folder / entry.filename, entry, pins)]


def _is_good(path: Path, entry: ManifestEntry, pins: dict[str, str] | None) -> bool:
    if path.is_symlink() or not path.is_file() or path.stat().st_size != entry.nbytes:
        return False
    return pins is None or hashlib.sha256(path.read_bytes()).hexdigest() == pins.get(entry.filename)


def _check_nothing_in_the_way(folder: Path, filenames: list[str]) -> None:
    """Refuse to replace anything but a plain file (a folder, a link, a device) where one of our files goes."""
    for filename in filenames:
        path = folder / filename
        if path.is_symlink() or (path.exists() and not path.is_file()):
            raise CheckpointError(
                f"{path} is in the way of checkpoint file {filename} (it is not a plain file); remove it and re-run."
            )


def _check_pinned(entries: dict[str, ManifestEntry], pins: dict[str, str], source: str) -> None:
    """A pinned checkpoint's manifest must name the official files."""
    for variable, entry in entries.items():
        if entry.filename not in pins:
            raise CheckpointError(
                f"Checkpoint manifest {source} names file {entry.filename!r} for {variable!r}, which the official "
                "checkpoint does not have; the server does not serve the official checkpoint."
            )


def _download_file(url: str, path: Path, entry: ManifestEntry, pins: dict[str, str] | None, bar: tqdm) -> None:
    """Fetch one variable file to `path`, verifying its size (and pinned SHA-256) before it takes the final name."""
    received = 0
    digest = hashlib.sha256()
    with atomic_file(path) as handle:
        for chunk in _fetch(url):
            received += len(chunk)
            if received > entry.nbytes:
                raise CheckpointError(
                    f"Downloaded {url} has more than {entry.nbytes} bytes, "
                    f"the size of its manifest shape {list(entry.shape)}."
                )
            handle.write(chunk)
            digest.update(chunk)
            bar.update(len(chunk))
        if received != entry.nbytes:
            raise CheckpointError(
                f"Downloaded {url} has {received} bytes; its manifest shape {list(entry.shape)} needs {entry.nbytes}."
            )
        if pins is not None and digest.hexdigest() != pins[entry.filename]:
            raise CheckpointError(
                f"Downloaded {url} has SHA-256 {digest.hexdigest()}, not the official file's {pins[entry.filename]}; "
                "the server does not serve the official checkpoint (nothing was kept)."
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
