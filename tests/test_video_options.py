"""The video command's cost options: x264's preset and crf reach the encoder (x264 writes the settings it ran
with into the stream) and give a valid video of every frame; a drawn video's network leaves a core to the other
stages without changing a pose; --fast-decode (JSON lines only) reads scaled frames and gives poses in the
full frame's pixels, close to the default's; bad values exit 2 with one line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from posenet_onnx.cli import main
from support.cli import model_args
from support.video import read_video

SQUATS_FRAMES = 65


def x264_settings(video: Path) -> dict[str, str]:
    """The `options:` string x264 stores in its SEI message, as name -> value."""
    found = re.search(rb"x264 - core .*? options: ([^\x00]*)", video.read_bytes())
    assert found, "no x264 settings in the stream"
    return dict(option.split("=", 1) for option in found.group(1).decode().split() if "=" in option)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ([], {"cabac": "0", "crf": "23.0", "me": "dia", "subme": "0"}),  # ultrafast: no CABAC, the cheapest search
        (["--encoder-preset", "veryfast", "--crf", "30"], {"cabac": "1", "crf": "30.0", "me": "hex", "subme": "2"}),
    ],
)
def test_encoder_options_reach_x264_and_give_a_valid_video(shared, real_model_dir, tmp_path, options, expected) -> None:
    out = tmp_path / "drawn.mp4"
    argv = ["video", str(shared / "images" / "pose_squats.mp4"), "-o", str(out), *options, *model_args(real_model_dir)]
    assert main(argv) == 0
    settings = x264_settings(out)
    assert {name: settings.get(name) for name in expected} == expected
    frames = read_video(out)
    assert len(frames) == SQUATS_FRAMES and frames[0].shape == (1280, 720, 3)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--crf", "52"], "Invalid crf 52; expected a whole number from 0 (lossless) to 51"),
        (["--crf", "-1"], "Invalid crf -1"),
        (["--crf", "high"], "argument --crf: invalid int value: 'high'"),
        (["--encoder-preset", "quick"], "argument --encoder-preset: invalid choice: 'quick'"),
        (["--fast-decode"], "--fast-decode reads the frames at the network's size, for --jsonl alone"),
    ],
)
def test_bad_encoder_options_exit_2_with_one_line(shared, real_model_dir, tmp_path, capsys, options, message) -> None:
    argv = ["video", str(shared / "images" / "pose_squats.mp4"), "-o", str(tmp_path / "out.mp4"), *options]
    try:
        status = main([*argv, *model_args(real_model_dir)])
    except SystemExit as exc:  # argparse's own checks (type, choices) exit from the parser
        status = exc.code
    assert status == 2
    error = capsys.readouterr().err
    assert error.startswith("posenet-onnx video: error: ") and message in error and error.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("drawn", [True, False])
def test_on_the_cpu_each_core_estimates_whole_frames_on_a_network_of_one_thread(
    shared, net, real_model_dir, tmp_path, monkeypatch, drawn
) -> None:
    """On the CPU the command runs one estimating worker per core, each on a network of one thread, and every
    frame's poses are still those of the default network (onnxruntime's choice of threads), in order."""
    import json
    import os

    import posenet_onnx.commands.model as model
    import posenet_onnx.commands.video as video
    from posenet_onnx.commands.model import load_from_args

    nets, workers = [], []
    monkeypatch.setattr(model, "load_from_args", lambda args, **extra: nets.append(load_from_args(args, **extra)) or nets[-1])
    run = video.annotate_video
    monkeypatch.setattr(video, "annotate_video", lambda *a, **k: workers.append(k["workers"]) or run(*a, **k))
    outputs = ["--jsonl", str(tmp_path / "out.jsonl"), *(["-o", str(tmp_path / "out.mp4")] if drawn else [])]
    assert main(["video", str(shared / "images" / "pose_squats.mp4"), *outputs, *model_args(real_model_dir)]) == 0
    assert nets[0].network(16).session.get_session_options().intra_op_num_threads == 1
    assert workers == [os.cpu_count()]
    frames = read_video(shared / "images" / "pose_squats.mp4")
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(records) == len(frames) == SQUATS_FRAMES
    for frame, record in zip(frames, records):
        expected = [pose.to_dict() for pose in net.estimate_multiple_poses(frame)]
        assert record["poses"] == json.loads(json.dumps(expected))


def test_fast_decode_reads_scaled_frames_and_gives_poses_in_full_frame_pixels(shared, net, real_model_dir, tmp_path) -> None:
    import json

    import numpy as np

    clip = shared / "images" / "pose_squats.mp4"
    out = tmp_path / "fast.jsonl"
    assert main(["video", str(clip), "--jsonl", str(out), "--fast-decode", *model_args(real_model_dir)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    frames = read_video(clip)
    assert [r["frame"] for r in records] == list(range(SQUATS_FRAMES))
    differ = 0
    for frame, record in zip(frames, records):
        full = net.estimate_multiple_poses(frame)
        differ += record["poses"] != json.loads(json.dumps([pose.to_dict() for pose in full]))
        for pose in (p for p in full if p.score >= 0.5):
            confident = pose.scores >= 0.5
            distances = []
            for other in record["poses"]:
                positions = np.array([[k["position"]["x"], k["position"]["y"]] for k in other["keypoints"]])
                distances.append(np.median(np.hypot(*(pose.positions - positions)[confident].T)))
            assert min(distances) < 0.5 * 16 / 0.5  # half a heatmap cell, in frame pixels
    assert differ  # the frames were read scaled, not whole


def test_scaled_frames_are_refused_with_an_output_video(shared, net, tmp_path) -> None:
    from posenet_onnx.runtime.video.pipeline import annotate_video

    with pytest.raises(ValueError, match="JSON lines only"):
        annotate_video(shared / "images" / "pose_squats.mp4", net.estimate_multiple_poses, output=tmp_path / "o.mp4",
                       scaled=lambda height, width: (height // 2, width // 2))
    assert list(tmp_path.iterdir()) == []
