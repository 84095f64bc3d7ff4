"""Shared test fixtures: the real PoseNet data in ../shared/posenet and the real 0.50 model exported once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("POSENET_SHARED_DIR", REPO.parent / "shared" / "posenet"))


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
