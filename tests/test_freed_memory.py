"""The command line's process keeps freed memory for the next image: reading photos again and again then takes
no fresh pages from the kernel (each of which costs a page fault and zeroing)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from posenet_onnx import cli
from posenet_onnx.commands import memory

# Decodes the shared photos over and over (in threads, as a folder job's workers read) and prints the minor
# page faults per decode once the first pass has warmed everything up, and the pages the pixels themselves take.
_READ_PHOTOS = """
import resource, sys, threading
from posenet_onnx.commands.memory import keep_freed_memory
from posenet_onnx.runtime.images import decode_image

paths = sys.argv[2:]
if sys.argv[1] == "keep":
    assert keep_freed_memory()
pixels = sum(decode_image(p)[0].nbytes for p in paths)

def read_all(times):
    for _ in range(times):
        for path in paths:
            decode_image(path)

read_all(1)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
threads = [threading.Thread(target=read_all, args=(3,)) for _ in range(2)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(faults / (6 * len(paths)), pixels / len(paths) / 4096)
"""


def _faults_per_decode(mode: str, paths: list[str]) -> tuple[float, float]:
    result = subprocess.run(
        [sys.executable, "-c", _READ_PHOTOS, mode, *paths], capture_output=True, text=True, check=True, timeout=300
    )
    faults, pixel_pages = map(float, result.stdout.split())
    return faults, pixel_pages


GLIBC = "CS_GNU_LIBC_VERSION" in getattr(os, "confstr_names", {}) and os.confstr("CS_GNU_LIBC_VERSION").startswith(
    "glibc"
)


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc only")
def test_reading_photos_again_takes_no_fresh_pages(shared):
    paths = sorted(str(p) for p in (shared / "photos").rglob("*") if p.suffix in (".jpg", ".png"))
    kept, pixel_pages = _faults_per_decode("keep", paths)
    default, _ = _faults_per_decode("default", paths)
    # glibc's default returns each photo's buffers to the kernel and faults them in again, page by page: more
    # faults than the pixels have pages (about 1.6 times); kept, under a quarter of that
    assert default > pixel_pages
    assert kept < 0.25 * default


def test_every_command_runs_in_a_process_that_keeps_freed_memory(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(memory, "keep_freed_memory", lambda: calls.append(True) or True)
    assert cli.main(["estimate", str(tmp_path / "missing.jpg")]) == 2
    assert calls == [True]
