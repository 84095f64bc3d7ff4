"""The video pipeline on the real squats clip (65 frames, 720 x 1280, 5 fps) with the real 0.50 model."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytest
from imageio.core.util import Array

from posenet_onnx.cli import main
from posenet_onnx.commands.model import load_from_args
from posenet_onnx.commands.terminal import interrupts_as_requests
from posenet_onnx.runtime.video.pipeline import _camera_frames, annotate_video, even_sized, import_imageio, parse_source
from support.cli import model_args
from support.video import read_jsonl, read_video

SQUATS_FRAMES = 65
SQUATS_FPS = 5.0
AQUA = np.array([0, 255, 255])  # the drawing colour of draw_poses


@pytest.fixture(scope="module")
def squats(shared: Path) -> Path:
    return shared / "images" / "pose_squats.mp4"


@pytest.fixture(scope="module")
def squats_outputs(squats: Path, real_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CLI run once on the squats clip: multi-pose, scale 0.5, video and JSON lines into a fresh folder."""
    out = tmp_path_factory.mktemp("squats")
    argv = ["video", str(squats), "-o", str(out / "squats.mp4"), "--jsonl", str(out / "squats.jsonl")]
    assert main(argv + [*model_args(real_model_dir)]) == 0
    return out


def test_squats_clip_gives_a_playable_video_and_one_json_line_per_frame(squats_outputs: Path) -> None:
    import imageio_ffmpeg

    assert sorted(p.name for p in squats_outputs.iterdir()) == ["squats.jsonl", "squats.mp4"]  # no temp files left
    frames = read_video(squats_outputs / "squats.mp4")
    assert len(frames) == SQUATS_FRAMES
    assert frames[0].shape == (1280, 720, 3)
    assert imageio_ffmpeg.count_frames_and_secs(str(squats_outputs / "squats.mp4")) == (
        SQUATS_FRAMES,
        SQUATS_FRAMES / SQUATS_FPS,
    )
    records = read_jsonl(squats_outputs / "squats.jsonl")
    assert [r["frame"] for r in records] == list(range(SQUATS_FRAMES))
    assert [r["timestamp"] for r in records] == pytest.approx([i / SQUATS_FPS for i in range(SQUATS_FRAMES)])
    assert all(1 <= len(r["poses"]) <= 5 for r in records)  # the squatting woman is found in every frame


def test_a_frames_poses_equal_the_single_image_estimate(squats: Path, squats_outputs: Path, net) -> None:
    index = 40
    frame = read_video(squats)[index]
    expected = [pose.to_dict() for pose in net.estimate_multiple_poses(frame, 0.5)]
    record = read_jsonl(squats_outputs / "squats.jsonl")[index]
    assert record["poses"] == json.loads(json.dumps(expected))
    assert expected[0]["score"] > 0.5


def test_frames_estimated_side_by_side_give_the_records_of_one_at_a_time(squats: Path, net, tmp_path: Path) -> None:
    """Three workers estimate frames out of step; tracking, smoothing and the records still follow the frames in
    order: the same JSON lines as one worker."""
    from posenet_onnx.runtime.video.smoothing import PoseSmoother
    from posenet_onnx.runtime.video.tracking import PoseTracker

    estimating: set[str] = set()

    def estimate(image: np.ndarray) -> list:
        estimating.add(threading.current_thread().name)
        return net.estimate_multiple_poses(image, 0.5)

    def run(workers: int) -> list[dict]:
        out = tmp_path / f"{workers}.jsonl"
        estimating.clear()
        annotate_video(squats, estimate, jsonl=out, workers=workers, tracker=PoseTracker(), smoother=PoseSmoother())
        return read_jsonl(out)

    one = run(1)
    assert estimating == {threading.current_thread().name}  # one worker: the calling thread
    three = run(3)
    assert len(estimating) >= 2 and all(name.startswith("posenet-video-estimate") for name in estimating)
    assert len(one) == SQUATS_FRAMES and three == one
    assert {pose["id"] for record in one for pose in record["poses"]} - {None} == {1}


def test_the_skeleton_is_drawn_on_its_own_frame(squats: Path, squats_outputs: Path) -> None:
    index = 40
    source = read_video(squats)[index].astype(int)
    drawn = read_video(squats_outputs / "squats.mp4")[index].astype(int)
    pose = read_jsonl(squats_outputs / "squats.jsonl")[index]["poses"][0]
    points = [(round(k["position"]["y"]), round(k["position"]["x"])) for k in pose["keypoints"] if k["score"] >= 0.5]
    assert len(points) >= 5
    # Keypoint dots are aqua in the output (lossy video: a loose bound) and were not in the source frame.
    distance = lambda image: np.array([np.abs(image[y, x] - AQUA).max() for y, x in points])  # noqa: E731
    assert np.median(distance(drawn)) < 60
    assert np.median(distance(source)) > 120


def test_single_pose_smoothed_run_writes_one_smoothed_pose_per_frame(
    squats: Path, squats_outputs: Path, real_model_dir: Path, tmp_path: Path
) -> None:
    jsonl = tmp_path / "smooth.jsonl"
    argv = ["video", str(squats), "--jsonl", str(jsonl), "--single", "--smooth", "--multiplier", "0.5"]
    assert main(argv + [*model_args(real_model_dir, multiplier=None)]) == 0
    records = read_jsonl(jsonl)
    assert len(records) == SQUATS_FRAMES and all(len(r["poses"]) == 1 for r in records)
    assert not list(tmp_path.glob(".*"))
    positions = np.array(
        [[[k["position"]["x"], k["position"]["y"]] for k in r["poses"][0]["keypoints"]] for r in records]
    )
    steps = np.abs(np.diff(positions, axis=0)).mean()
    raw = read_jsonl(squats_outputs / "squats.jsonl")
    raw_positions = np.array(
        [[[k["position"]["x"], k["position"]["y"]] for k in r["poses"][0]["keypoints"]] for r in raw]
    )
    assert steps < np.abs(np.diff(raw_positions, axis=0)).mean()  # smoothed keypoints move less between frames


def interrupt_at(net, frame_index: int):
    """An estimate function that delivers a real SIGINT (Ctrl-C) when asked for frame `frame_index`."""
    seen = []

    def estimate(image: np.ndarray) -> list:
        if len(seen) == frame_index:
            signal.raise_signal(signal.SIGINT)
        seen.append(image)
        return net.estimate_multiple_poses(image, 0.5)

    return estimate


@pytest.mark.parametrize(("as_request", "frames_done"), [(True, 8), (False, 7)])
def test_ctrl_c_keeps_a_playable_video_and_complete_lines_for_the_frames_done(
    squats: Path, net, tmp_path: Path, as_request: bool, frames_done: int
) -> None:
    """Ctrl-C while frame 7 is estimated. As the CLI handles it (a stop request) that frame is the last one;
    as Python's default KeyboardInterrupt (the library installs no handler) it stops inside frame 7."""
    video, jsonl = tmp_path / "cut.mp4", tmp_path / "cut.jsonl"
    with pytest.raises(KeyboardInterrupt), interrupts_as_requests() if as_request else nullcontext() as stop:
        annotate_video(squats, interrupt_at(net, 7), output=video, jsonl=jsonl, stop=stop)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.jsonl", "cut.mp4"]
    assert len(read_video(video)) == frames_done
    assert [r["frame"] for r in read_jsonl(jsonl)] == list(range(frames_done))


def test_ctrl_c_in_a_terminal_exits_130_with_both_files_complete(
    squats: Path, real_model_dir: Path, tmp_path: Path
) -> None:
    """The real thing: the CLI in its own process group gets SIGINT, like a terminal's Ctrl-C, mid-video."""
    video, jsonl = tmp_path / "out.mp4", tmp_path / "out.jsonl"
    argv = ["video", str(squats), "-o", str(video), "--jsonl", str(jsonl), "--multiplier", "0.5"]
    argv += [*model_args(real_model_dir, multiplier=None)]
    # Python's Ctrl-C handler, even if this process was started with SIGINT ignored (a background job).
    cli = "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    cli += "from posenet_onnx.cli import main; sys.exit(main(sys.argv[1:]))"
    process = subprocess.Popen(
        [sys.executable, "-c", cli, *argv],
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not any(p.stat().st_size > 0 for p in tmp_path.glob(".out.*.partial.mp4")):  # the first frames are out
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130 and stderr.count("\n") == 1
    assert stderr.startswith("posenet-onnx video: interrupted; kept complete: ") and str(video) in stderr and str(jsonl) in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl", "out.mp4"]
    done = len(read_jsonl(jsonl))
    assert 1 <= done < SQUATS_FRAMES
    assert len(read_video(video)) == done


def test_ctrl_c_before_the_first_frame_leaves_no_files(squats: Path, net, tmp_path: Path, monkeypatch) -> None:
    from posenet_onnx.runtime.video import pipeline as video

    opened = video.open_video_writer

    def interrupted_while_opening(*args):  # Ctrl-C while the encoder starts, before any frame is read
        signal.raise_signal(signal.SIGINT)
        return opened(*args)

    monkeypatch.setattr(video, "open_video_writer", interrupted_while_opening)
    with pytest.raises(KeyboardInterrupt):
        annotate_video(squats, interrupt_at(net, 10**6), output=tmp_path / "none.mp4")
    assert list(tmp_path.iterdir()) == []


def test_an_error_leaves_no_partial_outputs(squats: Path, tmp_path: Path) -> None:
    def failing(image: np.ndarray) -> list:
        raise ValueError("broken estimator")

    with pytest.raises(ValueError, match="broken estimator"):
        annotate_video(squats, failing, output=tmp_path / "x.mp4", jsonl=tmp_path / "x.jsonl")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["missing.mp4", "--jsonl", "x.jsonl"], "No video file 'missing.mp4'"),
        (["{squats}", "-o", "out.avi"], "expected a name ending in .mp4, .mkv, .mov"),
        (["{squats}"], "give an output video, a JSON lines file, or both"),
        (["{squats}", "--jsonl", "no/such/folder/x.jsonl"], "No folder"),
        (
            ["{squats}", "--jsonl", "x.jsonl", "--smooth", "--smooth-min-cutoff", "0"],
            "min_cutoff 0.0; expected a finite number > 0",
        ),
        (["{squats}", "-o", "out.mp4", "--scale", "2"], "image_scale_factor must be a number in [0.2, 1.0]"),
        (["{squats}", "--jsonl", "x.jsonl", "--max-poses", "0"], "max_pose_detections must be an integer >= 1"),
    ],
)
def test_bad_arguments_exit_2_with_one_clear_line(
    argv, message, squats: Path, real_model_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    argv = [a.format(squats=squats) for a in argv]
    assert main(["video", *argv, *model_args(real_model_dir)]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("source", "message"), [("fake.mp4", "Cannot read 'fake.mp4' as a video"), ("63", "Cannot read camera 63")]
)
def test_unreadable_sources_exit_2_with_one_clear_line(source, message, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    Path("fake.mp4").write_text("not a video")
    assert main(["video", source, "--jsonl", "x.jsonl"]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fake.mp4"]


def test_a_file_without_a_video_stream_exits_2_naming_it(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    _ffmpeg("-f", "lavfi", "-i", "sine=duration=1", "sound.mp4")  # a real file ffmpeg reads: audio only
    assert main(["video", "sound.mp4", "--jsonl", "x.jsonl"]) == 2
    error = capsys.readouterr().err
    assert "Cannot read 'sound.mp4' as a video: it has no video stream" in error and error.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sound.mp4"]


def test_the_output_never_replaces_the_input(squats: Path, tmp_path: Path, capsys) -> None:
    clip = tmp_path / "clip.mp4"
    shutil.copyfile(squats, clip)
    assert main(["video", str(clip), "-o", str(clip)]) == 2
    assert f"The output {clip} is the input {clip}; write to another file" in capsys.readouterr().err
    assert clip.read_bytes() == squats.read_bytes() and [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


def test_missing_video_extra_names_the_install_command(squats: Path, monkeypatch, capsys, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    with pytest.raises(ImportError, match=r'pip install "posenet-onnx\[video\]"'):
        import_imageio()
    assert main(["video", str(squats), "--jsonl", str(tmp_path / "x.jsonl")]) == 2
    assert 'pip install "posenet-onnx[video]"' in capsys.readouterr().err


def test_camera_indices_and_files_are_told_apart(squats: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert parse_source("0") == 0 and parse_source(2) == 2
    assert parse_source(squats) == str(squats)
    (tmp_path / "0").write_bytes(b"")
    assert parse_source("0") == "0"  # an existing file named 0 wins
    with pytest.raises(ValueError, match="camera index -1"):
        parse_source(-1)


def test_flip_gives_the_mirrored_persons_poses_like_flip_horizontal(
    squats: Path, real_model_dir: Path, net, tmp_path
) -> None:
    jsonl = tmp_path / "flip.jsonl"
    argv = ["video", str(squats), "--jsonl", str(jsonl), "--flip", "--multiplier", "0.5"]
    assert main(argv + [*model_args(real_model_dir, multiplier=None)]) == 0
    index = 20
    frame = read_video(squats)[index]
    expected = [pose.to_dict() for pose in net.estimate_multiple_poses(frame, 0.5, flip_horizontal=True)]
    assert read_jsonl(jsonl)[index]["poses"] == json.loads(json.dumps(expected))


def test_a_camera_s_repeated_latest_frame_is_skipped(squats: Path) -> None:
    """imageio's camera reader returns its latest frame again (meta new=False) until the camera has a newer one."""
    images = read_video(squats)[:3]
    served = [(0, True), (0, False), (1, True), (1, False), (1, False), (2, True)]
    reader = [Array(images[i], {"new": new}) for i, new in served]
    frames = list(_camera_frames(reader, 30.0))
    assert [f.index for f in frames] == [0, 1, 2]
    assert all(np.array_equal(f.image, image) for f, image in zip(frames, images))
    assert frames[0].timestamp < frames[1].timestamp < frames[2].timestamp


def test_video_command_turns_onnxruntime_spinning_off(squats: Path, real_model_dir: Path, tmp_path: Path, monkeypatch) -> None:
    """The pipeline's reader and writer threads share the cores, so the command's sessions must not spin."""
    import posenet_onnx.commands.model as model

    nets = []

    def recording_load(args, **extra):
        nets.append(load_from_args(args, **extra))
        return nets[-1]

    monkeypatch.setattr(model, "load_from_args", recording_load)
    argv = ["video", str(squats), "--jsonl", str(tmp_path / "poses.jsonl"), "--multiplier", "0.5"]
    assert main(argv + [*model_args(real_model_dir, multiplier=None), "--single"]) == 0
    (net,) = nets
    session = net.network(16).session
    assert session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning") == "0"


def _ffmpeg(*args: str) -> None:
    """Make a test clip with the ffmpeg that imageio-ffmpeg ships."""
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", *args], check=True, timeout=120)


def _video(clip: Path, real_model_dir: Path, *outputs: str) -> int:
    return main(["video", str(clip), *outputs, *model_args(real_model_dir)])


def test_even_sized_adds_a_black_row_or_column_and_moves_no_pixel() -> None:
    image = np.arange(3 * 5 * 3, dtype=np.uint8).reshape(3, 5, 3) + 1
    padded = even_sized(image)
    assert padded.shape == (4, 6, 3) and padded.dtype == np.uint8
    np.testing.assert_array_equal(padded[:3, :5], image)
    assert not padded[3].any() and not padded[:, 5].any()
    assert even_sized(padded) is padded
    assert even_sized(image[:2]).shape == (2, 6, 3)


def test_an_odd_sized_clip_is_padded_not_rescaled_and_quietly(
    squats: Path, real_model_dir: Path, tmp_path: Path, capsys, caplog
) -> None:
    clip = tmp_path / "odd.mkv"
    _ffmpeg("-i", str(squats), "-t", "1", "-vf", "scale=333:201", "-c:v", "mpeg4", "-q:v", "2", str(clip))
    drawn_path = tmp_path / "drawn.mp4"
    assert _video(clip, real_model_dir, "-o", str(drawn_path)) == 0
    assert capsys.readouterr().err.count("\n") == 1  # the summary
    assert not [r.getMessage() for r in caplog.records if r.name.startswith("imageio")]  # no note about resizing
    source, drawn = read_video(clip), read_video(drawn_path)
    assert len(drawn) == len(source) == 5 and source[0].shape == (201, 333, 3) and drawn[0].shape == (202, 334, 3)
    # The scene is a light wall up to the frame's right and bottom edges: a rescaled frame would fill the last
    # row and column with it; padded, they are black (but for the encoder's blur at the edge).
    assert source[0][:, -1].mean() > 100 and source[0][-1].mean() > 100
    assert drawn[0][:, -1].mean() < 25 and drawn[0][-1].mean() < 25
    assert np.abs(drawn[0][:201, :333].astype(int) - source[0]).mean() < 8  # in place: the same frame, skeleton aside


def test_a_rotated_clip_is_estimated_upright_as_players_show_it(
    squats: Path, real_model_dir: Path, tmp_path: Path, capsys, caplog, net
) -> None:
    clip = tmp_path / "rotated.mp4"
    _ffmpeg("-display_rotation", "90", "-i", str(squats), "-t", "1", "-c", "copy", str(clip))  # a phone's display matrix
    jsonl = tmp_path / "rotated.jsonl"
    assert _video(clip, real_model_dir, "--jsonl", str(jsonl)) == 0
    assert capsys.readouterr().err.count("\n") == 1  # the summary
    assert not [r.getMessage() for r in caplog.records if r.name.startswith("imageio")]  # no note about the frame size
    upright, coded = read_video(clip), read_video(squats)[:5]
    assert upright[0].shape == (720, 1280, 3)
    turned = [np.abs(upright[0].astype(int) - np.rot90(coded[0], k)).mean() for k in (1, 3)]
    assert min(turned) < 3 < max(turned)  # the coded frame turned a quarter: as displayed
    records = read_jsonl(jsonl)
    assert len(records) == 5
    for record, frame in zip(records, upright):
        assert record["poses"] == json.loads(json.dumps([p.to_dict() for p in net.estimate_multiple_poses(frame, 0.5)]))


def test_no_output_replaces_the_model_graph(squats: Path, real_model_dir: Path, tmp_path: Path, capsys) -> None:
    graph = tmp_path / "graph.onnx"
    shutil.copyfile(real_model_dir / "mobilenet_v1_050_stride16.onnx", graph)
    before = graph.read_bytes()
    assert main(["video", str(squats), "--model", str(graph), "--jsonl", str(graph), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert f"is the input {graph}" in err and err.count("\n") == 1
    assert graph.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["graph.onnx"]
