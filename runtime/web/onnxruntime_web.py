"""onnxruntime-web's files that a site needs: the WebAssembly build's ES module, its worker module and its
WebAssembly binary (SIMD and threads; one thread where the page is not cross-origin isolated).

They come from a folder the user names (the npm package, or its dist/ folder), or else from the pinned
release fetched once with npm into the per-user cache, its tarball checked against the pinned digest.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from posenet_onnx.contract import cache_dir
from posenet_onnx.outputs import write_bytes_atomic

VERSION = "1.31.1"
# npm's integrity string of onnxruntime-web-1.31.1.tgz (the registry's, as `npm view` shows it).
INTEGRITY = "sha512-5GeH+bWQ+HxM10z7erGlsWqryrwMbSvm/1tkIsKTT48g0fI19VXVVC435t4t7VsPdSQeS7NmuZPXrQ73k82URw=="
TARBALL_URL = f"https://registry.npmjs.org/onnxruntime-web/-/onnxruntime-web-{VERSION}.tgz"
FILES: tuple[str, ...] = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")


@dataclass(frozen=True)
class RuntimeFiles:
    """The folder holding FILES, and the release they are from ("unknown" when it does not say)."""

    folder: Path
    version: str


def runtime_files(folder: Path | None) -> RuntimeFiles:
    """onnxruntime-web's files from `folder` (the package or its dist/ folder), else the cached pinned release."""
    if folder is not None:
        return _from_folder(folder)
    cached = cache_dir() / "onnxruntime-web" / VERSION
    if not all(cached.joinpath(name).is_file() for name in FILES):
        _fetch_with_npm(cached)
    return RuntimeFiles(cached, VERSION)


def _from_folder(folder: Path) -> RuntimeFiles:
    if not folder.is_dir():
        raise ValueError(f"The onnxruntime-web folder {folder} is not a folder; give the npm package's folder or its dist/.")
    dist = folder / "dist" if (folder / "dist").is_dir() else folder
    missing = [name for name in FILES if not dist.joinpath(name).is_file()]
    if missing:
        raise ValueError(
            f"{dist} lacks onnxruntime-web's {', '.join(missing)}; give the folder of the onnxruntime-web npm package "
            f"({VERSION} or another 1.19+ release) or its dist/."
        )
    return RuntimeFiles(dist, _package_version(dist.parent / "package.json") or "unknown")


def _package_version(package_json: Path) -> str | None:
    try:
        package = json.loads(package_json.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return package.get("version") if isinstance(package, dict) and package.get("name") == "onnxruntime-web" else None


def _fetch_with_npm(cached: Path) -> None:
    """`npm pack` the pinned release into a temporary folder, check its digest, keep the files in `cached`."""
    hint = (
        f"or download {TARBALL_URL}, unpack it and pass --onnxruntime-web with the package/dist folder it holds"
    )
    npm = shutil.which("npm")
    if npm is None:
        raise FileNotFoundError(f"onnxruntime-web {VERSION} is needed and npm is not on PATH: install npm, {hint}.")
    with tempfile.TemporaryDirectory(prefix="posenet-onnx-npm-") as scratch:
        done = subprocess.run(
            [npm, "pack", f"onnxruntime-web@{VERSION}", "--json", "--pack-destination", scratch],
            capture_output=True, text=True, cwd=scratch,
        )
        if done.returncode != 0:
            reason = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise RuntimeError(f"npm could not fetch onnxruntime-web {VERSION} ({reason}); {hint}.")
        tarball = Path(scratch) / json.loads(done.stdout)[0]["filename"]
        _check_integrity(tarball)
        with tarfile.open(tarball, "r:gz") as archive:
            for name in FILES:
                member = archive.extractfile(f"package/dist/{name}")
                if member is None:
                    raise RuntimeError(f"onnxruntime-web {VERSION}'s tarball has no dist/{name}")
                write_bytes_atomic(cached / name, member.read())


def _check_integrity(tarball: Path) -> None:
    algorithm, _, expected = INTEGRITY.partition("-")
    digest = hashlib.new(algorithm)
    with open(tarball, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if base64.b64encode(digest.digest()).decode() != expected:
        raise RuntimeError(f"npm's onnxruntime-web {VERSION} tarball does not match its pinned digest; nothing was kept.")
