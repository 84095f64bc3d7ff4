"""The ORT format (`export --format ort`, onnxruntime's own converter), the file onnxruntime Mobile loads:
loaded and run by onnxruntime, it gives what the .onnx graph gives, through posenet_onnx.load (plain graph)
and as the self-contained single-pose and multi-pose graphs, on real photos. (Under Node:
tests/test_onnxruntime_js.py.)"""

from __future__ import annotations


import numpy as np
import pytest

import posenet_onnx
from support.runtimes import MULTI_SETTINGS, max_abs_differences, multi_feed, onnxruntime_multi, onnxruntime_single

pytestmark = [pytest.mark.needs_tensorflow, pytest.mark.slow]

RAW_ATOL = 1e-4  # scores: the same kernels; the converter bakes in only portable graph rewrites
# Keypoints in image pixels (up to 1000, where a float32 step is 6e-5): the .onnx file gets onnxruntime's x86
# layout rewrites at load time, whose float32 rounding moves them by a few steps (measured 2.4e-4 px).
KEYPOINT_ATOL = 1e-3


def test_the_file_is_the_ort_format(graph):
    path = graph("plain_ort")
    assert path.name == "mobilenet_v1_050_stride16.ort"
    assert path.read_bytes()[4:8] == b"ORTM"  # the flatbuffer's file identifier


def test_plain_ort_graph_estimates_like_the_onnx_graph(graph, net, photos):
    ort_net = posenet_onnx.load(graph("plain_ort"), device="cpu")
    for image in photos:
        expected = net.estimate_multiple_poses(image)
        got = ort_net.estimate_multiple_poses(image)
        assert len(got) == len(expected) >= 1
        for pose, reference in zip(got, expected):
            assert np.abs(pose.positions - reference.positions).max() <= 1e-3
            assert abs(pose.score - reference.score) <= 1e-5


def test_single_pose_ort_graph_equals_the_onnx_graph(graph, photos):
    ort_format, onnx_format = onnxruntime_single(graph("single_ort")), onnxruntime_single(graph("single_fp32"))
    for image in photos:
        for scale in (0.5, 1.0):
            got, expected = ort_format(image[np.newaxis], scale), onnx_format(image[np.newaxis], scale)
            keypoints, *scores = max_abs_differences(got, expected)
            assert keypoints <= KEYPOINT_ATOL and max(scores) <= RAW_ATOL


def test_multi_pose_ort_graph_equals_the_onnx_graph(graph, net, photos):
    """As raw outputs, and through posenet_onnx.load, which serves estimate_multiple_poses from the .ort file."""
    path = graph("multi_ort")
    assert path.name == "mobilenet_v1_050_stride16_multi.ort"
    ort_format, onnx_format = onnxruntime_multi(path), onnxruntime_multi(graph("multi_fp32"))
    loaded = posenet_onnx.load(path, device="cpu")
    for image in photos:
        for scale in (0.5, 1.0):
            for settings in MULTI_SETTINGS:
                feed = multi_feed(image[np.newaxis], scale, settings)
                got, expected = ort_format(feed), onnx_format(feed)
                assert got[3].tolist() == expected[3].tolist()
                assert max(max_abs_differences(got, expected)) <= KEYPOINT_ATOL
        poses, reference = loaded.estimate_multiple_poses(image), net.estimate_multiple_poses(image)
        assert len(poses) == len(reference) >= 1
        assert max(np.abs(a.positions - b.positions).max() for a, b in zip(poses, reference)) <= 0.01
