"""File descriptor 2 capture: native log lines stay off the terminal, and come back when they explain a failure."""

from __future__ import annotations

import os
import subprocess
import sys

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


def test_quiet_gives_the_native_log_to_a_failure_only(capfd) -> None:
    with quiet():
        os.write(2, b"I tensorflow: start-up noise\n")
    assert capfd.readouterr().err == ""
    with pytest.raises(RuntimeError, match="conversion failed") as failure:
        with quiet():
            os.write(2, b"E tensorflow: the reason\n")
            raise RuntimeError("conversion failed")
    assert failure.value.__notes__ == ["E tensorflow: the reason"]
    assert capfd.readouterr().err == ""
    with pytest.raises(KeyboardInterrupt) as interrupt:
        with quiet():
            os.write(2, b"I tensorflow: start-up noise\n")
            raise KeyboardInterrupt
    assert not hasattr(interrupt.value, "__notes__")


# A command whose dependency fails inside quiet(); with "swallow", a SIGINT arrives first and the dependency
# swallows the KeyboardInterrupt (a bare except), so the failure is what the interruption left half done.
COMMAND = """
import os, signal, sys, time
import posenet_onnx.commands.export as export
from posenet_onnx import cli
from posenet_onnx.export.quiet import quiet

def run(args, kept):
    with quiet():
        os.write(2, b"I tensorflow: start-up noise\\n")
        if sys.argv[1] == "swallow":
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(5)
            except BaseException:
                pass
        raise AttributeError("'tuple' object has no attribute '_type_spec'")

export.run = run
sys.exit(cli.main(["export", "--multiplier", "0.5", "-o", sys.argv[2]]))
"""


@pytest.mark.parametrize("swallow", [False, True])
def test_the_cli_shows_the_native_log_of_a_failure_not_of_an_interruption(tmp_path, swallow) -> None:
    argv = [sys.executable, "-c", COMMAND, "swallow" if swallow else "fail", str(tmp_path / "out")]
    process = subprocess.run(argv, capture_output=True, text=True, timeout=120, start_new_session=True)
    if swallow:
        assert (process.returncode, process.stderr) == (130, "posenet-onnx export: interrupted\n")
    else:
        assert process.returncode == 2
        assert process.stderr == ("I tensorflow: start-up noise\n"
                                  "posenet-onnx export: error: 'tuple' object has no attribute '_type_spec'\n")
