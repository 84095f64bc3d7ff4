"""`posenet-onnx estimate`: the API's poses as JSON, annotated pictures, every option passed through."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import posenet_onnx
from posenet_onnx.cli import main
from posenet_onnx.contract import model_filename
from posenet_onnx.runtime.images import load_image
from support.cli import model_args


@pytest.fixture(scope="module")
def photos(shared: Path) -> list[Path]:
    return [shared / "images" / "couple.jpg", shared / "images" / "pose.jpg"]


def _estimate(capsys, real_model_dir: Path, *args: str) -> list[dict]:
    assert main(["estimate", *args, *model_args(real_model_dir)]) == 0
    return json.loads(capsys.readouterr().out)


def test_single_pose_json_equals_the_api(capsys, real_model_dir, photos, net) -> None:
    records = _estimate(capsys, real_model_dir, *map(str, photos))
    assert [r["image"] for r in records] == [str(p) for p in photos]
    assert [r["poses"] for r in records] == [[net.estimate_single_pose(p).to_dict()] for p in photos]


def test_every_option_reaches_the_estimate(capsys, real_model_dir, photos, net) -> None:
    options = ["--scale", "0.6", "--output-stride", "8", "--flip", "--max-poses", "3", "--score-threshold", "0.3", "--nms-radius", "25"]
    records = _estimate(capsys, real_model_dir, "--multi", str(photos[0]), *options)
    expected = net.estimate_multiple_poses(photos[0], 0.6, True, 8, 3, 0.3, 25)
    assert records[0]["poses"] == [pose.to_dict() for pose in expected]
    defaults = net.estimate_multiple_poses(photos[0])
    assert records[0]["poses"] != [pose.to_dict() for pose in defaults]


def test_json_file_and_drawings(capsys, real_model_dir, photos, net, tmp_path) -> None:
    out = tmp_path / "out"
    _estimate_args = ["--multi", *map(str, photos), "--json", str(out / "poses.json"), "--draw", str(out)]
    assert main(["estimate", *_estimate_args, *model_args(real_model_dir, device=None)]) == 0
    assert capsys.readouterr().out == ""
    records = json.loads((out / "poses.json").read_text())
    assert records[1]["poses"] == [pose.to_dict() for pose in net.estimate_multiple_poses(photos[1])]
    assert sorted(p.name for p in out.iterdir()) == ["couple.poses.png", "pose.poses.png", "poses.json"]  # nothing half-written
    for photo in photos:
        drawn = np.asarray(Image.open(out / f"{photo.stem}.poses.png"))
        expected = np.asarray(posenet_onnx.draw_poses(photo, net.estimate_multiple_poses(photo)))
        np.testing.assert_array_equal(drawn, expected)


def test_flipped_poses_are_drawn_on_the_mirrored_image(capsys, real_model_dir, photos, net, tmp_path) -> None:
    _estimate(capsys, real_model_dir, str(photos[1]), "--flip", "--draw", str(tmp_path))
    mirrored = np.ascontiguousarray(load_image(photos[1])[:, ::-1])
    expected = posenet_onnx.draw_poses(mirrored, [net.estimate_single_pose(photos[1], flip_horizontal=True)])
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "pose.poses.png")), np.asarray(expected))


def test_multiplier_selects_the_graph(capsys, monkeypatch, tmp_path, photos) -> None:
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorflow" else find_spec(name, *a))
    assert main(["estimate", str(photos[0]), "--multiplier", "0.75", "--model-dir", str(tmp_path)]) == 2
    assert "posenet-onnx export --multiplier 0.75 --output-stride 16" in capsys.readouterr().err


def test_checkpoint_dir_exports_a_missing_graph(capsys, monkeypatch, checkpoint_dir, tmp_path, photos, net) -> None:
    """An empty model folder: the graph is exported from --checkpoint-dir (no cache, no download), then used."""
    monkeypatch.delenv("POSENET_ONNX_CHECKPOINT_DIR", raising=False)
    monkeypatch.setenv("POSENET_ONNX_CACHE_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("POSENET_ONNX_CHECKPOINT_URL", "http://127.0.0.1:9/")  # a download attempt fails at once
    models = tmp_path / "models"
    argv = ["estimate", str(photos[0]), *model_args(models)]
    assert main([*argv, "--checkpoint-dir", str(checkpoint_dir)]) == 0
    assert json.loads(capsys.readouterr().out)[0]["poses"] == [net.estimate_single_pose(photos[0]).to_dict()]
    assert [p.name for p in models.iterdir()] == [model_filename(0.5, 16)]


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="CUDA works here")
def test_device_is_passed(capsys, real_model_dir, photos) -> None:
    assert main(["estimate", str(photos[0]), *model_args(real_model_dir, device="cuda")]) == 2
    assert "CUDA is not usable" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scale", "0.1"], r"image_scale_factor must be a number in [0.2, 1.0]"),
        (["--multi", "--nms-radius", "0"], "nms_radius must be a number > 0"),
        (["--output-stride", "32"], "Multiplier 0.50 cannot run at output stride 32"),
    ],
)
def test_user_errors_exit_2_with_one_line(capsys, real_model_dir, photos, args, message) -> None:
    assert main(["estimate", str(photos[0]), *args, *model_args(real_model_dir, device=None)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("posenet-onnx estimate: error: ") and message in err and err.count("\n") == 1


def test_missing_image_file(capsys, real_model_dir, tmp_path) -> None:
    assert main(["estimate", str(tmp_path / "nope.jpg"), *model_args(real_model_dir, device=None)]) == 2
    assert "image file not found" in capsys.readouterr().err


def test_the_console_command_prints_only_json(real_model_dir, photos) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "posenet_onnx.cli", "estimate", str(photos[0]), "--multi",
         *model_args(real_model_dir, device=None)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0 and done.stderr == ""
    assert len(json.loads(done.stdout)[0]["poses"]) >= 2
