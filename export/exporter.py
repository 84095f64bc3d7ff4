"""export_model: a PoseNet checkpoint to a self-describing ONNX graph file, written atomically.

TensorFlow, tf2onnx and onnx are imported inside the functions: the runtime imports this module only
to export a missing graph, and `import posenet_onnx.export` stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from posenet_onnx.outputs import write_bytes_atomic
from posenet_onnx.export.architecture import backbone
from posenet_onnx.export.checkpoint import Checkpoint, load_checkpoint
from posenet_onnx.export.download import BASE_URL, locate_checkpoint
from posenet_onnx.export.graph import posenet_function
from posenet_onnx.export.metadata import model_metadata
from posenet_onnx.export.ort_format import to_ort_format
from posenet_onnx.export.precision import apply_precision, calibration_images, check_calibration_photos
from posenet_onnx.export.quiet import import_tensorflow, quiet
from posenet_onnx.export.simplify import simplify
from posenet_onnx.export.multi_pose import add_multi_pose_decoder
from posenet_onnx.export.single_pose import add_single_pose_decoder
from posenet_onnx.contract import (
    DEFAULT_OPSET,
    DEFAULT_RESIZE,
    INPUT_NAME,
    OUTPUT_NAMES,
    checkpoint_name,
    model_filename,
    validate_graph_options,
    validate_model,
)

if TYPE_CHECKING:
    import onnx


def export_model(
    multiplier: float,
    output_stride: int,
    out_dir: str | Path,
    *,
    checkpoint_dir: str | Path | None = None,
    precision: str = "fp32",
    calibration_dir: str | Path | None = None,
    progress: bool = True,
    decoder: str | None = None,
    input_size: tuple[int, int] | None = None,
    batch: int | None = None,
    opset: int = DEFAULT_OPSET,
    file_format: str = "onnx",
    resize: str = DEFAULT_RESIZE,
) -> Path:
    """Export the (multiplier, output stride) graph to `out_dir/model_filename(...)` and return its path.

    `checkpoint_dir` names an offline folder of `mobilenet_v1_XXX/` checkpoints; None means
    $POSENET_ONNX_CHECKPOINT_DIR if set, else a download into the per-user cache.
    `precision` "fp16" converts the network for GPUs; "int8" quantises it, calibrated on the photos
    in `calibration_dir`. Input and outputs stay float32 at every precision.
    `decoder` "single" appends the single-pose decoder (contract.SINGLE_GRAPH_OUTPUTS), "multi" the multi-pose
    decoder (contract.MULTI_GRAPH_PARAMETERS in, MULTI_GRAPH_OUTPUTS out); `input_size`
    (height, width) and `batch` fix the input's shape; `opset` is one of contract.OPSETS; `file_format`
    "ort" writes onnxruntime's ORT format (for onnxruntime Mobile) instead of ONNX. `resize` is how a
    self-contained graph of any image size resizes it (contract.RESIZES: onnxruntime's Resize op, or tfjs's
    arithmetic bit for bit).
    """
    import onnx

    multiplier, output_stride = validate_model(multiplier, output_stride)
    validate_graph_options(output_stride, precision, decoder, input_size, batch, file_format, opset, resize)
    if input_size is not None:
        check_input_pixels(input_size)
    name = model_filename(
        multiplier, output_stride, precision, decoder=decoder, input_size=input_size, batch=batch,
        file_format=file_format, resize=resize,
    )
    path = Path(out_dir) / name
    # Check the calibration photos first: a bad folder or photo fails before the slow conversion.
    calibration = None
    if precision == "int8":
        check_calibration_photos(calibration_dir)
        calibration = calibration_images(calibration_dir)  # read one photo at a time, while calibrating
    checkpoint = load_checkpoint(locate_checkpoint(multiplier, checkpoint_dir, progress=progress))
    model, versions = convert(checkpoint, multiplier, output_stride, (batch, *(input_size or (None, None))), opset)
    model = apply_precision(model, precision, calibration)
    if decoder is not None:
        add_decoder = add_multi_pose_decoder if decoder == "multi" else add_single_pose_decoder
        model = add_decoder(model, output_stride, input_size, opset, resize)
    model = simplify(model)
    url = f"{BASE_URL}{checkpoint_name(multiplier)}/"
    metadata = model_metadata(
        multiplier, output_stride, precision, checkpoint, url, versions, decoder=decoder, input_size=input_size,
        batch=batch, resize=resize,
    )
    onnx.helper.set_model_props(model, metadata)
    model.producer_name = "posenet-onnx"
    data = model.SerializeToString()
    return write_bytes_atomic(path, to_ort_format(data) if file_format == "ort" else data)


def check_input_pixels(input_size: tuple[int, int]) -> tuple[int, int]:
    """A fixed (height, width) within the pixel limit (every image is resized to it: the network's memory
    grows with its pixels, as with a large image); ValueError otherwise."""
    from posenet_onnx.runtime.images import check_pixels

    height, width = input_size
    check_pixels(width, height, f"the fixed input size {height}x{width}")
    return input_size


def convert(
    checkpoint: Checkpoint,
    multiplier: float,
    output_stride: int,
    shape: tuple[int | None, int | None, int | None] = (None, None, None),
    opset: int = DEFAULT_OPSET,
) -> tuple[onnx.ModelProto, dict[str, str]]:
    """Build the TensorFlow graph of a checkpoint and convert it to fp32 ONNX at `opset`, its input
    (batch, height, width) fixed where `shape` says; also return the tool versions."""
    import onnx

    tf = import_tensorflow()
    with quiet():
        import tf2onnx

        function = posenet_function(tf, checkpoint, backbone(multiplier, output_stride), shape)
        model, _ = tf2onnx.convert.from_function(function, input_signature=function.input_signature, opset=opset)
    _rename_io(model)
    versions = {
        "tensorflow": tf.__version__,
        "tf2onnx": tf2onnx.__version__,
        "onnx": onnx.__version__,
        "opset": str(opset),
    }
    return model, versions


def _rename_io(model: onnx.ModelProto) -> None:
    """Name the graph's input and outputs by the contract (tf2onnx derives names from TF tensors)."""
    graph = model.graph
    renames = {graph.input[0].name: INPUT_NAME}
    renames.update({output.name: name for output, name in zip(graph.output, OUTPUT_NAMES)})
    for value in [*graph.input, *graph.output, *graph.value_info]:
        value.name = renames.get(value.name, value.name)
    _name_dims(graph.input[0], ("batch", "height", "width"))
    for output in graph.output:
        _name_dims(output, ("batch", "grid_height", "grid_width"))
    for node in graph.node:
        node.input[:] = [renames.get(name, name) for name in node.input]
        node.output[:] = [renames.get(name, name) for name in node.output]


def _name_dims(value: onnx.ValueInfoProto, names: tuple[str, ...]) -> None:
    """Give the dynamic leading dimensions of an NHWC tensor readable names (fixed ones keep their size)."""
    for dim, name in zip(value.type.tensor_type.shape.dim, names):
        if not dim.HasField("dim_value"):
            dim.dim_param = name
