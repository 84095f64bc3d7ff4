"""Graph simplification with onnxslim: constants folded, dead nodes dropped, back-to-back Transposes merged.

tf2onnx's own optimisers already leave the fp32 network lean; onnxslim's pass is what folds the shape
arithmetic of fixed-shape graphs (the single-pose decoder's grid size) into constants.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from posenet_onnx.export.quiet import quiet

if TYPE_CHECKING:
    import onnx


def simplify(model: onnx.ModelProto) -> onnx.ModelProto:
    """The graph after onnxslim's passes (shape-preserving rewrites only: the same numbers come out)."""
    import onnxslim

    with quiet():
        slim = onnxslim.slim(model)
    slim.producer_name = model.producer_name
    return slim
