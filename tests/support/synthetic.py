"""Synthetic checkpoints: the real on-disk layout and shapes with random weights.

Only the 0.50 weights ship with the test data; tests and benchmarks build the other multipliers from
their real manifests (`manifest.json` shapes) with He-scaled weights, which keep activations at a
realistic scale through the 14 ReLU6 blocks. Head gains give heatmap logits of a few units and offsets
of tens of pixels, like the real model, so scores spread over (0, 1) instead of saturating.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from posenet_onnx.export.checkpoint import MANIFEST

_HEATMAP_GAIN = 3.0
_PIXEL_GAIN = 10.0
_BIAS_STD = 0.1


def write_synthetic_checkpoint(folder: str | Path, manifest_path: str | Path, seed: int) -> Path:
    """Write `manifest_path`'s variables as random float32 files plus the manifest into `folder`."""
    folder = Path(folder)
    rng = np.random.default_rng(seed)
    entries = json.loads(Path(manifest_path).read_text())
    folder.mkdir(parents=True, exist_ok=True)
    for name, entry in entries.items():
        shape = entry["shape"]
        if name.endswith("/biases"):
            values = rng.normal(0.0, _BIAS_STD, shape)
        else:
            fan_in = shape[0] * shape[1] * (1 if "depthwise" in name else shape[2])
            values = rng.normal(0.0, _gain(name) * np.sqrt(2.0 / fan_in), shape)
        (folder / entry["filename"]).write_bytes(values.astype("<f4").tobytes())
    (folder / MANIFEST).write_text(json.dumps(entries))
    return folder


def _gain(name: str) -> float:
    if "heatmap" in name:
        return _HEATMAP_GAIN
    if "offset" in name or "displacement" in name:
        return _PIXEL_GAIN
    return 1.0
