"""The one output-writing mechanism, under hostile conditions: real symlinks, FIFOs, devices, read-only and
full file systems (tmpfs and bind mounts in a private mount namespace when the tests run as root)."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from posenet_onnx.commands.terminal import interrupts_as_requests
from posenet_onnx.outputs import (
    OutputError,
    OutputPlan,
    atomic_file,
    caused_by_interrupt,
    interrupts_deferred,
    json_text,
    keep_whole_lines,
    write_bytes,
    write_bytes_atomic,
)

CAN_MOUNT = os.geteuid() == 0 and shutil.which("unshare") is not None and sys.platform == "linux"
needs_mount = pytest.mark.skipif(not CAN_MOUNT, reason="mounting a tmpfs needs root and unshare (Linux)")


@pytest.fixture
def umask() -> Iterator[None]:
    """Restore the process's umask after a test that sets it."""
    previous = os.umask(0)
    os.umask(previous)
    yield
    os.umask(previous)


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002])
def test_final_files_get_the_mode_the_umask_gives(umask, tmp_path: Path, mask: int) -> None:
    os.umask(mask)
    written = write_bytes_atomic(tmp_path / "new" / "poses.json", b"[]\n")
    reference = tmp_path / "plain.json"
    reference.write_bytes(b"[]\n")  # what any program's new file gets
    assert stat.S_IMODE(written.stat().st_mode) == stat.S_IMODE(reference.stat().st_mode) == 0o666 & ~mask
    assert written.read_bytes() == b"[]\n"


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "model.onnx"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_file(target) as handle:
            handle.write(b"half of the new")
            raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old" and names(tmp_path) == ["model.onnx"]


def test_staged_path_has_the_suffix_and_renames_on_success(tmp_path: Path) -> None:
    target = tmp_path / "clip.mp4"
    with OutputPlan().add(target, "video").staged() as temp:
        assert temp.parent == tmp_path and temp.suffix == ".mp4" and temp.name.startswith(".clip.")
        temp.write_bytes(b"frames")
        assert not target.exists()
    assert names(tmp_path) == ["clip.mp4"] and target.read_bytes() == b"frames"


@pytest.mark.parametrize(("written", "kept"), [(b'{"a": 1}\n{"b": 2}\n{"c"', b'{"a": 1}\n{"b": 2}\n'), (b'{"half', None)])
def test_ctrl_c_keeps_json_lines_cut_after_the_last_whole_line(tmp_path: Path, written: bytes, kept: bytes | None) -> None:
    plan = OutputPlan()
    target = tmp_path / "poses.jsonl"
    with pytest.raises(KeyboardInterrupt):
        with plan.add(target, "JSON lines").open(keep_on_interrupt=keep_whole_lines) as handle:
            handle.write(written)
            raise KeyboardInterrupt
    assert names(tmp_path) == (["poses.jsonl"] if kept else [])
    if kept:
        assert target.read_bytes() == kept and plan.kept == [str(target)]


def test_other_errors_never_keep_a_partial_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        with OutputPlan().add(tmp_path / "clip.mp4", "video").staged(keep_on_interrupt=lambda _: True) as temp:
            temp.write_bytes(b"half")
            raise ValueError("broken")
    assert list(tmp_path.iterdir()) == []


def test_an_input_is_never_an_output(tmp_path: Path) -> None:
    photo = tmp_path / "x.jpg"
    photo.write_bytes(b"photo")
    (tmp_path / "link.json").symlink_to(photo)
    os.link(photo, tmp_path / "hard.json")
    plan = OutputPlan([photo])
    for name in (photo, tmp_path / "link.json", tmp_path / "hard.json", tmp_path / "." / "x.jpg"):
        with pytest.raises(OutputError, match="is the input"):
            plan.add(name, "JSON output")
    assert photo.read_bytes() == b"photo"


def test_two_outputs_never_share_a_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    plan = OutputPlan()
    plan.add(tmp_path / "a.json", "JSON output")
    with pytest.raises(OutputError, match="Two outputs write to"):
        plan.add(tmp_path / "sub" / ".." / "a.json", "drawing")


def test_writing_through_a_symlink_keeps_the_link(tmp_path: Path) -> None:
    target = tmp_path / "real.json"
    target.write_bytes(b"old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    write_bytes(OutputPlan().add(link, "JSON output"), b"new")
    assert link.is_symlink() and os.readlink(link) == str(target) and target.read_bytes() == b"new"
    assert names(tmp_path) == ["link.json", "real.json"]


def test_a_dangling_symlink_creates_its_target(tmp_path: Path) -> None:
    link = tmp_path / "link.json"
    link.symlink_to(tmp_path / "later.json")
    write_bytes(OutputPlan().add(link, "JSON output"), b"new")
    assert link.is_symlink() and (tmp_path / "later.json").read_bytes() == b"new"


def test_a_fifo_is_written_directly_to_its_reader(tmp_path: Path) -> None:
    fifo = tmp_path / "poses.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    write_bytes(OutputPlan().add(fifo, "JSON output"), b'{"poses": []}\n')
    reader.join(timeout=10)
    assert received == [b'{"poses": []}\n']
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and names(tmp_path) == ["poses.fifo"]


def test_a_character_device_is_written_directly() -> None:
    output = OutputPlan().add("/dev/null", "JSON output")
    assert output.special
    write_bytes(output, b"[]\n")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_dash_is_standard_output(capsysbinary) -> None:
    write_bytes(OutputPlan().add("-", "JSON output"), b"[]\n")
    assert capsysbinary.readouterr().out == b"[]\n"


def test_a_video_output_must_be_a_regular_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "v.mp4")
    with pytest.raises(OutputError, match="not a regular file"):
        OutputPlan().add(tmp_path / "v.mp4", "output video", regular_only=True)
    with pytest.raises(OutputError, match="standard output"):
        OutputPlan().add("-", "output video", regular_only=True)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: (d / "out.json").mkdir(), "is a folder"),
        (lambda d: (d / "file").write_bytes(b""), "is a file, not a folder"),
        (lambda d: None, "No folder"),
    ],
)
def test_unwritable_places_are_refused_before_any_work(tmp_path: Path, make, message: str) -> None:
    make(tmp_path)
    name = {"is a folder": "out.json", "is a file, not a folder": "file/out.json", "No folder": "missing/out.json"}[message]
    with pytest.raises(OutputError, match=message):
        OutputPlan().add(tmp_path / name, "JSON output")


def test_json_text_writes_nan_and_infinity_as_null() -> None:
    assert json_text({"score": float("nan"), "xy": [float("inf"), -float("inf"), 1.5]}) == '{"score": null, "xy": [null, null, 1.5]}'


def _in_mount_namespace(tmp_path: Path, setup: str, body: str) -> subprocess.CompletedProcess:
    """Run `body` (Python) in a private mount namespace after the shell `setup` (mounts under tmp_path)."""
    script = tmp_path / "body.py"
    script.write_text(textwrap.dedent(body))
    command = f"{setup} && {sys.executable} {script}"
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", command],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)


@needs_mount
def test_a_read_only_folder_is_refused_before_any_work(tmp_path: Path) -> None:
    (tmp_path / "ro").mkdir()
    body = f"""
        from posenet_onnx.outputs import OutputError, OutputPlan
        try:
            OutputPlan().add("{tmp_path}/ro/out.json", "JSON output")
        except OutputError as exc:
            print(exc)
    """
    done = _in_mount_namespace(tmp_path, f"mount --bind {tmp_path}/ro {tmp_path}/ro && mount -o remount,bind,ro {tmp_path}/ro", body)
    assert "is on a read-only file system" in done.stdout, done.stderr


@needs_mount
def test_a_full_disk_fails_cleanly_and_leaves_no_temporary(tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    body = f"""
        import os
        from posenet_onnx.outputs import OutputPlan, write_bytes
        try:
            write_bytes(OutputPlan().add("{tmp_path}/full/big.json", "JSON output"), b"x" * (2 << 20))
        except OSError as exc:
            print("errno", exc.errno)
        print(sorted(os.listdir("{tmp_path}/full")))
    """
    done = _in_mount_namespace(tmp_path, f"mount -t tmpfs -o size=1m tmpfs {tmp_path}/full", body)
    assert "errno 28" in done.stdout and "[]" in done.stdout, done.stdout + done.stderr


def test_ctrl_c_as_a_request_sets_an_event_and_raises_nothing() -> None:
    before = signal.getsignal(signal.SIGINT)
    with interrupts_as_requests() as interrupted:
        assert not interrupted.is_set()
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGINT)  # a second one changes nothing
        with interrupts_deferred():  # a deferred one goes to the handler before it: the request
            signal.raise_signal(signal.SIGINT)
        assert interrupted.is_set()
    assert signal.getsignal(signal.SIGINT) is before


def test_a_deferred_ctrl_c_is_raised_after_the_block_and_dropped_when_ignored() -> None:
    with pytest.raises(KeyboardInterrupt):
        with interrupts_deferred():
            signal.raise_signal(signal.SIGINT)
            done = True  # the block is not cut short
    assert done
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with interrupts_deferred():
            signal.raise_signal(signal.SIGINT)
    finally:
        signal.signal(signal.SIGINT, previous)


def test_errors_caused_by_a_ctrl_c_are_told_apart() -> None:
    def error_from(interrupt: BaseException) -> Exception:
        try:
            try:
                raise interrupt
            except KeyboardInterrupt as exc:
                raise SystemError("<CPUDispatcher> returned a result with an exception set") from exc
        except SystemError as error:
            return error

    assert caused_by_interrupt(KeyboardInterrupt())
    assert caused_by_interrupt(error_from(KeyboardInterrupt()))
    assert not caused_by_interrupt(ValueError("bad"))
    assert not caused_by_interrupt(SystemError("other"))


def test_the_cli_exits_130_for_an_error_a_ctrl_c_caused(monkeypatch, capsys) -> None:
    """Numba reports a Ctrl-C that lands inside a kernel as a SystemError caused by it: still an interruption."""
    from posenet_onnx.commands import estimate
    from posenet_onnx.cli import main

    def interrupted_in_native_code(args, kept):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise SystemError("returned a result with an exception set") from exc

    monkeypatch.setattr(estimate, "run", interrupted_in_native_code)
    handler = signal.getsignal(signal.SIGINT)
    try:
        assert main(["estimate", "x.jpg"]) == 130
    finally:
        signal.signal(signal.SIGINT, handler)  # the CLI ignores further Ctrl-C once stopping
    assert capsys.readouterr().err == "posenet-onnx estimate: interrupted\n"
