"""Fixed shapes, opsets, simplification and the ORT format of the real 0.50 graphs: a fixed-shape graph gives
the dynamic graph's numbers, every graph is simplified (no back-to-back Transposes, no shape arithmetic left
in fixed graphs), the ORT file runs on onnxruntime, and bad sizes, batches and opsets are refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from posenet_onnx.export import export_model
from posenet_onnx.runtime.images import load_image
from posenet_onnx.contract import (
    INPUT_NAME,
    META_BATCH,
    META_EXPORTER,
    META_INPUT,
    META_INPUT_SIZE,
    OPSETS,
    OUTPUT_NAMES,
    SINGLE_GRAPH_OUTPUTS,
    model_filename,
    parse_input_size,
    validate_input_size,
)

SIZE = (257, 353)


def session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def photo(shared: Path, height: int, width: int) -> np.ndarray:
    """A real photo cropped to height x width, uint8 RGB."""
    return np.ascontiguousarray(load_image(shared / "photos" / "mmpose_coco" / "000000000785.jpg")[:height, :width])


def back_to_back_transposes(model: onnx.ModelProto) -> list[str]:
    """Transpose nodes fed by a Transpose (a simplified graph has none)."""
    transposed = {node.output[0] for node in model.graph.node if node.op_type == "Transpose"}
    return [node.name for node in model.graph.node if node.op_type == "Transpose" and node.input[0] in transposed]


# ---------------------------------------------------------------- names and refusals (no export)


def test_file_names_say_each_option():
    assert model_filename(0.50, 16) == "mobilenet_v1_050_stride16.onnx"
    assert model_filename(0.50, 16, input_size=(257, 353)) == "mobilenet_v1_050_stride16_257x353.onnx"
    name = model_filename(0.75, 8, "int8", decoder="single", input_size=(257, 257), batch=4, file_format="ort")
    assert name == "mobilenet_v1_075_stride8_single_257x257_batch4_int8.ort"


@pytest.mark.parametrize("size, stride", [((257, 353), 16), ((353, 257), 32), ((17, 9), 8)])
def test_valid_input_sizes_are_kept(size, stride):
    assert validate_input_size(size, stride) == size


@pytest.mark.parametrize("size, stride", [((256, 257), 16), ((257, 250), 8), ((17, 17), 32), ((257, 1), 8)])
def test_invalid_input_sizes_are_refused(size, stride):
    with pytest.raises(ValueError, match="not a valid resolution for output stride"):
        validate_input_size(size, stride)


def test_input_size_spelling():
    assert parse_input_size("257x353") == (257, 353)
    for bad in ("257", "257x", "x257", "257*353", "-257x353"):
        with pytest.raises(ValueError, match="expected HxW"):
            parse_input_size(bad)


@pytest.mark.parametrize(
    "options, message",
    [
        (["--input-size", "256x257"], "Input size 256 is not a valid resolution for output stride 16"),
        (["--batch", "0"], "Invalid batch size 0"),
        (["--opset", "12"], "argument --opset: invalid choice: 12"),
        (["--input-size", "big"], "argument --input-size: Invalid input size 'big'"),
        (["--resize", "exact"], "Resize 'exact' is for self-contained graphs of any image size"),
        (["--decoder", "multi", "--input-size", "257x257", "--resize", "exact"], "Resize 'exact' is for self-contained"),
        (["--decoder", "multi", "--resize", "nearest"], "argument --resize: invalid choice: 'nearest'"),
    ],
)
def test_cli_refuses_bad_options_with_one_line(options, message, tmp_path):
    command = [sys.executable, "-m", "posenet_onnx.cli", "export", "--multiplier", "0.50", "-o", str(tmp_path)]
    result = subprocess.run(command + options, capture_output=True, text=True)
    assert result.returncode == 2
    assert message in result.stderr.splitlines()[-1]
    assert "Traceback" not in result.stderr and "exporting" not in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("resize", ["fast", "exact"])
def test_cli_passes_the_resize_to_the_exporter(resize, tmp_path, monkeypatch, capsys):
    import posenet_onnx.export as export
    from posenet_onnx.cli import main

    calls = []
    monkeypatch.setattr(export, "export_model", lambda *args, **options: calls.append(options) or tmp_path / "graph.onnx")
    assert main(["export", "--multiplier", "0.50", "--decoder", "multi", "--resize", resize, "-o", str(tmp_path)]) == 0
    assert [call["resize"] for call in calls] == [resize]


def test_export_model_refuses_opsets_outside_the_range(tmp_path):
    for opset in (OPSETS[0] - 1, OPSETS[-1] + 1):
        with pytest.raises(ValueError, match=f"opsets {OPSETS[0]} to {OPSETS[-1]}"):
            export_model(0.50, 16, tmp_path, opset=opset)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- exported graphs


@pytest.mark.needs_tensorflow
@pytest.mark.slow
def test_fixed_shape_graph_equals_the_dynamic_graph(checkpoint_dir, real_model_dir, shared, tmp_path):
    """A 257x353 batch-1 graph at the newest opset: static shapes everywhere, the same numbers."""
    path = export_model(
        0.50, 16, tmp_path, checkpoint_dir=checkpoint_dir, input_size=SIZE, batch=1, opset=OPSETS[-1],
        progress=False,
    )
    assert path.name == "mobilenet_v1_050_stride16_257x353_batch1.onnx"
    fixed, dynamic = session(path), session(real_model_dir / model_filename(0.50, 16))
    assert fixed.get_inputs()[0].shape == [1, *SIZE, 3]
    assert [o.shape for o in fixed.get_outputs()] == [[1, 17, 23, c] for c in (17, 34, 32, 32)]
    meta = fixed.get_modelmeta().custom_metadata_map
    assert (meta[META_INPUT_SIZE], meta[META_BATCH]) == ("257x353", "1")
    assert json.loads(meta[META_INPUT])["shape"] == [1, *SIZE, 3]
    assert json.loads(meta[META_EXPORTER])["opset"] == str(OPSETS[-1])
    model = onnx.load(path)
    assert {o.domain or "ai.onnx": o.version for o in model.opset_import}["ai.onnx"] == OPSETS[-1]
    onnx.checker.check_model(model, full_check=True)
    assert back_to_back_transposes(model) == []

    image = photo(shared, *SIZE)[None].astype(np.float32)
    got_outputs, expected_outputs = (s.run(list(OUTPUT_NAMES), {INPUT_NAME: image}) for s in (fixed, dynamic))
    for name, got, expected in zip(OUTPUT_NAMES, got_outputs, expected_outputs):
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5, err_msg=name)


@pytest.mark.needs_tensorflow
@pytest.mark.slow
def test_cli_writes_an_ort_format_single_pose_graph_at_the_oldest_opset(checkpoint_dir, net, shared, tmp_path):
    """`--format ort` through the console command: onnxruntime loads the .ort file, the metadata survives,
    and the pose is estimate_single_pose's."""
    command = [sys.executable, "-m", "posenet_onnx.cli", "export", "--multiplier", "0.50", "--decoder", "single"]
    command += ["--input-size", "257x353", "--opset", str(OPSETS[0]), "--format", "ort"]
    command += ["-o", str(tmp_path), "--checkpoint-dir", str(checkpoint_dir)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    path = tmp_path / "mobilenet_v1_050_stride16_single_257x353.ort"
    assert result.stdout.splitlines() == [str(path)]
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    assert path.read_bytes()[4:8] == b"ORTM"  # the ORT format's flatbuffer identifier

    sess = session(path)
    assert sess.get_modelmeta().custom_metadata_map[META_INPUT_SIZE] == "257x353"
    image = photo(shared, *SIZE)
    keypoints, keypoint_scores, scores = sess.run(list(SINGLE_GRAPH_OUTPUTS), {INPUT_NAME: image[None]})
    expected = net.estimate_single_pose(image, 1.0, output_stride=16)
    assert np.abs(keypoints[0] - expected.positions).max() <= 1e-3
    assert abs(scores[0] - expected.score) <= 1e-4


@pytest.mark.needs_tensorflow
def test_default_graphs_are_simplified(real_model_dir):
    """The default graphs: 66 nodes (31 Conv, 27 Clip, 5 Transpose, normalisation Mul and Sub, Sigmoid),
    no back-to-back Transposes (one in for NHWC -> NCHW, one per output back)."""
    for stride in (8, 16):
        model = onnx.load(real_model_dir / model_filename(0.50, stride))
        ops = [node.op_type for node in model.graph.node]
        assert len(ops) == 66 and ops.count("Transpose") == 5
        assert back_to_back_transposes(model) == []
