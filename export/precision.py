"""Faster variants of an fp32 graph: fp16 for GPUs, int8 (QDQ static quantisation) for CPUs.

Both keep the contract's float32 input and outputs; only the inside changes. int8 is calibrated on real
photos (a folder of images, with crops, mirrors and two scales) with onnxruntime.quantization.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from posenet_onnx.contract import INPUT_NAME, PRECISIONS
from posenet_onnx.export.quiet import quiet

if TYPE_CHECKING:
    import onnx

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
CALIBRATION_SCALES = (0.5, 1.0)  # image scale factors, as the runtime resizes
CALIBRATION_STRIDE = 32  # sizes k * 32 + 1 are valid at every output stride
CROP_FRACTION = 0.6  # the centre crop keeps this much of each side
# Photos are reduced to this long side first: calibration memory grows with the network's input pixels (one
# 4000 x 3000 photo at scale 1.0 took 12 GiB), and people in larger photos reach the network at these sizes.
CALIBRATION_MAX_SIDE = 1024
_FLOAT_STEM_CONVS = 2
_T = TypeVar("_T")


def apply_precision(model: onnx.ModelProto, precision: str, calibration: Iterable[np.ndarray] | None) -> onnx.ModelProto:
    """The fp32 graph unchanged, or converted to fp16, or quantised to int8 with `calibration` images."""
    if precision == "fp16":
        return to_fp16(model)
    if precision == "int8":
        if calibration is None:
            raise ValueError("int8 quantisation needs calibration images (see calibration_images).")
        return to_int8(model, calibration)
    if precision == "fp32":
        return model
    raise ValueError(f"Invalid precision {precision!r}; expected one of {', '.join(PRECISIONS)}.")


def to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    """The graph with float16 weights and activations, float32 at its input and outputs."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    return convert_float_to_float16(model, keep_io_types=True)


def calibration_paths(folder: str | Path | None) -> list[Path]:
    """The photos in the calibration `folder` (by suffix, sorted); ValueError when there is no such folder or
    it holds none. The export command checks this before its first export."""
    if folder is None:
        raise ValueError(
            "int8 export needs a calibration folder of photos of people (calibration_dir)."
        )
    folder = Path(folder)
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "not found"
        raise ValueError(f"Calibration folder {folder} {what}; int8 needs a folder of photos of people.")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise ValueError(f"Calibration folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)}).")
    return paths


def check_calibration_photos(folder: str | Path | None) -> list[Path]:
    """The calibration photos (see `calibration_paths`), each one's header read: a file that is no image, or
    one above the pixel limit, is refused by name before any export work."""
    from posenet_onnx.runtime.images import check_image_file

    paths = calibration_paths(folder)
    for path in paths:
        _checked(check_image_file, path)
    return paths


def calibration_images(folder: str | Path | None) -> Iterator[np.ndarray]:
    """Network inputs for int8 calibration from the photos in `folder`: float32 [1, h, w, 3] in [0, 255],
    made one photo at a time as calibration asks for them, so memory does not grow with the photos.

    Each photo is first brought to network sizes (at most CALIBRATION_MAX_SIDE on its long side; a
    48-megapixel JPEG is decoded at reduced size) and gives eight inputs: the whole photo and its centre crop
    (people larger in the frame), each mirrored, each at image scales 0.5 and 1.0 (the runtime's sizes and its
    tfjs bilinear resize), so the activation ranges cover the scales and framings the graph will see.
    """
    from posenet_onnx.runtime.images import load_image

    for path in check_calibration_photos(folder):
        yield from _views(_checked(lambda p: load_image(p, max_side=CALIBRATION_MAX_SIDE), path))


def _checked(read: Callable[[Path], _T], path: Path) -> _T:
    """`read(path)` for a calibration photo, its failure one line that names the photo and why."""
    from posenet_onnx.runtime.images import PixelLimitError

    try:
        return read(path)
    except PixelLimitError as exc:
        raise ValueError(f"Calibration image {path} is over the pixel limit: {exc}") from None
    except ValueError:
        raise ValueError(
            f"Calibration image {path} is not a readable image; the folder must hold only photos "
            f"({', '.join(IMAGE_SUFFIXES)})."
        ) from None


def _views(photo: np.ndarray) -> list[np.ndarray]:
    """The calibration inputs of one H x W x 3 photo: (whole, centre crop) x (as is, mirrored) x scales."""
    from posenet_onnx.runtime.resize import resize_bilinear, valid_resolution

    height, width = photo.shape[:2]
    crop_h, crop_w = round(height * CROP_FRACTION), round(width * CROP_FRACTION)
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    framings = [photo, photo[top : top + crop_h, left : left + crop_w]]
    views = []
    for framing in framings:
        batch = np.ascontiguousarray(framing)[None]
        for scale in CALIBRATION_SCALES:
            size = [valid_resolution(scale, side, CALIBRATION_STRIDE) for side in framing.shape[:2]]
            views += [resize_bilinear(batch, *size, flip_horizontal=flip) for flip in (False, True)]
    return views


def _fitting(model: onnx.ModelProto) -> Callable[[np.ndarray], np.ndarray]:
    """What makes a calibration input [1, h, w, 3] fit the graph's input: resized to its fixed height and width
    (tfjs's bilinear resize, as the runtime does for such a graph) and repeated to its fixed batch, if any."""
    from posenet_onnx.runtime.resize import resize_bilinear

    batch, height, width = (dim.dim_value or None for dim in model.graph.input[0].type.tensor_type.shape.dim[:3])

    def fit(image: np.ndarray) -> np.ndarray:
        if height and width:
            image = resize_bilinear(image, height, width)
        return np.repeat(image, batch, axis=0) if batch else image

    return fit


def to_int8(model: onnx.ModelProto, images: Iterable[np.ndarray]) -> onnx.ModelProto:
    """The graph statically quantised to int8, calibrated (min/max) on `images`.

    QDQ format with per-channel int8 weights and uint8 activations. Conv and its ReLU6 (Clip) are
    quantised together, so onnxruntime fuses them into integer convolutions; the sigmoid stays float.
    The stem (block 0's conv and block 1's depthwise conv, the first two convs of the chain) stays
    float: it sees the raw image, and quantising it moved keypoints most for little speed.
    """
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    fit = _fitting(model)

    class Photos(CalibrationDataReader):
        def __init__(self) -> None:
            self._feeds: Iterator[dict[str, np.ndarray]] = ({INPUT_NAME: fit(image)} for image in images)

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
