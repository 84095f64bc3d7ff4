"""Export stage: PoseNet 1.x checkpoints to self-describing ONNX graphs (needs the `export` extra).

Importing this package does not import TensorFlow, tf2onnx or onnx; export_model does, when called.
"""

from posenet_onnx.export.exporter import export_model

__all__ = ["export_model"]
