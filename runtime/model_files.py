"""Where a PoseNet's graph files come from: the model folder, exported there on first use when missing.

Exporting needs the `export` extra (TensorFlow); without it the error names the command that makes the
file. The folder is checked before an export runs, so a read-only or misnamed folder fails at once.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from posenet_onnx.contract import model_filename
from posenet_onnx.outputs import check_writable_folder


def export_command(multiplier: float, output_stride: int, precision: str, model_dir: Path, decoder: str | None = None) -> str:
    """The command that writes a graph into `model_dir` (int8 needs calibration photos of people)."""
    command = f"posenet-onnx export --multiplier {multiplier:.2f} --output-stride {output_stride}"
    if decoder is not None:
        command += f" --decoder {decoder}"
    if precision != "fp32":
        command += f" --precision {precision}"
    if precision == "int8":
        command += " --calibration-dir PHOTOS"
    return f"{command} -o {model_dir}"


def can_export(precision: str) -> bool:
    """Whether a missing graph of this precision can be exported here on demand (int8 needs photos)."""
    return precision != "int8" and importlib.util.find_spec("tensorflow") is not None


def graph_file(
    multiplier: float, output_stride: int, precision: str, model_dir: Path, checkpoint_dir: Path | None, decoder: str | None = None
) -> Path:
    """The graph file in `model_dir`, exported there first if it is missing and exporting is possible
    (`decoder`: a self-contained graph of that in-graph decoder instead of the plain one)."""
    path = model_dir / model_filename(multiplier, output_stride, precision, decoder=decoder)
    if path.is_file():
        return path
    if model_dir.exists() and not model_dir.is_dir():
        raise ValueError(f"The model folder {model_dir} is a file; give a folder.")
    if path.exists():
        raise ValueError(f"{path} is not a graph file (a folder or a special file); move it away so the graph can be exported there.")
    if not can_export(precision):
        needs = "calibration photos" if precision == "int8" else "the export extra: pip install 'posenet-onnx[export]'"
        raise FileNotFoundError(
            f"No exported model {path}. Create it with `{export_command(multiplier, output_stride, precision, model_dir, decoder)}` "
            f"(needs {needs}), or point model_dir / $POSENET_ONNX_MODEL_DIR at a folder holding it."
        )
    return export_graph(multiplier, output_stride, precision, model_dir, checkpoint_dir, decoder)


def export_graph(
    multiplier: float, output_stride: int, precision: str, model_dir: Path, checkpoint_dir: Path | None, decoder: str | None = None
) -> Path:
    """Export (or re-export) the graph into `model_dir`, after checking that the folder takes files."""
    check_writable_folder(model_dir, "model folder")
    from posenet_onnx.export import export_model

    return export_model(
        multiplier, output_stride, model_dir, checkpoint_dir=checkpoint_dir, precision=precision, decoder=decoder
    )
