"""fp16 and int8 graphs of the real 0.50 checkpoint: they load and run on onnxruntime CPU with the float32
contract, say their precision, and find the same keypoints as fp32 on a real photo outside the calibration set."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from posenet_onnx.export import export_model
from posenet_onnx.keypoints import PART_NAMES
from posenet_onnx.contract import INPUT_NAME, META_CHECKPOINT, META_PRECISION, OUTPUT_NAMES, model_filename

OUTPUT_STRIDE = 16
# Confident keypoints (fp32 score >= 0.5) may move this far, in 513x513 input pixels.
MEDIAN_SHIFT_PX = {"fp16": 0.5, "int8": 3.0}
MAX_SHIFT_PX = {"fp16": 2.0, "int8": 16.0}  # one output-stride cell
SCORE_ATOL = {"fp16": 0.02, "int8": 0.15}


@pytest.fixture(scope="session")
def precision_models(checkpoint_dir: Path, shared: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out_dir = tmp_path_factory.mktemp("precision_models")
    return {
        precision: export_model(
            0.50,
            OUTPUT_STRIDE,
            out_dir,
            checkpoint_dir=checkpoint_dir,
            precision=precision,
            calibration_dir=shared / "images",
            progress=False,
        )
        for precision in ("fp16", "int8")
    }


@pytest.fixture(scope="session")
def photo(shared: Path) -> np.ndarray:
    """A real COCO photo (not among the calibration images) at 513x513."""
    image = Image.open(shared / "photos" / "mmpose_coco" / "000000000785.jpg").convert("RGB").resize((513, 513))
    return np.asarray(image, dtype=np.float32)[None]


def keypoints(path: Path, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Single-pose keypoints (argmax cell * stride + offset) as [17, 2] (y, x) and their scores."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outputs = session.run(list(OUTPUT_NAMES), {INPUT_NAME: image})
    assert all(o.dtype == np.float32 for o in outputs)
    scores, offsets = outputs[0][0], outputs[1][0]
    parts = np.arange(len(PART_NAMES))
    y, x = np.unravel_index(scores.reshape(-1, len(PART_NAMES)).argmax(axis=0), scores.shape[:2])
    positions = np.stack([y, x], axis=1) * OUTPUT_STRIDE + np.stack(
        [offsets[y, x, parts], offsets[y, x, parts + 17]], 1
    )
    return positions, scores[y, x, parts]


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_keypoints_stay_close_to_fp32(precision, precision_models, real_model_dir, photo):
    reference, reference_scores = keypoints(real_model_dir / model_filename(0.50, OUTPUT_STRIDE), photo)
    positions, scores = keypoints(precision_models[precision], photo)
    confident = reference_scores >= 0.5
    assert confident.sum() >= 8, "the photo should show a person clearly"
    shift = np.linalg.norm(positions - reference, axis=1)[confident]
    assert np.median(shift) <= MEDIAN_SHIFT_PX[precision], shift
    assert shift.max() <= MAX_SHIFT_PX[precision], shift
    assert np.abs(scores - reference_scores)[confident].max() <= SCORE_ATOL[precision]


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_graph_keeps_the_contract(precision, precision_models, real_model_dir):
    session = ort.InferenceSession(str(precision_models[precision]), providers=["CPUExecutionProvider"])
    assert precision_models[precision].name == model_filename(0.50, OUTPUT_STRIDE, precision)
    assert [(i.name, i.type) for i in session.get_inputs()] == [(INPUT_NAME, "tensor(float)")]
    assert [(o.name, o.type) for o in session.get_outputs()] == [(n, "tensor(float)") for n in OUTPUT_NAMES]
    meta = session.get_modelmeta().custom_metadata_map
    assert meta[META_PRECISION] == precision
    fp32 = ort.InferenceSession(
        str(real_model_dir / model_filename(0.50, OUTPUT_STRIDE)), providers=["CPUExecutionProvider"]
    )
    assert json.loads(meta[META_CHECKPOINT]) == json.loads(fp32.get_modelmeta().custom_metadata_map[META_CHECKPOINT])
    # Dynamic sizes and batches still work.
    outputs = session.run(None, {INPUT_NAME: np.full((2, 161, 97, 3), 128.0, np.float32)})
    assert outputs[0].shape == (2, 11, 7, 17)


def test_int8_needs_calibration_photos(checkpoint_dir: Path, tmp_path: Path):
    with pytest.raises(ValueError, match="int8 export needs a calibration folder"):
        export_model(0.50, 16, tmp_path, checkpoint_dir=checkpoint_dir, precision="int8")
    with pytest.raises(ValueError, match=r"Calibration folder .* holds no images"):
        export_model(0.50, 16, tmp_path, checkpoint_dir=checkpoint_dir, precision="int8", calibration_dir=tmp_path)
    with pytest.raises(ValueError, match="Invalid precision 'int4'; expected one of fp32, fp16, int8"):
        export_model(0.50, 16, tmp_path, checkpoint_dir=checkpoint_dir, precision="int4")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("folder", "message"),
    [
        (None, "int8 export needs a calibration folder"),
        ("missing", "Calibration folder {folder} not found"),
        ("notes.txt", "Calibration folder {folder} is not a folder"),
        ("empty", "Calibration folder {folder} holds no images"),
    ],
)
def test_cli_checks_the_calibration_folder_before_the_first_export(checkpoint_dir: Path, tmp_path: Path, capsys, folder, message):
    from posenet_onnx.cli import main

    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("not a folder\n")
    argv = ["export", "--all", "--precision", "int8", "-o", str(tmp_path / "out")]
    if folder is not None:
        argv += ["--calibration-dir", str(tmp_path / folder)]
    assert main([*argv, "--checkpoint-dir", str(checkpoint_dir)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("posenet-onnx export: error: ") and err.count("\n") == 1  # no "[1/10] exporting" before it
    assert message.format(folder=tmp_path / str(folder)) in err
    assert not (tmp_path / "out").exists()


def test_cli_int8_export_is_quiet(checkpoint_dir: Path, shared: Path, tmp_path: Path):
    """The quantiser's warnings stay off the terminal too."""
    command = [sys.executable, "-m", "posenet_onnx.cli", "export", "--multiplier", "0.50", "--output-stride", "8"]
    command += ["--precision", "int8", "--calibration-dir", str(shared / "images"), "-o", str(tmp_path)]
    result = subprocess.run(command + ["--checkpoint-dir", str(checkpoint_dir)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == ["[1/1] exporting multiplier 0.50, output stride 8 (int8)"]
    assert result.stdout.splitlines() == [str(tmp_path / model_filename(0.50, 8, "int8"))]


def test_calibration_views_cover_crops_mirrors_and_scales(shared: Path):
    """Eight inputs per photo: whole and centre crop, each as is and mirrored, at image scales 0.5 and 1.0,
    at the runtime's valid sizes and resize; the mirrored inputs are resized from the mirrored photo."""
    from posenet_onnx.export.precision import calibration_images
    from posenet_onnx.runtime.images import load_image
    from posenet_onnx.runtime.resize import resize_bilinear

    inputs = list(calibration_images(shared / "images"))
    photos = sorted(p for p in (shared / "images").iterdir() if p.suffix in (".jpg", ".png"))
    assert len(inputs) == 8 * len(photos)
    astronaut = inputs[8 * [p.name for p in photos].index("astronaut.png") :][:8]  # 512 x 512
    sizes = [x.shape[1:3] for x in astronaut]  # whole 512 at 0.5 and 1.0, then the 307-pixel crop
    assert sizes == [(225, 225)] * 2 + [(481, 481)] * 2 + [(129, 129)] * 2 + [(289, 289)] * 2
    photo = load_image(shared / "images" / "astronaut.png")
    for index, size in ((0, (225, 225)), (2, (481, 481))):
        np.testing.assert_array_equal(astronaut[index], resize_bilinear(photo[None], *size))
        np.testing.assert_array_equal(astronaut[index + 1], resize_bilinear(photo[None, :, ::-1].copy(), *size))
    assert all(x.dtype == np.float32 and x.min() >= 0 and x.max() <= 255 for x in inputs)


def test_a_non_image_jpg_in_the_calibration_folder_is_named(checkpoint_dir: Path, shared: Path, tmp_path: Path):
    """Issue 8: a `.jpg` that is not an image gives one line naming it, from the API and the CLI (status 2)."""
    folder = tmp_path / "calibration"
    folder.mkdir()
    (folder / "good.png").symlink_to(shared / "images" / "astronaut.png")
    (folder / "notes.jpg").write_text("not a photo\n")
    with pytest.raises(ValueError, match=r"Calibration image .*notes\.jpg is not a readable image"):
        export_model(0.50, 16, tmp_path / "out", checkpoint_dir=checkpoint_dir, precision="int8", calibration_dir=folder)
    command = [sys.executable, "-m", "posenet_onnx.cli", "export", "--multiplier", "0.50", "--precision", "int8"]
    command += ["--calibration-dir", str(folder), "-o", str(tmp_path / "out"), "--checkpoint-dir", str(checkpoint_dir)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 2
    assert "notes.jpg is not a readable image" in result.stderr.splitlines()[-1]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads the peak RSS from /proc (Linux)")
def test_calibration_memory_stays_bounded_for_large_photos(real_model_dir: Path, shared: Path, tmp_path: Path):
    """A 2000 x 1500 photo calibrated at its own size peaked at 3.0 GiB (a 4000 x 3000 one at 12 GiB, a 48 MP one
    failed): photos are brought to network sizes first, so int8 calibration on a 48 MP photo stays small."""
    folder = tmp_path / "calibration"
    folder.mkdir()
    with Image.open(shared / "images" / "pose.jpg") as image:
        image.resize((8000, 6000)).save(folder / "large.jpg", quality=90)  # 48 MP, within the pixel limit
    # VmHWM: this process's own peak (ru_maxrss would include the forking test process's size).
    script = (
        "import re, sys, onnx\n"
        "from posenet_onnx.export.precision import calibration_images, to_int8\n"
        "sizes = [x.shape[1:3] for x in calibration_images(sys.argv[2])]\n"
        "to_int8(onnx.load(sys.argv[1]), calibration_images(sys.argv[2]))\n"
        "peak = re.search(r'VmHWM:\\s*(\\d+) kB', open('/proc/self/status').read())[1]\n"
        "print(max(max(size) for size in sizes), peak)\n"
    )
    graph = real_model_dir / model_filename(0.50, 16)
    done = subprocess.run([sys.executable, "-c", script, str(graph), str(folder)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    largest_side, peak_kib = map(int, done.stdout.split())
    assert largest_side == 993  # the photo brought to 1024 x 768; at scale 1.0 the valid size below it, 993
    assert peak_kib < 1.5 * 2**20, f"peak RSS {peak_kib / 2**20:.2f} GiB"


def test_int8_graph_of_a_fixed_shape_calibrates_at_its_size(checkpoint_dir, shared, real_model_dir, photo, tmp_path):
    """int8 with --input-size and --batch: calibration feeds the photos at the graph's size and batch (resized,
    repeated), where it fed them at their own sizes and failed; the graph finds fp32's keypoints."""
    path = export_model(
        0.50, OUTPUT_STRIDE, tmp_path, checkpoint_dir=checkpoint_dir, precision="int8", calibration_dir=shared / "images",
        input_size=(513, 513), batch=2, progress=False,
    )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == [2, 513, 513, 3]
    reference, reference_scores = keypoints(real_model_dir / model_filename(0.50, OUTPUT_STRIDE), photo)
    positions, scores = keypoints(path, np.repeat(photo, 2, axis=0))
    confident = reference_scores >= 0.5
    shift = np.linalg.norm(positions - reference, axis=1)[confident]
    assert np.median(shift) <= MEDIAN_SHIFT_PX["int8"] and shift.max() <= MAX_SHIFT_PX["int8"], shift
    assert np.abs(scores - reference_scores)[confident].max() <= SCORE_ATOL["int8"]
