"""`posenet-onnx web` without a browser: building a site (complete or not at all, a site built before replaced,
anything else refused), the local server's headers and content types, onnxruntime-web's files (a named folder,
or the pinned release through npm), and every bad input as exit status 2 with one line."""

from __future__ import annotations

import json
import re
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from posenet_onnx.cli import main
from posenet_onnx.runtime.web import onnxruntime_web
from posenet_onnx.runtime.web.onnxruntime_web import FILES, VERSION, runtime_files
from posenet_onnx.runtime.web.site import MANIFEST, PAGE_FILES, RUNTIME_FOLDER
from support.browser import ONNXRUNTIME_WEB, WEBJS, served


def one_line_error(capsys, argv: list[str], *expected: str) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("posenet-onnx web: error:"), err
    for text in expected:
        assert text in err, err
    return err


def fake_site(folder: Path) -> Path:
    """A folder the server takes for a built site: its manifest, a page and a WebAssembly file."""
    (folder / "models").mkdir(parents=True)
    (folder / MANIFEST).write_text(json.dumps({"generator": "posenet-onnx 0", "graphs": []}))
    (folder / "index.html").write_text("<!doctype html><title>site</title>")
    (folder / RUNTIME_FOLDER).mkdir()
    (folder / RUNTIME_FOLDER / "ort-wasm-simd-threaded.wasm").write_bytes(b"\0asm")
    (folder / RUNTIME_FOLDER / "ort.wasm.min.mjs").write_text("export {};")
    return folder


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["web"], "give -o SITE"),
        (["web", "site"], "is for --serve"),
        (["web", "--serve"], "--serve needs the site folder"),
        (["web", "-o", "a", "--serve", "b"], "give one folder"),
        (["web", "--serve", "--port", "70000", "site"], "Invalid port 70000"),
    ],
)
def test_what_to_do_is_checked_first(capsys, argv, expected):
    one_line_error(capsys, argv, expected)


def test_argument_values_are_checked_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["web", "-o", "site", "--output-stride", "12"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_bad_site_folders_are_refused_before_any_work(capsys, tmp_path):
    ort = ["--onnxruntime-web", str(ONNXRUNTIME_WEB), "--multiplier", "0.5"]
    a_file = tmp_path / "file.txt"
    a_file.write_text("keep me")
    one_line_error(capsys, ["web", "-o", str(a_file), *ort], "is a file")
    assert a_file.read_text() == "keep me"
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "me.jpg").write_bytes(b"keep me")
    one_line_error(capsys, ["web", "-o", str(foreign), *ort], "not a site this command built")
    assert [p.name for p in foreign.iterdir()] == ["me.jpg"]
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere")
    one_line_error(capsys, ["web", "-o", str(link), *ort], "symbolic link")
    built = fake_site(tmp_path / "old")
    one_line_error(
        capsys, ["web", "-o", str(built), "--multiplier", "0.5", "--onnxruntime-web", str(built / RUNTIME_FOLDER)],
        "inside the site folder",
    )
    one_line_error(capsys, ["web", "-o", str(tmp_path / "new"), "--multiplier", "0.5", "--output-stride", "32", *ort[:2]],
                   "cannot run at output stride 32")
    one_line_error(capsys, ["web", "-o", str(tmp_path / "new"), "--onnxruntime-web", str(tmp_path / "nothing")], "not a folder")
    one_line_error(capsys, ["web", "-o", str(tmp_path / "new"), "--onnxruntime-web", str(foreign)], "lacks onnxruntime-web's")
    assert not (tmp_path / "new").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "link", "old", "photos"]


def test_serving_refuses_what_is_not_a_site_and_a_busy_port(capsys, tmp_path):
    one_line_error(capsys, ["web", "--serve", str(tmp_path / "none")], "does not exist")
    one_line_error(capsys, ["web", "--serve", str(tmp_path)], "is not a site")
    site = fake_site(tmp_path / "site")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        one_line_error(capsys, ["web", "--serve", "--port", str(busy.getsockname()[1]), str(site)], "is in use")


def test_the_server_isolates_the_page_and_types_its_files(tmp_path):
    site = fake_site(tmp_path / "site")
    (tmp_path / "secret.txt").write_text("outside the site")
    with served(site) as base:
        assert base.startswith("http://127.0.0.1:")
        for path, content_type in [
            ("", "text/html"),
            (f"{RUNTIME_FOLDER}/ort-wasm-simd-threaded.wasm", "application/wasm"),
            (f"{RUNTIME_FOLDER}/ort.wasm.min.mjs", "text/javascript"),
            (MANIFEST, "application/json"),
        ]:
            with urllib.request.urlopen(base + path) as response:
                assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
                assert response.headers["Cross-Origin-Embedder-Policy"] == "require-corp"
                assert response.headers["Content-Type"].startswith(content_type)
        for outside in ("../secret.txt", "%2e%2e/secret.txt"):
            with pytest.raises(urllib.error.HTTPError) as error:
                urllib.request.urlopen(base + outside)
            assert error.value.code == 404


def test_a_browser_dropping_a_download_leaves_the_terminal_quiet(tmp_path):
    """Connections reset mid-file (a reload, a closed tab) print nothing (the standard library's server prints a
    traceback for each); Ctrl-C then stops the server with its one line."""
    site = fake_site(tmp_path / "site")
    (site / RUNTIME_FOLDER / "ort-wasm-simd-threaded.wasm").write_bytes(bytes(32 << 20))  # more than sockets buffer
    command = [sys.executable, "-m", "posenet_onnx.cli", "web", "--serve", "--port", "0", str(site)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = int(re.search(r"127\.0\.0\.1:(\d+)/", server.stdout.readline()).group(1))
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", port)) as connection:
                connection.sendall(f"GET /{RUNTIME_FOLDER}/ort-wasm-simd-threaded.wasm HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                assert connection.recv(4096).startswith(b"HTTP/1.0 200")
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close by reset
        time.sleep(0.5)  # the handler threads meet the reset
    finally:
        server.send_signal(signal.SIGINT)
        _, stderr = server.communicate(timeout=60)
    assert (server.returncode, stderr) == (130, "posenet-onnx web: interrupted\n")


def test_the_pinned_onnxruntime_web_is_the_one_the_tests_install():
    package = json.loads((WEBJS / "package.json").read_text())
    lock = json.loads((WEBJS / "package-lock.json").read_text())
    assert package["dependencies"]["onnxruntime-web"] == VERSION
    assert lock["packages"]["node_modules/onnxruntime-web"]["version"] == VERSION
    assert lock["packages"]["node_modules/onnxruntime-web"]["integrity"] == onnxruntime_web.INTEGRITY


@pytest.mark.needs_browser
def test_without_a_folder_npm_fetches_the_pinned_release_once(tmp_path, monkeypatch):
    monkeypatch.setenv("POSENET_ONNX_CACHE_DIR", str(tmp_path / "cache"))
    files = runtime_files(None)
    assert files.version == VERSION
    for name in FILES:
        assert (files.folder / name).read_bytes() == (ONNXRUNTIME_WEB / "dist" / name).read_bytes()
    monkeypatch.setenv("PATH", "")  # cached: npm is not needed again
    assert runtime_files(None).folder == files.folder


@pytest.mark.needs_browser
def test_a_tarball_that_does_not_match_its_digest_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("POSENET_ONNX_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(onnxruntime_web, "INTEGRITY", "sha512-" + "A" * 86 + "==")
    with pytest.raises(RuntimeError, match="does not match its pinned digest"):
        runtime_files(None)
    assert not any(path.is_file() for path in (tmp_path / "cache").rglob("*"))


def test_without_npm_the_error_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("POSENET_ONNX_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", "")
    with pytest.raises(FileNotFoundError, match="npm is not on PATH.*registry.npmjs.org.*--onnxruntime-web"):
        runtime_files(None)


@pytest.mark.needs_tensorflow
@pytest.mark.slow
def test_a_site_is_built_whole_and_replaced_whole(real_model_dir, checkpoint_dir, tmp_path, capsys):
    site = tmp_path / "site"
    site.mkdir()  # an empty folder is taken
    argv = ["web", "-o", str(site), "--multiplier", "0.5", "--output-stride", "8", "16", "--model-dir", str(real_model_dir),
            "--checkpoint-dir", str(checkpoint_dir), "--onnxruntime-web", str(ONNXRUNTIME_WEB)]
    assert main(argv) == 0
    assert capsys.readouterr().out.strip() == str(site)
    manifest = json.loads((site / MANIFEST).read_text())
    graphs = {(g["multiplier"], g["outputStride"], g["decoder"]) for g in manifest["graphs"]}
    assert graphs == {(0.5, stride, decoder) for stride in (8, 16) for decoder in ("single", "multi")}
    for graph in manifest["graphs"]:
        assert (site / "models" / graph["file"]).stat().st_size > 1_000_000
    assert manifest["onnxruntimeWeb"] == VERSION and len(manifest["partNames"]) == 17
    for name in PAGE_FILES:
        assert (site / name).is_file()
    for name in FILES:
        assert (site / RUNTIME_FOLDER / name).read_bytes() == (ONNXRUNTIME_WEB / "dist" / name).read_bytes()
    (site / "stale.txt").write_text("from an older build")
    assert main([*argv[:4], "0.5", "--output-stride", "16", *argv[8:]]) == 0  # a site built before: replaced
    assert not (site / "stale.txt").exists()
    manifest = json.loads((site / MANIFEST).read_text())
    assert {g["outputStride"] for g in manifest["graphs"]} == {16}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]  # nothing left beside it

