"""What a graph says about itself is checked when it is opened, and the pixel limit holds for fixed-shape graphs:
garbled metadata, a fixed input above the limit (from `export --input-size` or from the metadata), a failed
onnxruntime run, and `export`'s checks before any work. Each is one line, from the API and the CLI."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import posenet_onnx
from posenet_onnx.contract import META_BATCH, META_INPUT_SIZE, META_MULTIPLIER, META_OUTPUT_STRIDE, META_PART_NAMES, META_PRECISION
from posenet_onnx.runtime.images import ENV_MAX_PIXELS
from support.cli import model_args

CLI = [sys.executable, "-m", "posenet_onnx.cli"]


def with_metadata(real_model_dir: Path, folder: Path, **changes: str | None) -> Path:
    """A copy of the real 0.50 stride-16 graph with metadata values changed (None: removed)."""
    import onnx

    model = onnx.load(real_model_dir / "mobilenet_v1_050_stride16.onnx")
    props = {p.key: p.value for p in model.metadata_props}
    for key, value in changes.items():
        key = key.replace("__", ".")
        if value is None:
            props.pop(key)
        else:
            props[key] = value
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, props)
    path = folder / "graph.onnx"
    onnx.save(model, path)
    return path


GARBLED = [
    (META_BATCH, "-1", "a batch size from 1 to"),
    (META_BATCH, "0", "from 1 to"),
    (META_BATCH, "abc", "a batch size from 1 to"),
    (META_BATCH, "1e3", "a batch size from 1 to"),
    (META_BATCH, "9" * 400, "a batch size from 1 to"),
    (META_MULTIPLIER, "abc", "valid multipliers are 0.50, 0.75, 1.00, 1.01"),
    (META_MULTIPLIER, "nan", "valid multipliers are"),
    (META_OUTPUT_STRIDE, "7", "expected one of 8, 16 or 32"),
    (META_OUTPUT_STRIDE, "sixteen", "expected one of 8, 16 or 32"),
    (META_PRECISION, "int4", "expected one of fp32, fp16, int8"),
    (META_PART_NAMES, "[nose", "a JSON list of PoseNet's 17 part names"),
    (META_PART_NAMES, '{"a": 1}', "a JSON list of PoseNet's 17 part names"),
    (META_INPUT_SIZE, "256x256", "k * 16 + 1"),
    (META_INPUT_SIZE, "257", "expected HxW"),
    (META_INPUT_SIZE, "1" * 40 + "x17", "out of range"),
]


@pytest.mark.parametrize(("key", "value", "valid"), GARBLED, ids=[f"{k}={v[:12]}" for k, v, _ in GARBLED])
def test_garbled_metadata_is_refused_at_load_naming_the_key(real_model_dir, tmp_path, key, value, valid) -> None:
    graph = with_metadata(real_model_dir, tmp_path, **{key.replace(".", "__"): value})
    with pytest.raises(ValueError, match=rf"metadata {re.escape(key)} is .*{re.escape(valid)}") as error:
        posenet_onnx.load(graph, device="cpu")
    assert "\n" not in str(error.value)


def test_garbled_batch_from_the_cli_is_one_line_before_any_image(shared, real_model_dir, tmp_path) -> None:
    graph = with_metadata(real_model_dir, tmp_path, posenet__batch="0")
    done = subprocess.run([*CLI, "estimate", str(shared / "images" / "pose.jpg"), "--model", str(graph), "--device", "cpu"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and f"metadata {META_BATCH} is '0'" in done.stderr, done.stderr


def test_a_missing_key_is_named(real_model_dir, tmp_path) -> None:
    graph = with_metadata(real_model_dir, tmp_path, posenet__part_names=None)
    with pytest.raises(ValueError, match=f"its metadata has no {META_PART_NAMES}"):
        posenet_onnx.load(graph, device="cpu")


def test_a_fixed_input_above_the_pixel_limit_is_refused_at_load(real_model_dir, tmp_path, monkeypatch) -> None:
    """A graph whose metadata fixes 16385 x 16385 would resize every image to four times the limit."""
    graph = with_metadata(real_model_dir, tmp_path, posenet__input_size="16385x16385")
    with pytest.raises(ValueError, match=r"16385 x 16385 = 268,468,225 pixels, above the limit of 67,108,864"):
        posenet_onnx.load(graph, device="cpu")
    monkeypatch.setenv(ENV_MAX_PIXELS, "0")  # the override lifts it, as for images
    assert posenet_onnx.load(graph, device="cpu").network().config.input_size == (16385, 16385)


def test_a_failed_run_is_one_error_without_onnxruntimes_log(shared, real_model_dir, tmp_path) -> None:
    """Out of memory inside onnxruntime (a large fixed input under a memory cap) is a RuntimeError; onnxruntime's
    coloured log of it stays off stderr."""
    graph = with_metadata(real_model_dir, tmp_path, posenet__input_size="8177x8177")  # within the limit
    script = textwrap.dedent(f"""
        import resource, numpy as np, posenet_onnx
        net = posenet_onnx.load({str(graph)!r}, device="cpu")
        net.network()
        resource.setrlimit(resource.RLIMIT_AS, (2_500_000_000, 2_500_000_000))
        try:
            net.estimate_single_pose(np.zeros((64, 64, 3), np.uint8))
        except RuntimeError as exc:
            print(type(exc).__name__, exc)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.stdout.startswith(f"RuntimeError onnxruntime failed to run {graph}"), (done.stdout, done.stderr)
    assert done.stdout.count("\n") == 1
    assert done.stderr == "", done.stderr


@pytest.mark.parametrize(("size", "message"), [
    ("16385x16385", "16385 x 16385 = 268,468,225 pixels, above the limit of 67,108,864"),
    (f"{16 * 10**29 + 1}x17", "is out of range; each side of a fixed input is at most 2147483647"),
])
def test_export_refuses_huge_input_sizes_as_it_parses(tmp_path, size, message) -> None:
    started = time.monotonic()
    done = subprocess.run([*CLI, "export", "--multiplier", "0.5", "--input-size", size, "-o", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert time.monotonic() - started < 30 and not (tmp_path / "out").exists()


def test_export_model_refuses_a_fixed_input_above_the_limit_first(tmp_path) -> None:
    from posenet_onnx.export import export_model

    with pytest.raises(ValueError, match="the fixed input size 16385x16385 is 16385 x 16385"):  # before any checkpoint
        export_model(0.50, 16, tmp_path, checkpoint_dir=tmp_path / "no-checkpoints", input_size=(16385, 16385))


@pytest.mark.parametrize(("make", "message"), [
    (Path.mkdir, "is a folder; give a file name"),
    (lambda path: os.mkfifo(path), "is not a regular file (a pipe or device); give a file name"),  # would block
])
def test_export_refuses_a_folder_or_pipe_where_the_graph_goes_before_exporting(tmp_path, make, message) -> None:
    """Checked before the checkpoint is even looked for (the folder named here does not exist)."""
    make(tmp_path / "mobilenet_v1_050_stride16_257x257.onnx")
    done = subprocess.run([*CLI, "export", "--multiplier", "0.5", "--input-size", "257x257", "-o", str(tmp_path),
                           "--checkpoint-dir", str(tmp_path / "no-checkpoints")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert f"mobilenet_v1_050_stride16_257x257.onnx {message}" in done.stderr


def test_a_calibration_photo_over_the_pixel_limit_is_named_as_such(shared, tmp_path) -> None:
    from posenet_onnx.export import export_model

    folder = tmp_path / "calibration"
    folder.mkdir()
    (folder / "pose.jpg").symlink_to(shared / "images" / "pose.jpg")  # 1000 x 667
    environment = {**os.environ, ENV_MAX_PIXELS: "300000"}
    done = subprocess.run([*CLI, "export", "--multiplier", "0.5", "--precision", "int8", "--calibration-dir", str(folder),
                           "-o", str(tmp_path / "out"), "--checkpoint-dir", str(tmp_path / "no-checkpoints")],
                          capture_output=True, text=True, timeout=120, env=environment)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert f"Calibration image {folder / 'pose.jpg'} is over the pixel limit: the image is 1000 x 667" in done.stderr
    os.environ[ENV_MAX_PIXELS] = "300000"
    try:
        with pytest.raises(ValueError, match="pose.jpg is over the pixel limit"):
            export_model(0.50, 16, tmp_path / "out", checkpoint_dir=tmp_path / "no-checkpoints", precision="int8",
                         calibration_dir=folder)
    finally:
        del os.environ[ENV_MAX_PIXELS]


@pytest.mark.slow
@pytest.mark.needs_tensorflow
@pytest.mark.parametrize("after_s", [0.3, 1.0, 2.0, 3.0, 4.5])
def test_ctrl_c_early_in_an_export_prints_one_line_and_no_tensorflow_log(checkpoint_dir, tmp_path, after_s) -> None:
    """Ctrl-C while the modules load or TensorFlow starts: exit 130, one line; TensorFlow's start-up log (captured
    while it imports) is not replayed, and no traceback."""
    process = subprocess.Popen([*CLI, "export", "--multiplier", "0.5", "-o", str(tmp_path / "out"),
                                "--checkpoint-dir", str(checkpoint_dir)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    time.sleep(after_s)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=300)
    if process.returncode in (0, -signal.SIGINT) and (tmp_path / "out" / "mobilenet_v1_050_stride16.onnx").is_file():
        pytest.skip("the export finished before the signal (it came during the interpreter's shutdown)")
    lines = stderr.splitlines()
    assert process.returncode == 130 and lines[-1].endswith("interrupted"), stderr
    assert set(lines[:-1]) <= {"[1/1] exporting multiplier 0.50, output stride 16 (fp32)"}, stderr
