"""Execution providers: auto picks what really works, quietly; cuda fails loudly without a usable GPU."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

import posenet_onnx
from posenet_onnx.contract import model_filename
from posenet_onnx.runtime.providers import CPU, CUDA, create_session

# onnxruntime-gpu lists CUDA even where it cannot create it; a usable GPU needs the NVIDIA driver.
HAS_GPU = shutil.which("nvidia-smi") is not None


@pytest.fixture(scope="module")
def graph(real_model_dir: Path) -> Path:
    return real_model_dir / model_filename(0.5, 16)


def test_auto_uses_what_really_works_without_noise(graph, capfd) -> None:
    session = create_session(graph, "auto")
    assert session.get_providers()[0] == (CUDA if HAS_GPU else CPU)
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""  # onnxruntime's failed CUDA attempt stays off the terminal


def test_net_providers_tell_the_truth(real_model_dir) -> None:
    net = posenet_onnx.load(0.5, model_dir=real_model_dir)
    assert net.providers[0] == (CUDA if HAS_GPU else CPU)
    assert posenet_onnx.load(0.5, model_dir=real_model_dir, device="cpu").providers == [CPU]


@pytest.mark.skipif(HAS_GPU, reason="CUDA works here")
def test_cuda_fails_loudly_without_a_usable_gpu(graph, real_model_dir, capfd) -> None:
    assert CUDA in ort.get_available_providers()  # onnxruntime-gpu claims it anyway
    with pytest.raises(RuntimeError, match=r"device='cuda' was requested but CUDA is not usable here .*onnxruntime said: .*"):
        create_session(graph, "cuda")
    net = posenet_onnx.load(0.5, model_dir=real_model_dir, device="cuda")
    with pytest.raises(RuntimeError, match="CUDA is not usable"):
        net.providers
    assert capfd.readouterr().err == ""


@pytest.mark.needs_gpu
def test_cuda_runs_on_the_gpu(graph) -> None:
    assert create_session(graph, "cuda").get_providers()[0] == CUDA


def test_explicit_providers_pass_through(graph) -> None:
    assert create_session(graph, "cuda", providers=[CPU]).get_providers() == [CPU]


def test_sessions_optimise_the_graph(graph) -> None:
    options = create_session(graph, "cpu").get_session_options()
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert options.log_severity_level == 3


def test_load_passes_providers_through(real_model_dir) -> None:
    # device="cuda" would give CUDA (or fail without a GPU) if the explicit list were ignored.
    net = posenet_onnx.load(0.5, model_dir=real_model_dir, device="cuda", providers=[CPU])
    assert net.providers == [CPU]


def test_an_unknown_provider_is_refused_at_load(real_model_dir, capfd) -> None:
    """onnxruntime would print an "EP Error" banner to standard output and fall back to CPU."""
    with pytest.raises(ValueError, match="Unknown onnxruntime provider 'Bogus'; this onnxruntime has .*CPUExecutionProvider"):
        posenet_onnx.load(0.5, model_dir=real_model_dir, providers=["Bogus"])
    net = posenet_onnx.load(0.5, model_dir=real_model_dir, providers=[(CPU, {})])  # onnxruntime's (name, options) form
    assert net.estimate_single_pose(np.zeros((33, 33, 3), np.uint8)).score >= 0
    assert capfd.readouterr() == ("", "")


def test_thread_settings_reach_the_sessions(real_model_dir) -> None:
    default = posenet_onnx.load(0.5, model_dir=real_model_dir, device="cpu")
    tuned = posenet_onnx.load(0.5, model_dir=real_model_dir, device="cpu", intra_op_threads=1, allow_spinning=False)
    image = np.zeros((64, 48, 3), dtype=np.uint8)
    assert tuned.estimate_single_pose(image, output_stride=8) == default.estimate_single_pose(image, output_stride=8)
    for output_stride in (8, 16):  # every graph the net opens gets them
        options = tuned.network(output_stride).session.get_session_options()
        assert options.intra_op_num_threads == 1
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    options = default.network(16).session.get_session_options()
    assert options.intra_op_num_threads == 0  # onnxruntime's choice
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "1"
