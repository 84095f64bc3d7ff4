"""Shared test fixtures: the real PoseNet data in ../shared/posenet and the real 0.50 model exported once."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("POSENET_SHARED_DIR", REPO.parent / "shared" / "posenet"))
JSREF = REPO / "scripts" / "jsref"


def _module(name: str) -> Callable[[], str | None]:
    return lambda: None if importlib.util.find_spec(name) is not None else f"the Python package {name} is not installed"


def _node() -> str | None:
    if shutil.which("node") is None:
        return "node is not on PATH"
    if not (JSREF / "node_modules" / ".installed").is_file():
        return "the JavaScript reference is not installed: run `make jsref`"
    return None


def _browser() -> str | None:
    from support.browser import browser_missing

    return browser_missing()


def _gpu() -> str | None:
    try:
        import onnxruntime as ort
    except ImportError:
        return "onnxruntime is not installed"
    if "CUDAExecutionProvider" not in ort.get_available_providers() or shutil.which("nvidia-smi") is None:
        return "no CUDA GPU here"
    return "no CUDA GPU here" if subprocess.run(["nvidia-smi"], capture_output=True).returncode else None


# marker -> why its tests cannot run here (None: they can). CI must have every one but the GPU.
REQUIREMENTS: dict[str, Callable[[], str | None]] = {
    "needs_node": _node,
    "needs_browser": _browser,
    "needs_tensorflow": _module("tensorflow"),
    "needs_ray": _module("ray"),
    "needs_openvino": _module("openvino"),
    "needs_gpu": _gpu,
}
NOT_IN_CI = {"needs_gpu"}


def require(marker: str) -> None:
    """Skip (in CI: fail) the calling test or fixture unless the tool behind `marker` is here."""
    reason = REQUIREMENTS[marker]()
    if reason is None:
        return
    if os.environ.get("CI") and marker not in NOT_IN_CI:
        pytest.fail(f"CI must have every tool the tests need, but {reason} ({marker})", pytrace=False)
    pytest.skip(f"{reason} ({marker})")


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip a test whose tool is missing, with the reason; in CI ($CI set) a missing tool fails it instead."""
    for marker in item.iter_markers():
        if marker.name in REQUIREMENTS:
            require(marker.name)


@pytest.fixture(scope="session")
def shared() -> Path:
    """The real data folder (../shared/posenet beside the checkout); see its README.md."""
    if not (SHARED / "REFERENCE.md").is_file():
        pytest.fail(f"real test data not found at {SHARED}; set POSENET_SHARED_DIR")
    return SHARED


@pytest.fixture(scope="session")
def checkpoint_dir(shared: Path) -> Path:
    """Offline checkpoint folder holding the real mobilenet_v1_050/ checkpoint."""
    return shared / "checkpoints"


@pytest.fixture(scope="session")
def real_model_dir(checkpoint_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real 0.50 checkpoint exported (fp32) at output strides 8 and 16, once per test session."""
    require("needs_tensorflow")
    from posenet_onnx.export import export_model

    model_dir = tmp_path_factory.mktemp("models")
    for output_stride in (8, 16):
        export_model(0.50, output_stride, model_dir, checkpoint_dir=checkpoint_dir)
    return model_dir


@pytest.fixture(scope="session")
def net(real_model_dir: Path):
    """The real 0.50 PoseNet on the CPU, over the session's exported graphs."""
    import posenet_onnx

    return posenet_onnx.load(0.50, model_dir=real_model_dir, device="cpu")


@pytest.fixture(scope="session")
def precision_model_dir(checkpoint_dir: Path, shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real 0.50 checkpoint exported at output stride 16 in fp16 and int8 (calibrated on shared/images,
    none of which is among the annotated photos)."""
    require("needs_tensorflow")
    from posenet_onnx.export import export_model

    model_dir = tmp_path_factory.mktemp("precision_models")
    for precision in ("fp16", "int8"):
        export_model(0.50, 16, model_dir, checkpoint_dir=checkpoint_dir, precision=precision,
                     calibration_dir=shared / "images", progress=False)
    return model_dir


@pytest.fixture(scope="session")
def annotated_photos(shared: Path) -> list:
    """The 28 annotated real photos (photos/coco17_all.json) as uint8 RGB arrays."""
    import json

    from posenet_onnx.runtime.images import load_image

    records = json.loads((shared / "photos" / "coco17_all.json").read_text())["images"]
    return [load_image(shared / "photos" / record["file_name"]) for record in records]


@pytest.fixture(scope="session")
def photos(shared: Path) -> list:
    """The real photos the deployment tests run every runtime on (support.runtimes.PHOTOS), as RGB arrays."""
    from posenet_onnx.runtime.images import load_image
    from support.runtimes import PHOTOS

    return [load_image(shared / name) for name in PHOTOS]


@pytest.fixture(scope="session")
def graph(checkpoint_dir: Path, shared: Path, tmp_path_factory: pytest.TempPathFactory):
    """`graph(kind)`: the real 0.50 stride-16 graph of a kind (support.runtimes.GRAPH_KINDS), exported once."""
    require("needs_tensorflow")
    from support.runtimes import exported_graph

    return lambda kind: exported_graph(kind, lambda: tmp_path_factory.mktemp("deploy"), checkpoint_dir, shared / "images")
