"""File descriptor 2 capture: native log lines stay off the terminal, and come back when they explain a failure."""

from __future__ import annotations

import os

import pytest

from posenet_onnx.export.quiet import quiet
from posenet_onnx.stderr import captured_stderr


def test_native_writes_are_captured_not_shown(capfd) -> None:
    with captured_stderr() as log:
        os.write(2, b"E onnxruntime: CUDA failed\n")  # what a C++ logger does: a write to descriptor 2
    assert log.text == "E onnxruntime: CUDA failed\n"
    assert capfd.readouterr().err == ""
    os.write(2, b"after\n")  # descriptor 2 is the terminal's again
    assert capfd.readouterr().err == "after\n"


def test_quiet_replays_the_native_log_only_when_the_block_fails(capfd) -> None:
    with quiet():
        os.write(2, b"I tensorflow: start-up noise\n")
    assert capfd.readouterr().err == ""
    with pytest.raises(RuntimeError, match="conversion failed"):
        with quiet():
            os.write(2, b"E tensorflow: the reason\n")
            raise RuntimeError("conversion failed")
    assert capfd.readouterr().err == "E tensorflow: the reason\n"
