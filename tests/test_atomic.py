"""Atomic writes: the final name holds a complete file with the user's normal mode, or nothing new."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from posenet_onnx.atomic import atomic_file, atomic_path, write_bytes_atomic


@pytest.fixture
def umask() -> Iterator[None]:
    """Restore the process's umask after a test that sets it."""
    previous = os.umask(0)
    os.umask(previous)
    yield
    os.umask(previous)


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002])
def test_final_files_get_the_mode_the_umask_gives(umask, tmp_path: Path, mask: int) -> None:
    os.umask(mask)
    written = write_bytes_atomic(tmp_path / "new" / "poses.json", b"[]\n")
    reference = tmp_path / "plain.json"
    reference.write_bytes(b"[]\n")  # what any program's new file gets
    assert stat.S_IMODE(written.stat().st_mode) == stat.S_IMODE(reference.stat().st_mode) == 0o666 & ~mask
    assert written.read_bytes() == b"[]\n"


def test_atomic_file_keeps_the_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "model.onnx"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_file(target) as handle:
            handle.write(b"half of the new")
            raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


def test_atomic_path_has_the_suffix_and_renames_on_success(tmp_path: Path) -> None:
    target = tmp_path / "clip.mp4"
    with atomic_path(target) as temp:
        assert temp.parent == tmp_path and temp.suffix == ".mp4" and temp.name.startswith(".clip.")
        temp.write_bytes(b"frames")
        assert not target.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"] and target.read_bytes() == b"frames"


@pytest.mark.parametrize(("keep", "written", "kept"), [(True, b"frames", True), (True, b"", False), (False, b"frames", False)])
def test_ctrl_c_keeps_what_was_written_only_when_asked(tmp_path: Path, keep: bool, written: bytes, kept: bool) -> None:
    target = tmp_path / "clip.jsonl"
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target, keep_on_interrupt=keep) as temp:
            temp.write_bytes(written)
            raise KeyboardInterrupt
    assert [p.name for p in tmp_path.iterdir()] == (["clip.jsonl"] if kept else [])


def test_other_errors_never_keep_a_partial_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        with atomic_path(tmp_path / "clip.mp4", keep_on_interrupt=True) as temp:
            temp.write_bytes(b"half")
            raise ValueError("broken")
    assert list(tmp_path.iterdir()) == []
