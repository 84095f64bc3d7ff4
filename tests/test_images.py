"""Image inputs on real photos: 16-bit files give the poses of their 8-bit versions, and images above the
pixel limit are refused with one line (before their pixels are decoded) unless the limit is lifted."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from posenet_onnx.runtime.images import ENV_MAX_PIXELS, MAX_PIXELS, _opened, load_image, to_rgb_array

PHOTOS = ("couple.jpg", "astronaut.png", "pose.jpg")


def png(path: Path, height: int, width: int, rows, bit_depth: int, color_type: int) -> Path:
    """Write a PNG chunk by chunk (so a huge one never sits in memory); ``rows`` yields each row's bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(b"\0" + row) for row in rows) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b""))
    return path


def sixteen_bit_png(path: Path, pixels: np.ndarray) -> Path:
    """A real 16-bit PNG (grayscale, gray + alpha, RGB or RGBA) of 8-bit ``pixels`` scaled by 257 (v -> vv)."""
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[pixels.shape[2]]
    wide = pixels.astype(">u2") * 257
    return png(path, pixels.shape[0], pixels.shape[1], (row.tobytes() for row in wide), 16, color_type)


def sixteen_bit_versions(photo: Path, folder: Path) -> tuple[Path, dict[str, Path]]:
    """The photo's 8-bit grayscale PNG and its 16-bit grayscale copies in every mode Pillow opens them in."""
    gray = np.asarray(Image.open(photo).convert("L"))
    eight = folder / "gray8.png"
    Image.fromarray(gray).save(eight)
    wide = gray.astype(np.uint16) * 257
    big_endian = folder / "gray16_big_endian.tif"
    Image.frombytes("I;16B", gray.shape[::-1], wide.astype(">u2").tobytes()).save(big_endian)
    mode_i = folder / "gray_mode_i.tif"
    Image.fromarray(wide.astype(np.int32)).save(mode_i)
    return eight, {
        "I;16": sixteen_bit_png(folder / "gray16.png", gray[:, :, np.newaxis]),
        "I;16B": big_endian,
        "I": mode_i,
    }


@pytest.mark.parametrize("name", PHOTOS)
def test_sixteen_bit_grayscale_files_read_as_their_eight_bit_versions(shared: Path, tmp_path: Path, name: str):
    eight, sixteen = sixteen_bit_versions(shared / "images" / name, tmp_path)
    expected = load_image(eight)
    assert expected.std() > 20  # a real photo, not a flat image
    for mode, path in sixteen.items():
        with Image.open(path) as image:
            assert image.mode == mode  # what Pillow makes of each file
        np.testing.assert_array_equal(load_image(path), expected, err_msg=mode)
        with Image.open(path) as image:
            np.testing.assert_array_equal(to_rgb_array(image), expected, err_msg=mode)


@pytest.mark.parametrize("channels", [2, 3, 4], ids=["gray+alpha", "RGB", "RGBA"])
def test_sixteen_bit_colour_files_read_as_their_eight_bit_versions(shared: Path, tmp_path: Path, channels: int):
    rgb = np.asarray(Image.open(shared / "images" / "couple.jpg").convert("RGB"))
    alpha = np.linspace(0, 255, rgb.shape[1]).astype(np.uint8)[np.newaxis].repeat(rgb.shape[0], 0)[:, :, np.newaxis]
    gray = np.asarray(Image.fromarray(rgb).convert("L"))[:, :, np.newaxis]
    pixels = {2: np.concatenate([gray, alpha], 2), 3: rgb, 4: np.concatenate([rgb, alpha], 2)}[channels]
    path = sixteen_bit_png(tmp_path / "wide.png", pixels)
    expected = np.repeat(gray, 3, axis=2) if channels == 2 else rgb  # alpha dropped, not blended
    np.testing.assert_array_equal(load_image(path), expected)


def test_sixteen_bit_photos_give_the_poses_of_the_eight_bit_ones(net, shared: Path, tmp_path: Path):
    """End to end through the real network: the same poses, and there are poses (the old conversion clipped
    every pixel above 255 of a 16-bit grayscale image to white and found none)."""
    eight, sixteen = sixteen_bit_versions(shared / "images" / "couple.jpg", tmp_path)
    expected = net.estimate_multiple_poses(str(eight), output_stride=16)
    assert len(expected) >= 1 and expected[0].score > 0.3
    for mode, path in sixteen.items():
        poses = net.estimate_multiple_poses(str(path), output_stride=16)
        assert [pose.score for pose in poses] == [pose.score for pose in expected], mode
        assert [p.keypoints for p in poses] == [p.keypoints for p in expected], mode


def test_mode_i_outside_sixteen_bits_is_refused():
    image = Image.fromarray(np.full((4, 4), 70000, np.int32))
    with pytest.raises(ValueError, match=r"mode I image must hold 16-bit values in \[0, 65535\]; got values from 70000"):
        to_rgb_array(image)


def huge_png(path: Path, side: int = 16000) -> Path:
    """A real side x side 8-bit grayscale PNG (a few hundred KB compressed)."""
    return png(path, side, side, (bytes(side) for _ in range(side)), 8, 0)


def test_huge_png_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """16000 x 16000 used to raise Pillow's DecompressionBombError; now one ValueError naming the limit and the
    override, before any pixel is decoded."""
    monkeypatch.delenv(ENV_MAX_PIXELS, raising=False)
    path = huge_png(tmp_path / "huge.png")
    limit = f"{MAX_PIXELS:,}"
    with pytest.raises(ValueError, match=rf"16000 x 16000 = 256,000,000 pixels, above the limit of {limit} .*set {ENV_MAX_PIXELS}") as error:
        load_image(path)
    assert "\n" not in str(error.value)
    pillow_limit = Image.MAX_IMAGE_PIXELS
    # Lifting the limit lifts Pillow's too (only while the file is opened): the image opens, undecoded here.
    monkeypatch.setenv(ENV_MAX_PIXELS, "0")
    with _opened(path) as image:
        assert image.size == (16000, 16000)
    monkeypatch.setenv(ENV_MAX_PIXELS, str(16000 * 16000))
    with _opened(path) as image:
        assert image.size == (16000, 16000)
    assert Image.MAX_IMAGE_PIXELS == pillow_limit


def test_pixel_limit_applies_to_every_input_and_can_be_changed(shared: Path, monkeypatch: pytest.MonkeyPatch):
    photo = shared / "images" / "couple.jpg"  # 640 x 480
    array = load_image(photo)
    over = np.broadcast_to(np.uint8(0), (8193, 8192, 3))  # one row over the default, without the memory
    with pytest.raises(ValueError, match="8192 x 8193 = 67,117,056 pixels, above the limit of 67,108,864"):
        to_rgb_array(over)
    monkeypatch.setenv(ENV_MAX_PIXELS, str(640 * 480 - 1))
    for image in (photo, str(photo), array, Image.open(photo)):
        with pytest.raises(ValueError, match="640 x 480 = 307,200 pixels, above the limit of 307,199"):
            to_rgb_array(image)
    monkeypatch.setenv(ENV_MAX_PIXELS, str(640 * 480))
    np.testing.assert_array_equal(to_rgb_array(photo), array)
    monkeypatch.setenv(ENV_MAX_PIXELS, "lots")
    with pytest.raises(ValueError, match=rf"\${ENV_MAX_PIXELS} must be a whole number of pixels \(0 for no limit\); got 'lots'"):
        to_rgb_array(array)
