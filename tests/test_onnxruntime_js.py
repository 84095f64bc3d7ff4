"""onnxruntime for JavaScript (onnxruntime-node under Node, scripts/ortjs/run.js) runs the exported graphs of
the real 0.50 checkpoint: the self-contained single-pose and multi-pose graphs on real photos give the poses the
Python pipeline gives, so PoseNet runs in its home language without TensorFlow.js; the plain graph's raw outputs
equal onnxruntime's in Python and decode to the same poses. Node is started by the tests."""

from __future__ import annotations

import os

import numpy as np
import pytest

import posenet_onnx
from posenet_onnx.contract import (
    INPUT_NAME,
    MULTI_GRAPH_OUTPUTS,
    OUTPUT_NAMES,
    SCALE_FACTOR_NAME,
    SINGLE_GRAPH_OUTPUTS,
    model_filename,
)
from posenet_onnx.runtime.network import Network
from posenet_onnx.runtime.resize import resize_bilinear, valid_resolution
from support.runtimes import (
    MULTI_POSE,
    MULTI_SETTINGS,
    ForeignNetwork,
    keypoint_shifts,
    max_abs_differences,
    multi_feed,
    multi_pose_differences,
    onnxruntime_multi,
    onnxruntime_single,
    ortjs_missing,
    poses_through,
    run_node,
)

pytestmark = [pytest.mark.needs_node, pytest.mark.needs_tensorflow, pytest.mark.slow]

RAW_ATOL = 1e-3  # the same onnxruntime kernels in another build: measured within 1e-4
MAX_SHIFT_PX = 0.01


@pytest.fixture(scope="module", autouse=True)
def ortjs() -> None:
    reason = ortjs_missing()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must have every tool the tests need, but {reason}", pytrace=False)
        pytest.skip(reason)


def single_feeds(photos: list[np.ndarray], scale: float) -> list[dict[str, np.ndarray]]:
    return [{INPUT_NAME: image[np.newaxis], SCALE_FACTOR_NAME: np.array(scale, dtype=np.float32)} for image in photos]


@pytest.mark.parametrize("kind", ["single_fp32", "single_ort"])
def test_single_pose_graph_gives_the_python_keypoints(kind, graph, net, photos):
    """.onnx and the ORT format (onnxruntime Mobile's file) alike, at image scales 0.5 and 1.0."""
    path = graph(kind)
    python = onnxruntime_single(path)
    for scale in (0.5, 1.0):
        answer = run_node(path, single_feeds(photos, scale))
        assert answer["onnxruntime"].count(".") == 2
        for image, outputs in zip(photos, answer["outputs"]):
            keypoints, keypoint_scores, scores = (outputs[name] for name in SINGLE_GRAPH_OUTPUTS)
            assert keypoints.shape == (1, 17, 2) and keypoints.dtype == np.float32
            expected = net.estimate_single_pose(image, scale)
            assert expected.score > 0.3, "a real person should be found"
            assert np.abs(keypoints[0] - expected.positions).max() <= MAX_SHIFT_PX
            np.testing.assert_allclose(keypoint_scores[0], expected.scores, rtol=0, atol=1e-4)
            assert abs(scores[0] - expected.score) <= 1e-4
            assert max(max_abs_differences([keypoints, keypoint_scores, scores], python(image[np.newaxis], scale))) <= RAW_ATOL


@pytest.mark.parametrize("kind", ["multi_fp32", "multi_ort"])
def test_multi_pose_graph_gives_the_python_poses(kind, graph, net, photos):
    """.onnx and the ORT format alike: int64 and float32 scalars in, every pose out (Loop, TopK, float64 inside)."""
    path = graph(kind)
    python = onnxruntime_multi(path)
    feeds = [
        multi_feed(image[np.newaxis], scale, settings)
        for image in photos for scale in (0.5, 1.0) for settings in MULTI_SETTINGS
    ]
    answer = run_node(path, feeds)
    cases = [(image, scale, settings) for image in photos for scale in (0.5, 1.0) for settings in MULTI_SETTINGS]
    for (image, scale, settings), feed, outputs in zip(cases, feeds, answer["outputs"]):
        got = [outputs[name] for name in MULTI_GRAPH_OUTPUTS]
        assert got[3].dtype == np.int64 and got[0].shape == (1, settings[0], 17, 2)
        expected = net.estimate_multiple_poses(image, scale, False, 16, *settings)
        assert expected, "real people should be found"
        distances, score_errors = multi_pose_differences(got, 0, expected)
        assert distances.max() <= MAX_SHIFT_PX and score_errors.max() <= 1e-4
        assert max(max_abs_differences(got, python(feed))) <= RAW_ATOL


def test_plain_graph_outputs_equal_python_onnxruntime(real_model_dir, photos):
    """Raw outputs of the plain fp32 graph, and the multi-pose poses the Python decoder finds in them."""
    reference: Network = posenet_onnx.load(real_model_dir / model_filename(0.50, 16), device="cpu").network(16)
    inputs = []
    for image in photos:
        size = valid_resolution(0.5, image.shape[0], 16), valid_resolution(0.5, image.shape[1], 16)
        inputs.append(resize_bilinear(image[np.newaxis], *size))
    answer = run_node(reference.path, [{INPUT_NAME: x} for x in inputs])
    for image, x, outputs in zip(photos, inputs, answer["outputs"]):
        node_outputs = [outputs[name] for name in OUTPUT_NAMES]
        assert max(max_abs_differences(node_outputs, reference.run(x))) <= RAW_ATOL
        replay = ForeignNetwork(reference.config, lambda _, outputs=node_outputs: outputs)
        expected = poses_through(reference, image, MULTI_POSE)
        assert len(expected) >= 1
        assert keypoint_shifts(poses_through(replay, image, MULTI_POSE), expected).max() <= MAX_SHIFT_PX


def test_int8_single_pose_graph_equals_python_onnxruntime(graph, photos):
    """The quantised graph on the same integer kernels: the same keypoints as in Python."""
    path = graph("single_int8")
    python = onnxruntime_single(path)
    answer = run_node(path, single_feeds(photos, 0.5))
    for image, outputs in zip(photos, answer["outputs"]):
        got = [outputs[name] for name in SINGLE_GRAPH_OUTPUTS]
        assert max(max_abs_differences(got, python(image[np.newaxis], 0.5))) <= RAW_ATOL


def test_a_bad_model_fails_with_its_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a graph")
    with pytest.raises(RuntimeError, match="onnxruntime-node failed"):
        run_node(bad, [{INPUT_NAME: np.zeros((1, 33, 33, 3), np.float32)}])
