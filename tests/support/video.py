"""Reading back what the video pipeline wrote: the frames of a video file, the records of a JSON lines file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from posenet_onnx.runtime.video.pipeline import import_imageio


def read_video(path: Path) -> list[np.ndarray]:
    reader = import_imageio().get_reader(path, format="FFMPEG")
    try:
        return [np.asarray(frame) for frame in reader]
    finally:
        reader.close()


def read_jsonl(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n"), "the last JSON line is incomplete"
    return [json.loads(line) for line in text.splitlines()]
