"""OpenVINO (the openvino extra, CPU plugin at f32) runs the exported graphs of the real 0.50 checkpoint like
onnxruntime does: the plain fp32 graphs at strides 8 and 16, the int8 graph and the self-contained
single-pose and multi-pose graphs, on real photos, through the Python pipeline (resize, decode) with OpenVINO in
place of onnxruntime. Raw outputs are compared with onnxruntime's on the same input, keypoints in image pixels."""

from __future__ import annotations


import numpy as np
import pytest

import posenet_onnx
from posenet_onnx.contract import model_filename
from posenet_onnx.runtime.resize import resize_bilinear, valid_resolution
from support.runtimes import (
    MULTI_POSE,
    MULTI_SETTINGS,
    SINGLE_POSE,
    keypoint_shifts,
    max_abs_differences,
    multi_feed,
    multi_pose_differences,
    onnxruntime_multi,
    onnxruntime_single,
    openvino_compiled,
    openvino_multi,
    openvino_network,
    openvino_single,
    poses_through,
)

pytestmark = [pytest.mark.needs_openvino, pytest.mark.needs_tensorflow, pytest.mark.slow]

# fp32: the same float arithmetic up to summation order. Raw outputs measured within 6e-4 of onnxruntime's.
RAW_ATOL = 2e-3
FP32_MAX_SHIFT_PX = 0.01  # measured 3e-4 px
# int8: each runtime rounds and requantises in its own integer kernels, so a keypoint whose two best cells
# score alike may move to the neighbouring cell. Confident keypoints (fp32 score >= 0.5), against onnxruntime
# running the same int8 graph: measured median 0 px, max 8.5 px.
INT8_MEDIAN_PX, INT8_MAX_PX = 0.5, 16.0  # one output-stride cell


def network_input(image: np.ndarray, scale: float, output_stride: int) -> np.ndarray:
    size = valid_resolution(scale, image.shape[0], output_stride), valid_resolution(scale, image.shape[1], output_stride)
    return resize_bilinear(image[np.newaxis], *size)


@pytest.mark.parametrize("output_stride", [8, 16])
def test_plain_fp32_graph_matches_onnxruntime(output_stride, real_model_dir, photos):
    import openvino as ov

    net = posenet_onnx.load(real_model_dir / model_filename(0.50, output_stride), device="cpu")
    reference = net.network(output_stride)
    openvino = openvino_network(reference)
    assert openvino_compiled(reference.path).get_property("INFERENCE_PRECISION_HINT") == ov.Type.f32
    for image in photos:
        x = network_input(image, 0.5, output_stride)
        assert max(max_abs_differences(openvino.run(x), reference.run(x))) <= RAW_ATOL
        for settings in (SINGLE_POSE, MULTI_POSE):
            expected = poses_through(reference, image, settings)
            assert expected and expected[0].score > 0.3, "a real person should be found"
            assert keypoint_shifts(poses_through(openvino, image, settings), expected).max() <= FP32_MAX_SHIFT_PX


def test_int8_graph_finds_the_keypoints_onnxruntime_finds(graph, net, photos):
    reference = posenet_onnx.load(graph("plain_int8"), device="cpu").network(16)
    openvino = openvino_network(reference)
    shifts = []
    for image in photos:
        confident = net.estimate_single_pose(image).scores >= 0.5
        assert confident.sum() >= 8, "the photo should show a person clearly"
        got, expected = poses_through(openvino, image, SINGLE_POSE), poses_through(reference, image, SINGLE_POSE)
        shifts.append(keypoint_shifts(got, expected)[confident])
    shifts = np.concatenate(shifts)
    assert np.median(shifts) <= INT8_MEDIAN_PX and shifts.max() <= INT8_MAX_PX, shifts


def test_single_pose_graph_gives_estimate_single_pose(graph, net, photos):
    """The self-contained graph (uint8 image + scale in, keypoints out) on OpenVINO: the pose the Python
    pipeline finds, and onnxruntime's outputs of the same graph."""
    path = graph("single_fp32")
    openvino, onnxruntime = openvino_single(path), onnxruntime_single(path)
    for image in photos:
        for scale in (0.5, 1.0):
            keypoints, keypoint_scores, scores = openvino(image[np.newaxis], scale)
            assert keypoints.shape == (1, 17, 2) and keypoint_scores.shape == (1, 17) and scores.shape == (1,)
            expected = net.estimate_single_pose(image, scale)
            assert np.abs(keypoints[0] - expected.positions).max() <= FP32_MAX_SHIFT_PX
            np.testing.assert_allclose(keypoint_scores[0], expected.scores, rtol=0, atol=1e-4)
            assert max(max_abs_differences([keypoints, keypoint_scores, scores], onnxruntime(image[np.newaxis], scale))) <= RAW_ATOL


def test_single_pose_int8_graph_matches_onnxruntime(graph, net, photos):
    path = graph("single_int8")
    openvino, onnxruntime = openvino_single(path), onnxruntime_single(path)
    shifts = []
    for image in photos:
        confident = net.estimate_single_pose(image).scores >= 0.5
        got, expected = openvino(image[np.newaxis], 0.5)[0][0], onnxruntime(image[np.newaxis], 0.5)[0][0]
        shifts.append(np.linalg.norm(got - expected, axis=1)[confident])
    shifts = np.concatenate(shifts)
    assert np.median(shifts) <= INT8_MEDIAN_PX and shifts.max() <= INT8_MAX_PX, shifts


def test_multi_pose_graph_gives_estimate_multiple_poses(graph, net, photos):
    """The self-contained multi-pose graph (uint8 image and parameters in, every pose out; a Loop, TopK and
    float64 inside) on OpenVINO: the poses the Python path finds, and onnxruntime's outputs of the same graph."""
    path = graph("multi_fp32")
    openvino, onnxruntime = openvino_multi(path), onnxruntime_multi(path)
    for image in photos:
        for scale in (0.5, 1.0):
            for settings in MULTI_SETTINGS:
                feed = multi_feed(image[np.newaxis], scale, settings)
                outputs = openvino(feed)
                expected = net.estimate_multiple_poses(image, scale, False, 16, *settings)
                assert expected, "real people should be found"
                distances, score_errors = multi_pose_differences(outputs, 0, expected)
                assert distances.max() <= FP32_MAX_SHIFT_PX and score_errors.max() <= 1e-4
                assert max(max_abs_differences(outputs, onnxruntime(feed))) <= RAW_ATOL
