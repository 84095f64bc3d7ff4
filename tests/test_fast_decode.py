"""Fast decode (`EstimateSettings.fast_decode`, `--fast-decode`): JPEGs decoded at 1/2, 1/4 or 1/8 size where the
network input needs no more pixels, poses still in the full image's pixels and close to the full decode's;
off by default, where the network sees exactly the full image."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from posenet_onnx.cli import main
from posenet_onnx.runtime.images import decode_image
from posenet_onnx.runtime.resize import valid_resolution
from posenet_onnx.runtime.settings import EstimateSettings
from support.cli import model_args

STRIDE = 16


def settings(scale: float, fast: bool) -> EstimateSettings:
    return EstimateSettings(multi_pose=True, image_scale_factor=scale, output_stride=STRIDE, fast_decode=fast)


def pillow_pixels(path: Path) -> np.ndarray:
    """The photo decoded whole by Pillow itself (the shared JPEGs carry no EXIF orientation)."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def close_to(full: list, fast: list, tolerance: float) -> None:
    """Each confident pose of the full decode has a fast-decode pose whose confident keypoints lie, by the
    median, within `tolerance` pixels of its own."""
    for pose in (p for p in full if p.score >= 0.5):
        confident = pose.scores >= 0.5
        distances = [np.median(np.hypot(*(pose.positions - other.positions)[confident].T)) for other in fast]
        assert min(distances) < tolerance, (pose.score, sorted(distances)[:2])


@pytest.mark.parametrize("photo", ["couple.jpg", "pose.jpg"])
@pytest.mark.parametrize(("scale", "reduction"), [(0.5, 2), (0.25, 4), (0.2, 4)])
def test_jpegs_are_decoded_reduced_and_poses_come_in_full_pixels(net, shared, photo, scale, reduction) -> None:
    path = shared / "images" / photo
    full_pixels = pillow_pixels(path)
    height, width = full_pixels.shape[:2]
    pixels, size = net.read_image(path, settings(scale, True))
    # libjpeg's DCT scaling rounds up: ceil(size / reduction), and keeps at least the network input's pixels.
    assert size == (height, width)
    assert pixels.shape == (-(-height // reduction), -(-width // reduction), 3)
    assert pixels.shape[0] >= valid_resolution(scale, height, STRIDE) and pixels.shape[1] >= valid_resolution(scale, width, STRIDE)
    # The reduced decode is the full image, averaged: close to Pillow's box reduction of the full decode.
    boxed = np.asarray(Image.fromarray(full_pixels).reduce(reduction), dtype=np.float64)
    common = tuple(min(a, b) for a, b in zip(boxed.shape[:2], pixels.shape[:2]))
    assert np.abs(boxed[: common[0], : common[1]] - pixels[: common[0], : common[1]]).mean() < 4
    full = net.estimate([full_pixels], settings(scale, False))[0]
    fast = net.estimate([path], settings(scale, True))[0]
    assert fast == net.estimate([pixels], settings(scale, False), [size])[0]
    # A heatmap cell spans output_stride / scale image pixels; the reduced decode moves keypoints by much less.
    close_to(full, fast, tolerance=0.5 * STRIDE / scale)
    for pose in fast:
        assert pose.positions[:, 0].max() > 0.4 * width or pose.score < 0.5  # full pixels, not the reduced image's


def test_exif_orientation_is_applied_to_the_reduced_decode(net, shared, tmp_path) -> None:
    """A JPEG stored turned, with EXIF orientation 6 (the upright image is the stored one turned 90 degrees
    clockwise): both decodes give the upright size and pixels, and the fast poses lie near the full ones."""
    upright = pillow_pixels(shared / "images" / "couple.jpg")
    stored = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)  # turned back by the orientation
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "turned.jpg"
    stored.save(path, quality=95, exif=exif)
    whole, size = decode_image(path)
    assert whole.shape == upright.shape and size == upright.shape[:2]
    assert np.abs(whole.astype(int) - upright).mean() < 3  # the re-encoding's loss only
    with Image.open(path) as image:  # the default decode is Pillow's own, turned upright
        assert np.array_equal(whole, np.asarray(ImageOps.exif_transpose(image).convert("RGB")))
    pixels, size = net.read_image(path, settings(0.5, True))
    assert size == upright.shape[:2] and pixels.shape == (240, 320, 3)
    close_to(net.estimate([whole], settings(0.5, False))[0], net.estimate([path], settings(0.5, True))[0], 16)


@pytest.mark.parametrize(("photo", "scale"), [("couple.jpg", 1.0), ("pose.jpg", 0.5), ("astronaut.png", 0.5)])
def test_where_nothing_can_be_saved_fast_decode_is_the_full_decode(net, shared, photo, scale) -> None:
    """At scale 1.0 the network input is more than half the image, and PNGs have no reduced decode: fast
    decode reads the whole image and gives exactly the default's poses."""
    path = shared / "images" / photo
    pixels, size = net.read_image(path, settings(scale, True))
    if photo != "pose.jpg":
        assert pixels.shape[:2] == size
        assert net.estimate([path], settings(scale, True)) == net.estimate([path], settings(scale, False))
    # The default path (fast_decode off) is the full decode, bit for bit: Pillow's own pixels, the same poses.
    default = net.estimate([path], settings(scale, False))
    assert default == net.estimate([pillow_pixels(path)], settings(scale, False))
    assert default == [net.estimate_multiple_poses(path, scale, output_stride=STRIDE)]


def test_estimate_fast_decode_records_full_sizes_and_the_library_poses(capsys, net, shared, real_model_dir, tmp_path) -> None:
    photos = [shared / "images" / "couple.jpg", shared / "images" / "pose.jpg"]
    out = tmp_path / "poses.jsonl"
    argv = ["estimate", *map(str, photos), "--multi", "--fast-decode", "--jsonl", str(out), *model_args(real_model_dir)]
    assert main(argv) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert records[0]["settings"]["fast_decode"] is True  # recorded: --resume refuses a job without it
    for record, photo in zip(records, photos):
        height, width = pillow_pixels(photo).shape[:2]
        assert (record["height"], record["width"]) == (height, width)
        expected = net.estimate([photo], EstimateSettings(multi_pose=True, fast_decode=True))[0]
        assert record["poses"] == json.loads(json.dumps([pose.to_dict() for pose in expected]))
        default = net.estimate([photo], EstimateSettings(multi_pose=True))[0]
        assert record["poses"] != json.loads(json.dumps([pose.to_dict() for pose in default]))


def test_evaluate_fast_decode_reaches_the_library(capsys, net, shared, real_model_dir, tmp_path) -> None:
    detections = tmp_path / "detections.json"
    argv = [
        "evaluate", "--annotations", str(shared / "photos" / "coco17_all.json"), "--images", str(shared / "photos"),
        *model_args(real_model_dir), "--fast-decode", "--detections", str(detections),
    ]
    assert main(argv) == 0
    ground_truth = json.loads((shared / "photos" / "coco17_all.json").read_text())
    found = json.loads(detections.read_text())
    fast, default = EstimateSettings(multi_pose=True, fast_decode=True), EstimateSettings(multi_pose=True)
    differ = 0
    for image in ground_truth["images"][:8]:
        path = shared / "photos" / image["file_name"]
        poses = net.estimate([path], fast)[0]
        assert [d["score"] for d in found if d["image_id"] == image["id"]] == [pose.score for pose in poses]
        differ += poses != net.estimate([path], default)[0]
    assert differ  # the fast decode's poses, not the default's


def test_fast_decode_with_draw_exits_2_with_one_line(capsys, shared, real_model_dir, tmp_path) -> None:
    argv = [
        "estimate", str(shared / "images" / "couple.jpg"), "--fast-decode", "--draw", str(tmp_path / "drawn"),
        *model_args(real_model_dir),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("posenet-onnx estimate: error: ") and "--fast-decode" in err and err.count("\n") == 1
    assert not (tmp_path / "drawn").exists()
