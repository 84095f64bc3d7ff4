"""SIGTERM, SIGHUP and SIGKILL sent to real command processes: the first two stop a command as Ctrl-C does
(complete files kept, no temporary file left, exit 128 + the signal's number); what a SIGKILLed run leaves
beside its outputs is removed by the next run on the same outputs, and only that."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from posenet_onnx.outputs import _HOST
from support.cli import model_args

CLI = [sys.executable, "-m", "posenet_onnx.cli"]


def start(argv: list[str]) -> subprocess.Popen:
    """The command in a process group of its own, with the stop signals' default dispositions (a signal ignored
    here, e.g. under nohup, would be ignored by the command too, as it should)."""
    return subprocess.Popen([*CLI, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=_default_signals)


def _default_signals() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


def wait_for(process: subprocess.Popen, folder: Path, pattern: str) -> None:
    """Until a staged file matching `pattern` has content (the command is writing)."""
    deadline = time.monotonic() + 180
    while not any(p.stat().st_size > 0 for p in folder.glob(pattern)):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.02)


def video_argv(shared: Path, folder: Path, real_model_dir: Path) -> list[str]:
    return ["video", str(shared / "images" / "pose_squats.mp4"), "-o", str(folder / "out.mp4"),
            "--jsonl", str(folder / "out.jsonl"), *model_args(real_model_dir)]


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_stop_a_video_like_ctrl_c(shared, tmp_path, real_model_dir, signum) -> None:
    from support.video import read_jsonl, read_video

    process = start(video_argv(shared, tmp_path, real_model_dir))
    wait_for(process, tmp_path, ".out.*.partial.mp4")
    os.killpg(process.pid, signum)  # the whole process group, as a closed terminal or `kill -TERM -PGID` does
    _, stderr = process.communicate(timeout=120)
    name = signal.Signals(signum).name
    assert process.returncode == 128 + signum, stderr
    assert stderr.count("\n") == 1 and f"stopped by {name}; kept complete:" in stderr, stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl", "out.mp4"]  # no temporary file
    assert 1 <= len(read_video(tmp_path / "out.mp4")) == len(read_jsonl(tmp_path / "out.jsonl")) < 65


@pytest.mark.slow
def test_a_killed_videos_leftovers_are_removed_by_the_next_run_and_only_they(shared, tmp_path, real_model_dir) -> None:
    process = start(video_argv(shared, tmp_path, real_model_dir))
    wait_for(process, tmp_path, ".out.*.partial.mp4")
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert len(left) == 2 and all(name.startswith(f".out.{process.pid}-{_HOST}-") for name in left), left
    # Not ours to remove: another output's staged file, and one whose writer (this test) still runs.
    others = [f".other.1234-{_HOST}-0123abcd.partial.mp4", f".out.{os.getpid()}-{_HOST}-0123abcd.partial.jsonl",
              ".out.0123abcd.partial.jsonl", "notes.partial.txt"]
    for name in others:
        (tmp_path / name).write_text("kept\n")
    done = subprocess.run([*CLI, *video_argv(shared, tmp_path, real_model_dir), "--single"], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out.jsonl", "out.mp4", *others])


@pytest.mark.slow
def test_a_killed_parquet_job_is_cleaned_up_by_the_next_one(shared, tmp_path, real_model_dir) -> None:
    pytest.importorskip("pyarrow")
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(300):  # copies: a folder job reads each file once, whatever links name it
        shutil.copyfile(shared / "images" / "pose.jpg", photos / f"p{i:03d}.jpg")
    out = tmp_path / "out"
    out.mkdir()
    argv = ["estimate", str(photos), "--parquet", str(out / "poses.parquet"), "--jsonl", str(out / "poses.jsonl"),
            *model_args(real_model_dir)]
    process = start(argv)
    wait_for(process, out, "poses.jsonl")  # records are coming: the Parquet file is being written, staged
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    (killed,) = out.glob(".poses.*.partial.parquet")
    process = start(argv)
    deadline = time.monotonic() + 180
    while killed.exists():
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.02)
    assert len(list(out.glob(".poses.*.partial.parquet"))) == 1  # the new run's own
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143 and stderr.splitlines()[-1].startswith("posenet-onnx estimate: stopped by SIGTERM"), stderr
    assert sorted(p.name for p in out.iterdir()) == ["poses.jsonl"]  # the JSON lines kept (--resume goes on)


def test_the_staged_name_of_a_long_output_name_fits_and_is_cleaned_up(tmp_path) -> None:
    """An output name of 250 bytes: its temporary name still fits in a file name, and a killed writer's is found."""
    from posenet_onnx.outputs import remove_stale_temporaries, temporary_path

    output = tmp_path / ("p" * 244 + ".jsonl")
    staged = temporary_path(output)
    assert len(staged.name.encode()) <= 255 and staged.suffix == ".jsonl"
    staged.write_text("written by this process\n")
    killed = staged.with_name(staged.name.replace(f".{os.getpid()}-", ".999999999-"))  # no such process
    killed.write_text("left by a killed process\n")
    assert remove_stale_temporaries(output) == [killed] and staged.exists()
