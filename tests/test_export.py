"""The exported graphs: against TensorFlow's upstream formulation, a peer conversion, a real photo, a second runtime.

Every valid (multiplier, output stride) graph is exported once per session, by `posenet-onnx export --all`,
from the real 0.50 checkpoint and synthetic checkpoints in the real 0.75 / 1.00 shapes with He-scaled
random weights (tests/support/synthetic.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from PIL import Image

from posenet_onnx.export import export_model
from posenet_onnx.export.architecture import backbone, final_stride
from posenet_onnx.cli import main
from posenet_onnx.export.checkpoint import load_checkpoint
from posenet_onnx.export.quiet import import_tensorflow
from support.reference import upstream_function
from support.synthetic import write_synthetic_checkpoint
from posenet_onnx.keypoints import PART_IDS, PART_NAMES
from posenet_onnx.contract import (
    INPUT_NAME,
    META_CHECKPOINT,
    META_EXPORTER,
    META_INPUT,
    META_MULTIPLIER,
    META_OUTPUT_STRIDE,
    META_OUTPUTS,
    META_PART_NAMES,
    META_PRECISION,
    OUTPUT_NAMES,
    VALID_MODELS,
    checkpoint_name,
    model_filename,
)

MODEL_IDS = [f"{m:.2f}-s{s}" for m, s in VALID_MODELS]
SYNTHETIC_SHAPES = {0.75: "mobilenet_v1_075.json", 1.00: "mobilenet_v1_100.json", 1.01: "mobilenet_v1_100.json"}
HEATMAP_ATOL = 1e-4  # sigmoid scores
PIXEL_ATOL = 1e-3  # offsets and displacements, in input pixels


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def mirror(checkpoint_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An offline checkpoint folder with all four multipliers: the real 0.50 (linked, not copied) and
    synthetic checkpoints in the real 0.75 / 1.00 shapes (1.01 has the 1.00 shapes)."""
    root = tmp_path_factory.mktemp("checkpoints")
    (root / "mobilenet_v1_050").symlink_to(checkpoint_dir / "mobilenet_v1_050", target_is_directory=True)
    for seed, (multiplier, manifest) in enumerate(SYNTHETIC_SHAPES.items()):
        write_synthetic_checkpoint(
            root / checkpoint_name(multiplier), checkpoint_dir.parent / "manifests" / manifest, seed
        )
    return root


@pytest.fixture(scope="session")
def exported(mirror: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[float, int], Path]:
    """All 10 valid graphs, exported once by the real `posenet-onnx export --all` command handler."""
    out_dir = tmp_path_factory.mktemp("all_models")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main(["export", "--all", "-o", str(out_dir), "--checkpoint-dir", str(mirror)]) == 0
    paths = {model: out_dir / model_filename(*model) for model in VALID_MODELS}
    assert stdout.getvalue().splitlines() == [str(path) for path in paths.values()]
    assert sorted(out_dir.iterdir()) == sorted(paths.values())
    return paths


@pytest.fixture(scope="session")
def tf():
    return import_tensorflow()


def load_rgb(path: Path, height: int, width: int) -> np.ndarray:
    """A real photo resized to height x width, as float32 RGB in [0, 255]."""
    image = Image.open(path).convert("RGB").resize((width, height), Image.BILINEAR)
    return np.asarray(image, dtype=np.float32)


@pytest.fixture(scope="session")
def photo_batches(shared: Path) -> list[np.ndarray]:
    """Real inputs: one square 257x257 photo, and a batch of two non-square 353x481 photos."""
    images = shared / "images"
    return [
        load_rgb(images / "astronaut.png", 257, 257)[None],
        np.stack([load_rgb(images / "couple.jpg", 353, 481), load_rgb(images / "astronaut.png", 353, 481)]),
    ]


def run_onnx(path: Path, image: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(list(OUTPUT_NAMES), {INPUT_NAME: image})


def assert_outputs_close(actual: list[np.ndarray], expected: list[np.ndarray]) -> None:
    for name, a, e in zip(OUTPUT_NAMES, actual, expected):
        assert a.shape == e.shape, name
        atol = HEATMAP_ATOL if name == "heatmap_scores" else PIXEL_ATOL
        np.testing.assert_allclose(a, e, rtol=0, atol=atol, err_msg=name)


# ---------------------------------------------------------------- backbone


def test_backbone_follows_reference_table():
    """Dilations per block and real final stride, as tabulated in REFERENCE.md section 2."""
    table = {
        (1.00, 8): [1] * 7 + [2] * 6 + [4],
        (1.00, 16): [1] * 13 + [2],
        (1.00, 32): [1] * 14,
        (0.50, 8): [1] * 7 + [2] * 7,
        (0.75, 16): [1] * 14,
    }
    for (multiplier, output_stride), dilations in table.items():
        blocks = backbone(multiplier, output_stride)
        assert [b.dilation for b in blocks] == dilations
        assert final_stride(blocks) == output_stride
        assert all(b.stride == 1 for b in blocks if b.dilation > 1)


@pytest.mark.parametrize("multiplier", [0.50, 0.75])
def test_stride_32_is_refused_for_small_backbones(multiplier, tmp_path):
    with pytest.raises(ValueError, match="cannot run at output stride 32"):
        export_model(multiplier, 32, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_unknown_multiplier_lists_valid_ones(tmp_path):
    with pytest.raises(ValueError, match="0.50, 0.75, 1.00, 1.01"):
        export_model(0.6, 16, tmp_path)


# ---------------------------------------------------------------- numerical parity


@pytest.mark.parametrize("model", VALID_MODELS, ids=MODEL_IDS)
def test_onnxruntime_matches_tensorflow_upstream(model, exported, mirror, photo_batches, tf):
    """ONNX Runtime CPU equals the upstream TF formulation at 257x257 and a batch of 2 at 353x481."""
    multiplier, output_stride = model
    checkpoint = load_checkpoint(mirror / checkpoint_name(multiplier))
    upstream = upstream_function(tf, checkpoint, multiplier, output_stride)
    for batch in photo_batches:
        actual = run_onnx(exported[model], batch)
        n, h, w, _ = batch.shape
        grid = ((h - 1) // output_stride + 1, (w - 1) // output_stride + 1)
        assert [a.shape for a in actual] == [(n, *grid, c) for c in (17, 34, 32, 32)]
        assert_outputs_close(actual, [t.numpy() for t in upstream(tf.constant(batch))])
        if multiplier != 0.50:  # synthetic weights must give a real spread of scores, not saturated ones
            scores = actual[0]
            assert np.mean((scores > 0.01) & (scores < 0.99)) > 0.5, "synthetic heatmap scores saturated"


def test_matches_peer_frozen_graph(exported, shared, photo_batches, tf):
    """The real 0.50 stride-16 graph equals an independent TF1 conversion of the same checkpoint."""
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString((shared / "peers" / "mobilenet_v1_050_stride16_frozen.pb").read_bytes())
    peer = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(graph_def, name=""), [])
    outputs = ["heatmap:0", "offset_2:0", "displacement_fwd_2:0", "displacement_bwd_2:0"]
    run_peer = peer.prune(feeds=["image:0"], fetches=[peer.graph.get_tensor_by_name(n) for n in outputs])
    for batch in photo_batches:
        for image in batch:  # the peer graph takes one image, in [-1, 1]
            expected = [t.numpy() for t in run_peer(tf.constant(image[None] / 127.5 - 1.0, tf.float32))]
            assert_outputs_close(run_onnx(exported[0.50, 16], image[None]), expected)


# Measured by eye on astronaut.png (512x512): the image viewed at 5x zoom over its 110..300 x 60..180
# region with a 10-pixel grid drawn on it. Pupil centres: her right eye (image left) at (x 203, y 102),
# her left eye (image right) at (x 246, y 102); nose tip at (x 225, y 126).
ASTRONAUT_FACE = {"nose": (126, 225), "leftEye": (102, 246), "rightEye": (102, 203)}
FACE_TOLERANCE_PX = 8.0


@pytest.mark.parametrize("output_stride", [8, 16])
def test_real_model_finds_the_astronauts_face(output_stride, real_model_dir, shared):
    """Argmax cell * stride + offset lands on the face parts measured by eye."""
    image = np.asarray(Image.open(shared / "images" / "astronaut.png").convert("RGB"), dtype=np.float32)
    image = np.pad(image, ((0, 1), (0, 1), (0, 0)), mode="edge")[None]  # 513x513, pixel coordinates unchanged
    scores, offsets, _, _ = run_onnx(real_model_dir / model_filename(0.50, output_stride), image)
    for part, expected in ASTRONAUT_FACE.items():
        k = PART_IDS[part]
        y, x = np.unravel_index(np.argmax(scores[0, :, :, k]), scores.shape[1:3])
        position = np.array([y, x]) * output_stride + offsets[0, y, x, [k, k + 17]]
        assert scores[0, y, x, k] > 0.5, part
        assert np.linalg.norm(position - expected) < FACE_TOLERANCE_PX, (part, position, expected)


# ---------------------------------------------------------------- graph structure and metadata


@pytest.mark.parametrize("model", VALID_MODELS, ids=MODEL_IDS)
def test_graph_is_valid_and_runs_on_the_reference_evaluator(model, exported, photo_batches):
    """full_check passes, convs carry explicit pads/dilations, and onnx's ReferenceEvaluator agrees."""
    from onnx.reference import ReferenceEvaluator

    multiplier, output_stride = model
    proto = onnx.load(exported[model])
    onnx.checker.check_model(proto, full_check=True)
    ops = [node.op_type for node in proto.graph.node]
    assert not {"SpaceToBatchND", "BatchToSpaceND", "Pad"} & set(ops)
    depthwise_dilations = []
    for node in proto.graph.node:
        if node.op_type == "Conv":
            attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            assert "auto_pad" not in attributes or attributes["auto_pad"] in (b"NOTSET", "NOTSET")
            kernel = attributes["kernel_shape"][0]
            dilation = attributes.get("dilations", [1, 1])[0]
            assert attributes["pads"] == [dilation * (kernel - 1) // 2] * 4
            if attributes.get("group", 1) > 1:
                depthwise_dilations.append(dilation)
    assert depthwise_dilations == [b.dilation for b in backbone(multiplier, output_stride)][1:]

    image = photo_batches[0][:, 100:133, 80:145]  # a real 33x65 crop
    reference = ReferenceEvaluator(proto).run(list(OUTPUT_NAMES), {INPUT_NAME: image})
    assert_outputs_close(run_onnx(exported[model], image), reference)


def test_metadata_describes_the_graph(real_model_dir, checkpoint_dir):
    path = real_model_dir / model_filename(0.50, 16)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    assert meta[META_MULTIPLIER] == "0.50"
    assert meta[META_OUTPUT_STRIDE] == "16"
    assert meta[META_PRECISION] == "fp32"
    assert json.loads(meta[META_PART_NAMES]) == list(PART_NAMES)
    image_input = json.loads(meta[META_INPUT])
    assert (image_input["name"], image_input["layout"], image_input["value_range"]) == (INPUT_NAME, "NHWC", [0, 255])
    assert [o["name"] for o in json.loads(meta[META_OUTPUTS])] == list(OUTPUT_NAMES)
    exporter = json.loads(meta[META_EXPORTER])
    assert {"posenet-onnx", "tensorflow", "tf2onnx", "onnx"} <= exporter.keys()

    # The weights' hash, recomputed from the raw files: name-ordered (name, little-endian float32 data).
    folder = checkpoint_dir / "mobilenet_v1_050"
    manifest = json.loads((folder / "manifest.json").read_text())
    used = sorted(
        name
        for name in manifest
        if name.startswith("MobilenetV1/Conv2d_") or name.endswith("_2/weights") or name.endswith("_2/biases")
    )
    digest = hashlib.sha256()
    for name in used:
        digest.update(name.encode() + (folder / manifest[name]["filename"]).read_bytes())
    checkpoint = json.loads(meta[META_CHECKPOINT])
    assert checkpoint["name"] == "mobilenet_v1_050"
    assert checkpoint["sha256"] == digest.hexdigest()
    assert checkpoint["url"].endswith("/posenet/mobilenet_v1_050/")

    assert [i.name for i in session.get_inputs()] == [INPUT_NAME]
    assert session.get_inputs()[0].shape == ["batch", "height", "width", 3]
    assert [o.name for o in session.get_outputs()] == list(OUTPUT_NAMES)


def test_import_does_not_load_tensorflow():
    code = "import sys, posenet_onnx.export; print(sorted({'tensorflow', 'tf2onnx', 'onnx'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_cli_exports_quietly(checkpoint_dir, tmp_path):
    """The console command writes the graph and prints only its progress line and the path."""
    command = [sys.executable, "-m", "posenet_onnx.cli", "export", "--multiplier", "0.50", "--output-stride", "16"]
    command += ["-o", str(tmp_path), "--checkpoint-dir", str(checkpoint_dir)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    path = tmp_path / model_filename(0.50, 16)
    assert result.stdout.splitlines() == [str(path)]
    assert result.stderr.splitlines() == ["[1/1] exporting multiplier 0.50, output stride 16 (fp32)"]
    assert onnx.load(path).graph.input[0].name == INPUT_NAME
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_cli_rejects_stride_32_for_050(tmp_path):
    command = [sys.executable, "-m", "posenet_onnx.cli", "export", "--multiplier", "0.50", "--output-stride", "32"]
    result = subprocess.run(command + ["-o", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 2
    assert "cannot run at output stride 32" in result.stderr
    assert list(tmp_path.iterdir()) == []
