"""The real downloader against a local HTTP server (127.0.0.1, port 0) serving the real 0.50 checkpoint."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
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

    def __init__(self, folder: Path, gzipped: bool, drop_after: int | None, mangle: Mangle, stall: str | None):
        self.folder, self.gzipped, self.drop_after, self.mangle = folder, gzipped, drop_after, mangle
        self.stall = stall  # a file whose body stops half-way until the server shuts down
        self.released = threading.Event()
        self.requests: list[str] = []

    def handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                name = self.path.rsplit("/", 1)[-1]
                path = server.folder / name
                if not self.path.startswith(f"/{server.folder.name}/") or not path.is_file():
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
                if name == server.stall:
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    server.released.wait()
                    self.close_connection = True
                    return
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
    folder: Path, *, gzipped: bool = True, drop_after: int | None = None, mangle: Mangle = None, stall: str | None = None
) -> Iterator[tuple[str, CheckpointServer]]:
    """Run a CheckpointServer on 127.0.0.1 in a thread; yields (base URL, server)."""
    state = CheckpointServer(folder, gzipped, drop_after, mangle, stall)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), state.handler())
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", state
    finally:
        state.released.set()
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



def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def rename_entry(filename: str) -> Mangle:
    """A served manifest whose Conv2d_0 biases entry is stored under `filename`."""

    def mangle(name: str, body: bytes) -> bytes:
        if name != "manifest.json":
            return body
        manifest = json.loads(body)
        manifest["MobilenetV1/Conv2d_0/biases"]["filename"] = filename
        return json.dumps(manifest).encode()

    return mangle


@pytest.mark.parametrize("filename", ["manifest.json", "Manifest.JSON", ".MobilenetV1_Conv2d_0_biases.0badf00d.partial"])
def test_a_manifest_naming_the_cache_s_own_files_is_refused(real_folder: Path, tmp_path: Path, filename: str):
    """Such an entry followed by a dropped connection used to overwrite the cache's manifest, and every later run
    failed with 'Unreadable checkpoint manifest'. Now nothing is fetched and a good mirror works afterwards."""
    with serve(real_folder, mangle=rename_entry(filename), drop_after=3) as (url, server):
        with pytest.raises(CheckpointError, match=rf"has filename '{filename}'; a variable file must be a plain file name"):
            download_checkpoint(0.50, tmp_path, base_url=url, progress=False)
        assert server.requests == ["manifest.json"]
    folder = tmp_path / NAME
    assert list(folder.iterdir()) == []
    with serve(real_folder) as (url, _):
        download_checkpoint(0.50, tmp_path, base_url=url, progress=False)
    assert_same_checkpoint(folder, real_folder)


@pytest.mark.parametrize("damage", ["flipped bytes", "truncated", "deleted", "replaced by a folder", "replaced by a link"])
def test_a_damaged_cache_is_repaired(real_folder: Path, tmp_path: Path, damage: str):
    """A complete cache damaged later: the next run fetches the damaged file again, and only that file."""
    with serve(real_folder) as (url, server):
        folder = download_checkpoint(0.50, tmp_path, base_url=url, progress=False)
        victim = folder / "MobilenetV1_Conv2d_7_pointwise_weights"
        data = victim.read_bytes()
        if damage == "flipped bytes":  # the right size, the wrong bytes
            victim.write_bytes(data[:100] + bytes(b ^ 0xFF for b in data[100:104]) + data[104:])
        elif damage == "truncated":
            victim.write_bytes(data[:-4])
        else:
            victim.unlink()
            if damage == "replaced by a folder":
                victim.mkdir()
            elif damage == "replaced by a link":
                (tmp_path / "elsewhere").write_bytes(data)
                victim.symlink_to(tmp_path / "elsewhere")
        server.requests.clear()
        if damage.startswith("replaced"):  # not ours to remove: the run says what is in the way and what to do
            with pytest.raises(CheckpointError, match=r"Conv2d_7_pointwise_weights is in the way .* remove it and re-run"):
                download_checkpoint(0.50, tmp_path, base_url=url, progress=False)
            assert victim.is_symlink() or victim.is_dir()
            if victim.is_symlink():
                victim.unlink()
            else:
                victim.rmdir()
            server.requests.clear()
        download_checkpoint(0.50, tmp_path, base_url=url, progress=False)
        assert server.requests == ["manifest.json", victim.name]
    assert_same_checkpoint(folder, real_folder)
    assert hidden(folder) == []


@pytest.mark.parametrize("manifest", [b"{not json", b'{"MobilenetV1/Conv2d_0/biases": ', b"\0" * 64])
def test_an_unreadable_cache_manifest_is_rewritten(real_folder: Path, tmp_path: Path, manifest: bytes):
    """The cache's own manifest garbled (e.g. by the old overwrite): the next run fetches the manifest again and
    keeps the verified files."""
    with serve(real_folder) as (url, server):
        folder = download_checkpoint(0.50, tmp_path, base_url=url, progress=False)
        (folder / "manifest.json").write_bytes(manifest)
        server.requests.clear()
        download_checkpoint(0.50, tmp_path, base_url=url, progress=False)
        assert server.requests == ["manifest.json"]
    assert_same_checkpoint(folder, real_folder)


def test_right_size_wrong_bytes_are_refused(real_folder: Path, tmp_path: Path):
    """The 0.50 files' SHA-256 are pinned: a file of the right size with other bytes never takes its name."""

    def corrupt(name: str, body: bytes) -> bytes:
        return body[:-4] + b"\0\0\0\0" if name == "MobilenetV1_heatmap_2_biases" else body

    with serve(real_folder, mangle=corrupt) as (url, _):
        with pytest.raises(CheckpointError, match=r"MobilenetV1_heatmap_2_biases has SHA-256 [0-9a-f]{64}, not the official file's"):
            download_checkpoint(0.50, tmp_path, base_url=url, progress=False)
    folder = tmp_path / NAME
    assert not (folder / "MobilenetV1_heatmap_2_biases").exists() and not looks_complete(folder)
    assert hidden(folder) == []


@pytest.mark.parametrize("name", [NAME, "mobilenet_v1_075"])
def test_pins_are_the_real_checkpoint_s_files(checkpoint_dir: Path, name: str):
    """Every file the network uses is pinned, with the SHA-256 of the real checkpoint's file."""
    from posenet_onnx.export.pins import PINNED_SHA256

    folder = checkpoint_dir / name
    pins = PINNED_SHA256[name]
    assert len(pins) == 62 and set(pins) == used_files(folder)
    for filename, digest in pins.items():
        assert hashlib.sha256((folder / filename).read_bytes()).hexdigest() == digest


def test_the_real_075_checkpoint_downloads_verified_without_its_absent_heads(checkpoint_dir: Path, tmp_path: Path):
    """The real 0.75 checkpoint served as published (a 70-entry manifest, the 8 unused `*_1` files absent):
    the 62 used files are fetched and pass their pins; a served file with other bytes is refused."""
    real = checkpoint_dir / "mobilenet_v1_075"
    manifest = json.loads((real / "manifest.json").read_text())
    absent = [entry["filename"] for entry in manifest.values() if not (real / entry["filename"]).exists()]
    assert len(manifest) == 70 and len(absent) == 8 and all("_1_" in name for name in absent)
    with serve(real) as (url, server):
        folder = download_checkpoint(0.75, tmp_path / "good", base_url=url, progress=False)
        assert sorted(server.requests[1:]) == sorted(used_files(real))
    assert_same_checkpoint(folder, real)

    flipped = lambda name, body: body[:-1] + bytes([body[-1] ^ 1]) if name == "MobilenetV1_offset_2_biases" else body  # noqa: E731
    with serve(real, mangle=flipped) as (url, _):
        with pytest.raises(CheckpointError, match=r"MobilenetV1_offset_2_biases has SHA-256 [0-9a-f]{64}, not the official file's"):
            download_checkpoint(0.75, tmp_path / "bad", base_url=url, progress=False)


CHILD = """
import sys
from posenet_onnx.export.download import download_checkpoint
download_checkpoint(0.50, sys.argv[1], base_url=sys.argv[2], progress=False)
"""


def test_a_sigkilled_download_s_temporary_file_is_removed_by_the_next_run(real_folder: Path, tmp_path: Path):
    """A real download process killed with SIGKILL mid-file leaves its hidden .partial file (nothing can run in
    a SIGKILLed process); the next run removes it and completes the checkpoint."""
    stalled = "MobilenetV1_Conv2d_5_pointwise_weights"
    folder = tmp_path / NAME
    with serve(real_folder, stall=stalled) as (url, _):
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path), url])
        try:
            deadline = time.monotonic() + 120
            while not (folder.is_dir() and any(name.startswith(f".{stalled}.") for name in hidden(folder))):
                assert child.poll() is None and time.monotonic() < deadline, "the download never reached the stalled file"
                time.sleep(0.05)
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.kill()
            child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL
    (partial,) = hidden(folder)
    assert partial.startswith(f".{stalled}.") and ".partial" in partial and not looks_complete(folder)
    with serve(real_folder) as (url, server):
        download_checkpoint(0.50, tmp_path, base_url=url, progress=False)
        assert stalled in server.requests
    assert hidden(folder) == []
    assert_same_checkpoint(folder, real_folder)


def test_concurrent_downloads_fetch_each_file_once(real_folder: Path, tmp_path: Path):
    """Two downloads into the same cache at once: the second waits for the first (a lock on the folder), then
    finds the checkpoint complete; neither removes the other's temporary files."""
    errors: list[BaseException] = []
    with serve(real_folder) as (url, server):

        def download() -> None:
            try:
                download_checkpoint(0.50, tmp_path, base_url=url, progress=False)
            except BaseException as exc:  # noqa: BLE001  (reported by the assertion below)
                errors.append(exc)

        threads = [threading.Thread(target=download) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    assert sorted(server.requests) == sorted(["manifest.json", *used_files(real_folder)])
    assert_same_checkpoint(tmp_path / NAME, real_folder)


def test_something_else_where_the_cache_s_own_files_go_is_named(real_folder: Path, tmp_path: Path):
    """A folder in place of the cache's manifest, or a file in place of the checkpoint's folder: one line that
    names it and says what to do; nothing of it is removed."""
    blocker = tmp_path / "root" / NAME
    blocker.parent.mkdir()
    blocker.write_bytes(b"not a folder")
    with serve(real_folder) as (url, _):
        with pytest.raises(CheckpointError, match=r"mobilenet_v1_050 is in the way of the checkpoint cache .* remove it and re-run"):
            download_checkpoint(0.50, tmp_path / "root", base_url=url, progress=False)
        assert blocker.read_bytes() == b"not a folder"
        (tmp_path / NAME / "manifest.json").mkdir(parents=True)
        with pytest.raises(CheckpointError, match=r"manifest\.json is in the way of checkpoint file manifest\.json"):
            download_checkpoint(0.50, tmp_path, base_url=url, progress=False)
        assert (tmp_path / NAME / "manifest.json").is_dir()
