"""posenet-onnx: Google's PoseNet on ONNX Runtime, with results identical to the original JavaScript package.

`import posenet_onnx` is light: it never imports TensorFlow, and the runtime loads on first use.
"""

from __future__ import annotations

__version__ = "0.1.0"
