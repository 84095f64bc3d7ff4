"""Keep TensorFlow's, tf2onnx's and the quantiser's log noise off the user's terminal.

TensorFlow's C++ runtime logs to file descriptor 2 before absl logging is initialised, which no
environment variable silences, so the noisy sections run with descriptor 2 sent to a temporary file;
an error raised in the section carries the captured text as a note, where it may explain the failure.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator
from types import ModuleType

from posenet_onnx.stderr import captured_stderr

_NOISY_LOGGERS = ("tensorflow", "tf2onnx", "absl", "h5py", "onnxruntime", "onnxruntime.quantization")


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence native stderr, Python warnings and the noisy loggers for the duration of the block."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    levels = {name: logging.getLogger(name).level for name in _NOISY_LOGGERS}
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    # onnxruntime.quantization warns through the root logger; a handler there stops logging.warning()
    # from installing a permanent stderr handler (basicConfig) in the user's process.
    root_handler = logging.NullHandler()
    logging.getLogger().addHandler(root_handler)
    root_level = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)
    try:
        with captured_stderr(note_on_error=True), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        logging.getLogger().removeHandler(root_handler)
        logging.getLogger().setLevel(root_level)


def import_tensorflow() -> ModuleType:
    """Import TensorFlow without its start-up log lines."""
    with quiet():
        import tensorflow as tf
    return tf
