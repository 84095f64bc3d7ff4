"""--preset, --refinement and --flip-test in `estimate`, `video` and `evaluate`: the presets are the library's
constants, explicit options override them, and the options reach the estimate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from posenet_onnx.cli import build_parser, main
from posenet_onnx.commands.evaluate import configurations_from_args
from posenet_onnx.commands.model import settings_from_args
from posenet_onnx.runtime.settings import PRESET_FIELDS, PRESETS, EstimateSettings
from support.cli import model_args

ACCURATE = {"image_scale_factor": 1.0, "output_stride": 8, "refinement": "v2", "flip_test": True}
COMMANDS = {"estimate": ["estimate", "x.jpg"], "video": ["video", "x.mp4"]}


def _settings(command: str, *options: str) -> EstimateSettings:
    return settings_from_args(build_parser().parse_args([*COMMANDS[command], *options]), multi_pose=True)


def _fields(settings: EstimateSettings) -> dict[str, object]:
    return {name: getattr(settings, name) for name in PRESET_FIELDS}


def test_the_original_preset_is_the_library_s_defaults() -> None:
    """`original` sets exactly EstimateSettings' defaults (upstream's), so the default path is unchanged."""
    defaults = EstimateSettings()
    assert PRESETS["original"] == {name: getattr(defaults, name) for name in PRESET_FIELDS}
    assert set(PRESETS["accurate"]) == set(PRESET_FIELDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_presets_set_the_defaults_and_explicit_options_override_them(command: str) -> None:
    assert _settings(command) == EstimateSettings(multi_pose=True) == _settings(command, "--preset", "original")
    assert _fields(_settings(command, "--preset", "accurate")) == ACCURATE == PRESETS["accurate"]
    overridden = _settings(
        command, "--preset", "accurate", "--scale", "0.7", "--output-stride", "16", "--refinement", "v1", "--no-flip-test"
    )
    assert _fields(overridden) == {"image_scale_factor": 0.7, "output_stride": 16, "refinement": "v1", "flip_test": False}
    one = _settings(command, "--preset", "accurate", "--refinement", "v1")
    assert _fields(one) == {**ACCURATE, "refinement": "v1"}
    assert _fields(_settings(command, "--refinement", "v2", "--flip-test")) == {
        **PRESETS["original"], "refinement": "v2", "flip_test": True
    }
    # A --model graph runs at its own stride: the preset's stride does not apply to it.
    assert _settings(command, "--preset", "accurate", "--model", "graph.onnx").output_stride is None


def _configurations(*options: str) -> list[tuple]:
    args = build_parser().parse_args(["evaluate", "--annotations", "a.json", "--images", "photos", *options])
    return [
        (c.settings.image_scale_factor, c.settings.output_stride, c.settings.refinement, c.settings.flip_test)
        for c in configurations_from_args(args)
    ]


def test_evaluate_sweeps_the_flip_test_and_takes_the_preset_s_values() -> None:
    assert _configurations() == [(0.5, 16, "v1", False)]
    assert _configurations("--flip-test", "off", "on", "--refinement", "v1", "v2") == [
        (0.5, 16, "v1", False), (0.5, 16, "v1", True), (0.5, 16, "v2", False), (0.5, 16, "v2", True)
    ]
    assert _configurations("--flip-test") == [(0.5, 16, "v1", True)]
    assert _configurations("--preset", "accurate") == [(1.0, 8, "v2", True)]
    assert _configurations("--preset", "accurate", "--scale", "0.5", "1.0", "--flip-test", "off") == [
        (0.5, 8, "v2", False), (1.0, 8, "v2", False)
    ]


@pytest.mark.parametrize("argv", [["estimate", "x.jpg", "--refinement", "v3"], ["evaluate", "--annotations", "a",
                                  "--images", "b", "--flip-test", "on", "sideways"], ["video", "x.mp4", "--preset", "best"]])
def test_bad_values_exit_2_with_one_line(capsys, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "error:" in error


def test_help_says_explicit_options_override_the_preset(capsys) -> None:
    for command in ("estimate", "video", "evaluate"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "explicit options override them" in text and "accurate: scale 1.0, stride 8, v2, flip test on" in text


def _estimate(capsys, real_model_dir: Path, *args: str) -> list[dict]:
    assert main(["estimate", *args, *model_args(real_model_dir)]) == 0
    return json.loads(capsys.readouterr().out)


def test_the_options_reach_the_estimate(capsys, shared: Path, real_model_dir: Path, net) -> None:
    """The JSON `estimate` prints is the API's poses with the same settings, on a real photo."""
    photo = shared / "images" / "couple.jpg"
    records = _estimate(capsys, real_model_dir, "--multi", str(photo), "--refinement", "v2", "--flip-test")
    expected = net.estimate_multiple_poses(photo, refinement="v2", flip_test=True)
    assert records[0]["poses"] == [pose.to_dict() for pose in expected]
    assert expected != net.estimate_multiple_poses(photo, refinement="v2")

    records = _estimate(capsys, real_model_dir, "--multi", str(photo), "--preset", "accurate")
    expected = net.estimate_multiple_poses(photo, 1.0, False, 8, refinement="v2", flip_test=True)
    assert records[0]["poses"] == [pose.to_dict() for pose in expected]

    records = _estimate(capsys, real_model_dir, str(photo), "--flip-test")
    assert records[0]["poses"] == [net.estimate_single_pose(photo, flip_test=True).to_dict()]


def test_evaluate_rows_name_the_flip_test(capsys, shared: Path, real_model_dir: Path, tmp_path: Path) -> None:
    rows_path = tmp_path / "rows.json"
    argv = [
        "evaluate", "--annotations", str(shared / "photos" / "coco17_all.json"), "--images", str(shared / "photos"),
        *model_args(real_model_dir), "--flip-test", "off", "on", "--json", str(rows_path),
        "--detections", str(tmp_path / "found.json"),
    ]
    assert main(argv) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[5] == "flip" and [line.split()[5] for line in table[1:]] == ["off", "on"]
    rows = json.loads(rows_path.read_text())
    assert [r["flip_test"] for r in rows] == [False, True] and rows[0]["AP"] != rows[1]["AP"]
    assert (tmp_path / "found_multi_scale0.5_stride16_fp32_v1.json").is_file()
    assert (tmp_path / "found_multi_scale0.5_stride16_fp32_v1_flip.json").is_file()
