"""onnxruntime's CUDA provider runs the exported graphs like its CPU provider: the plain fp32 graph's raw
outputs and decoded poses on real photos, the single-pose graph, and the multi-pose graph (also on the TensorRT
provider, where onnxruntime has it; nodes TensorRT lacks, such as float64 arithmetic, fall back to CUDA and
CPU), whose speed scripts/bench_multi_graph.py measures on the GPU. Needs a CUDA GPU (never in CI)."""

from __future__ import annotations


import numpy as np
import pytest

import posenet_onnx
from posenet_onnx.contract import model_filename
from posenet_onnx.runtime.resize import resize_bilinear, valid_resolution
from support.runtimes import (
    MULTI_POSE,
    MULTI_SETTINGS,
    REPO,
    exported_graph,
    keypoint_shifts,
    max_abs_differences,
    multi_feed,
    onnxruntime_multi,
    poses_through,
)

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


GPU_PROVIDERS = {
    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
}


def gpu_providers(name: str) -> list[str]:
    """The provider list of `name`; skips when this onnxruntime lacks it (TensorRT needs its own libraries)."""
    import onnxruntime as ort

    providers = GPU_PROVIDERS[name]
    if providers[0] not in ort.get_available_providers():
        pytest.skip(f"this onnxruntime has no {providers[0]}")
    return providers


@pytest.mark.parametrize("provider", ["cuda", "tensorrt"])
def test_multi_pose_graph_on_the_gpu_matches_cpu(provider, checkpoint_dir, shared, tmp_path_factory, photos):
    """The same poses as on the CPU provider: counts, keypoints (the network's float differences may move a
    keypoint near a cell border, so by median and 99th percentile) and pose scores."""
    import onnxruntime as ort

    providers = gpu_providers(provider)
    path = exported_graph("multi_fp32", lambda: tmp_path_factory.mktemp("deploy"), checkpoint_dir, shared / "images")
    session = ort.InferenceSession(str(path), providers=providers)
    if session.get_providers()[0] != providers[0]:
        pytest.skip(f"{providers[0]} did not start: {session.get_providers()}")
    gpu, cpu = onnxruntime_multi(path, providers), onnxruntime_multi(path)
    distances, score_errors = [], []
    for image in photos:
        for scale in (0.5, 1.0):
            for settings in MULTI_SETTINGS:
                feed = multi_feed(image[np.newaxis], scale, settings)
                got, expected = gpu(feed), cpu(feed)
                count = int(expected[3][0])
                assert int(got[3][0]) == count >= 1
                distances.append(np.linalg.norm(got[0][0, :count] - expected[0][0, :count], axis=-1).ravel())
                score_errors.append(np.abs(got[2][0, :count] - expected[2][0, :count]))
    distances, score_errors = np.concatenate(distances), np.concatenate(score_errors)
    assert np.median(distances) <= 0.01 and np.percentile(distances, 99) <= 0.5
    assert np.mean(score_errors <= 1e-3) >= 0.99


@pytest.mark.parametrize("provider", ["cuda", "tensorrt"])
def test_multi_pose_graph_speed_is_measured_on_the_gpu(provider, tmp_path):
    """scripts/bench_multi_graph.py times the graph against the Python path on the GPU provider (its figures go
    to docs/deployment.md; speed is never asserted in a test)."""
    import subprocess
    import sys

    gpu_providers(provider)
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "bench_multi_graph.py"), "--provider", provider, "--repeats", "20",
         "--model-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| couple.jpg")]
    assert rows and provider in done.stdout
