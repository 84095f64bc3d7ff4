"""onnxruntime's CUDA provider runs the exported graphs like its CPU provider: the plain fp32 graph's raw
outputs and decoded poses on real photos, and the single-pose graph. Needs a CUDA GPU (never in CI)."""

from __future__ import annotations


import numpy as np
import pytest

import posenet_onnx
from posenet_onnx.contract import model_filename
from posenet_onnx.runtime.resize import resize_bilinear, valid_resolution
from support.runtimes import MULTI_POSE, exported_graph, keypoint_shifts, max_abs_differences, poses_through

pytestmark = [pytest.mark.needs_gpu, pytest.mark.needs_tensorflow, pytest.mark.slow]

RAW_ATOL = 2e-3  # cuDNN's convolution algorithms sum in another order
MAX_SHIFT_PX = 0.05


def test_plain_graph_on_cuda_matches_cpu(real_model_dir, photos):
    path = real_model_dir / model_filename(0.50, 16)
    cpu = posenet_onnx.load(path, device="cpu").network(16)
    cuda_net = posenet_onnx.load(path, device="cuda")
    assert cuda_net.providers[0] == "CUDAExecutionProvider"
    cuda = cuda_net.network(16)
    for image in photos:
        size = valid_resolution(0.5, image.shape[0], 16), valid_resolution(0.5, image.shape[1], 16)
        x = resize_bilinear(image[np.newaxis], *size)
        assert max(max_abs_differences(cuda.run(x), cpu.run(x))) <= RAW_ATOL
        expected = poses_through(cpu, image, MULTI_POSE)
        assert keypoint_shifts(poses_through(cuda, image, MULTI_POSE), expected).max() <= MAX_SHIFT_PX


def test_single_pose_graph_on_cuda_matches_cpu(checkpoint_dir, shared, tmp_path_factory, photos):
    import onnxruntime as ort

    from posenet_onnx.contract import INPUT_NAME, SCALE_FACTOR_NAME

    path = exported_graph("single_fp32", lambda: tmp_path_factory.mktemp("deploy"), checkpoint_dir, shared / "images")
    cpu = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    cuda = ort.InferenceSession(str(path), providers=["CUDAExecutionProvider"])
    assert cuda.get_providers()[0] == "CUDAExecutionProvider"
    for image in photos:
        feed = {INPUT_NAME: image[np.newaxis], SCALE_FACTOR_NAME: np.array(0.5, np.float32)}
        got, expected = cuda.run(None, feed), cpu.run(None, feed)
        assert np.abs(got[0] - expected[0]).max() <= MAX_SHIFT_PX
        assert max(max_abs_differences(got[1:], expected[1:])) <= RAW_ATOL
