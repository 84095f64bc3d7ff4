"""Faster variants of an fp32 graph: fp16 for GPUs, int8 (QDQ static quantisation) for CPUs.

Both keep the contract's float32 input and outputs; only the inside changes. int8 is calibrated on real
photos (a folder of images, resized to the calibration size) with onnxruntime.quantization.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from posenet_onnx.export.quiet import quiet
from posenet_onnx.contract import INPUT_NAME, PRECISIONS

if TYPE_CHECKING:
    import onnx

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
CALIBRATION_SIZE = 513
_FLOAT_STEM_CONVS = 2


def apply_precision(model: onnx.ModelProto, precision: str, calibration: list[np.ndarray] | None) -> onnx.ModelProto:
    """The fp32 graph unchanged, or converted to fp16, or quantised to int8 with `calibration` images."""
    if precision == "fp16":
        return to_fp16(model)
    if precision == "int8":
        if not calibration:
            raise ValueError("int8 quantisation needs calibration images (see calibration_images).")
        return to_int8(model, calibration)
    if precision == "fp32":
        return model
    raise ValueError(f"Invalid precision {precision!r}; expected one of {', '.join(PRECISIONS)}.")


def to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    """The graph with float16 weights and activations, float32 at its input and outputs."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    return convert_float_to_float16(model, keep_io_types=True)


def calibration_images(folder: str | Path | None, size: int = CALIBRATION_SIZE) -> list[np.ndarray]:
    """The photos in `folder` and their mirror images, RGB float32 [1, size, size, 3] in [0, 255].

    Mirroring doubles the few calibration photos at no cost; people appear in both orientations.
    """
    from PIL import Image

    if folder is None:
        raise ValueError(
            "int8 export needs a calibration folder of photos of people (calibration_dir / --calibration-dir)."
        )
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"Calibration folder {folder} not found; int8 needs a folder of photos of people.")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise ValueError(f"Calibration folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)}).")
    images = []
    for path in paths:
        with Image.open(path) as image:
            rgb = image.convert("RGB").resize((size, size), Image.BILINEAR)
        image = np.asarray(rgb, dtype=np.float32)[None]
        images += [image, np.ascontiguousarray(image[:, :, ::-1])]
    return images


def to_int8(model: onnx.ModelProto, images: list[np.ndarray]) -> onnx.ModelProto:
    """The graph statically quantised to int8, calibrated (min/max) on `images`.

    QDQ format with per-channel int8 weights and uint8 activations. Conv and its ReLU6 (Clip) are
    quantised together, so onnxruntime fuses them into integer convolutions; the sigmoid stays float.
    The stem (block 0's conv and block 1's depthwise conv, the first two convs of the chain) stays
    float: it sees the raw image, and quantising it moved keypoints most for little speed.
    """
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Photos(CalibrationDataReader):
        def __init__(self) -> None:
            self._feeds: Iterator[dict[str, np.ndarray]] = ({INPUT_NAME: image} for image in images)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._feeds, None)

    with tempfile.TemporaryDirectory() as scratch:
        source, target = Path(scratch) / "fp32.onnx", Path(scratch) / "int8.onnx"
        onnx.save(model, source)
        with quiet():
            quantize_static(
                source,
                target,
                Photos(),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                op_types_to_quantize=["Conv", "Clip"],
                nodes_to_exclude=[node.name for node in model.graph.node if node.op_type == "Conv"][:_FLOAT_STEM_CONVS],
            )
        return onnx.load(target)
