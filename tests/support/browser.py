"""The built web site in a real browser: `posenet-onnx web --serve` started as users start it, and Debian's
headless Chromium driven by the Node scripts in scripts/web (puppeteer-core). Shared by tests/test_web.py and
scripts/bench_web.py."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WEBJS = REPO / "scripts" / "web"
ONNXRUNTIME_WEB = WEBJS / "node_modules" / "onnxruntime-web"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
HARNESS = "harness"  # the folder the tests add to a built site: a blank page of the site's origin, and photos
SERVE_TIMEOUT_S = 60


def browser_missing() -> str | None:
    """Why the site cannot be tried in a browser here (None: it can)."""
    if shutil.which("node") is None:
        return "node is not on PATH"
    if not CHROMIUM.is_file():
        return f"no Chromium at {CHROMIUM}: run `make chromium` as root (apt-get install chromium)"
    if not (WEBJS / "node_modules" / ".installed").is_file():
        return "puppeteer-core and onnxruntime-web are not installed: run `make webjs`"
    return None


def add_harness(site: Path, photos: Sequence[Path]) -> dict[Path, str]:
    """Put a blank page and copies of `photos` into `site/harness/`; return each photo's path in the site."""
    folder = site / HARNESS
    folder.mkdir(exist_ok=True)
    (folder / "index.html").write_text('<!doctype html><link rel="icon" href="data:,"><title>harness</title>\n')
    paths = {}
    for n, photo in enumerate(photos):
        name = f"{n}_{photo.name}"
        shutil.copyfile(photo, folder / name)
        paths[photo] = f"{HARNESS}/{name}"
    return paths


@contextlib.contextmanager
def served(site: Path, *extra: str) -> Iterator[str]:
    """`posenet-onnx web --serve --port 0 SITE` running; yields the address it printed. Stopped with Ctrl-C
    (SIGINT), which must end it with status 130."""
    command = [sys.executable, "-m", "posenet_onnx.cli", "web", "--serve", "--port", "0", *extra, str(site)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+/", line)
        if match is None:
            server.kill()
            raise RuntimeError(f"web --serve printed {line!r}; stderr: {server.stderr.read()[-2000:]}")
        yield match.group(0)
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=SERVE_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        server.stdout.close()
        server.stderr.close()
    if server.returncode != 130:
        raise RuntimeError(f"web --serve ended with status {server.returncode}, not 130 (Ctrl-C)")


def run_script(script: str, request: dict, timeout: float = 600) -> dict:
    """Run scripts/web/`script` on `request` (JSON) and return its JSON answer."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "request.json"
        path.write_text(json.dumps(request))
        done = subprocess.run(
            ["node", str(WEBJS / script), str(path)], capture_output=True, text=True, timeout=timeout,
            env={**os.environ, "CHROMIUM": str(CHROMIUM)},
        )
    if done.returncode != 0:
        raise RuntimeError(f"{script} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout)


def fake_camera_clip(video: Path, out: Path, width: int = 360, height: int = 640) -> Path:
    """`video` as the raw .y4m clip Chromium's fake camera plays (ffmpeg from imageio-ffmpeg)."""
    import imageio_ffmpeg

    command = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y", "-i", str(video),
        "-vf", f"scale={width}:{height}", "-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe", str(out),
    ]
    subprocess.run(command, check=True, timeout=300)
    return out
