"""Every exported precision and any graph file through the runtime: `load(precision=...)`, `load(path)`,
`--precision` and `--model`, checked against the graph and the decoder called directly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

import posenet_onnx
from posenet_onnx.cli import main
from posenet_onnx.contract import INPUT_NAME, OUTPUT_NAMES, model_filename
from posenet_onnx.decode import decode_multiple_poses, decode_single_pose
from posenet_onnx.runtime.images import load_image
from posenet_onnx.runtime.resize import resize_bilinear, valid_resolution


@pytest.fixture(scope="module")
def photo(shared: Path) -> Path:
    return shared / "photos" / "mmpose_coco" / "000000040083.jpg"  # three people, not a calibration image


def direct(path: Path, image: np.ndarray, output_stride: int = 16, scale: float = 0.5) -> tuple:
    """The graph and the decoder called by hand: (single pose, multi poses), positions in image pixels."""
    height, width = image.shape[:2]
    resized = (valid_resolution(scale, height, output_stride), valid_resolution(scale, width, output_stride))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = dict(zip([o.name for o in session.get_outputs()], session.run(None, {INPUT_NAME: resize_bilinear(image[None], *resized)})))
    tensors = [out[name][0] for name in OUTPUT_NAMES]
    to_image = np.array([width / resized[1], height / resized[0]])
    single = decode_single_pose(*tensors[:2], output_stride)
    multi = decode_multiple_poses(*tensors, output_stride)
    return single.keypoints[0] * to_image, multi.keypoints * to_image, multi.scores


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_each_precision_runs_its_own_graph(precision_model_dir, photo, precision) -> None:
    net = posenet_onnx.load(0.5, precision=precision, model_dir=precision_model_dir, device="cpu")
    assert net.precision == precision
    image = load_image(photo)
    single, multi, scores = direct(precision_model_dir / model_filename(0.5, 16, precision), image)
    np.testing.assert_array_equal(net.estimate_single_pose(image).positions, single)
    poses = net.estimate_multiple_poses(image)
    assert len(poses) == len(multi) >= 2
    np.testing.assert_array_equal(np.stack([p.positions for p in poses]), multi)
    assert [p.score for p in poses] == scores.tolist()


def test_a_graph_file_says_what_it_is(precision_model_dir, real_model_dir, photo) -> None:
    image = load_image(photo)
    int8 = posenet_onnx.load(precision_model_dir / model_filename(0.5, 16, "int8"), device="cpu")
    assert (int8.multiplier, int8.output_stride, int8.precision) == (0.5, 16, "int8")
    by_name = posenet_onnx.load(0.5, precision="int8", model_dir=precision_model_dir, device="cpu")
    assert int8.estimate_multiple_poses(image) == by_name.estimate_multiple_poses(image)
    stride8 = posenet_onnx.load(str(real_model_dir / model_filename(0.5, 8)), device="cpu")
    assert stride8.output_stride == 8
    np.testing.assert_array_equal(stride8.estimate_single_pose(image).positions, direct(real_model_dir / model_filename(0.5, 8), image, 8)[0])
    with pytest.raises(ValueError, match="runs at output stride 8 only; got 16"):
        stride8.estimate_single_pose(image, output_stride=16)


def test_a_missing_int8_graph_names_the_export_command(tmp_path) -> None:
    net = posenet_onnx.load(0.5, precision="int8", model_dir=tmp_path, device="cpu")
    with pytest.raises(FileNotFoundError, match=r"posenet-onnx export --multiplier 0.50 --output-stride 16 --precision int8 --calibration-dir PHOTOS"):
        net.estimate_single_pose(np.zeros((64, 64, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []  # int8 is never exported without photos


def test_a_file_with_another_precision_is_refused(precision_model_dir, tmp_path) -> None:
    shutil.copyfile(precision_model_dir / model_filename(0.5, 16, "int8"), tmp_path / model_filename(0.5, 16))
    net = posenet_onnx.load(0.5, model_dir=tmp_path, device="cpu")
    with pytest.raises(ValueError, match=r"\(int8\), but multiplier 0.50 at output stride 16 \(fp32\) was asked for"):
        net.estimate_single_pose(np.zeros((64, 64, 3), np.uint8))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"precision": "int4"}, "Invalid precision 'int4'; expected one of fp32, fp16, int8"),
    ({"model_dir": ""}, "model_dir is empty"),
])
def test_bad_precision_and_model_dir(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        posenet_onnx.load(0.5, **kwargs)


def test_a_missing_model_file(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="No model file"):
        posenet_onnx.load(tmp_path / "none.onnx")


def test_reading_providers_never_exports(tmp_path) -> None:
    net = posenet_onnx.load(0.5, model_dir=tmp_path / "models", device="cpu")
    assert net.providers == ["CPUExecutionProvider"]
    assert list(tmp_path.iterdir()) == []


def test_cli_precision_and_model_file(capsys, precision_model_dir, photo) -> None:
    int8 = posenet_onnx.load(0.5, precision="int8", model_dir=precision_model_dir, device="cpu")
    expected = [pose.to_dict() for pose in int8.estimate_multiple_poses(photo)]
    for args in (["--precision", "int8", "--model-dir", str(precision_model_dir)], ["--model", str(precision_model_dir / model_filename(0.5, 16, "int8"))]):
        assert main(["estimate", str(photo), "--multi", "--multiplier", "0.5", "--device", "cpu", *args]) == 0
        assert json.loads(capsys.readouterr().out)[0]["poses"] == expected


@pytest.fixture(scope="module")
def fixed_graph(checkpoint_dir, tmp_path_factory) -> Path:
    """The real 0.50 stride-16 graph at a fixed 257 x 353 input, batch 2."""
    from posenet_onnx.export import export_model

    return export_model(0.5, 16, tmp_path_factory.mktemp("fixed"), checkpoint_dir=checkpoint_dir,
                        input_size=(257, 353), batch=2, progress=False)


@pytest.mark.needs_tensorflow
def test_a_fixed_shape_graph_maps_every_image_to_its_size(fixed_graph, real_model_dir, shared) -> None:
    """Each image is resized to the graph's 257 x 353 (whatever the scale factor), fed in batches of 2 (the
    last one padded), and its poses come back in image pixels: what the dynamic graph gives on that input."""
    net = posenet_onnx.load(fixed_graph, device="cpu")
    images = [load_image(shared / "images" / name) for name in ("couple.jpg", "pose.jpg", "astronaut.png")]
    session = ort.InferenceSession(str(real_model_dir / model_filename(0.5, 16)), providers=["CPUExecutionProvider"])
    got = net.estimate_multiple_poses_batch(images, 0.5)
    for image, poses in zip(images, got):
        height, width = image.shape[:2]
        out = dict(zip([o.name for o in session.get_outputs()], session.run(None, {INPUT_NAME: resize_bilinear(image[None], 257, 353)})))
        expected = decode_multiple_poses(*(out[name][0] for name in OUTPUT_NAMES), 16)
        assert len(poses) == len(expected) >= 1
        np.testing.assert_allclose(np.stack([p.positions for p in poses]), expected.keypoints * [width / 353, height / 257], atol=1e-3)
    assert net.estimate_single_pose(images[0], 0.2) == net.estimate_single_pose(images[0], 1.0)  # the size is the graph's
