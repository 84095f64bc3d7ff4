"""Video follows the source's own timestamps: a real variable-frame-rate clip made with ffmpeg gives one record
per stored frame at its real time, and a drawn video as long as the source; a constant-rate clip is unchanged."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from posenet_onnx.cli import main
from posenet_onnx.runtime.video.pipeline import VideoTimeline, import_imageio
from support.cli import model_args
from support.video import read_jsonl, read_video


def ffmpeg() -> str:
    import_imageio()
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@pytest.fixture(scope="module")
def vfr_clip(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The squats clip retimed: its first 20 frames close together, the rest 0.5 s apart (frames whose times
    fall together are dropped by the encoder), stored with variable frame rate."""
    path = tmp_path_factory.mktemp("vfr") / "vfr.mp4"
    subprocess.run([ffmpeg(), "-hide_banner", "-loglevel", "error", "-i", str(shared / "images" / "pose_squats.mp4"),
                    "-vf", "setpts='if(lt(N,20),N*0.02,N*0.5)/TB'", "-fps_mode", "vfr", str(path)], check=True)
    return path


def shown_times(path: Path) -> list[float]:
    """Each stored frame's presentation time, as ffmpeg's showinfo filter reports it while decoding."""
    done = subprocess.run([ffmpeg(), "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:v:0", "-fps_mode", "passthrough",
                           "-vf", "showinfo", "-f", "null", "-"], capture_output=True, text=True, check=True)
    return [float(value) for value in re.findall(r"\] n: *\d+ .*?pts_time:(\S+)", done.stderr)]


@pytest.mark.slow
def test_a_variable_frame_rate_clip_gives_one_record_per_frame_at_its_time(vfr_clip, real_model_dir, tmp_path) -> None:
    times = shown_times(vfr_clip)
    assert len(times) < 65 and times[-1] > 30 and len(set(np.diff(times).round(3))) > 1  # really variable
    jsonl, video = tmp_path / "vfr.jsonl", tmp_path / "vfr-poses.mp4"
    argv = ["video", str(vfr_clip), "--jsonl", str(jsonl), "-o", str(video), "--single"]
    assert main([*argv, *model_args(real_model_dir)]) == 0
    records = read_jsonl(jsonl)
    assert [r["frame"] for r in records] == list(range(len(times)))
    assert [r["timestamp"] for r in records] == pytest.approx(times, abs=1e-6)
    # The drawn video runs at the source's average rate and ends where the source's last frame does.
    reader = import_imageio().get_reader(video, format="FFMPEG")
    fps = reader.get_meta_data()["fps"]
    reader.close()
    length = len(read_video(video)) / fps
    assert abs(length - (times[-1] + 1 / fps)) <= 1 / fps, (length, times[-1], fps)


@pytest.mark.parametrize("in_band", [True, False], ids=["reported-by-the-decode", "listed-by-a-second-ffmpeg"])
def test_each_frame_of_a_variable_rate_clip_is_read_at_its_shown_time(vfr_clip, in_band, monkeypatch) -> None:
    """Both ways to the times (ffmpeg 6.1+ reports them as it decodes; an older one's listing) give showinfo's."""
    from posenet_onnx.runtime.video import video_files
    from posenet_onnx.runtime.video.pipeline import open_video

    if not in_band:
        monkeypatch.setattr(video_files, "reports_times", lambda: False)
    with open_video(str(vfr_clip)) as (info, frames):
        read = [(frame.timestamp, frame.image.shape) for frame in frames]
    assert [t for t, _ in read] == pytest.approx(shown_times(vfr_clip), abs=1e-6)
    assert {shape for _, shape in read} == {(1280, 720, 3)} and info.frame_size == (1280, 720)


def test_a_constant_rate_clip_keeps_its_frames_and_times(shared, real_model_dir, tmp_path) -> None:
    jsonl, video = tmp_path / "squats.jsonl", tmp_path / "squats-poses.mp4"
    argv = ["video", str(shared / "images" / "pose_squats.mp4"), "--jsonl", str(jsonl), "-o", str(video), "--single"]
    assert main([*argv, *model_args(real_model_dir)]) == 0
    records = read_jsonl(jsonl)
    assert [r["timestamp"] for r in records] == pytest.approx(shown_times(shared / "images" / "pose_squats.mp4"), abs=1e-6)
    assert len(read_video(video)) == len(records) == 65


def test_the_timeline_holds_frames_over_gaps_and_leaves_out_crowded_ones() -> None:
    frames = [np.full((2, 2, 3), i, np.uint8) for i in range(5)]
    timeline = VideoTimeline(10.0)
    written = [int(image[0, 0, 0]) for t, frame in zip([0.0, 0.1, 0.5, 0.51, 0.9], frames) for image in timeline.place(t, frame)]
    # slots 0, 1, 5 (frame 1 held over 2-4), frame 3 falls into slot 5 too: left out, but held over 6-8.
    assert written == [0, 1, 1, 1, 1, 2, 3, 3, 3, 4]
    constant = VideoTimeline(30.0)
    assert [len(list(constant.place(i / 30, frames[0]))) for i in range(300)] == [1] * 300


def test_timestamps_always_increase_even_where_a_damaged_file_repeats_them() -> None:
    from posenet_onnx.runtime.video.pipeline import _file_frames

    reader = [np.zeros((2, 2, 3), np.uint8)] * 5
    frames = list(_file_frames(zip([0.0, 0.5, 0.5, 0.2, None], reader), 10.0))  # repeated, backwards, then unknown
    assert [f.timestamp for f in frames] == pytest.approx([0.0, 0.5, 0.6, 0.7, 0.8])
