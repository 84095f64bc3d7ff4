"""The real downloader against a local HTTP server (127.0.0.1, port 0) serving the real 0.50 checkpoint."""

from __future__ import annotations

import gzip
import http.server
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from posenet_onnx.export import export_model
from posenet_onnx.export.checkpoint import CheckpointError, load_checkpoint, required_variables
from posenet_onnx.export.download import DownloadError, download_checkpoint
from posenet_onnx.contract import model_filename

NAME = "mobilenet_v1_050"
# Mangles a served body: (file name, gzip-encoded body) -> bytes to send; None sends it unchanged.
Mangle = Callable[[str, bytes], bytes] | None


class CheckpointServer:
    """Serves a checkpoint folder like the official server, logging every requested file."""

    def __init__(self, folder: Path, gzipped: bool, drop_after: int | None, mangle: Mangle):
        self.folder, self.gzipped, self.drop_after, self.mangle = folder, gzipped, drop_after, mangle
        self.requests: list[str] = []

    def handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                name = self.path.rsplit("/", 1)[-1]
                path = server.folder / name
                if not self.path.startswith(f"/{NAME}/") or not path.is_file():
                    self.send_error(404)
                    return
                server.requests.append(name)
                body = path.read_bytes()
                if server.mangle:
                    body = server.mangle(name, body)
                if server.gzipped:
                    body = gzip.compress(body)
                self.send_response(200)
                if server.gzipped:
                    self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.drop_after is not None and len(server.requests) > server.drop_after:
                    self.wfile.write(body[: len(body) // 2])  # then the connection drops half-way
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        return Handler


@contextmanager
def serve(
    folder: Path, *, gzipped: bool = True, drop_after: int | None = None, mangle: Mangle = None
) -> Iterator[tuple[str, CheckpointServer]]:
    """Run a CheckpointServer on 127.0.0.1 in a thread; yields (base URL, server)."""
    state = CheckpointServer(folder, gzipped, drop_after, mangle)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), state.handler())
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture
def real_folder(checkpoint_dir: Path) -> Path:
    return checkpoint_dir / NAME


def used_files(folder: Path) -> set[str]:
    manifest = json.loads((folder / "manifest.json").read_text())
    return {manifest[name]["filename"] for name in required_variables()}


def assert_same_checkpoint(downloaded: Path, real: Path) -> None:
    got, want = load_checkpoint(downloaded).variables, load_checkpoint(real).variables
    assert got.keys() == want.keys()
    for name in want:
        np.testing.assert_array_equal(got[name], want[name])


def looks_complete(folder: Path) -> bool:
    return (folder / "manifest.json").exists()


@pytest.mark.parametrize("gzipped", [True, False], ids=["gzip", "plain"])
def test_downloads_the_used_files_once(real_folder: Path, tmp_path: Path, gzipped: bool):
    with serve(real_folder, gzipped=gzipped) as (url, server):
        folder = download_checkpoint(0.50, tmp_path, base_url=url, progress=False)
        assert folder == tmp_path / NAME
        assert_same_checkpoint(folder, real_folder)
        # The manifest, then each used variable once; the unused *_1 heads are not fetched.
        assert server.requests[0] == "manifest.json"
        assert sorted(server.requests[1:]) == sorted(used_files(real_folder))
        assert not any(p.name.startswith(".") for p in folder.iterdir())  # no temporary file left

        server.requests.clear()
        assert download_checkpoint(0.50, tmp_path, base_url=url, progress=False) == folder
        assert server.requests == []  # reused from the cache


def test_dropped_connection_leaves_nothing_complete_and_a_rerun_resumes(real_folder: Path, tmp_path: Path):
    with serve(real_folder, drop_after=20) as (url, _):
        with pytest.raises(DownloadError, match="re-run to resume"):
            download_checkpoint(0.50, tmp_path, base_url=url, progress=False)
    folder = tmp_path / NAME
    assert not looks_complete(folder)
    kept = {p.name for p in folder.iterdir()}
    assert len(kept) == 19  # the files before the manifest's 20th request, each complete; no partial file
    with pytest.raises(CheckpointError):
        load_checkpoint(folder)

    with serve(real_folder) as (url, server):
        download_checkpoint(0.50, tmp_path, base_url=url, progress=False)
    assert sorted(server.requests[1:]) == sorted(used_files(real_folder) - kept)
    assert_same_checkpoint(folder, real_folder)


def test_wrong_size_is_refused(real_folder: Path, tmp_path: Path):
    def truncate(name: str, body: bytes) -> bytes:
        return body[:-8] if name == "MobilenetV1_Conv2d_3_pointwise_weights" else body

    with serve(real_folder, mangle=truncate) as (url, _):
        with pytest.raises(
            CheckpointError, match=r"MobilenetV1_Conv2d_3_pointwise_weights has 16376 bytes.*needs 16384"
        ):
            download_checkpoint(0.50, tmp_path, base_url=url, progress=False)
    folder = tmp_path / NAME
    assert not looks_complete(folder)
    assert not (folder / "MobilenetV1_Conv2d_3_pointwise_weights").exists()


def test_oversized_file_is_refused(real_folder: Path, tmp_path: Path):
    def extend(name: str, body: bytes) -> bytes:
        return body + b"\0" * 4 if name == "MobilenetV1_offset_2_biases" else body

    with serve(real_folder, mangle=extend) as (url, _):
        with pytest.raises(CheckpointError, match=r"MobilenetV1_offset_2_biases has more than 136 bytes"):
            download_checkpoint(0.50, tmp_path, base_url=url, progress=False)
    assert not looks_complete(tmp_path / NAME)


def test_corrupt_manifest_is_named(real_folder: Path, tmp_path: Path):
    def garble(name: str, body: bytes) -> bytes:
        return body[:100] if name == "manifest.json" else body

    with serve(real_folder, mangle=garble) as (url, _):
        with pytest.raises(
            CheckpointError,
            match=r"Unreadable checkpoint manifest http://127\.0\.0\.1:\d+/mobilenet_v1_050/manifest\.json",
        ):
            download_checkpoint(0.50, tmp_path, base_url=url, progress=False)


def test_missing_checkpoint_on_server(real_folder: Path, tmp_path: Path):
    with serve(real_folder) as (url, _):
        with pytest.raises(DownloadError, match=r"mobilenet_v1_075/manifest\.json failed: HTTP 404"):
            download_checkpoint(0.75, tmp_path, base_url=url, progress=False)


def test_export_downloads_into_the_user_cache(real_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """export_model without a checkpoint folder fetches into $POSENET_ONNX_CACHE_DIR from the overridden URL."""
    monkeypatch.delenv("POSENET_ONNX_CHECKPOINT_DIR", raising=False)
    monkeypatch.setenv("POSENET_ONNX_CACHE_DIR", str(tmp_path / "cache"))
    with serve(real_folder) as (url, _):
        monkeypatch.setenv("POSENET_ONNX_CHECKPOINT_URL", url)
        path = export_model(0.50, 16, tmp_path / "models", progress=False)
    assert path == tmp_path / "models" / model_filename(0.50, 16)
    assert_same_checkpoint(tmp_path / "cache" / "checkpoints" / NAME, real_folder)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert session.run(None, {"image": np.zeros((1, 33, 33, 3), np.float32)})[0].shape == (1, 3, 3, 17)

