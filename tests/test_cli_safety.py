"""Every command as a hostile user runs it: outputs onto inputs, links, pipes, devices, folders, damaged
graphs, read-only and full file systems, Ctrl-C twice. A user's files are never lost or overwritten, no
temporary file is left, and every bad input gets exit status 2 and one line."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from posenet_onnx.cli import main
from posenet_onnx.contract import model_filename
from support.cli import model_args

CAN_MOUNT = os.geteuid() == 0 and shutil.which("unshare") is not None and sys.platform == "linux"
needs_mount = pytest.mark.skipif(not CAN_MOUNT, reason="mounting needs root and unshare (Linux)")
CLI = [sys.executable, "-m", "posenet_onnx.cli"]


@pytest.fixture
def photo(shared: Path, tmp_path: Path) -> Path:
    """A real photo in a folder of its own, so that tests can look at everything written beside it."""
    copy = tmp_path / "photos" / "couple.jpg"
    copy.parent.mkdir()
    shutil.copyfile(shared / "images" / "couple.jpg", copy)
    return copy


def one_line_error(capsys, command: str = "estimate") -> str:
    err = capsys.readouterr().err
    assert err.startswith(f"posenet-onnx {command}: error: ") and err.count("\n") == 1, err
    return err


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_json_onto_the_input_is_refused(capsys, photo, real_model_dir) -> None:
    before = photo.read_bytes()
    assert main(["estimate", str(photo), "--json", str(photo), *model_args(real_model_dir)]) == 2
    assert f"is the input {photo}" in one_line_error(capsys)
    assert photo.read_bytes() == before and listing(photo.parent) == ["couple.jpg"]


def test_drawing_into_the_inputs_folder_never_replaces_an_input(capsys, photo, real_model_dir) -> None:
    before = photo.read_bytes()
    # An input already named like the drawing would be: its drawing takes the next free name.
    shutil.copyfile(photo, photo.parent / "couple.poses.png")
    inputs = [str(photo), str(photo.parent / "couple.poses.png")]
    assert main(["estimate", *inputs, "--draw", str(photo.parent), *model_args(real_model_dir)]) == 0
    records = json.loads(capsys.readouterr().out)
    assert len(records) == 2 and photo.read_bytes() == before
    assert listing(photo.parent) == ["couple-2.poses.png", "couple.jpg", "couple.poses.png", "couple.poses.poses.png"]
    assert (photo.parent / "couple.poses.png").read_bytes() == before  # the input, untouched


def test_two_inputs_with_one_name_keep_both_drawings(capsys, shared, tmp_path, real_model_dir) -> None:
    for folder, source in (("a", "couple.jpg"), ("b", "pose.jpg")):
        (tmp_path / folder).mkdir()
        shutil.copyfile(shared / "images" / source, tmp_path / folder / "x.jpg")
    out = tmp_path / "out"
    argv = ["estimate", str(tmp_path / "a" / "x.jpg"), str(tmp_path / "b" / "x.jpg"), "--draw", str(out)]
    assert main([*argv, *model_args(real_model_dir)]) == 0
    assert listing(out) == ["x-2.poses.png", "x.poses.png"]
    sizes = {Image.open(out / name).size for name in listing(out)}
    assert sizes == {(640, 480), Image.open(shared / "images" / "pose.jpg").size}


def test_json_through_a_symlink_updates_its_target(capsys, photo, tmp_path, real_model_dir) -> None:
    target = tmp_path / "real.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    assert main(["estimate", str(photo), "--json", str(link), *model_args(real_model_dir)]) == 0
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert json.loads(target.read_text())[0]["image"] == str(photo)


def test_json_into_a_fifo_reaches_its_reader(capsys, photo, tmp_path, real_model_dir) -> None:
    fifo = tmp_path / "poses.fifo"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    assert main(["estimate", str(photo), "--json", str(fifo), *model_args(real_model_dir)]) == 0
    reader.join(timeout=30)
    assert json.loads(received[0])[0]["image"] == str(photo)
    assert listing(tmp_path) == ["photos", "poses.fifo"]


@pytest.mark.parametrize("name", ["/dev/stdout", "-"])
def test_json_to_standard_output_through_a_pipe(photo, real_model_dir, name) -> None:
    done = subprocess.run([*CLI, "estimate", str(photo), "--json", name, *model_args(real_model_dir)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stderr == ""
    assert json.loads(done.stdout)[0]["image"] == str(photo)
    assert listing(photo.parent) == ["couple.jpg"]


def test_json_into_process_substitution(photo, real_model_dir, tmp_path) -> None:
    """`--json >(cat > file)`: bash hands over /dev/fd/63, a pipe."""
    if shutil.which("bash") is None:
        pytest.skip("needs bash")
    command = " ".join([*CLI, "estimate", str(photo), *model_args(real_model_dir)])
    done = subprocess.run(["bash", "-c", f"{command} --json >(cat > {tmp_path}/got.json); wait; sleep 0.5"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stderr == ""
    assert json.loads((tmp_path / "got.json").read_text())[0]["image"] == str(photo)


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("{tmp}", "is a folder"),
        ("{photo}/x.json", "is a file, not a folder"),
        ("{tmp}/missing/x.json", "No folder"),
    ],
)
def test_unwritable_json_paths_fail_before_the_model_loads(capsys, photo, tmp_path, output, message) -> None:
    # No model folder at all: reaching the model would fail differently, so the check came first.
    argv = ["estimate", str(photo), "--json", output.format(tmp=tmp_path, photo=photo), "--multiplier", "0.5"]
    assert main([*argv, "--model-dir", str(tmp_path / "no-models")]) == 2
    assert message in one_line_error(capsys)
    assert listing(tmp_path) == ["photos"]


def test_model_dir_that_is_a_file(capsys, photo, tmp_path) -> None:
    assert main(["estimate", str(photo), *model_args(photo, device=None)]) == 2
    assert "is a file; give a folder" in one_line_error(capsys)


def test_export_into_a_file_fails_before_exporting(capsys, photo) -> None:
    started = time.monotonic()
    assert main(["export", "--multiplier", "0.5", "-o", str(photo)]) == 2
    assert "is a file, not a folder" in one_line_error(capsys, "export") and time.monotonic() - started < 5


@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage", "folder"])
def test_a_damaged_graph_is_named_with_the_command_that_remakes_it(capsys, monkeypatch, photo, tmp_path, real_model_dir, damage) -> None:
    models = tmp_path / "models"
    models.mkdir()
    graph = models / model_filename(0.5, 16)
    good = (real_model_dir / model_filename(0.5, 16)).read_bytes()
    if damage == "folder":
        graph.mkdir()
    else:
        graph.write_bytes({"truncated": good[: len(good) // 3], "empty": b"", "garbage": os.urandom(4096)}[damage])
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorflow" else find_spec(name, *a))
    assert main(["estimate", str(photo), *model_args(models)]) == 2
    err = one_line_error(capsys)
    assert str(graph) in err
    assert "is not a graph file" in err if damage == "folder" else "posenet-onnx export --multiplier 0.50 --output-stride 16" in err
    assert listing(models) == [graph.name]  # nothing half-written beside it


@pytest.mark.needs_tensorflow
def test_a_damaged_graph_is_re_exported_when_the_exporter_is_here(capsys, photo, tmp_path, real_model_dir, checkpoint_dir, net) -> None:
    models = tmp_path / "models"
    models.mkdir()
    graph = models / model_filename(0.5, 16)
    graph.write_bytes((real_model_dir / model_filename(0.5, 16)).read_bytes()[:1000])
    argv = ["estimate", str(photo), *model_args(models, device=None), "--checkpoint-dir", str(checkpoint_dir)]
    assert main([*argv, "--device", "cpu"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["poses"] == [net.estimate_single_pose(photo).to_dict()]
    assert listing(models) == [graph.name] and graph.stat().st_size > 1000


def test_a_damaged_model_file_is_named(capsys, photo, tmp_path) -> None:
    bad = tmp_path / "mine.onnx"
    bad.write_bytes(b"not a graph")
    assert main(["estimate", str(photo), "--model", str(bad)]) == 2
    assert f"{bad} is not a valid ONNX graph" in one_line_error(capsys)
    assert bad.read_bytes() == b"not a graph"


def test_video_outputs_onto_each_other_are_refused(capsys, shared, tmp_path, real_model_dir) -> None:
    same = tmp_path / "s.mp4"
    argv = ["video", str(shared / "images" / "pose_squats.mp4"), "-o", str(same), "--jsonl", str(same)]
    assert main([*argv, *model_args(real_model_dir)]) == 2
    assert "Two outputs write to" in one_line_error(capsys, "video") and listing(tmp_path) == []


@pytest.mark.parametrize(("flag", "name"), [("-o", "dir.mp4"), ("--jsonl", "dir")])
def test_video_output_that_is_a_folder_leaves_nothing(capsys, shared, tmp_path, real_model_dir, flag, name) -> None:
    (tmp_path / name).mkdir()
    argv = ["video", str(shared / "images" / "pose_squats.mp4"), flag, str(tmp_path / name)]
    assert main([*argv, *model_args(real_model_dir)]) == 2
    assert "is a folder" in one_line_error(capsys, "video")
    assert listing(tmp_path) == [name] and listing(tmp_path / name) == []


def _mount_then_run(tmp_path: Path, mounts: str, argv: list[str]) -> subprocess.CompletedProcess:
    """The CLI in a private mount namespace after the shell `mounts` (under tmp_path)."""
    command = " ".join([*CLI, *argv])
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", f"{mounts} && {command}"],
                          capture_output=True, text=True, timeout=300)


@needs_mount
def test_a_read_only_output_folder_fails_before_any_work(photo, tmp_path, real_model_dir) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    done = _mount_then_run(tmp_path, f"mount --bind {ro} {ro} && mount -o remount,bind,ro {ro}",
                           ["estimate", str(photo), "--draw", str(ro), *model_args(real_model_dir)])
    assert done.returncode == 2 and "read-only file system" in done.stderr and done.stderr.count("\n") == 1
    assert listing(ro) == []


@needs_mount
def test_a_read_only_model_folder_fails_before_the_export(photo, tmp_path, checkpoint_dir) -> None:
    ro = tmp_path / "models"
    ro.mkdir()
    started = time.monotonic()
    done = _mount_then_run(tmp_path, f"mount --bind {ro} {ro} && mount -o remount,bind,ro {ro}",
                           ["estimate", str(photo), *model_args(ro, device=None), "--checkpoint-dir", str(checkpoint_dir)])
    assert done.returncode == 2 and "read-only file system" in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert time.monotonic() - started < 60 and listing(ro) == []


@needs_mount
def test_a_full_disk_is_one_line_and_leaves_no_temporary(shared, tmp_path, real_model_dir) -> None:
    full = tmp_path / "full"
    full.mkdir()
    done = _mount_then_run(tmp_path, f"mount -t tmpfs -o size=64k tmpfs {full}",
                           ["estimate", str(shared / "images" / "pose.jpg"), "--draw", str(full), *model_args(real_model_dir)])
    assert done.returncode == 2 and "no space left on the device" in done.stderr and done.stderr.count("\n") == 1, done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("second_after_s", [0.0, 0.05, 0.2, 0.6])
def test_ctrl_c_twice_never_leaves_an_unplayable_video(shared, tmp_path, real_model_dir, second_after_s) -> None:
    """A second Ctrl-C while the video is finalised: the video under its name plays, or there is none."""
    from support.video import read_jsonl, read_video

    video, jsonl = tmp_path / "out.mp4", tmp_path / "out.jsonl"
    argv = ["video", str(shared / "images" / "pose_squats.mp4"), "-o", str(video), "--jsonl", str(jsonl)]
    cli = "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    cli += "from posenet_onnx.cli import main; sys.exit(main(sys.argv[1:]))"
    process = subprocess.Popen([sys.executable, "-c", cli, *argv, *model_args(real_model_dir)],
                               start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not any(p.stat().st_size > 0 for p in tmp_path.glob(".out.*.partial.mp4")):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGINT)
    time.sleep(second_after_s)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130 and stderr.count("\n") == 1, stderr
    assert set(listing(tmp_path)) <= {"out.mp4", "out.jsonl"}  # no temporary file left
    if video.exists():
        frames = read_video(video)
        assert len(frames) >= 1 and frames[0].shape == (1280, 720, 3)
        assert len(frames) == len(read_jsonl(jsonl))


def test_video_json_lines_to_standard_output_are_only_json(shared, real_model_dir) -> None:
    done = subprocess.run([*CLI, "video", str(shared / "images" / "pose_squats.mp4"), "--jsonl", "-", "--single",
                           *model_args(real_model_dir)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert [json.loads(line)["frame"] for line in lines] == list(range(65))
    assert done.stderr.strip().endswith("65 frames -> standard output")


@pytest.mark.parametrize(("command", "option"), [("estimate", "--model-dir"), ("estimate", "--model"), ("estimate", "--draw"), ("export", "-o")])
def test_an_empty_path_is_refused_not_taken_as_the_current_folder(capsys, photo, command, option) -> None:
    argv = [command, str(photo)] if command == "estimate" else [command, "--multiplier", "0.5"]
    with pytest.raises(SystemExit) as exit:  # argparse's own exit, with our one-line message
        main([*argv, option, ""])
    assert exit.value.code == 2
    assert "an empty path" in one_line_error(capsys, command)
