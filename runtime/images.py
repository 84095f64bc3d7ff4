"""Image inputs: numpy arrays, PIL images and file paths, checked and turned into H x W x 3 RGB arrays.

What `tf.browser.fromPixels` gave upstream: RGB pixel values in [0, 255]; alpha is dropped (not blended),
grayscale is spread over the three channels. 16-bit images keep their high byte, as Pillow reduces 16-bit
RGB files, so a 16-bit copy of an 8-bit image gives that image. Images above a pixel limit are refused
before they are decoded (docs/robustness.md): the network's memory grows with the pixels.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps

ImageLike = Union[np.ndarray, Image.Image, str, os.PathLike]

# 8192 x 8192 (a 48-megapixel photo fits): the network's memory grows with the pixels, 5.2 GiB for the 0.50
# network at image scale 1.0 there (docs/robustness.md). Larger images need the override.
MAX_PIXELS = 1 << 26
ENV_MAX_PIXELS = "POSENET_ONNX_MAX_PIXELS"  # an integer pixel count; 0 lifts the limit
# Pillow's grayscale modes that hold 16-bit values (mode I is how older Pillow opened 16-bit PNGs).
SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I"})
_PILLOW_LIMIT = threading.Lock()  # Pillow's own limit is process-wide: lifted for one open at a time


def max_pixels() -> int | None:
    """The pixel limit in force: $POSENET_ONNX_MAX_PIXELS when set (0: none), else MAX_PIXELS."""
    value = os.environ.get(ENV_MAX_PIXELS, "").strip()
    if not value:
        return MAX_PIXELS
    if not value.isdigit():
        raise ValueError(f"${ENV_MAX_PIXELS} must be a whole number of pixels (0 for no limit); got {value!r}")
    return int(value) or None


class PixelLimitError(ValueError):
    """An image (or a fixed network input) above the pixel limit."""


def check_pixels(width: int, height: int, what: str = "the image") -> None:
    """Refuse an image (or `what` else reaches the network: a fixed input size) above the pixel limit, with the
    override in the message."""
    limit = max_pixels()
    if limit is not None and width * height > limit:
        raise PixelLimitError(
            f"{what} is {width} x {height} = {width * height:,} pixels, above the limit of {limit:,} (the "
            f"network's memory grows with the pixels); set {ENV_MAX_PIXELS} to a larger count, or 0 for no limit, "
            "to process it anyway"
        )


@contextlib.contextmanager
def _opened(path: Path) -> Iterator[Image.Image]:
    """Image.open with our pixel limit in place of Pillow's (Image.open reads only the header; the pixels are
    decoded later, after the check). Pillow's limit is a process-wide setting, lifted under a lock for the open."""
    with _PILLOW_LIMIT:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            image = Image.open(path)
        finally:
            Image.MAX_IMAGE_PIXELS = saved
    with image:
        check_pixels(*image.size)
        yield image


def load_image(path: str | os.PathLike, max_side: int | None = None) -> np.ndarray:
    """Read an image file as H x W x 3 uint8 RGB, turned upright by its EXIF orientation like a browser does.

    With `max_side`, an image longer than that on either side comes reduced to fit it (JPEG's reduced decoding,
    then a resize), so that reading it takes little memory; without it (every estimate) the pixels are exact.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    try:
        with _opened(path) as image:
            if max_side is not None:
                image.draft("RGB", _fitted(image.size, max_side))  # JPEG only: at least that size, decoded smaller
            array = _from_pil(ImageOps.exif_transpose(image))
    except (OSError, Image.DecompressionBombError) as exc:  # PIL's UnidentifiedImageError is an OSError
        raise ValueError(f"cannot read {path} as an image: {exc}") from None
    return array if max_side is None else _reduced(array, max_side)


def check_image_file(path: str | os.PathLike) -> tuple[int, int]:
    """The (width, height) of an image file from its header, without decoding it: ValueError for a file that
    is no image, PixelLimitError for one above the limit."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    try:
        with _opened(path) as image:
            return image.size
    except (OSError, Image.DecompressionBombError) as exc:
        raise ValueError(f"cannot read {path} as an image: {exc}") from None


def _fitted(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """`size` (width, height) scaled down, aspect kept, so that neither side exceeds `max_side`."""
    scale = min(1.0, max_side / max(size))
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def _reduced(array: np.ndarray, max_side: int) -> np.ndarray:
    """An H x W x 3 uint8 image resized (Lanczos) to fit `max_side`; unchanged where it fits already."""
    height, width = array.shape[:2]
    size = _fitted((width, height), max_side)
    if size == (width, height):
        return array
    return np.asarray(Image.fromarray(array).resize(size, Image.Resampling.LANCZOS))


def to_rgb_array(image: ImageLike) -> np.ndarray:
    """One image as a C-contiguous H x W x 3 array: uint8, or float32 for float input in [0, 255]."""
    if isinstance(image, (str, os.PathLike)):
        return load_image(image)
    if isinstance(image, Image.Image):
        check_pixels(image.width, image.height)
        return _from_pil(image)
    if isinstance(image, np.ndarray):
        return _from_array(image)
    raise ValueError(
        f"unsupported image type {type(image).__name__}; expected a numpy array (H x W x 3 RGB), a PIL image "
        "or an image file path"
    )


def to_rgb_batch(images: Sequence[ImageLike] | np.ndarray) -> list[np.ndarray]:
    """A batch (a sequence of images, or an N x H x W x C array) as a list of H x W x 3 arrays."""
    if isinstance(images, np.ndarray):
        if images.ndim != 4:
            raise ValueError(f"a batch array must be N x H x W x C, got shape {images.shape}")
        images = list(images)
    elif isinstance(images, (str, os.PathLike, Image.Image)) or not isinstance(images, Sequence):
        raise ValueError("expected a sequence of images (or an N x H x W x C array) for a batch")
    if len(images) == 0:
        raise ValueError("the batch is empty; pass at least one image")
    return [to_rgb_array(image) for image in images]


def _from_pil(image: Image.Image) -> np.ndarray:
    """A PIL image (within the pixel limit) as H x W x 3 uint8 RGB."""
    if image.width == 0 or image.height == 0:
        raise ValueError(f"the image is empty ({image.width} x {image.height})")
    if image.mode in SIXTEEN_BIT_MODES:
        return _from_sixteen_bit(image)
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))


def _from_sixteen_bit(image: Image.Image) -> np.ndarray:
    """A 16-bit grayscale image as RGB of its high bytes (Pillow's convert would clip everything above 255)."""
    values = np.asarray(image)
    if image.mode == "I" and (values.min() < 0 or values.max() > 65535):
        raise ValueError(
            f"a mode I image must hold 16-bit values in [0, 65535]; got values from {values.min()} to {values.max()}"
        )
    gray = (values >> 8).astype(np.uint8)
    return np.ascontiguousarray(np.broadcast_to(gray[:, :, np.newaxis], gray.shape + (3,)))


def _from_array(array: np.ndarray) -> np.ndarray:
    if array.ndim == 2:
        array = array[:, :, np.newaxis]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise ValueError(
            f"an image array must be H x W x 3 (RGB), H x W x 4 (RGBA), H x W x 1 or H x W (grayscale); "
            f"got shape {array.shape}"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"the image is empty (shape {array.shape})")
    check_pixels(array.shape[1], array.shape[0])
    rgb = array[:, :, :3] if array.shape[2] == 4 else np.broadcast_to(array, array.shape[:2] + (3,))
    return np.ascontiguousarray(_pixel_values(rgb))


def _pixel_values(array: np.ndarray) -> np.ndarray:
    """uint8 as is; other integers and floats checked to lie in [0, 255] (floats kept as float32)."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_ or not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ValueError(f"unsupported pixel type {array.dtype}; expected uint8 (or integers/floats in [0, 255])")
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        raise ValueError("the image contains NaN or infinite values; pixel values must be finite, in [0, 255]")
    low, high = array.min(), array.max()
    if low < 0 or high > 255:
        raise ValueError(f"pixel values must lie in [0, 255]; got values from {low} to {high}")
    return array.astype(np.uint8 if np.issubdtype(array.dtype, np.integer) else np.float32)
